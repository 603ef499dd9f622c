"""Reports of a scenario run: console lines, a JSON document and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.scenario import ScenarioOutcome

JSON_REPORT_VERSION = 1


def summary_counts(outcomes: Sequence[ScenarioOutcome]) -> tuple[int, int]:
    passed = sum(1 for outcome in outcomes if outcome.passed)
    return passed, len(outcomes) - passed


def console_line(outcome: ScenarioOutcome) -> str:
    verdict = "PASS" if outcome.passed else "FAIL"
    boots = outcome.result.boot_count
    line = f"{verdict}  {outcome.scenario.name}  ({boots} boot{'s' if boots != 1 else ''})"
    return "\n".join([line, *(f"      - {failure}" for failure in outcome.failures)])


def summary_line(outcomes: Sequence[ScenarioOutcome]) -> str:
    passed, failed = summary_counts(outcomes)
    return f"{passed} passed, {failed} failed"


def json_report(outcomes: Sequence[ScenarioOutcome]) -> dict[str, Any]:
    passed, failed = summary_counts(outcomes)
    return {
        "version": JSON_REPORT_VERSION,
        "scenarios": [
            {
                "name": outcome.scenario.name,
                "path": outcome.scenario.path.as_posix(),
                "passed": outcome.passed,
                "boots": outcome.result.boot_count,
                "failures": outcome.failures,
            }
            for outcome in outcomes
        ],
        "summary": {"passed": passed, "failed": failed},
    }


def write_json(outcomes: Sequence[ScenarioOutcome], path: str) -> None:
    Path(path).write_text(json.dumps(json_report(outcomes), indent=2) + "\n", encoding="utf-8")


def junit_xml(outcomes: Sequence[ScenarioOutcome]) -> bytes:
    _, failed = summary_counts(outcomes)
    suites = ET.Element("testsuites", tests=str(len(outcomes)), failures=str(failed))
    suite = ET.SubElement(
        suites, "testsuite", name="guestsim", tests=str(len(outcomes)), failures=str(failed)
    )
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"guestsim.{outcome.scenario.folder}",
            name=outcome.scenario.name,
            file=outcome.scenario.path.as_posix(),
        )
        if outcome.failures:
            failure = ET.SubElement(
                case,
                "failure",
                message="; ".join(outcome.failures),
                type="ExpectationFailed",
            )
            failure.text = "\n".join(outcome.failures)
        ET.SubElement(case, "system-out").text = outcome.result.trace.to_jsonl()
    ET.indent(suites)
    document: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document


def write_junit(outcomes: Sequence[ScenarioOutcome], path: str) -> None:
    Path(path).write_bytes(junit_xml(outcomes))
