"""``guestsim diff`` and ``guestsim conformance`` output: terminal text and JSON documents.

The conformance document (``schemas/conformance-report.schema.json``, version in
``"version"``) has, per scenario, its name (as ``guestsim list`` prints it), path, whether
it is identical on every facet, and each facet's verdict; the summary counts scenarios,
identical ones, their percentage and identical scenarios per facet. ``guestsim diff
--json`` prints the same shape with each facet's detail instead of a boolean: ``{"identical",
"items": {"guestsim": n, "upstream": m}`` (sequence facets) or ``"differences": n``
(state), ``"first_divergence": row|null, "next": [row, ...]}``, a row being ``{"index",
"guestsim", "upstream"}`` with a side left out where that run has nothing; and ``"notes"``
per agent: why boots ended early.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from guestsim.simulator.conformance import ABSENT, AGENTS, FACETS, FacetVerdict, Row, ScenarioDiff

CONFORMANCE_REPORT_VERSION = 1
# Terminal output stays within this many columns (long items wrap, nothing is cut).
WIDTH = 100
INDENT = "      "
SAME, DIFF = "same", "DIFF"
# The fields an item of each facet starts with, in this order; the rest follow sorted.
_LEAD = {
    "boots": ("boot", "outcome"),
    "plugins": ("boot", "stage", "plugin", "event"),
    "os": ("boot", "during", "call"),
    "http": ("boot", "during", "method", "url"),
    "sleeps": ("boot", "during"),
}


def verdict_word(identical: bool) -> str:
    return SAME if identical else DIFF


def percent(identical: int, total: int) -> float:
    return round(100 * identical / total, 1) if total else 0.0


def totals_line(diffs: Sequence[ScenarioDiff]) -> str:
    identical = sum(diff.identical for diff in diffs)
    share = percent(identical, len(diffs))
    return f"{identical}/{len(diffs)} scenarios identical on every facet ({share:g} %)"


# --- guestsim diff: text ---------------------------------------------------------------


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def item_text(facet: str, item: Any) -> str:
    """An item as one line: its leading fields bare (``boot 2 [CreateUserPlugin]
    create_user``), the others as ``name=<JSON value>``."""
    if item is ABSENT:
        return "(nothing)" if facet in _LEAD else "absent"
    if facet not in _LEAD or not isinstance(item, dict):
        return _value(item)
    words = []
    for key in _LEAD[facet]:
        if key not in item or item[key] is None:
            continue
        value = item[key]
        if key == "boot":
            words.append(f"boot {value}")
        elif key == "during":
            words.append(f"[{value}]")
        else:
            words.append(str(value) if isinstance(value, str) else _value(value))
    words += [f"{key}={_value(item[key])}" for key in sorted(item) if key not in _LEAD[facet]]
    words += [f"{key}=null" for key in _LEAD[facet][1:] if key in item and item[key] is None]
    return " ".join(words)


def _side_by_side(index: str, left: str, right: str, separator: str) -> list[str]:
    column = (WIDTH - len(INDENT) - 6 - 3) // 2
    lefts = textwrap.wrap(left, column, break_on_hyphens=False) or [""]
    rights = textwrap.wrap(right, column, break_on_hyphens=False) or [""]
    lines = []
    for number in range(max(len(lefts), len(rights))):
        a = lefts[number] if number < len(lefts) else ""
        b = rights[number] if number < len(rights) else ""
        label = index if number == 0 else ""
        lines.append(f"{INDENT}{label:<6}{a:<{column}} {separator} {b}".rstrip())
    return lines


def _row_lines(facet: str, row: Row) -> list[str]:
    separator = "|" if row.differs else "="
    left, right = item_text(facet, row.guestsim), item_text(facet, row.upstream)
    if facet == "state":
        path = textwrap.wrap(f"{row.index}:", WIDTH - len(INDENT), break_on_hyphens=False)
        lines = [f"{INDENT}{part}" for part in path]
        lines += _side_by_side("", left, right, separator)
    else:
        lines = _side_by_side(f"#{row.index}", left, right, separator)
    fields = row.differing_fields()
    if row.differs and fields:
        lines.append(f"{INDENT}      differs in: {', '.join(fields)}")
    return lines


def _items(count: int) -> str:
    return "1 item" if count == 1 else f"{count} items"


def _values_differ(count: int) -> str:
    return "1 value differs" if count == 1 else f"{count} values differ"


def _facet_summary(verdict: FacetVerdict) -> str:
    if verdict.sizes is None:
        detail = "" if verdict.identical else _values_differ(verdict.differences)
        return f"{INDENT}{verdict.facet:<8} {verdict_word(verdict.identical)}  {detail}".rstrip()
    ours, theirs = verdict.sizes
    detail = _items(ours) if ours == theirs else f"{_items(ours)} | {_items(theirs)}"
    return f"{INDENT}{verdict.facet:<8} {verdict_word(verdict.identical)}  {detail}"


def diff_lines(diff: ScenarioDiff) -> list[str]:
    """A scenario's verdict, each facet's, and the first divergence of each differing facet
    side by side (guestsim's item | upstream's), with the agents' notes."""
    lines = [f"{verdict_word(diff.identical).upper()}  {diff.name}"]
    lines += [_facet_summary(diff.facets[facet]) for facet in FACETS]
    for facet in diff.differing:
        verdict = diff.facets[facet]
        first = verdict.first_divergence
        assert first is not None
        if verdict.sizes is None:
            heading = f"state: {_values_differ(verdict.differences)}"
            if verdict.differences > len(verdict.rows):
                heading += f"; the first {len(verdict.rows)}, by path"
        else:
            ours, theirs = verdict.sizes
            heading = f"{facet}: first divergence at item {first.index} (of {ours} | {theirs})"
        lines += ["", f"{INDENT}{heading}"]
        lines += _side_by_side("#" if facet != "state" else "", "guestsim", "upstream", "|")
        for row in verdict.rows:
            lines += _row_lines(facet, row)
    notes = [(agent, note) for agent in AGENTS for note in diff.notes[agent]]
    if notes:
        lines.append("")
        lines += [f"{INDENT}{agent}: {note}" for agent, note in notes]
    return lines


# --- guestsim conformance: text ----------------------------------------------------------


def _cell_width(facet: str) -> int:
    return max(len(facet), len(SAME), len(DIFF))


def table_header(name_width: int) -> str:
    cells = [facet.ljust(_cell_width(facet)) for facet in FACETS]
    return "  ".join(["scenario".ljust(name_width), *cells]).rstrip()


def table_row(diff: ScenarioDiff, name_width: int) -> str:
    cells = [
        verdict_word(diff.facets[facet].identical).ljust(_cell_width(facet)) for facet in FACETS
    ]
    return "  ".join([diff.name.ljust(name_width), *cells]).rstrip()


def facets_line(diffs: Sequence[ScenarioDiff]) -> str:
    counts = ", ".join(
        f"{facet} {sum(diff.facets[facet].identical for diff in diffs)}" for facet in FACETS
    )
    return f"same per facet (of {len(diffs)}): {counts}"


# --- JSON ----------------------------------------------------------------------------------


def _row_json(row: Row) -> dict[str, Any]:
    document: dict[str, Any] = {"index": row.index}
    for agent in AGENTS:
        value = getattr(row, agent)
        if value is not ABSENT:
            document[agent] = value
    return document


def _facet_json(verdict: FacetVerdict) -> dict[str, Any]:
    document: dict[str, Any] = {"identical": verdict.identical}
    if verdict.sizes is not None:
        document["items"] = dict(zip(AGENTS, verdict.sizes, strict=True))
    else:
        document["differences"] = verdict.differences
    first = verdict.first_divergence
    document["first_divergence"] = None if first is None else _row_json(first)
    document["next"] = [_row_json(row) for row in verdict.rows[1:]]
    return document


def _summary(diffs: Sequence[ScenarioDiff]) -> dict[str, Any]:
    identical = sum(diff.identical for diff in diffs)
    return {
        "scenarios": len(diffs),
        "identical": identical,
        "percent": percent(identical, len(diffs)),
        "facets": {facet: sum(diff.facets[facet].identical for diff in diffs) for facet in FACETS},
    }


def diff_document(diffs: Sequence[ScenarioDiff]) -> dict[str, Any]:
    """``guestsim diff --json``: every facet's detail."""
    return {
        "version": CONFORMANCE_REPORT_VERSION,
        "scenarios": [
            {
                "name": diff.name,
                "path": diff.path,
                "identical": diff.identical,
                "facets": {facet: _facet_json(diff.facets[facet]) for facet in FACETS},
                "notes": {agent: diff.notes[agent] for agent in AGENTS},
            }
            for diff in diffs
        ],
        "summary": _summary(diffs),
    }


def conformance_document(diffs: Sequence[ScenarioDiff]) -> dict[str, Any]:
    """``guestsim conformance --json``: a verdict per scenario and facet, for CI."""
    return {
        "version": CONFORMANCE_REPORT_VERSION,
        "scenarios": [
            {
                "name": diff.name,
                "path": diff.path,
                "identical": diff.identical,
                "facets": {facet: diff.facets[facet].identical for facet in FACETS},
            }
            for diff in diffs
        ],
        "summary": _summary(diffs),
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
