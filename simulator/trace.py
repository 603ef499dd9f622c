"""The deterministic event log of a simulated run: JSON lines, and a diff of two logs."""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Event:
    seq: int
    boot: int
    t_ms: int
    kind: str
    fields: dict[str, Any]

    def to_json(self) -> str:
        record = {"seq": self.seq, "boot": self.boot, "t_ms": self.t_ms, "kind": self.kind}
        record.update(self.fields)
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


class Trace:
    """Events in the order they happened; timestamps are logical (virtual milliseconds)."""

    def __init__(self, clock_ms: Callable[[], int] = lambda: 0) -> None:
        self._clock_ms = clock_ms
        self.boot = 0
        self.events: list[Event] = []

    def emit(self, kind: str, /, **fields: Any) -> None:
        event = Event(
            seq=len(self.events),
            boot=self.boot,
            t_ms=self._clock_ms(),
            kind=kind,
            fields={name: _jsonable(value) for name, value in fields.items()},
        )
        self.events.append(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [event for event in self.events if event.kind in kinds]

    def to_jsonl(self) -> str:
        return "".join(event.to_json() + "\n" for event in self.events)

    @classmethod
    def from_jsonl(cls, text: str) -> Trace:
        """The trace ``to_jsonl`` wrote (a ``RunRecord`` keeps a run's trace as that text)."""
        trace = cls()
        for line in text.splitlines():
            fields = json.loads(line)
            trace.boot = fields.pop("boot")
            seq, t_ms, kind = fields.pop("seq"), fields.pop("t_ms"), fields.pop("kind")
            trace.events.append(Event(seq, trace.boot, t_ms, kind, fields))
        return trace


def diff_traces(expected: str, actual: str, context: int = 3) -> str:
    """A unified diff of two JSON-lines traces; empty when they are identical."""
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile="expected",
            tofile="actual",
            n=context,
        )
    )


def format_event(event: Event) -> str:
    """One human-readable timeline line: boot, virtual time, kind and fields."""
    details = " ".join(
        f"{name}={json.dumps(value, ensure_ascii=False, sort_keys=True)}"
        for name, value in sorted(event.fields.items())
    )
    return f"boot {event.boot:<2} {event.t_ms / 1000:>9.3f}s  {event.kind:<24} {details}".rstrip()
