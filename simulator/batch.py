"""Running many scenarios, in this process or in worker processes, with the same records.

Every scenario run is self-contained (its own machine, clouds, clock and seed), so where it
runs cannot change its trace; records come back in the order the scenarios were given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

from guestsim.simulator.overrides import Overrides
from guestsim.simulator.scenario import RunRecord, Scenario


def default_jobs() -> int:
    """One worker per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_records(
    scenarios: Sequence[Scenario],
    seed: int | None = None,
    overrides: Overrides | None = None,
    jobs: int = 1,
) -> Iterator[RunRecord]:
    """Run each scenario and yield its record, in order; ``jobs`` > 1 uses worker processes."""
    workers = min(jobs, len(scenarios))
    if workers <= 1:
        for scenario in scenarios:
            yield run_one(scenario, seed, overrides)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(run_one, scenarios, repeat(seed), repeat(overrides))


def run_one(scenario: Scenario, seed: int | None, overrides: Overrides | None) -> RunRecord:
    from guestsim.simulator.scenario import run_scenario

    return run_scenario(scenario, seed, overrides=overrides).record()
