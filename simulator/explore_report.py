"""Reports of a power-loss exploration: console text, a versioned JSON document, JUnit XML.

The JSON document (``schemas/explore-report.schema.json``, version in ``"version"``) has one
entry per scenario with every cut (its index, the side effect it interrupted, the plugin,
the outcome, the boots it took and the state diff) and the findings the cuts group into.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guestsim.simulator.explore import OUTCOMES, Cut, Exploration, Finding

EXPLORE_REPORT_VERSION = 1
# Lines of a finding's diff the console shows; the JSON report has them all.
CONSOLE_DIFF_LINES = 6


def replay_command(exploration: Exploration, cut: int) -> str:
    return f"guestsim run {exploration.scenario.path.as_posix()} --power-loss-at {cut}"


def console_lines(exploration: Exploration) -> list[str]:
    name = exploration.scenario.name
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


def json_report(explorations: Sequence[Exploration]) -> dict[str, Any]:
    return {
        "version": EXPLORE_REPORT_VERSION,
        "passed": all(e.passed for e in explorations),
        "scenarios": [
            {
                "name": e.scenario.name,
                "path": e.scenario.path.as_posix(),
                "passed": e.passed,
                "error": e.error,
                "side_effects": len(e.side_effects),
                "cuts": [_cut(cut) for cut in e.cuts],
                "findings": [_finding(f, e) for f in e.findings],
            }
            for e in explorations
        ],
    }


def write_json(explorations: Sequence[Exploration], path: str | Path) -> None:
    text = json.dumps(json_report(explorations), indent=2, sort_keys=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


def write_junit(explorations: Sequence[Exploration], path: str | Path) -> None:
    """One testcase per scenario and finding; a scenario without findings is one passing
    testcase."""
    cases: list[ET.Element] = []
    for exploration in explorations:
        classname = f"guestsim.power_loss.{exploration.scenario.name}"
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
    root.append(suite)
    ET.indent(root)
    Path(path).write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
