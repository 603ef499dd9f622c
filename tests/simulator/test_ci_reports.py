"""What a CI job meets: unique scenario names in every report, JUnit that the Jenkins xUnit
schema and pytest-style readers accept, empty selections, library names for trace/explain."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
import pytest
import xmlschema
from click.testing import CliRunner, Result

from guestsim.simulator import cli as cli_module
from guestsim.simulator.cli import cli
from guestsim.simulator.machine import GUESTSIM_AGENT
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover_roots, load_scenario, scenario_name

LIBRARY = bundled("scenarios")
HOSTNAME = LIBRARY / "reboots" / "hostname-reboot-allowed.yaml"
POWER_LOSS = LIBRARY / "power-loss" / "password-posted-before-the-cut.yaml"
# The Jenkins xUnit plugin's schema for JUnit reports (origin and licence in the file).
JUNIT_10 = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit-10.xsd")


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def story(folder: Path, source: Path = HOSTNAME, replace: tuple[str, str] = ("", "")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.yaml"
    text = source.read_text()
    path.write_text(text.replace(*replace) if replace[0] else text)
    return path


def listed(*paths: Path) -> list[str]:
    result = invoke("list", *paths)
    assert result.exit_code == 0, result.output
    return [line.split()[0] for line in result.output.splitlines()[1:-1]]


# --- names -------------------------------------------------------------------------------


def test_scenarios_named_alike_in_two_folders_keep_lists_names_in_every_report(
    tmp_path: Path,
) -> None:
    library = tmp_path / "library"
    story(library / "web")
    story(library / "db", replace=("app-server-02", "db-server-02"))
    names = ["db/scenario", "web/scenario"]
    assert listed(library) == names

    run_json, run_junit = tmp_path / "run.json", tmp_path / "run.xml"
    result = invoke("run", library, "--json", run_json, "--junit", run_junit)
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines()[:-1]] == names
    assert [s["name"] for s in json.loads(run_json.read_text())["scenarios"]] == names
    cases = ET.parse(run_junit).getroot().iter("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("guestsim.db", "db/scenario"),
        ("guestsim.web", "web/scenario"),
    ]

    explore_json, explore_junit = tmp_path / "explore.json", tmp_path / "explore.xml"
    result = invoke(
        "explore", library, "--power-loss", "--json", explore_json, "--junit", explore_junit
    )
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines()[:-1]] == names
    assert [s["name"] for s in json.loads(explore_json.read_text())["scenarios"]] == names
    classnames = [c.get("classname") for c in ET.parse(explore_junit).getroot().iter("testcase")]
    assert classnames == [f"guestsim.power_loss.{name}" for name in names]


def test_diff_and_conformance_name_scenarios_as_list_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compared with guestsim's own agent: the names, not the published agent, are tested.
    monkeypatch.setattr(cli_module, "_upstream_agent", lambda source: GUESTSIM_AGENT)
    story(tmp_path / "web")
    story(tmp_path / "db", replace=("app-server-02", "db-server-02"))
    names = ["db/scenario", "web/scenario"]
    table = invoke("conformance", tmp_path)
    assert table.exit_code == 0, table.output
    assert [line.split()[0] for line in table.output.splitlines()[1:-2]] == names
    document = json.loads(invoke("diff", tmp_path, "--json").stdout)
    assert [scenario["name"] for scenario in document["scenarios"]] == names


def test_names_are_relative_to_the_folder_named_and_widen_until_unique(tmp_path: Path) -> None:
    story(tmp_path / "team-a" / "web")
    story(tmp_path / "team-b" / "web")
    story(tmp_path / "team-b" / "db" / "nightly")
    # One folder named: the path below it.
    assert listed(tmp_path) == [
        "team-a/web/scenario",
        "team-b/db/nightly/scenario",
        "team-b/web/scenario",
    ]
    assert listed(tmp_path / "team-b") == ["db/nightly/scenario", "web/scenario"]
    # Two folders holding web/scenario.yaml: their names take the folder above.
    assert listed(tmp_path / "team-a", tmp_path / "team-b") == [
        "team-a/web/scenario",
        "db/nightly/scenario",
        "team-b/web/scenario",
    ]
    result = invoke("run", tmp_path / "team-a", tmp_path / "team-b")
    assert result.output.splitlines()[:3] == [
        "PASS  team-a/web/scenario  (2 boots)",
        "PASS  db/nightly/scenario  (2 boots)",
        "PASS  team-b/web/scenario  (2 boots)",
    ]


def test_a_bundled_scenario_has_one_name_however_it_is_named() -> None:
    expected = "clouds/openstack-happy-path"
    path = LIBRARY / "clouds" / "openstack-happy-path.yaml"
    for named in ([LIBRARY], [LIBRARY / "clouds"], [path]):
        entries = [entry for entry in discover_roots(named) if entry[0] == path]
        assert [scenario_name(*entry) for entry in entries] == [expected]
    assert load_scenario(path).qualified_name == expected  # as the pytest items name it
    assert load_scenario(path).folder == "clouds"


def test_minus_k_matches_the_names_list_prints(tmp_path: Path) -> None:
    story(tmp_path / "team-a" / "web")
    story(tmp_path / "team-b" / "web")
    result = invoke("run", tmp_path / "team-a", tmp_path / "team-b", "-k", "team-b/web")
    assert result.output.splitlines() == [
        "PASS  team-b/web/scenario  (2 boots)",
        "1 passed, 0 failed",
    ]


# --- JUnit against junit-10.xsd ----------------------------------------------------------


def _parsed(path: Path) -> dict[str, str]:
    """What a pytest-style reader (junitparser) makes of a report: each case's verdict."""
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = [xml] if isinstance(xml, junitparser.TestSuite) else list(xml)
    verdicts = {}
    for suite in suites:
        for case in suite:
            kinds = [type(result).__name__ for result in case.result]
            verdicts[f"{case.classname}::{case.name}"] = ",".join(kinds) or "passed"
    return verdicts


def test_runs_junit_validates_against_junit_10_and_reads_as_pytests(tmp_path: Path) -> None:
    failing = story(
        tmp_path / "stories" / "wrong", replace=("computer_name: app", "computer_name: x")
    )
    passing = story(tmp_path / "stories" / "right")
    report = tmp_path / "run.xml"
    result = invoke("run", tmp_path / "stories", "--junit", report)
    assert result.exit_code == 1, result.output
    JUNIT_10.validate(str(report))
    assert _parsed(report) == {
        "guestsim.right::right/scenario": "passed",
        "guestsim.wrong::wrong/scenario": "Failure",
    }
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    # The files, which the schema has no testcase attribute for, are properties of the suite.
    files = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert files == {
        "file:right/scenario": passing.as_posix(),
        "file:wrong/scenario": failing.as_posix(),
    }

    # Skipped scenarios (a user's conf that a story does not take) are <skipped/> children.
    conf = bundled("fixtures") / "confs" / "stock-cloudbase-init.conf"
    skipped = tmp_path / "skipped.xml"
    plugin_raises = LIBRARY / "failures" / "plugin-raises.yaml"
    result = invoke("run", plugin_raises, HOSTNAME, "--conf", conf, "--junit", skipped)
    JUNIT_10.validate(str(skipped))
    suite = ET.parse(skipped).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "1"
    assert "Skipped" in _parsed(skipped)["guestsim.failures::failures/plugin-raises"]


def test_the_old_run_report_is_what_the_schema_refused() -> None:
    """The checks above are worth something: the shape guestsim wrote before fails."""
    old = (
        '<testsuites tests="1" failures="0" skipped="1">'
        '<testsuite name="guestsim" tests="1" failures="0" skipped="1">'
        '<testcase classname="guestsim.x" name="y" file="x/y.yaml"><skipped message="m"/>'
        "</testcase></testsuite></testsuites>"
    )
    assert not JUNIT_10.is_valid(old)


def test_explores_junit_validates_with_findings_known_unknown_stale_and_schedules(
    tmp_path: Path,
) -> None:
    known = "diverged in SetUserPasswordPlugin at an OS change"
    stale = "crashed in CreateUserPlugin at an OS change"  # declared, never happens
    story(tmp_path / "cuts" / "undeclared", POWER_LOSS, (known, stale))
    story(tmp_path / "cuts" / "declared", POWER_LOSS)
    report = tmp_path / "explore.xml"
    result = invoke(
        "explore", tmp_path / "cuts", "--power-loss", "--hypothesis", "2", "--junit", report
    )
    assert result.exit_code == 1, result.output
    JUNIT_10.validate(str(report))
    assert _parsed(report) == {
        f"guestsim.power_loss.declared/scenario::{known}": "Skipped",
        f"guestsim.power_loss.undeclared/scenario::{known}": "Failure",
        f"guestsim.power_loss.undeclared/scenario::{stale}": "Failure",
        "guestsim.schedules.declared/scenario::hypothesis": "passed",
        "guestsim.schedules.undeclared/scenario::hypothesis": "passed",
    }


# --- empty selections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--shard", "99/99"], "no scenario selected by --shard 99/99 ("),
        (["run", "-k", "no-such-story"], "no scenario selected by -k 'no-such-story' ("),
        (
            ["explore", "--power-loss", "-k", "clouds", "--shard", "99/99"],
            "by -k 'clouds' and --shard 99/99",
        ),
        (["explore", "--hypothesis", "2", "-k", "no-such-story"], "no scenario selected by -k"),
    ],
)
def test_an_empty_selection_exits_0_saying_so_with_valid_empty_reports(
    tmp_path: Path, args: list[str], message: str
) -> None:
    junit, report = tmp_path / "r.xml", tmp_path / "r.json"
    result = invoke(*args, "--junit", junit, "--json", report)
    assert result.exit_code == 0, result.output
    assert message in result.stderr
    JUNIT_10.validate(str(junit))
    assert _parsed(junit) == {}
    assert json.loads(report.read_text())["scenarios"] == []


@pytest.mark.parametrize("command", ["conformance", "diff"])
def test_conformance_and_diff_select_nothing_without_failing(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_module, "_upstream_agent", lambda source: GUESTSIM_AGENT)
    result = invoke(command, "--shard", "99/99", "-k", "clouds", "--json")
    assert result.exit_code == 0, result.output
    assert "no scenario selected by -k 'clouds' and --shard 99/99" in result.stderr
    assert json.loads(result.stdout)["scenarios"] == []
    text = invoke(command, "-k", "no-such-story")
    assert text.exit_code == 0 and text.stdout.splitlines()[-1].startswith("0/0 scenarios")


def test_a_folder_without_scenarios_is_still_bad_input(tmp_path: Path) -> None:
    result = invoke("run", tmp_path)
    assert result.exit_code == 2 and "no scenario files found" in result.output


# --- trace and explain take list's names -------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "clouds/openstack-happy-path",
        "clouds/openstack-happy-path.yaml",
        "scenarios/clouds/openstack-happy-path.yaml",
    ],
)
def test_trace_and_explain_take_a_library_name_from_any_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    traced = invoke("trace", name)
    assert traced.exit_code == 0, traced.output
    assert traced.output.splitlines()[-1] == "PASS  clouds/openstack-happy-path  (2 boots)"
    explained = invoke("explain", name)
    assert explained.exit_code == 0, explained.output
    assert explained.output.startswith("clouds/openstack-happy-path: OpenStack HTTP metadata")


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("clouds/openstak-happy-path", "did you mean clouds/openstack-happy-path"),
        ("openstack-happy-path", "did you mean clouds/openstack-happy-path?"),
        ("nothing-like-it", "(guestsim list shows them)"),
    ],
)
def test_an_unknown_name_is_bad_input_with_a_suggestion(
    name: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in ("trace", "explain"):
        result = invoke(command, name)
        assert result.exit_code == 2
        assert f"no scenario file or library scenario named {name!r}" in result.output
        assert hint in result.output


def test_a_file_still_wins_over_a_library_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clouds").mkdir()
    (tmp_path / "clouds" / "openstack-happy-path.yaml").write_text(HOSTNAME.read_text())
    result = invoke("explain", "clouds/openstack-happy-path.yaml")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("clouds/openstack-happy-path: A new host name needs")
    folder = invoke("explain", "clouds")
    assert folder.exit_code == 2 and "clouds is a folder: name one scenario file" in folder.output
