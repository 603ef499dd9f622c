"""Start-up and parallel-run costs, each measured side by side with what it is compared to.

* ``guestsim --help`` against importing the real agent (``import cloudbaseinit.init``) when
  cloudbase-init is installed; the goal is at most 0.4 times that, else at most 200 ms.
* pytest start-up on a one-test project with guestsim's plugin against ``-p no:guestsim``;
  the goal is at most 1.1 times.
* ``guestsim run`` over the bundled library, serially against ``--jobs 2``.

Every figure is the median wall time of whole processes, the variants interleaved run by
run so that a busy machine slows both alike. Run with ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ONE_TEST = "def test_one():\n    assert 1 + 1 == 2\n"


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("guestsim")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from guestsim.simulator.cli import main; main()"]


def _wall(command: Sequence[str], cwd: Path | None = None) -> float:
    env = {**os.environ, "CI": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def side_by_side(
    commands: dict[str, Sequence[str]], repeats: int, cwd: Path | None = None
) -> dict[str, float]:
    """Median wall seconds per command, the commands interleaved run by run."""
    for command in commands.values():
        _wall(command, cwd)  # warm the file cache and bytecode
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            samples[name].append(_wall(command, cwd))
    return {name: statistics.median(values) for name, values in samples.items()}


def _report(title: str, medians: dict[str, float], goal: str) -> None:
    print(title)
    for name, seconds in medians.items():
        print(f"  {name:<44} {seconds * 1000:>9.1f} ms")
    print(f"  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--library-repeats", type=int, default=3)
    args = parser.parse_args()
    guestsim = _console_script()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    commands: dict[str, Sequence[str]] = {"guestsim --help": [*guestsim, "--help"]}
    if importlib.util.find_spec("cloudbaseinit") is not None:
        commands["python -c 'import cloudbaseinit.init'"] = [
            sys.executable,
            "-c",
            "import cloudbaseinit.init",
        ]
    medians = side_by_side(commands, args.repeats)
    help_s = medians["guestsim --help"]
    if len(medians) == 2:
        upstream = medians["python -c 'import cloudbaseinit.init'"]
        goal = f"ratio {help_s / upstream:.2f} (goal <= 0.40)"
    else:
        goal = f"cloudbase-init not installed: {help_s * 1000:.0f} ms (goal <= 200 ms)"
    _report("start-up of the command line", medians, goal)

    with tempfile.TemporaryDirectory(prefix="guestsim-bench-") as folder:
        project = Path(folder)
        (project / "test_one.py").write_text(ONE_TEST)
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"]
        medians = side_by_side(
            {
                "pytest, guestsim plugin loaded": pytest,
                "pytest -p no:guestsim": [*pytest, "-p", "no:guestsim"],
            },
            args.repeats,
            cwd=project,
        )
    ratio = medians["pytest, guestsim plugin loaded"] / medians["pytest -p no:guestsim"]
    _report("pytest start-up, one-test project", medians, f"ratio {ratio:.2f} (goal <= 1.10)")

    run = [*guestsim, "run"]
    medians = side_by_side(
        {"guestsim run (serial)": run, "guestsim run --jobs 2": [*run, "--jobs", "2"]},
        args.library_repeats,
    )
    ratio = medians["guestsim run --jobs 2"] / medians["guestsim run (serial)"]
    _report("the bundled library, whole process", medians, f"--jobs 2 / serial {ratio:.2f}")


if __name__ == "__main__":
    main()
