"""Wall time of the bundled scenarios: median per scenario and per boot.

Run with ``nox -s bench`` (or ``python benchmarks/bench_scenarios.py``). Speed goals are
measured here, never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario

Row = tuple[str, int, float, float]


def measure(paths: list[Path], repeats: int) -> list[Row]:
    """(name, boots, median wall seconds, virtual guest seconds) per scenario."""
    rows = []
    for path in paths:
        scenario = load_scenario(path)
        run_scenario(scenario)  # warm imports and caches once
        samples = []
        boots, virtual = 0, 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            outcome = run_scenario(scenario)
            samples.append(time.perf_counter() - start)
            boots = outcome.result.boot_count
            events = outcome.result.trace.events
            virtual = events[-1].t_ms / 1000 if events else 0.0
        rows.append((scenario.name, boots, statistics.median(samples), virtual))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="scenario files or folders")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = measure(discover(args.paths or [bundled("scenarios")]), args.repeats)
    print(
        f"{'scenario':<40} {'boots':>5} {'median/scenario':>16} {'median/boot':>12} "
        f"{'guest time':>11}"
    )
    for name, boots, median, virtual in rows:
        print(
            f"{name:<40} {boots:>5} {median * 1000:>13.2f} ms {median / boots * 1000:>9.2f} ms "
            f"{virtual:>9.1f} s"
        )
    total = sum(row[2] for row in rows)
    total_boots = sum(row[1] for row in rows)
    print(
        f"{'all':<40} {total_boots:>5} {total * 1000:>13.2f} ms "
        f"{total / total_boots * 1000:>9.2f} ms  ({len(rows) / total:.1f} scenarios/s)"
    )


if __name__ == "__main__":
    main()
