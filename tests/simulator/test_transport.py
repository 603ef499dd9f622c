"""One route table, two transports: in-process and real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from guestsim.simulator.clouds import DocumentSource, build_clouds
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario
from guestsim.simulator.transport import LoopbackServer

HAPPY_PATHS = [
    path for path in discover([bundled("scenarios")]) if path.stem.endswith("happy-path")
]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", HAPPY_PATHS, ids=[p.stem for p in HAPPY_PATHS])
def test_both_transports_give_the_same_trace(path: Path) -> None:
    scenario = load_scenario(path)
    in_process = run_scenario(scenario, transport="inprocess")
    loopback = run_scenario(scenario, transport="loopback")
    assert in_process.passed and loopback.passed
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()


def test_loopback_server_serves_the_cloud_app_over_a_real_socket() -> None:
    (app,) = build_clouds(DocumentSource("openstack", {}))
    with LoopbackServer(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.url}openstack/latest/meta_data.json") as reply:
            document = json.load(reply)
    assert document["uuid"] == "4a0f6c2e-8d1b-4e7a-b3c5-9f2e6d8a1c47"
    assert [(r.method, r.path, r.status) for r in app.requests] == [
        ("GET", "/openstack/latest/meta_data.json", 200)
    ]


@pytest.mark.host_tools(sys.executable)  # a `guestsim` (or pytest) child of this Python
def test_guestsim_serve_answers_on_loopback_until_stopped(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from guestsim.simulator.cli import main; main()",
            "serve",
            "openstack",
            "--fault",
            "/openstack/latest/vendor_data.json:status=503,first=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", banner)
        assert match, banner
        url = match.group(1)
        with urllib.request.urlopen(f"{url}openstack/latest/meta_data.json") as reply:
            assert json.load(reply)["hostname"] == "win-web-01.novalocal"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}openstack/latest/vendor_data.json")
        assert refused.value.code == 503
        assert process.stdout.readline().strip() == "GET /openstack/latest/meta_data.json -> 200"
        assert process.stdout.readline().strip() == "GET /openstack/latest/vendor_data.json -> 503"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
