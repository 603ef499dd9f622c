"""Shared fuzzing machinery: targets, bounded calls, strategies and a counting runner.

A :class:`Target` is one parser: a call taking one generated input, the error types its
module documents, and a strategy mixing structure-aware inputs (valid documents mutated:
wrong types at fields, truncated bytes, bit flips) with raw bytes. :func:`check` runs one
example within the time and memory bounds and raises :class:`UntypedError` (or
:class:`OverLimit`) for anything else; :func:`run_target` runs a target's property with
``max_examples`` and, for ``tests/fuzz/run.py``, counts what each example ended in.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestsim.simulator.errors import NotModelled

# Examples per parser in the normal suite (derandomised by tests/conftest.py's profile).
FUZZ_EXAMPLES = int(os.environ.get("GUESTSIM_FUZZ_EXAMPLES", "25"))
TIME_LIMIT = 2.0  # seconds of wall time per example
MEMORY_LIMIT = 256 * 1024 * 1024  # bytes of traced peak per example
# Memory tracing slows every parser several-fold; the driver can switch it off
# (it then bounds memory with RLIMIT_AS instead).
TRACE_MEMORY = os.environ.get("GUESTSIM_FUZZ_TRACEMALLOC", "1") == "1"


class UntypedError(AssertionError):
    """A parser let an exception escape that its module does not document."""


class OverLimit(AssertionError):
    """An example took longer than TIME_LIMIT or traced more than MEMORY_LIMIT."""


class _Expired(BaseException):
    """Raised by the alarm in an example that runs far past its time limit."""


@dataclass(frozen=True)
class Target:
    name: str
    call: Callable[[Any], object]
    typed: tuple[type[BaseException], ...]
    strategy: st.SearchStrategy[Any]


@dataclass
class Tally:
    examples: int = 0
    typed: int = 0
    untyped: int = 0
    not_modelled: int = 0
    over_time: int = 0
    over_memory: int = 0
    slowest_ms: float = 0.0
    untyped_samples: dict[str, Any] = field(default_factory=dict)
    over_limit_samples: list[Any] = field(default_factory=list)


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """A hard stop (``_Expired``) for an example that hangs; main thread only."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _site(error: BaseException) -> str:
    """``"<type> at <file>:<line>"`` of the innermost frame: one entry per raising site."""
    where = error.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    if where is None:
        return type(error).__name__
    filename = where.tb_frame.f_code.co_filename.split("/guestsim/")[-1]
    return f"{type(error).__name__} at {filename}:{where.tb_lineno}"


def check(target: Target, value: Any, tally: Tally | None = None) -> None:
    """Run ``target`` on ``value``; only documented errors may escape, within the bounds."""
    outcome = "ok"
    error: BaseException | None = None
    tracing = TRACE_MEMORY and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        with _alarm(TIME_LIMIT * 5):
            target.call(value)
    except _Expired:
        outcome = "time"
    except target.typed:
        outcome = "typed"
    except NotModelled:
        outcome = "not_modelled"
    except MemoryError as ex:
        outcome, error = "memory", ex
    except Exception as ex:
        outcome, error = "untyped", ex
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if tracing else 0
        if tracing:
            tracemalloc.stop()
    if outcome == "ok" and elapsed > TIME_LIMIT:
        outcome = "time"
    if outcome in ("ok", "typed") and peak > MEMORY_LIMIT:
        outcome = "memory"
    if tally is not None:
        tally.examples += 1
        tally.slowest_ms = max(tally.slowest_ms, elapsed * 1000)
        if outcome == "typed":
            tally.typed += 1
        elif outcome == "not_modelled":
            tally.not_modelled += 1
        elif outcome == "untyped":
            tally.untyped += 1
            assert error is not None
            site = _site(error)
            sample = tally.untyped_samples.get(site)
            if sample is None or len(repr(value)) < len(repr(sample[0])):
                tally.untyped_samples[site] = (value, f"{type(error).__name__}: {error}"[:200])
        elif outcome == "time":
            tally.over_time += 1
            tally.over_limit_samples.append(("time", elapsed, repr(value)[:200]))
        elif outcome == "memory":
            tally.over_memory += 1
            tally.over_limit_samples.append(("memory", peak, repr(value)[:200]))
        return
    if outcome == "untyped":
        raise UntypedError(f"{target.name}: {type(error).__name__}: {error}") from error
    if outcome in ("time", "memory"):
        raise OverLimit(f"{target.name}: over the {outcome} limit ({elapsed:.2f} s, {peak} B)")


def run_target(target: Target, max_examples: int, tally: Tally | None = None) -> None:
    """The target's property with ``max_examples``; with a ``tally``, counts, never fails."""

    @settings(
        max_examples=max_examples,
        suppress_health_check=list(HealthCheck),
        deadline=None,
        database=None,
    )
    @given(target.strategy)
    def prop(value: Any) -> None:
        check(target, value, tally)

    prop()


# --- strategies ---------------------------------------------------------------------------

# Values of the wrong type (and a few awkward ones of the right type) put at a field.
WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**64,
    1.5,
    "",
    "x",
    "::",
    "999.999.1.1/99",
    [],
    [None],
    [{}],
    [[]],
    {},
    {"": None},
]


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return result


@st.composite
def mutated_document(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A seed document with one to three fields replaced by wrong values or removed."""
    document = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        delete = bool(path) and draw(st.booleans())
        value = draw(st.sampled_from(WRONG_VALUES))
        document = _replace(document, path, value, delete)
    return document


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes], focus: int | None = None) -> bytes:
    """A seed with bit flips, overwritten/inserted/removed bytes, or truncated.

    ``focus`` limits where mutations land (the headers of a large disk image)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        limit = min(len(data), focus) if focus else len(data)
        if limit == 0:
            break
        where = draw(st.integers(0, limit - 1))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if kind == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[where] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x0A]))
        elif kind == "insert":
            data[where:where] = draw(st.binary(max_size=8))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        else:
            del data[where:]
    return bytes(data)


def encoded(documents: st.SearchStrategy[Any], fmt: str = "json") -> st.SearchStrategy[bytes]:
    """Documents serialised as JSON or YAML bytes."""
    import yaml

    def dump(document: Any) -> bytes:
        if fmt == "yaml":
            return yaml.safe_dump(document).encode("utf-8")
        return json.dumps(document).encode("utf-8")

    return documents.map(dump)


def document_bytes(seeds: list[Any], fmt: str = "json") -> st.SearchStrategy[bytes]:
    """Mutated documents serialised, the serialised seeds mutated as bytes, raw bytes."""
    serialised = [json.dumps(seed).encode("utf-8") for seed in seeds]
    return st.one_of(
        encoded(mutated_document(seeds), fmt),
        mutated_bytes(serialised),
        st.binary(max_size=256),
    )


def blob(seeds: list[bytes], focus: int | None = None) -> st.SearchStrategy[bytes]:
    """Mutated seeds, mostly, and raw bytes."""
    return st.one_of(
        mutated_bytes(seeds, focus), mutated_bytes(seeds, focus), st.binary(max_size=512)
    )


def module_errors(module: Any, *extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exception classes ``module`` defines (its documented errors), plus ``extra``."""
    own = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == module.__name__
    ]
    return (*own, *extra)


def budget_errors() -> tuple[type[BaseException], ...]:
    """The guest resource budget's errors: a typed outcome of every parser."""
    from guestsim.agent import resources

    return module_errors(resources)


def agent_context() -> Any:
    """A default configuration on a fresh fake Windows, for calling agent code directly."""
    from guestsim.agent.config import default_config
    from guestsim.agent.plugins.base import AgentContext
    from tests.builders import standalone_osutils

    return AgentContext(conf=default_config(), osutils=standalone_osutils([]))
