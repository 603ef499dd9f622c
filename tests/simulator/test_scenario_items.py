"""Scenario files as pytest items: opt-in collection, names, failures, selection, xdist."""

from __future__ import annotations

import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import guestsim.simulator.testing  # noqa: F401  (see test_pytest_plugin.py)
from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled

LIBRARY = bundled("scenarios")
PASSING = ["clouds/openstack-happy-path", "reboots/hostname-reboot-disallowed"]


def _library_copy(root: Path, names: list[str]) -> Path:
    target = root / "lib"
    for name in names:
        destination = target / f"{name}.yaml"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LIBRARY / f"{name}.yaml", destination)
    return target


def _with_a_failing_story(root: Path) -> Path:
    """Two passing stories and one whose boot count is wrong."""
    lib = _library_copy(root, PASSING)
    text = (LIBRARY / "reboots/hostname-reboot-allowed.yaml").read_text()
    (lib / "reboots" / "wrong-boots.yaml").write_text(text.replace("boots: 2", "boots: 3"))
    return lib


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name", "")] = "failed" if failed else "passed"
    return outcomes


def test_yaml_files_are_not_collected_without_the_opt_in(pytester: pytest.Pytester) -> None:
    _library_copy(pytester.path, PASSING)
    pytester.path.joinpath("docker-compose.yaml").write_text("services: {}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_the_option_collects_one_item_per_scenario_named_by_its_library_path(
    pytester: pytest.Pytester,
) -> None:
    _library_copy(pytester.path, PASSING)
    result = pytester.runpytest("-p", "no:cacheprovider", "--guestsim", "lib", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "lib/clouds/openstack-happy-path.yaml::clouds/openstack-happy-path PASSED*",
            "lib/reboots/hostname-reboot-disallowed.yaml::reboots/hostname-reboot-dis* PASSED*",
        ]
    )


def test_the_ini_option_names_scenario_folders(pytester: pytest.Pytester) -> None:
    _library_copy(pytester.path, PASSING)
    pytester.path.joinpath("other.yaml").write_text("not: a scenario\n")
    pytester.makeini("[pytest]\nguestsim_scenarios = lib\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_failure_lists_each_unmet_expectation_and_the_timeline(
    pytester: pytest.Pytester,
) -> None:
    _with_a_failing_story(pytester.path)
    result = pytester.runpytest("-p", "no:cacheprovider", "--guestsim", "lib")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario reboots/wrong-boots (wrong-boots.yaml): unmet expectations",
            "  - boots: expected 3, got 2",
            "*Captured guestsim timeline call*",
            "Boot 1 at 0.0s*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_passing_items_show_their_timeline_with_rA(pytester: pytest.Pytester) -> None:
    _library_copy(pytester.path, PASSING[:1])
    result = pytester.runpytest("-p", "no:cacheprovider", "--guestsim", "lib", "-rA")
    result.stdout.fnmatch_lines(["*Captured guestsim timeline call*", "Boot 1 at 0.0s*"])


def test_an_invalid_scenario_is_a_one_line_collection_error(pytester: pytest.Pytester) -> None:
    lib = _library_copy(pytester.path, PASSING[:1])
    story = (LIBRARY / f"{PASSING[0]}.yaml").read_text()
    (lib / "broken.yaml").write_text(story.replace("expect:\n", "expect:\n  computer_nme: x\n"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--guestsim", "lib")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.yaml: expect: Additional properties*"])
    assert "Traceback" not in result.stdout.str()


def test_keyword_selection_and_junit_work_on_scenarios(pytester: pytest.Pytester) -> None:
    _with_a_failing_story(pytester.path)
    junit = pytester.path / "report.xml"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--guestsim", "lib", "-k", "reboots", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    assert _outcomes(junit) == {
        "reboots/hostname-reboot-disallowed": "passed",
        "reboots/wrong-boots": "failed",
    }


def test_last_failed_reruns_only_the_failing_scenario(pytester: pytest.Pytester) -> None:
    _with_a_failing_story(pytester.path)
    pytester.runpytest("--guestsim", "lib").assert_outcomes(passed=2, failed=1)
    result = pytester.runpytest("--guestsim", "lib", "--lf")
    result.assert_outcomes(failed=1, passed=0)


@pytest.mark.host_tools(sys.executable)  # a `guestsim` (or pytest) child of this Python
def test_xdist_gives_every_item_the_same_outcome_as_a_serial_run(
    pytester: pytest.Pytester,
) -> None:
    _with_a_failing_story(pytester.path)
    serial, spread = pytester.path / "serial.xml", pytester.path / "spread.xml"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--guestsim", "lib", f"--junitxml={serial}"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--guestsim", "lib", "-n", "2", f"--junitxml={spread}"
    )
    result.stdout.fnmatch_lines(["*2 workers*"])
    assert _outcomes(spread) == _outcomes(serial)
    assert sorted(_outcomes(serial).values()) == ["failed", "passed", "passed"]


def test_pytest_collects_exactly_the_scenarios_guestsim_list_lists(
    pytester: pytest.Pytester,
) -> None:
    listed = CliRunner().invoke(cli, ["list", str(LIBRARY)]).output.splitlines()
    names = sorted(line.split()[0] for line in listed[1:-1])
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--guestsim", str(LIBRARY), "--collect-only", "-q"
    )
    collected = sorted(line.split("::", 1)[1] for line in result.stdout.lines if "::" in line)
    assert len(names) >= 78 and collected == names
