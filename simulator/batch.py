"""Running many scenarios, in this process or in worker processes, with the same records.

Every scenario run is self-contained (its own machine, clouds, clock and seed), so where it
runs cannot change its trace; records come back in the order the scenarios were given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import repeat
from typing import Any, TypeVar

from guestsim.simulator.overrides import Overrides
from guestsim.simulator.scenario import RunRecord, Scenario

T = TypeVar("T")


def default_jobs() -> int:
    """One worker per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def each_scenario(
    work: Callable[..., T], scenarios: Sequence[Scenario], jobs: int, *arguments: Any
) -> Iterator[T]:
    """``work(scenario, *arguments)`` for each scenario, yielded in order; with ``jobs`` > 1
    in that many worker processes (``work`` must then be a module-level function)."""
    workers = min(jobs, len(scenarios))
    if workers <= 1:
        for scenario in scenarios:
            yield work(scenario, *arguments)
        return
    from guestsim.simulator import guard

    guarded = guard.active()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        if guarded is None:
            yield from pool.map(work, scenarios, *(repeat(argument) for argument in arguments))
            return
        # Under --guard, the pool's own (forked) workers may start; each stays guarded and
        # reports what it refused, even where the scenario run swallowed the exception.
        with guarded.permit_workers():
            results = pool.map(
                partial(_guarded, work), scenarios, *(repeat(argument) for argument in arguments)
            )
        yield from results


def _guarded(work: Callable[..., T], *arguments: Any) -> T:
    from guestsim.simulator import guard

    result = work(*arguments)
    checking = guard.active()
    if checking is not None:
        checking.raise_recorded()
    return result


def run_records(
    scenarios: Sequence[Scenario],
    seed: int | None = None,
    overrides: Overrides | None = None,
    jobs: int = 1,
    keep_states: bool = False,
) -> Iterator[RunRecord]:
    """Run each scenario and yield its record, in order; ``jobs`` > 1 uses worker processes;
    ``keep_states``: records carry what each boot changed (``RunRecord.state_changes``)."""
    yield from each_scenario(run_one, scenarios, jobs, seed, overrides, keep_states)


def run_one(
    scenario: Scenario, seed: int | None, overrides: Overrides | None, keep_states: bool = False
) -> RunRecord:
    from guestsim.simulator.scenario import run_scenario

    return run_scenario(scenario, seed, overrides=overrides, keep_states=keep_states).record()
