"""The same scenario and seed give byte-identical traces, run after run, on any hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario

SCENARIO = bundled("scenarios") / "clouds" / "openstack-happy-path.yaml"
REPO = Path(__file__).resolve().parents[2]

_PRINT_TRACE = (
    "import sys\n"
    "from guestsim.simulator.scenario import load_scenario, run_scenario\n"
    "sys.stdout.write(run_scenario(load_scenario(sys.argv[1])).result.trace.to_jsonl())\n"
)


def trace_bytes() -> bytes:
    return run_scenario(load_scenario(SCENARIO)).result.trace.to_jsonl().encode()


def test_twenty_runs_in_one_process_give_identical_traces() -> None:
    traces = {trace_bytes() for _ in range(20)}
    assert len(traces) == 1
    (trace,) = traces
    assert b'"kind":"reboot"' in trace and b'"kind":"http"' in trace and b'"kind":"dhcp"' in trace


@pytest.mark.subprocess
def test_traces_are_identical_under_different_hash_seeds(tmp_path: Path) -> None:
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONDONTWRITEBYTECODE="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        completed = subprocess.run(
            [sys.executable, "-c", _PRINT_TRACE, str(SCENARIO)],
            capture_output=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        outputs.add(completed.stdout)
    assert outputs == {trace_bytes()}


def test_the_trace_holds_no_host_paths() -> None:
    trace = trace_bytes().decode()
    assert str(REPO) not in trace
    assert "/tmp" not in trace and "site-packages" not in trace


def test_the_seed_drives_generated_passwords_which_the_trace_never_shows() -> None:
    scenario = load_scenario(SCENARIO)
    runs = {seed: run_scenario(scenario, seed).result for seed in (1, 1, 2)}
    passwords = {}
    for seed, result in runs.items():
        admin = result.state.find_user("Admin")
        assert admin is not None and admin.password
        passwords[seed] = admin.password
        assert admin.password not in result.trace.to_jsonl()
    assert passwords[1] == run_scenario(scenario, 1).result.state.find_user("Admin").password  # type: ignore[union-attr]
    assert passwords[1] != passwords[2]
