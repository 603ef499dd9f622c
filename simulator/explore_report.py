"""Reports of a power-loss exploration: console text, a versioned JSON document, JUnit XML.

The JSON document (``schemas/explore-report.schema.json``, version in ``"version"``) has one
entry per scenario with every cut (its index, the side effect it interrupted, the plugin,
the outcome, the boots it took and the state diff) and the findings the cuts group into.

With ``--hypothesis N`` (see ``schedules``) each scenario entry also has ``"schedules"``:
``{"examples": N, "tried": <distinct schedules run>, "requests": <distinct requests to the
scenario's clouds>, "passed": bool, "error": str|null, "failure": null | {"schedule":
{"cuts": [K, ...], "faults": ["PATH:name=value,...", ...], "extra_boots": n},
"description", "outcome", "boots", "diff": [lines], "finding": id|null, "replay": command}}``,
``"failure"`` being the minimal schedule hypothesis shrank to. The entry's ``"passed"`` (and
the document's) then also needs the schedules to pass, and its ``"error"`` tells either
search's error. With ``--hypothesis`` alone, ``"cuts"`` and ``"findings"`` are empty and
``"side_effects"`` counts the reference run's. JUnit gets a second suite, ``guestsim
schedules``, with one testcase per scenario.
"""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guestsim.simulator.explore import OUTCOMES, Cut, Exploration, Finding
from guestsim.simulator.schedules import ScheduleSearch, format_fault

EXPLORE_REPORT_VERSION = 1
# Lines of a finding's diff the console shows; the JSON report has them all.
CONSOLE_DIFF_LINES = 6


def replay_command(exploration: Exploration, cut: int) -> str:
    scenario = exploration.scenario
    return shlex.join(
        [
            "guestsim",
            "run",
            scenario.path.as_posix(),
            "--power-loss-at",
            str(cut),
            *scenario.agent_options(),
        ]
    )


def console_lines(exploration: Exploration) -> list[str]:
    name = exploration.scenario.qualified_name
    if exploration.error is not None:
        return [f"ERROR {name}: {exploration.error}"]
    counts = Counter(cut.outcome for cut in exploration.cuts)
    tally = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    verdict = "PASS" if exploration.passed else "FAIL"
    lines = [
        f"{verdict}  {name}  ({len(exploration.side_effects)} side effects, "
        f"{len(exploration.cuts)} cuts: {tally})"
    ]
    for finding in exploration.findings:
        known = "  [known]" if finding.known else ""
        calls = f": {', '.join(finding.calls)}" if finding.calls else ""
        lines.append(f"      - {finding.id}{known}  (cuts {_ranges(finding.cuts)}{calls})")
        lines += [f"          {line}" for line in finding.diff[:CONSOLE_DIFF_LINES]]
        if len(finding.diff) > CONSOLE_DIFF_LINES:
            lines.append(f"          ... {len(finding.diff) - CONSOLE_DIFF_LINES} more")
        lines.append(f"          replay: {replay_command(exploration, finding.cuts[0])}")
    lines += [
        f"      - declared known but not found: {stale} (update expect.power_loss)"
        for stale in exploration.stale_known
    ]
    return lines


def _ranges(numbers: Sequence[int]) -> str:
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts)


def summary_line(explorations: Sequence[Exploration]) -> str:
    cuts = sum(len(e.cuts) for e in explorations)
    failed = sum(1 for e in explorations if not e.passed)
    findings = sum(len(e.findings) for e in explorations)
    unknown = sum(1 for e in explorations for f in e.findings if not f.known)
    return (
        f"{len(explorations) - failed} passed, {failed} failed; {cuts} cuts, "
        f"{findings} findings ({unknown} not declared known)"
    )


def _cut(cut: Cut) -> dict[str, Any]:
    effect = cut.effect
    return {
        "index": cut.index,
        "effect": None
        if effect is None
        else {"kind": effect.kind, "call": effect.call, "boot": effect.boot},
        "plugin": cut.plugin,
        "outcome": cut.outcome,
        "boots": cut.boots,
        "diff": list(cut.diff),
    }


def _finding(finding: Finding, exploration: Exploration) -> dict[str, Any]:
    return {
        "id": finding.id,
        "outcome": finding.outcome,
        "plugin": finding.plugin,
        "calls": finding.calls,
        "cuts": finding.cuts,
        "known": finding.known,
        "diff": finding.diff,
        "replay": replay_command(exploration, finding.cuts[0]),
    }


def json_report(
    explorations: Sequence[Exploration], searches: Sequence[ScheduleSearch] = ()
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "version": EXPLORE_REPORT_VERSION,
        "passed": all(e.passed for e in explorations),
        "scenarios": [
            {
                "name": e.scenario.qualified_name,
                "path": e.scenario.path.as_posix(),
                "passed": e.passed,
                "error": e.error,
                "side_effects": len(e.side_effects),
                "cuts": [_cut(cut) for cut in e.cuts],
                "findings": [_finding(f, e) for f in e.findings],
                "stale_known_findings": e.stale_known,
            }
            for e in explorations
        ],
    }
    if searches:
        _add_schedules(report, searches)
    return report


def write_json(
    explorations: Sequence[Exploration],
    path: str | Path,
    searches: Sequence[ScheduleSearch] = (),
) -> None:
    text = json.dumps(json_report(explorations, searches), indent=2, sort_keys=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


def write_junit(
    explorations: Sequence[Exploration],
    path: str | Path,
    searches: Sequence[ScheduleSearch] = (),
) -> None:
    """One testcase per scenario and finding; a scenario without findings is one passing
    testcase. With ``searches``, a second suite has one testcase per scenario."""
    cases: list[ET.Element] = []
    for exploration in explorations:
        classname = f"guestsim.power_loss.{exploration.scenario.qualified_name}"
        if exploration.error is not None:
            case = ET.Element("testcase", classname=classname, name="exploration")
            ET.SubElement(case, "error", message=exploration.error)
            cases.append(case)
            continue
        if not exploration.findings:
            name = f"all {len(exploration.cuts)} cuts converged"
            cases.append(ET.Element("testcase", classname=classname, name=name))
        for finding in exploration.findings:
            case = ET.Element("testcase", classname=classname, name=finding.id)
            detail = "\n".join(
                [*finding.diff, f"replay: {replay_command(exploration, finding.cuts[0])}"]
            )
            if finding.known:
                skipped = ET.SubElement(case, "skipped", message="a known finding")
                skipped.text = detail
            else:
                failure = ET.SubElement(case, "failure", message=finding.id)
                failure.text = detail
            cases.append(case)
        for stale in exploration.stale_known:
            case = ET.Element("testcase", classname=classname, name=stale)
            ET.SubElement(case, "failure", message="declared known but not found")
            cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped_count = sum(1 for c in cases if c.find("skipped") is not None)
    suite = ET.Element(
        "testsuite",
        name="guestsim power loss",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped_count),
    )
    suite.extend(cases)
    root = ET.Element("testsuites")
    if explorations or not searches:
        root.append(suite)
    if searches:
        root.append(_schedules_suite(searches))
    ET.indent(root)
    Path(path).write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# --- combined faults (``explore --hypothesis``) ---------------------------------------------


def schedule_console_lines(search: ScheduleSearch) -> list[str]:
    name = search.scenario.qualified_name
    if search.error is not None:
        return [f"ERROR {name} (hypothesis): {search.error}"]
    tried = f"hypothesis: {search.tried} schedules tried"
    failure = search.failure
    if failure is None:
        return [f"PASS  {name}  ({tried}, no divergence found)"]
    lines = [f"FAIL  {name}  ({tried}, minimal failing schedule: {failure.schedule.describe()})"]
    lines.append(f"      - {failure.outcome}, {failure.boots} boots")
    lines += [f"          {line}" for line in failure.diff[:CONSOLE_DIFF_LINES]]
    if len(failure.diff) > CONSOLE_DIFF_LINES:
        lines.append(f"          ... {len(failure.diff) - CONSOLE_DIFF_LINES} more")
    if failure.finding is not None:
        lines.append(f"          finding at the first cut: {failure.finding}")
    lines.append(f"          replay: {search.replay_command()}")
    return lines


def schedules_summary_line(searches: Sequence[ScheduleSearch]) -> str:
    failed = sum(1 for s in searches if not s.passed)
    tried = sum(s.tried for s in searches)
    return f"hypothesis: {len(searches) - failed} passed, {failed} failed; {tried} schedules tried"


def _schedules(search: ScheduleSearch) -> dict[str, Any]:
    failure = search.failure
    return {
        "examples": search.examples,
        "tried": search.tried,
        "requests": search.requests,
        "passed": search.passed,
        "error": search.error,
        "failure": None
        if failure is None
        else {
            "schedule": {
                "cuts": list(failure.schedule.cuts),
                "faults": [format_fault(fault) for fault in failure.schedule.faults],
                "extra_boots": failure.schedule.extra_boots,
            },
            "description": failure.schedule.describe(),
            "outcome": failure.outcome,
            "boots": failure.boots,
            "diff": list(failure.diff),
            "finding": failure.finding,
            "replay": search.replay_command(),
        },
    }


def _add_schedules(report: dict[str, Any], searches: Sequence[ScheduleSearch]) -> None:
    if not report["scenarios"]:
        report["scenarios"] = [
            {
                "name": s.scenario.qualified_name,
                "path": s.scenario.path.as_posix(),
                "passed": True,
                "error": None,
                "side_effects": s.side_effects,
                "cuts": [],
                "findings": [],
                "stale_known_findings": [],
            }
            for s in searches
        ]
    for entry, search in zip(report["scenarios"], searches, strict=True):
        entry["schedules"] = _schedules(search)
        entry["passed"] = entry["passed"] and search.passed
        entry["error"] = entry["error"] or search.error
    report["passed"] = all(entry["passed"] for entry in report["scenarios"])


def _schedules_suite(searches: Sequence[ScheduleSearch]) -> ET.Element:
    suite = ET.Element("testsuite", name="guestsim schedules", tests=str(len(searches)))
    for search in searches:
        classname = f"guestsim.schedules.{search.scenario.qualified_name}"
        case = ET.SubElement(suite, "testcase", classname=classname, name="hypothesis")
        if search.error is not None:
            ET.SubElement(case, "error", message=search.error)
        elif search.failure is not None:
            failure = search.failure
            message = f"{failure.outcome} with {failure.schedule.describe()}"
            element = ET.SubElement(case, "failure", message=message)
            finding = [] if failure.finding is None else [f"finding: {failure.finding}"]
            element.text = "\n".join(
                [*failure.diff, *finding, f"replay: {search.replay_command()}"]
            )
    suite.set("failures", str(sum(1 for s in searches if s.error is None and s.failure)))
    suite.set("errors", str(sum(1 for s in searches if s.error is not None)))
    suite.set("skipped", "0")
    return suite
