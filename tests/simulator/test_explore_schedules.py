"""Combined faults: schedules of power cuts, HTTP faults and extra boots that hypothesis draws
and shrinks (``guestsim explore --hypothesis N``), and their replay (``run``/``trace``)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from importlib import resources
from itertools import pairwise
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import find, given
from hypothesis import strategies as st

from guestsim.simulator.cli import cli
from guestsim.simulator.explore import build_cut_machine, reference_run
from guestsim.simulator.faults import Fault
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario
from guestsim.simulator.schedules import (
    Request,
    Schedule,
    build_schedule_machine,
    cloud_requests,
    format_fault,
    literal_glob,
    run_schedule,
    schedule_strategy,
)

# Converged at every power cut (`guestsim explore --power-loss`), and its one request to the
# cloud is retried by the agent: no schedule makes it diverge.
IDEMPOTENT = bundled("scenarios") / "reboots" / "hostname-reboot-allowed.yaml"
CLOUDSTACK = bundled("scenarios") / "clouds" / "cloudstack-happy-path.yaml"
REPO = Path(__file__).resolve().parents[2]

# A local script whose third run leaves its log otherwise than the first two: only a run
# where it starts three times diverges, which takes two power cuts while it runs (the
# plugin's DONE status is written after the script, so a cut before it runs it again).
PLANTED = """\
description: A local script whose third run rewrites its log (non-idempotent on purpose).
machine:
  files:
    'C:\\Scripts\\append.cmd': |
      echo run >> C:\\app\\log.txt
cloud:
  type: openstack
  meta_data:
    uuid: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    hostname: planted
scripts:
  - name: append
    path: 'C:\\Scripts\\append.cmd'
    runs:
      - effects: [{create_file: {path: 'C:\\app\\log.txt', content: run 1}}]
      - effects: [{create_file: {path: 'C:\\app\\log.txt', content: run 1}}]
      - effects: [{create_file: {path: 'C:\\app\\log.txt', content: 'run 1, run 3'}}]
agent:
  options:
    DEFAULT:
      local_scripts_path: 'C:\\Scripts'
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.localscripts.LocalScriptsPlugin]
expect:
  boots: 1
  files:
    'C:\\app\\log.txt': {content: run 1}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    (tmp_path / "stories").mkdir()
    path = tmp_path / "stories" / "planted.yaml"
    path.write_text(PLANTED, encoding="utf-8")
    return path


def replay_argv(output: str) -> list[str]:
    [line] = [line for line in output.splitlines() if line.strip().startswith("replay: ")]
    argv = shlex.split(line.strip().removeprefix("replay: "))
    assert argv[:2] == ["guestsim", "run"]
    return argv[1:]


def test_a_planted_divergence_is_found_shrunk_and_printed_as_a_command_that_replays_it(
    planted: Path,
) -> None:
    code, output = invoke("explore", str(planted), "--hypothesis", "25")
    assert code == 1, output
    lines = output.splitlines()
    assert lines[0].startswith("FAIL  stories/planted  (hypothesis: ")
    assert "minimal failing schedule: power loss at side effects " in lines[0]
    assert lines[1] == "      - diverged, 3 boots"
    assert "          expectation files.C:\\app\\log.txt.content: expected 'run 1', got " in (
        output
    )
    assert re.fullmatch(r"hypothesis: 0 passed, 1 failed; \d+ schedules tried", lines[-1])

    argv = replay_argv(output)
    assert argv[1] == planted.as_posix()
    first, second = invoke(*argv), invoke(*argv)
    assert first == second
    replay_code, replay_output = first
    assert replay_code == 1
    assert replay_output.startswith("DIVERGED  stories/planted  (power loss at side effects ")
    assert "got 'run 1, run 3'" in replay_output

    traces = {invoke("trace", *argv[1:], "--format", "jsonl") for _ in range(2)}
    [(trace_code, trace)] = traces
    assert trace_code == 0
    events = [json.loads(line) for line in trace.splitlines()]
    cuts = [int(value) for flag, value in pairwise(argv) if flag == "--power-loss-at"]
    assert [e["at"] for e in events if e["kind"] == "power_loss"] == cuts
    assert [e["run"] for e in events if e["kind"] == "script"] == [1, 2, 3]


def test_the_printed_schedule_is_minimal_one_cut_alone_converges(planted: Path) -> None:
    code, output = invoke("explore", str(planted), "--hypothesis", "25")
    assert code == 1
    argv = replay_argv(output)
    cuts = tuple(int(v) for f, v in pairwise(argv) if f == "--power-loss-at")
    assert len(cuts) == 2 and "--fault" not in argv and "--extra-boots" not in argv
    scenario = load_scenario(planted)
    ref = reference_run(scenario)
    assert not run_schedule(scenario, ref, Schedule(cuts), None)[0].holds
    for cut in cuts:
        assert run_schedule(scenario, ref, Schedule((cut,)), None)[0].outcome == "converged"
    # A later second cut still falls in the boots the first added: numbering goes on.
    result = build_schedule_machine(scenario, Schedule(cuts)).run()
    assert [e.boot for e in result.trace.of_kind("power_loss")] == [1, 2]
    assert cuts[1] > len([e for e in result.side_effects if e.boot == 1])


def test_an_idempotent_scenario_reports_no_divergence() -> None:
    code, output = invoke("explore", str(IDEMPOTENT), "--power-loss", "--hypothesis", "40")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("PASS  reboots/hostname-reboot-allowed  (")  # the power-loss pass
    assert lines[2].startswith("PASS  reboots/hostname-reboot-allowed  (hypothesis: ")
    assert lines[2].endswith(" schedules tried, no divergence found)")
    assert lines[3].startswith("hypothesis: 1 passed, 0 failed; ")
    assert "replay" not in output


@pytest.mark.subprocess
def test_the_same_command_prints_the_same_output_and_reports(planted: Path, tmp_path: Path) -> None:
    outputs = set()
    for jobs in ("1", "1", "2"):
        json_path, junit_path = tmp_path / f"r{jobs}.json", tmp_path / f"r{jobs}.xml"
        args = [str(planted), str(IDEMPOTENT), "--hypothesis", "25", "--jobs", jobs]
        code, output = invoke(
            "explore", *args, "--json", str(json_path), "--junit", str(junit_path)
        )
        assert code == 1
        outputs.add((output, json_path.read_text(), junit_path.read_text()))
    [(output, _, _)] = outputs
    # Another process, with other string hashes, finds the same.
    env = dict(os.environ, PYTHONHASHSEED="7", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = ["guestsim", "explore", str(planted), str(IDEMPOTENT), "--hypothesis", "25"]
    script = f"import sys\nfrom guestsim.simulator.cli import main\nsys.argv = {argv!r}\nmain()\n"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, cwd=tmp_path, env=env, text=True
    )
    assert (completed.returncode, completed.stdout) == (1, output)


def test_the_reports_carry_the_schedules_section_and_a_suite_of_their_own(
    planted: Path, tmp_path: Path
) -> None:
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    code, output = invoke(
        "explore", str(planted), str(IDEMPOTENT), "--hypothesis", "25",
        "--json", str(json_path), "--junit", str(junit_path),
    )  # fmt: skip
    assert code == 1
    report = json.loads(json_path.read_text())
    schema = json.loads(
        resources.files("guestsim.simulator")
        .joinpath("schemas/explore-report.schema.json")
        .read_text()
    )
    jsonschema.validate(report, schema)
    assert report["passed"] is False
    failing, passing = report["scenarios"]
    assert (failing["passed"], passing["passed"]) == (False, True)
    assert failing["cuts"] == [] and failing["findings"] == []  # --power-loss did not run
    section = failing["schedules"]
    # The cloud answered two distinct requests: the route check's GET of the root and the
    # metadata document.
    assert section["examples"] == 25 and section["error"] is None and section["requests"] == 2
    failure = section["failure"]
    assert failure["outcome"] == "diverged" and failure["boots"] == 3
    assert failure["schedule"]["faults"] == [] and failure["schedule"]["extra_boots"] == 0
    assert len(failure["schedule"]["cuts"]) == 2
    assert failure["finding"] == "diverged in LocalScriptsPlugin at an OS change"
    assert f"replay: {failure['replay']}" in output
    assert passing["schedules"]["failure"] is None and passing["schedules"]["passed"] is True

    [suite] = ET.parse(junit_path).getroot()
    assert suite.get("name") == "guestsim schedules"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {case.get("classname"): case for case in suite}
    failed = cases["guestsim.schedules.stories/planted"].find("failure")
    assert failed is not None and failed.text is not None
    assert failed.get("message", "").startswith("diverged with power loss at side effects ")
    assert failed.text.endswith(f"replay: {failure['replay']}")
    assert list(cases["guestsim.schedules.reboots/hostname-reboot-allowed"]) == []


def test_a_divergence_declared_at_its_first_cut_is_known(planted: Path) -> None:
    story = planted.read_text().replace(
        "expect:\n",
        "expect:\n  power_loss:\n    known_findings:\n"
        "      - diverged in LocalScriptsPlugin at an OS change\n",
    )
    planted.write_text(story)
    code, output = invoke("explore", str(planted), "--hypothesis", "25")
    assert code == 0, output
    assert "no divergence found" in output.splitlines()[0]
    scenario = load_scenario(planted)
    cuts = (1, 2)
    run = run_schedule(scenario, reference_run(scenario), Schedule(cuts), None)[0]
    assert (run.outcome, run.known) == ("diverged", True)
    code, output = invoke("run", str(planted), "--power-loss-at", "1", "--power-loss-at", "2")
    assert code == 0 and output.startswith("DIVERGED  [known]  stories/planted")


def test_a_fault_the_agent_does_not_retry_diverges_until_an_extra_boot_recovers() -> None:
    fault = "/:method=GET,status=500,first=1"  # the CloudStack password server
    code, output = invoke("run", str(CLOUDSTACK), "--fault", fault)
    assert code == 1
    assert output.splitlines()[0] == (
        "DIVERGED  clouds/cloudstack-happy-path  (fault /:method=GET,status=500,first=1; 2 boots)"
    )
    assert (
        "      - expectation plugins.SetUserPasswordPlugin: expected 'next_boot', got 'absent'"
        in (output)
    )
    code, output = invoke("run", str(CLOUDSTACK), "--fault", fault, "--extra-boots", "1")
    assert (code, output) == (
        0,
        "CONVERGED  clouds/cloudstack-happy-path  (fault /:method=GET,status=500,first=1; "
        "1 extra boot; 3 boots)\n",
    )
    result = build_schedule_machine(
        load_scenario(CLOUDSTACK), Schedule.from_options([], [fault], 1)
    ).run()
    injected = result.trace.of_kind("fault")
    assert [(e.boot, e.get("url"), e.get("status")) for e in injected] == [
        (2, "http://10.1.1.1:8080/", 500)
    ]
    assert [e.boot for e in result.trace.of_kind("extra_boot")] == [2]
    assert [b.outcome for b in result.boots] == ["reboot", "stopped", "stopped"]


def test_a_single_cut_schedule_is_the_power_loss_explorer_s_cut() -> None:
    scenario = load_scenario(CLOUDSTACK)
    for index in (3, 9):
        one = build_cut_machine(scenario, index).run().trace.to_jsonl()
        assert build_schedule_machine(scenario, Schedule((index,))).run().trace.to_jsonl() == one
        _, output = invoke("run", str(CLOUDSTACK), "--power-loss-at", str(index))
        assert "(power lost at side effect" in output.splitlines()[0]  # the one-cut replay


def test_a_cut_the_run_never_reaches_is_noted(planted: Path) -> None:
    code, output = invoke("run", str(planted), "--power-loss-at", "2", "--power-loss-at", "99")
    assert code == 0
    assert output.splitlines() == [
        "CONVERGED  stories/planted  (power loss at side effects 2, 99; 2 boots)",
        "      note: no cut at 99: the run had 5 side effects",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", str(IDEMPOTENT)], "--hypothesis N"),
        (["explore", str(IDEMPOTENT), "--hypothesis", "0"], "0"),
        (["run", str(IDEMPOTENT), "--fault", "openstack"], "must start with '/'"),
        (["run", str(IDEMPOTENT), "--fault", "/x:status=oops"], "status must be int"),
        (["run", str(IDEMPOTENT.parent), "--extra-boots", "1"], "one scenario file"),
        (["trace", str(IDEMPOTENT), "--fault", "/x:colour=red"], "is not name=value"),
    ],
)
def test_bad_schedule_requests_are_usage_errors(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2 and message in output


REQUESTS = [Request("GET", "/openstack/latest/meta_data.json"), Request("POST", "/a:b[1]*")]


@given(schedule_strategy(12, REQUESTS))
def test_every_drawn_schedule_reads_back_from_its_options(schedule: Schedule) -> None:
    options = schedule.options()
    cuts = [int(v) for f, v in pairwise(options) if f == "--power-loss-at"]
    specs = [v for f, v in pairwise(options) if f == "--fault"]
    extra = [int(v) for f, v in pairwise(options) if f == "--extra-boots"]
    assert Schedule.from_options(cuts, specs, sum(extra)) == schedule
    assert not schedule.empty and list(schedule.cuts) == sorted(set(schedule.cuts))


def test_the_strategy_combines_all_three_kinds_and_shrinks_each() -> None:
    combined = find(
        schedule_strategy(5, REQUESTS),
        lambda s: len(s.cuts) > 1 and bool(s.faults) and s.extra_boots > 0,
    )
    assert combined == Schedule(
        (1, 2), (Fault("/openstack/latest/meta_data.json", method="GET", status=500, first=1),), 1
    )


@given(st.text(alphabet="/ab:[]*?", min_size=1))
def test_a_literal_glob_matches_its_path(path: str) -> None:
    fault = Fault(literal_glob(path))
    assert fault.matches("GET", "host", path)
    assert ":" not in literal_glob(path)


def test_the_requests_drawn_from_are_those_the_scenario_s_clouds_answered() -> None:
    result = reference_run(load_scenario(CLOUDSTACK)).result
    assert cloud_requests(result) == [
        Request("GET", "/"),
        Request("GET", "/latest/meta-data/instance-id"),
        Request("GET", "/latest/meta-data/local-hostname"),
        Request("GET", "/latest/meta-data/service-offering"),
    ]
    assert format_fault(replace(Fault("/"), method="GET", status=503, first=2)) == (
        "/:method=GET,status=503,first=2"
    )
