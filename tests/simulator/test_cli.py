"""The guestsim command line, as a user at a terminal or a CI job meets it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guestsim.simulator.cli import cli, main
from guestsim.simulator.paths import bundled

LIBRARY = bundled("scenarios")
BOOT = LIBRARY / "reboots"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["guestsim", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_the_bundled_library_gives_the_same_report_serially_and_in_two_workers(
    tmp_path: Path,
) -> None:
    reports = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"jobs-{jobs}"
        folder.mkdir()
        json_report, junit = str(folder / "r.json"), str(folder / "r.xml")
        result = invoke("run", "--jobs", jobs, "--json", json_report, "--junit", junit)
        assert result.exit_code == 0, result.output
        reports[jobs] = (
            result.output,
            (folder / "r.json").read_text(),
            (folder / "r.xml").read_bytes(),  # every scenario's trace is its system-out
        )
    assert reports["2"] == reports["1"]
    lines = reports["1"][0].splitlines()
    count = len(list(LIBRARY.rglob("*.yaml")))
    assert lines[-1] == f"{count} passed, 0 failed"
    assert sum(line.startswith("PASS") for line in lines) == count


def test_jobs_keeps_failures_and_their_order(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    failing = tmp_path / "mine" / "a-wrong-name.yaml"
    failing.write_text(
        (BOOT / "hostname-reboot-allowed.yaml")
        .read_text()
        .replace("computer_name: app-server-02", "computer_name: somebody-else")
    )
    paths = [str(failing), str(BOOT / "hostname-reboot-disallowed.yaml"), str(BOOT)]
    serial, spread = invoke("run", *paths), invoke("run", "--jobs", "0", *paths)
    assert spread.exit_code == serial.exit_code == 1
    assert spread.output == serial.output
    assert spread.output.startswith("FAIL  mine/a-wrong-name  (2 boots)\n      - computer_name:")


def test_a_failing_scenario_exits_1_and_reports_its_unmet_expectations(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    failing = tmp_path / "mine" / "wrong-name.yaml"
    failing.write_text(
        (BOOT / "hostname-reboot-allowed.yaml")
        .read_text()
        .replace("computer_name: app-server-02", "computer_name: somebody-else")
    )
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    result = invoke(
        "run",
        str(failing),
        str(BOOT / "hostname-reboot-disallowed.yaml"),
        "--junit",
        str(junit),
        "--json",
        str(report),
    )
    assert result.exit_code == 1
    assert "FAIL  mine/wrong-name" in result.output
    assert "computer_name: expected 'somebody-else', got 'app-server-02'" in result.output
    assert result.output.splitlines()[-1] == "1 passed, 1 failed"

    document = json.loads(report.read_text())
    assert document["summary"] == {"passed": 1, "failed": 1, "skipped": 0}
    first = document["scenarios"][0]
    assert (first["name"], first["passed"], first["boots"]) == ("mine/wrong-name", False, 2)
    assert first["failures"] == ["computer_name: expected 'somebody-else', got 'app-server-02'"]

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    failure = cases[0].find("failure")
    assert failure is not None and "somebody-else" in (failure.get("message") or "")
    assert cases[1].find("failure") is None
    system_out = cases[1].find("system-out")
    assert system_out is not None and '"kind":"boot"' in (system_out.text or "")


def test_a_broken_scenario_file_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "description: x\nagent: {options: {}}\nexpect: {boots: many, computer_name: a}\n"
    )
    code, out, err = run_main(monkeypatch, capsys, "run", str(broken))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {broken}: expect.boots: 'many' is not of type 'integer'"
    ]
    assert "Traceback" not in out + err


def test_a_missing_path_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "no such file or folder" in err


def test_an_unknown_option_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "run", "--frobnicate")
    assert code == 2
    assert "No such option" in err


def test_run_accepts_a_seed() -> None:
    assert (
        invoke(
            "run", str(LIBRARY / "clouds" / "openstack-happy-path.yaml"), "--seed", "2"
        ).exit_code
        == 0
    )


def test_trace_prints_a_timeline_with_reboots_and_virtual_time() -> None:
    result = invoke("trace", str(BOOT / "hostname-reboot-allowed.yaml"))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "Boot 1 at 0.0s: ran 0.0s, metadata service HttpService"
    assert (
        "    SetHostNamePlugin                       0.0s  ok status=1 reboot=True; 2 OS changes"
        in lines
    )
    assert "  ended: reboot" in lines
    assert "Boot 2 at 45.0s, 45.0s after boot 1 ended: ran 3.0s, metadata service HttpService" in (
        lines
    )
    assert "    SetHostNamePlugin                       0.0s  skipped: done" in lines
    assert lines[-1] == "PASS  reboots/hostname-reboot-allowed  (2 boots)"


def test_trace_shows_plugin_durations_in_virtual_time() -> None:
    result = invoke("trace", str(LIBRARY / "failures" / "no-metadata-service.yaml"), "--events")
    assert "    MTUPlugin" in result.output
    assert "  sleep                    seconds=4.0" in result.output


def test_trace_json_has_the_timeline_and_the_events() -> None:
    result = invoke("trace", str(LIBRARY / "failures" / "plugin-raises.yaml"), "--format", "json")
    document = json.loads(result.output)
    first_main = document["boots"][0]["phases"][3]
    assert first_main["name"] == "MAIN" and first_main["verdict"] == "failed"
    assert [p["outcome"] for p in first_main["plugins"]] == ["ok", "failed", "ok"]
    assert document["events"][0]["kind"] == "boot"


def test_trace_jsonl_is_the_raw_trace() -> None:
    result = invoke("trace", str(BOOT / "hostname-reboot-disallowed.yaml"), "--format", "jsonl")
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert {"boot", "stage_start", "plugin_end", "http", "agent_exit"} <= {
        e["kind"] for e in events
    }


def test_help_explains_exit_codes() -> None:
    result = invoke("run", "--help")
    assert "0 all passed, 1 any" in result.output
    assert "--junit" in result.output and "--seed" in result.output


@pytest.mark.host_tools("guestsim")
def test_the_console_script_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    executable = shutil.which("guestsim")
    if executable is None:
        pytest.skip("the guestsim console script is not installed (pip install -e .)")
    broken = tmp_path / "broken.yaml"
    broken.write_text("description: [\n")
    completed = subprocess.run(
        [executable, "run", str(broken)], capture_output=True, text=True, cwd=tmp_path
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: {broken}: line")
    assert "Traceback" not in completed.stderr


def test_serve_rejects_a_malformed_fault(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "serve", "openstack", "--fault", "/x:colour=red")
    assert code == 2
    assert "--fault" in err and "colour=red" in err


def test_serve_help_lists_every_cloud_and_the_loopback_default() -> None:
    result = invoke("serve", "--help")
    for cloud in ("openstack", "ec2", "cloudstack", "maas", "gce", "azure", "packet", "oracle"):
        assert cloud in result.output
    assert "127.0.0.1" in result.output


def test_the_json_report_follows_its_published_schema(tmp_path: Path) -> None:
    from importlib import resources

    import jsonschema

    schema = (
        resources.files("guestsim.simulator").joinpath("schemas/report.schema.json").read_text()
    )
    report = tmp_path / "r.json"
    invoke("run", str(BOOT), "--json", str(report))
    document = json.loads(report.read_text())
    jsonschema.Draft202012Validator(json.loads(schema)).validate(document)
    assert document["version"] == 1


def test_debug_shows_the_traceback_that_is_otherwise_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("description: [\n")
    code, _, err = run_main(monkeypatch, capsys, "--debug", "run", str(broken))
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith(f"error: {broken}: line")
