"""Record the trace of every bundled scenario as the reference the suite compares against.

    python -m tests.scenarios.record_traces

Run it only for a change that means to alter traces, and say in the change why each
altered trace is right: ``test_recorded_traces.py`` holds every other change to a
byte-identical trace.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario

LIBRARY_ROOT = bundled("scenarios")
TRACES = Path(__file__).with_name("traces")


def trace_file(scenario: Path) -> Path:
    return TRACES / scenario.relative_to(LIBRARY_ROOT).with_suffix(".jsonl")


def trace_bytes(scenario: Path) -> bytes:
    return run_scenario(load_scenario(scenario)).result.trace.to_jsonl().encode()


def main() -> None:
    shutil.rmtree(TRACES, ignore_errors=True)
    library = discover([LIBRARY_ROOT])
    for scenario in library:
        target = trace_file(scenario)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(trace_bytes(scenario))
    print(f"recorded {len(library)} traces under {TRACES}")


if __name__ == "__main__":
    main()
