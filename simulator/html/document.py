"""The HTML report's document: what a run, a trace or an exploration showed, as plain JSON.

The renderer receives this and nothing else (``schemas/html-report.schema.json``). It is
built from records (``RunRecord``: verdict, failures, trace as JSON lines and, when the
run kept them, what each boot changed), so runs from worker processes give the same
document; the same scenarios and seed give the same bytes. Paths are the scenarios' as
the user named them, as the other reports print them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from guestsim.simulator.evidence import explaining_events
from guestsim.simulator.timeline import BootRun, build_timeline
from guestsim.simulator.trace import Trace

if TYPE_CHECKING:
    from guestsim.simulator.explore import Cut, Exploration
    from guestsim.simulator.machine import BootChanges
    from guestsim.simulator.scenario import RunRecord, Scenario

DOCUMENT_VERSION = 1

Skipped = tuple["Scenario", str]


def run_document(
    records: Sequence[RunRecord],
    skipped: Sequence[Skipped] = (),
    agent: str | None = None,
    title: str = "guestsim run",
) -> dict[str, Any]:
    """``guestsim run --html``: one entry per scenario run, then the skipped ones."""
    entries = [_run_entry(f"s{number}", record) for number, record in enumerate(records)]
    entries += [
        _skipped_entry(f"s{len(records) + number}", scenario, reason)
        for number, (scenario, reason) in enumerate(skipped)
    ]
    scenarios = [record.scenario for record in records] + [s for s, _ in skipped]
    return _document("run", title, _agent(agent, scenarios), entries)


def trace_document(
    record: RunRecord, agent: str | None = None, title: str | None = None
) -> dict[str, Any]:
    """``guestsim trace --html``: the one run."""
    title = title or f"guestsim trace {record.scenario.qualified_name}"
    return _document("trace", title, _agent(agent, [record.scenario]), [_run_entry("s0", record)])


def explore_document(
    explorations: Sequence[Exploration], agent: str | None = None, title: str = "guestsim explore"
) -> dict[str, Any]:
    """``guestsim explore --html``: per scenario its reference run and the cut matrix; each
    cut run kept (``explore_all(keep_runs=True)``) is an entry of its own (``cut_of``)."""
    entries: list[dict[str, Any]] = []
    matrix = []
    for number, exploration in enumerate(explorations):
        reference = f"s{number}"
        entries.append(_reference_entry(reference, exploration))
        for cut in exploration.cuts:
            if cut.run is not None:
                entries.append(_cut_entry(reference, cut))
        matrix.append(_matrix(reference, exploration))
    scenarios = [exploration.scenario for exploration in explorations]
    return _document("explore", title, _agent(agent, scenarios), entries, matrix)


def _document(
    kind: str,
    title: str,
    agent: str,
    entries: list[dict[str, Any]],
    explore: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    listed = [entry["verdict"] for entry in entries if "cut_of" not in entry]
    return {
        "version": DOCUMENT_VERSION,
        "kind": kind,
        "title": title,
        "agent": agent,
        "summary": {
            "passed": listed.count("pass"),
            "failed": listed.count("fail"),
            "skipped": listed.count("skip"),
        },
        "scenarios": entries,
        "explore": explore,
    }


def _agent(agent: str | None, scenarios: Iterable[Scenario]) -> str:
    """The agent named on the command line, else the one every scenario names."""
    if agent is not None:
        return agent
    programs = {scenario.agent_program[0] for scenario in scenarios}
    return "upstream" if programs == {"upstream"} else "guestsim"


def _entry(identifier: str, scenario: Scenario, verdict: str) -> dict[str, Any]:
    return {
        "id": identifier,
        "name": scenario.qualified_name,
        "path": scenario.path.as_posix(),
        "verdict": verdict,
        "skip_reason": None,
        "boots": 0,
        "outcome": None,
        "virtual_ms": 0,
        "failures": [],
        "timeline": None,
    }


def _skipped_entry(identifier: str, scenario: Scenario, reason: str) -> dict[str, Any]:
    return {**_entry(identifier, scenario, "skip"), "skip_reason": reason}


def _run_entry(identifier: str, record: RunRecord, verdict: str | None = None) -> dict[str, Any]:
    trace = Trace.from_jsonl(record.trace_jsonl)
    boots = build_timeline(trace)
    changes = _changes_per_boot([boot.number for boot in boots], record.state_changes)
    seqs = _timeline_seqs(trace, boots)
    return {
        **_entry(identifier, record.scenario, verdict or ("pass" if record.passed else "fail")),
        "boots": record.boot_count,
        "outcome": boots[-1].ended_with if boots else None,
        "virtual_ms": trace.events[-1].t_ms if trace.events else 0,
        "failures": [
            {"text": failure, "events": _shown(explaining_events(failure, trace.events), seqs)}
            for failure in record.failures
        ],
        "timeline": {
            "boots": [
                {**asdict(boot), "changes": boot_changes}
                for boot, boot_changes in zip(boots, changes, strict=True)
            ]
        },
    }


def _timeline_seqs(trace: Trace, boots: Sequence[BootRun]) -> dict[int, int]:
    """Each event's seq to the seq the timeline shows it by (a mark, a plugin run's start or
    end, a probe): a fault answered by the request after it is that request's mark. Events
    the timeline does not show (a stage's start, ``metadata_service``) are not in it."""
    shown = {mark.seq for boot in boots for mark in boot.marks}
    for boot in boots:
        for phase in boot.phases:
            shown.update(probe.seq for probe in phase.probes)
            for run in phase.plugins:
                shown.add(run.seq)
                if run.end_seq is not None:
                    shown.add(run.end_seq)
    seqs = {seq: seq for seq in shown}
    for fault, answer in pairwise(trace.events):
        same = (fault.get("method"), fault.get("url")) == (answer.get("method"), answer.get("url"))
        if fault.kind == "fault" and answer.kind == "http" and same and answer.seq in shown:
            seqs.setdefault(fault.seq, answer.seq)
    return seqs


def _shown(explaining: list[int], seqs: dict[int, int]) -> list[int]:
    """The events that explain a failure as the timeline shows them, each once, in order."""
    return list(dict.fromkeys(seqs[seq] for seq in explaining if seq in seqs))


def _changes_per_boot(
    numbers: list[int], kept: list[BootChanges] | None
) -> list[list[dict[str, Any]] | None]:
    """Each boot's changes, in power-on order as the timeline has them; None for every boot
    when the run did not keep them (or they cannot be paired with the boots)."""
    if kept is None or [boot.number for boot in kept] != numbers:
        return [None] * len(numbers)
    return [boot.changes for boot in kept]


def _reference_entry(identifier: str, exploration: Exploration) -> dict[str, Any]:
    """An explored scenario: its uninterrupted run's timeline, judged by its exploration."""
    verdict = "pass" if exploration.passed else "fail"
    reference = exploration.reference
    if reference is None:
        entry = _entry(identifier, exploration.scenario, verdict)
    else:
        entry = _run_entry(identifier, reference, verdict)
    failures = [exploration.error] if exploration.error is not None else []
    failures += [
        f"{finding.id} (cuts {', '.join(map(str, finding.cuts))})"
        for finding in exploration.findings
        if not finding.known
    ]
    failures += [
        f"declared known but not found: {stale} (update expect.power_loss)"
        for stale in exploration.stale_known
    ]
    entry["failures"] = [{"text": failure, "events": []} for failure in failures]
    return entry


def _cut_entry(reference: str, cut: Cut) -> dict[str, Any]:
    assert cut.run is not None
    verdict = "pass" if cut.outcome == "converged" else "fail"
    entry = _run_entry(f"{reference}c{cut.index}", cut.run, verdict)
    return {
        **entry,
        "name": f"{entry['name']} cut {cut.index}",
        "cut_of": reference,
        "cut": cut.index,
    }


def _matrix(reference: str, exploration: Exploration) -> dict[str, Any]:
    return {
        "scenario": reference,
        "side_effects": len(exploration.side_effects),
        "cuts": [
            {
                "index": cut.index,
                "effect": None if cut.effect is None else f"{cut.effect.kind}: {cut.effect.call}",
                "plugin": cut.plugin,
                "outcome": cut.outcome,
                "boots": cut.boots,
                "diff": list(cut.diff),
                "finding": None if cut.outcome == "converged" else cut.finding_id,
                "run": None if cut.run is None else f"{reference}c{cut.index}",
            }
            for cut in exploration.cuts
        ],
        "findings": [
            {
                "id": finding.id,
                "outcome": finding.outcome,
                "cuts": list(finding.cuts),
                "known": finding.known,
            }
            for finding in exploration.findings
        ],
    }
