"""Reports of a scenario run: console lines, a JSON document and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guestsim.simulator.scenario import RunRecord, Scenario

JSON_REPORT_VERSION = 1

Skipped = tuple[Scenario, str]


def summary_counts(outcomes: Sequence[RunRecord]) -> tuple[int, int]:
    passed = sum(1 for outcome in outcomes if outcome.passed)
    return passed, len(outcomes) - passed


def console_line(outcome: RunRecord) -> str:
    verdict = "PASS" if outcome.passed else "FAIL"
    boots = outcome.boot_count
    name = outcome.scenario.qualified_name
    line = f"{verdict}  {name}  ({boots} boot{'s' if boots != 1 else ''})"
    return "\n".join([line, *(f"      - {failure}" for failure in outcome.failures)])


def skipped_line(skipped: Skipped) -> str:
    scenario, reason = skipped
    return f"SKIP  {scenario.qualified_name}  ({reason})"


def summary_line(outcomes: Sequence[RunRecord], skipped: Sequence[Skipped] = ()) -> str:
    passed, failed = summary_counts(outcomes)
    line = f"{passed} passed, {failed} failed"
    return f"{line}, {len(skipped)} skipped" if skipped else line


def json_report(outcomes: Sequence[RunRecord], skipped: Sequence[Skipped] = ()) -> dict[str, Any]:
    passed, failed = summary_counts(outcomes)
    scenarios: list[dict[str, Any]] = [
        {
            "name": outcome.scenario.qualified_name,
            "path": outcome.scenario.path.as_posix(),
            "passed": outcome.passed,
            "boots": outcome.boot_count,
            "failures": outcome.failures,
            "skipped": None,
        }
        for outcome in outcomes
    ]
    scenarios += [
        {
            "name": scenario.qualified_name,
            "path": scenario.path.as_posix(),
            "passed": False,
            "boots": 0,
            "failures": [],
            "skipped": reason,
        }
        for scenario, reason in skipped
    ]
    return {
        "version": JSON_REPORT_VERSION,
        "scenarios": scenarios,
        "summary": {"passed": passed, "failed": failed, "skipped": len(skipped)},
    }


def write_json(outcomes: Sequence[RunRecord], path: str, skipped: Sequence[Skipped] = ()) -> None:
    text = json.dumps(json_report(outcomes, skipped), indent=2) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def junit_xml(outcomes: Sequence[RunRecord], skipped: Sequence[Skipped] = ()) -> bytes:
    """One testcase per scenario, valid for the Jenkins xUnit plugin's ``junit-10.xsd`` and
    read alike by pytest-style consumers: a testcase has only ``classname`` (``guestsim.``
    and the scenario's folders) and ``name`` (its qualified name); each scenario's file is a
    property of the suite, ``file:<name>``, since the schema has no ``file`` on a testcase."""
    _, failed = summary_counts(outcomes)
    total = str(len(outcomes) + len(skipped))
    counts = {"tests": total, "failures": str(failed), "errors": "0"}
    suites = ET.Element("testsuites", counts)
    suite = ET.SubElement(
        suites, "testsuite", {"name": "guestsim", **counts, "skipped": str(len(skipped))}
    )
    scenarios = [outcome.scenario for outcome in outcomes] + [s for s, _ in skipped]
    if scenarios:
        properties = ET.SubElement(suite, "properties")
        for scenario in scenarios:
            name, value = f"file:{scenario.qualified_name}", scenario.path.as_posix()
            ET.SubElement(properties, "property", name=name, value=value)
    for outcome in outcomes:
        case = _testcase(suite, outcome.scenario)
        if outcome.failures:
            failure = ET.SubElement(
                case,
                "failure",
                message="; ".join(outcome.failures),
                type="ExpectationFailed",
            )
            failure.text = "\n".join(outcome.failures)
        ET.SubElement(case, "system-out").text = outcome.trace_jsonl
    for scenario, reason in skipped:
        ET.SubElement(_testcase(suite, scenario), "skipped", message=reason)
    ET.indent(suites)
    document: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document


def _testcase(suite: ET.Element, scenario: Scenario) -> ET.Element:
    folders = scenario.folder.replace("/", ".")
    classname = f"guestsim.{folders}" if folders else "guestsim"
    return ET.SubElement(suite, "testcase", classname=classname, name=scenario.qualified_name)


def write_junit(outcomes: Sequence[RunRecord], path: str, skipped: Sequence[Skipped] = ()) -> None:
    Path(path).write_bytes(junit_xml(outcomes, skipped))
