"""Power-loss exploration: how long exhaustive cuts take.

* ``guestsim explore scenarios/clouds/stock-conf-openstack.yaml --power-loss --json out.json``
  as a whole process (goal: at most 10 s on a 2-core machine);
* the whole bundled library with ``--jobs 2``: wall time and cuts per second.

Medians of whole processes, run with ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from guestsim.simulator.paths import bundled

STOCK = bundled("scenarios") / "clouds" / "stock-conf-openstack.yaml"
GUESTSIM = [sys.executable, "-c", "from guestsim.simulator.cli import main; main()"]


def timed_explore(arguments: list[str], report: Path) -> tuple[float, int]:
    """Wall seconds of one ``guestsim explore`` process, and the cuts it reports."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "CI": "true"}
    start = time.perf_counter()
    subprocess.run(
        [*GUESTSIM, "explore", *arguments, "--power-loss", "--json", str(report)],
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,  # findings exit 1
    )
    elapsed = time.perf_counter() - start
    cuts = sum(len(s["cuts"]) for s in json.loads(report.read_text())["scenarios"])
    return elapsed, cuts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "out.json"
        stock = [timed_explore([str(STOCK)], report) for _ in range(args.repeats)]
        library = [timed_explore(["--jobs", "2"], report) for _ in range(args.repeats)]
    stock_s, stock_cuts = statistics.median(s for s, _ in stock), stock[0][1]
    library_s, library_cuts = statistics.median(s for s, _ in library), library[0][1]
    print(f"power-loss exploration (median of {args.repeats} whole processes)")
    print(
        f"  stock-conf-openstack             {stock_s:>7.2f} s  {stock_cuts} cuts   (goal <= 10 s)"
    )
    print(
        f"  the whole library, --jobs 2      {library_s:>7.2f} s  {library_cuts} cuts, "
        f"{library_cuts / library_s:.0f} cuts/s"
    )


if __name__ == "__main__":
    main()
