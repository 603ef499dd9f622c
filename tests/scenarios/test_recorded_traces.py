"""Every bundled scenario's trace is byte-identical to the one recorded before a change,
in this process and under other hash seeds.

The references in ``traces/`` were recorded by ``record_traces.py``; a change that means
to alter traces records them again and says why in its description.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guestsim.simulator.scenario import discover
from tests.builders import library_outcome
from tests.scenarios.record_traces import LIBRARY_ROOT, trace_file

LIBRARY = discover([LIBRARY_ROOT])
REPO = Path(__file__).resolve().parents[2]

_DIGESTS = """
import hashlib, json, sys
from guestsim.simulator.scenario import discover
from tests.scenarios.record_traces import LIBRARY_ROOT, trace_bytes
print(json.dumps([hashlib.sha256(trace_bytes(p)).hexdigest() for p in discover([LIBRARY_ROOT])]))
"""


def first_difference(recorded: bytes, now: bytes) -> str:
    diff = difflib.unified_diff(
        recorded.decode().splitlines(), now.decode().splitlines(), "recorded", "now", n=1
    )
    return "\n".join(list(diff)[:12])


@pytest.mark.parametrize(
    "path", LIBRARY, ids=[p.relative_to(LIBRARY_ROOT).as_posix() for p in LIBRARY]
)
def test_the_trace_is_the_recorded_one(path: Path) -> None:
    recorded = trace_file(path).read_bytes()
    now = library_outcome(path).result.trace.to_jsonl().encode()
    assert now == recorded, (
        f"{path.name}: the trace changed (re-record with `python -m tests.scenarios.record_traces`"
        f" only if the change is meant):\n{first_difference(recorded, now)}"
    )


def test_every_bundled_scenario_has_a_recorded_trace() -> None:
    traces = trace_file(LIBRARY_ROOT / "any.yaml").parent
    recorded = sorted(p.relative_to(traces).with_suffix("") for p in traces.rglob("*.jsonl"))
    library = sorted(p.relative_to(LIBRARY_ROOT).with_suffix("") for p in LIBRARY)
    assert recorded == library


@pytest.mark.subprocess
@pytest.mark.parametrize("hash_seed", ["1", "4242"])
def test_the_traces_do_not_depend_on_the_hash_seed(hash_seed: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", _DIGESTS], capture_output=True, check=True, cwd=tmp_path, env=env
    )
    digests = json.loads(completed.stdout)
    recorded = [hashlib.sha256(trace_file(p).read_bytes()).hexdigest() for p in LIBRARY]
    changed = [p.name for p, a, b in zip(LIBRARY, digests, recorded, strict=True) if a != b]
    assert changed == []
