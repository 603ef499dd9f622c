"""Power loss at every side effect: the cut points, the judgement of each cut, replays and
reports (``guestsim explore --power-loss``, ``run``/``trace --power-loss-at``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.explore import build_cut_machine, explore_power_loss, reference_run
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario

STOCK = bundled("scenarios") / "clouds" / "stock-conf-openstack.yaml"
REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def stock_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("explore") / "out.json"
    code, _ = invoke("explore", str(STOCK), "--power-loss", "--json", str(out))
    assert code == 1  # the stock configuration has findings; the story declares none
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_every_side_effect_of_the_reference_run_is_a_cut_point(
    stock_report: dict[str, Any],
) -> None:
    reference = reference_run(load_scenario(STOCK)).result
    trace = reference.trace
    # A change Windows makes inside another call (part_of) is one side effect with it.
    os_calls = [(e.boot, e.get("call")) for e in trace.of_kind("os") if not e.get("part_of")]
    # The one request after which OpenStack holds something new: the password post.
    posts = [e for e in trace.of_kind("http") if e.get("method") == "POST"]
    assert len(posts) == 1 and posts[0].get("url", "").endswith("/password")
    [scenario] = stock_report["scenarios"]
    cuts = scenario["cuts"]
    assert scenario["side_effects"] == len(os_calls) + 1
    assert len(cuts) == scenario["side_effects"] + 1  # and one after the last
    explored = [(c["effect"]["boot"], c["effect"]["call"]) for c in cuts if c["effect"]]
    assert [e for e in explored if not e[1].startswith("POST")] == os_calls
    assert ("2", "POST /openstack/2013-04-04/password") in [(str(b), c) for b, c in explored]
    assert [c["index"] for c in cuts] == list(range(1, len(cuts) + 1))


def test_the_report_follows_its_schema_and_names_what_each_finding_is(
    stock_report: dict[str, Any],
) -> None:
    schema = json.loads(
        resources.files("guestsim.simulator")
        .joinpath("schemas/explore-report.schema.json")
        .read_text()
    )
    jsonschema.validate(stock_report, schema)
    [scenario] = stock_report["scenarios"]
    ids = [f["id"] for f in scenario["findings"]]
    assert "diverged in SetUserPasswordPlugin at an OS change" in ids
    assert "diverged in ConfigWinRMCertificateAuthPlugin at an OS change" in ids
    # Grouped: fewer findings than cuts that did not converge, every such cut in one.
    failing = [c["index"] for c in scenario["cuts"] if c["outcome"] != "converged"]
    grouped = sorted(i for f in scenario["findings"] for i in f["cuts"])
    assert grouped == failing


def test_a_cut_after_the_password_post_leaves_the_cloud_with_a_password_nobody_has() -> None:
    scenario = load_scenario(STOCK)
    effects = reference_run(scenario).result.side_effects
    post = next(e for e in effects if e.kind == "cloud")
    status_write = effects[post.index]  # the next side effect: the plugin's status
    assert status_write.call == "set_registry_value"
    result = build_cut_machine(scenario, status_write.index).run()
    [cut] = result.trace.of_kind("power_loss")
    assert cut.get("at") == status_write.index and cut.boot == 2
    (cloud,) = result.clouds
    assert cloud.requests[-1].method == "GET"  # boot 3 only reads the password back
    boot_three = [e for e in result.trace if e.boot == 3]
    calls = [e.get("call") for e in boot_three if e.kind == "os"]
    assert "set_user_password" in calls  # a second password is set on the user ...
    posts = [e for e in boot_three if e.kind == "http" and e.get("method") == "POST"]
    assert posts == []  # ... and never posted: the cloud already holds the first
    code, output = invoke("run", str(STOCK), "--power-loss-at", str(status_write.index))
    assert code == 1
    assert "user Admin's password differs from the one the openstack cloud holds" in output


def test_a_cut_at_the_password_post_loses_the_request_and_the_next_boot_posts_again() -> None:
    scenario = load_scenario(STOCK)
    effects = reference_run(scenario).result.side_effects
    post = next(e for e in effects if e.kind == "cloud")
    result = build_cut_machine(scenario, post.index).run()
    (cloud,) = result.clouds
    posts = [r for r in cloud.requests if r.method == "POST"]
    assert len(posts) == 1  # the interrupted one never reached the cloud
    assert [e.boot for e in result.trace.of_kind("http") if e.get("method") == "POST"] == [3]
    code, output = invoke("run", str(STOCK), "--power-loss-at", str(post.index))
    assert (code, output.split()[0]) == (0, "CONVERGED")


@pytest.mark.parametrize("index", [1, 13, 28, 29, 35, 38])
def test_a_replayed_cut_ends_as_the_exploration_said(
    stock_report: dict[str, Any], index: int
) -> None:
    [scenario] = stock_report["scenarios"]
    explored = scenario["cuts"][index - 1]
    code, output = invoke("run", str(STOCK), "--power-loss-at", str(index))
    assert output.split()[0] == explored["outcome"].upper()
    assert code == (0 if explored["outcome"] == "converged" else 1)
    assert [line.removeprefix("      - ") for line in output.splitlines()[1:]][
        : len(explored["diff"])
    ] == explored["diff"]


_TRACE = (
    "import sys\n"
    "from guestsim.simulator.cli import main\n"
    "sys.argv = ['guestsim', 'trace', sys.argv[1], '--power-loss-at', sys.argv[2],"
    " '--format', 'jsonl']\n"
    "main()\n"
)


@pytest.mark.subprocess
@pytest.mark.parametrize("index", [13, 29])
def test_a_replayed_cut_gives_the_same_trace_under_other_hash_seeds(
    index: int, tmp_path: Path
) -> None:
    traces = set()
    for hash_seed in ("0", "7", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONDONTWRITEBYTECODE="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        completed = subprocess.run(
            [sys.executable, "-c", _TRACE, str(STOCK), str(index)],
            capture_output=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        traces.add(completed.stdout)
    [trace] = traces
    events = [json.loads(line) for line in trace.splitlines()]
    assert [e["at"] for e in events if e["kind"] == "power_loss"] == [index]


def test_the_timeline_shows_where_the_power_failed() -> None:
    code, output = invoke("trace", str(STOCK), "--power-loss-at", "29")
    assert code == 0
    assert "ended: power lost at side effect 29 (set_registry_value)" in output
    assert "Boot 3 at 91.0s" in output


def test_declared_findings_pass_and_a_declared_one_that_went_away_does_not_matter(
    tmp_path: Path,
) -> None:
    exploration = explore_power_loss(load_scenario(STOCK))
    ids = [f.id for f in exploration.findings]
    story = STOCK.read_text().replace(
        "expect:\n",
        "expect:\n  power_loss:\n    known_findings:\n"
        + "".join(f"      - {json.dumps(i)}\n" for i in ids),
        1,
    )
    conf = (STOCK.parent / "../../fixtures/confs/stock-cloudbase-init.conf").resolve()
    path = tmp_path / "stock-known.yaml"
    path.write_text(story.replace("../../fixtures/confs/stock-cloudbase-init.conf", str(conf)))
    code, output = invoke("explore", str(path), "--power-loss", "--junit", str(tmp_path / "j.xml"))
    assert code == 0, output
    assert output.splitlines()[0].startswith("PASS")
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(ids)) and suite.get("skipped") == str(len(ids))
    assert suite.get("failures") == "0"


def test_an_undeclared_finding_fails_the_junit_case_naming_it(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    code, _ = invoke("explore", str(STOCK), "--power-loss", "--junit", str(junit))
    assert code == 1
    cases = ET.parse(junit).getroot().iter("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert "diverged in SetUserPasswordPlugin at an OS change" in failed


def test_a_converging_scenario_is_one_passing_case() -> None:
    path = bundled("scenarios") / "reboots" / "hostname-reboot-allowed.yaml"
    exploration = explore_power_loss(load_scenario(path))
    assert exploration.findings == [] and exploration.passed
    assert {c.outcome for c in exploration.cuts} == {"converged"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", str(STOCK)], "--power-loss"),
        (["run", str(STOCK), "--power-loss-at", "999"], "no cut point 999"),
        (["run", str(STOCK), "--power-loss-at", "0"], "0"),
        (["run", str(STOCK.parent), "--power-loss-at", "3"], "one scenario file"),
        (["trace", str(STOCK), "--power-loss-at", "999"], "cut points 1-38"),
    ],
)
def test_bad_cut_requests_are_usage_errors(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2 and message in output


def test_no_secret_of_the_guest_reaches_a_report(tmp_path: Path) -> None:
    path = bundled("scenarios") / "power-loss" / "winrm-certificate-auth-after-a-cut.yaml"
    scenario = load_scenario(path)
    exploration = explore_power_loss(scenario)
    secrets = set()
    for cut in exploration.cuts:
        result = build_cut_machine(scenario, cut.index).run()
        secrets |= {u.password for u in result.state.users if u.password}
        secrets |= {m.password for m in result.state.winrm.cert_mappings if m.password}
    assert secrets
    out = tmp_path / "out.json"
    code, output = invoke("explore", str(path), "--power-loss", "--json", str(out))
    assert code == 0
    for text in (output, out.read_text()):
        assert not [secret for secret in secrets if secret in text]


def test_a_declared_finding_that_no_longer_happens_fails_until_the_story_says_so(
    tmp_path: Path,
) -> None:
    # Like a strict xfail: a declaration that no longer describes the agent is stale.
    story = bundled("scenarios") / "power-loss" / "host-name-and-network-converge.yaml"
    stale = "diverged in SetHostNamePlugin at an OS change"
    path = tmp_path / "stale.yaml"
    path.write_text(story.read_text().replace("known_findings: []", f"known_findings: [{stale!r}]"))
    out = tmp_path / "out.json"
    code, output = invoke("explore", str(path), "--power-loss", "--json", str(out))
    assert code == 1
    assert f"declared known but not found: {stale}" in output
    [scenario] = json.loads(out.read_text())["scenarios"]
    assert (scenario["passed"], scenario["stale_known_findings"]) == (False, [stale])
    assert all(cut["outcome"] == "converged" for cut in scenario["cuts"])
