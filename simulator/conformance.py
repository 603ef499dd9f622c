"""Does guestsim's agent behave as the published cloudbase-init does, in the same world?

Both agents run the same scenario with the same seed (``guestsim diff``, ``guestsim
conformance``); each run is reduced to six facets in one vocabulary, and the facets are
compared one by one:

``boots``
    each boot in order (the unattend pass as boot 0): outcome, exit code, and the plugin
    that asked for the reboot.
``plugins``
    the agent's course in order: stages starting and ending (success, reboot), the
    metadata service found, and each plugin starting, skipped (with the reason) or
    ending (status, reboot flag, success).
``os``
    every change to the machine (the fake Windows' traced mutations), in order.
``http``
    every request to the clouds in order: method, URL (the host names the cloud, so it
    stays), status, transport error and the client's non-default settings.
``sleeps``
    every virtual sleep in order.
``state``
    the final machine and what each cloud holds (:mod:`guestsim.simulator.statediff`).

Items of ``os``, ``http`` and ``sleeps`` say which boot they belong to and what the agent
was doing (``during``: the plugin, else the stage, else ``agent``), so an action that moved
from one plugin to another differs even when the order of all actions is unchanged.

Normalising drops only what is inherent to a run rather than to an agent's behaviour: the
event's sequence number and absolute virtual time (the order stays); text meant for people
(log lines, exception messages; a boot's error is kept as a note, not compared); and what
the guest's random stream decided, which each agent draws in its own order (temporary file
names, certificate thumbprints, disk signatures): each agent also runs the world with other
seeds, and what changes with the seed is named ``<random N, shape>``
(:func:`without_randomness`).
Values compare strictly: ``True`` is not ``1``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guestsim.simulator.machine import GUESTSIM_AGENT, BootRecord, RunResult
from guestsim.simulator.trace import Event

if TYPE_CHECKING:
    from guestsim.simulator.machine import AgentProgram
    from guestsim.simulator.scenario import Scenario

AGENTS = ("guestsim", "upstream")
SEQUENCE_FACETS = ("boots", "plugins", "os", "http", "sleeps")
FACETS = (*SEQUENCE_FACETS, "state")
# Rows a divergence shows: the first differing one and the next ones, for context.
DIVERGENCE_ROWS = 3
# Trace fields that only place an event in the run, not in the agent's behaviour.
_RUN_FIELDS = ("seq", "t_ms")
OUTSIDE_STAGES = "agent"
# Each agent also runs the world with these other seeds (offsets from the compared one): what
# changes with the seed came from the guest's random stream (see without_randomness).
PROBE_SEED_OFFSETS = (1, 2)
_TOKEN = re.compile(r"[0-9A-Za-z_]+(?:-[0-9A-Za-z_]+)*")


class _Absent:
    """A side with nothing at this position (its sequence ended, or the state lacks it)."""

    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


# --- normalising one run -----------------------------------------------------------------


def _boot_item(record: BootRecord) -> dict[str, Any]:
    return {
        "boot": record.number,
        "outcome": record.outcome,
        "exit_code": record.exit_code,
        "reboot_requested_by": record.reboot_requested_by,
    }


def _during(events: Iterable[Event]) -> Iterator[tuple[Event, str]]:
    """Each event with what the agent was doing: the plugin that started last in the current
    stage (until the stage ends, so a plugin's status written after its end event still
    counts as the plugin's), else the stage, else the agent outside any stage."""
    stage: str | None = None
    plugin: str | None = None
    for event in events:
        if event.kind in ("boot", "agent_process", "stage_end"):
            stage = plugin = None
        elif event.kind == "stage_start":
            stage, plugin = str(event.get("stage")), None
        elif event.kind == "plugin_start":
            plugin = str(event.get("plugin"))
        elif event.kind == "plugin_skipped":
            plugin = None
        yield event, plugin or stage or OUTSIDE_STAGES


def _fields(event: Event, *leaving_out: str) -> dict[str, Any]:
    return {
        name: value
        for name, value in event.fields.items()
        if name not in _RUN_FIELDS and name not in leaving_out
    }


def _plugin_item(event: Event) -> dict[str, Any] | None:
    boot, kind = event.boot, event.kind
    if kind == "stage_start":
        return {"boot": boot, "stage": event.get("stage"), "event": "stage_start"}
    if kind == "stage_end":
        return {"boot": boot, **_fields(event), "event": "stage_end"}
    if kind == "metadata_service":
        # guestsim's agent also reports that none was found; the published agent's observer
        # only sees a service handed to a stage. No service means no MAIN stage, which shows.
        if event.get("name") is None:
            return None
        return {"boot": boot, **_fields(event), "event": "metadata_service"}
    if kind in ("plugin_start", "plugin_skipped", "plugin_end"):
        # A failing plugin's exception text only reaches the log: not a facet.
        event_name = kind.removeprefix("plugin_")
        return {"boot": boot, **_fields(event, "error"), "event": event_name}
    return None


def normalise(result: RunResult) -> dict[str, Any]:
    """The run's facets: each sequence facet a list of items (plain dicts), in order, and
    ``state`` the final machine and clouds as plain data."""
    from guestsim.simulator.statediff import cloud_snapshot, machine_snapshot

    records = [*([result.unattend] if result.unattend is not None else []), *result.boots]
    facets: dict[str, Any] = {
        "boots": [_boot_item(record) for record in records],
        "plugins": [],
        "os": [],
        "http": [],
        "sleeps": [],
    }
    for event, during in _during(result.trace):
        if (item := _plugin_item(event)) is not None:
            facets["plugins"].append(item)
        elif event.kind == "os":
            facets["os"].append({"boot": event.boot, "during": during, **_fields(event)})
        elif event.kind == "http":
            facets["http"].append({"boot": event.boot, "during": during, **_fields(event)})
        elif event.kind == "sleep":
            facets["sleeps"].append({"boot": event.boot, "during": during, **_fields(event)})
    facets["state"] = {
        "machine": machine_snapshot(result.state),
        "clouds": cloud_snapshot(result.clouds),
    }
    return facets


def notes(result: RunResult) -> list[str]:
    """Why boots ended early (not_modelled, crashed, hung) and a reboot loop's culprits: not
    compared (the wording is each agent's, or the simulator's), but they explain a diff."""
    records = [*([result.unattend] if result.unattend is not None else []), *result.boots]
    lines = [f"boot {r.number} {r.outcome}: {r.error}" for r in records if r.error is not None]
    return lines + [finding for finding in result.findings if finding.startswith("reboot loop")]


# --- what the guest's random stream decided ----------------------------------------------


class _Aliases:
    """Names for random values, numbered in the order they are first met, with their shape
    (a string's length, another value's type), so two agents drawing differently formed
    values (a GUID and an MBR signature) still differ."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, str], str] = {}

    def __call__(self, value: Any) -> str:
        key = (type(value).__name__, json.dumps(value, sort_keys=True))
        shape = type(value).__name__
        if isinstance(value, str):
            shape = "1 char" if len(value) == 1 else f"{len(value)} chars"
        return self.names.setdefault(key, f"<random {len(self.names) + 1}, {shape}>")


def without_randomness(facets: dict[str, Any], probes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``facets`` with each value that differs in a probe (the same agent's run of the same
    world with another seed) replaced by ``<random N, shape>``, N counting from the first
    met.

    Only the guest's random stream depends on the seed, and each agent draws from it in its
    own order, so such values (temporary file names, certificate thumbprints, disk
    signatures, an install hour) belong to the run. The same value keeps its name, so "the
    file removed is the file written" still compares. In a string only the differing tokens
    (letters and digits, hyphens within) are replaced; where a probe's structure differs
    (another count of items, other keys), nothing there is replaced.
    """
    aliases = _Aliases()
    return {
        facet: _derandomised(facets[facet], [probe[facet] for probe in probes], aliases)
        for facet in FACETS
    }


def _derandomised(value: Any, others: list[Any], aliases: _Aliases) -> Any:
    if all(same(value, other) for other in others):
        return value
    if isinstance(value, dict):
        if not all(isinstance(other, dict) for other in others):
            return value
        replaced = {
            key: _derandomised(value[key], [other[key] for other in others], aliases)
            for key in sorted(value, key=str)
            if all(key in other for other in others)
        }
        return {key: replaced.get(key, item) for key, item in value.items()}
    if isinstance(value, list):
        if not all(isinstance(other, list) and len(other) == len(value) for other in others):
            return value
        return [
            _derandomised(item, [other[number] for other in others], aliases)
            for number, item in enumerate(value)
        ]
    if isinstance(value, str) and all(isinstance(other, str) for other in others):
        return _derandomised_text(value, others, aliases)
    return aliases(value)


def _derandomised_text(text: str, others: list[str], aliases: _Aliases) -> str:
    tokens = _TOKEN.findall(text)
    skeleton = _TOKEN.split(text)
    others_tokens = [_TOKEN.findall(other) for other in others]
    if any(_TOKEN.split(other) != skeleton for other in others):
        return aliases(text)
    words = [
        aliases(token) if any(theirs[number] != token for theirs in others_tokens) else token
        for number, token in enumerate(tokens)
    ]
    return "".join(part for pair in zip(skeleton, [*words, ""], strict=True) for part in pair)


# --- comparing two runs ------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal as data, where a boolean only equals a boolean (``True == 1`` in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list | tuple) or isinstance(b, dict | list | tuple):
        return False
    return bool(a == b)


@dataclass(frozen=True)
class Row:
    """One position of a facet: an item number (from 1) or a path into the state, and what
    each agent has there (``ABSENT``: nothing)."""

    index: int | str
    guestsim: Any
    upstream: Any

    @property
    def differs(self) -> bool:
        if self.guestsim is ABSENT or self.upstream is ABSENT:
            return self.guestsim is not self.upstream
        return not same(self.guestsim, self.upstream)

    def differing_fields(self) -> list[str]:
        """The fields two items at this position disagree on (both being items)."""
        a, b = self.guestsim, self.upstream
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return []
        return [
            key
            for key in [*a, *(key for key in b if key not in a)]
            if key not in a or key not in b or not same(a[key], b[key])
        ]


@dataclass(frozen=True)
class FacetVerdict:
    """One facet of two runs: identical or not, and the first divergence with some rows
    after it. ``sizes``: items on each side (sequence facets); ``differences``: values that
    differ (state)."""

    facet: str
    identical: bool
    rows: tuple[Row, ...] = ()
    sizes: tuple[int, int] | None = None
    differences: int = 0

    @property
    def first_divergence(self) -> Row | None:
        return self.rows[0] if self.rows else None


def compare_sequences(facet: str, ours: Sequence[Any], theirs: Sequence[Any]) -> FacetVerdict:
    """Item by item; the first position where they differ (or one side ends) diverges."""
    sizes = (len(ours), len(theirs))
    length = max(sizes)
    first = next((i for i in range(length) if not _same_at(ours, theirs, i)), None)
    if first is None:
        return FacetVerdict(facet, True, sizes=sizes)
    rows = tuple(
        Row(i + 1, _at(ours, i), _at(theirs, i))
        for i in range(first, min(first + DIVERGENCE_ROWS, length))
    )
    return FacetVerdict(facet, False, rows, sizes=sizes)


def _at(items: Sequence[Any], index: int) -> Any:
    return items[index] if index < len(items) else ABSENT


def _same_at(ours: Sequence[Any], theirs: Sequence[Any], index: int) -> bool:
    return index < len(ours) and index < len(theirs) and same(ours[index], theirs[index])


def state_differences(ours: Any, theirs: Any, path: tuple[str, ...] = ()) -> list[Row]:
    """Every value that differs, by its path (``machine / users / Admin / groups``): the
    shape of ``statediff``'s comparison, with strict equality."""
    found: list[Row] = []
    _differences(ours, theirs, path, found)
    return found


def _differences(a: Any, b: Any, path: tuple[str, ...], out: list[Row]) -> None:
    if a is not ABSENT and b is not ABSENT and same(a, b):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys(), key=str):
            _differences(a.get(key, ABSENT), b.get(key, ABSENT), (*path, str(key)), out)
    elif isinstance(a, list) and isinstance(b, list) and _records(a + b):
        # Lists of records (users, certificates, rules) compare entry by entry, from #1.
        for number in range(max(len(a), len(b))):
            _differences(_at(a, number), _at(b, number), (*path, f"#{number + 1}"), out)
    else:
        out.append(Row(" / ".join(path), a, b))


def _records(items: list[Any]) -> bool:
    return any(isinstance(item, dict | list) for item in items)


def compare_state(ours: Any, theirs: Any) -> FacetVerdict:
    found = state_differences(ours, theirs)
    return FacetVerdict("state", not found, tuple(found[:DIVERGENCE_ROWS]), differences=len(found))


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, FacetVerdict]:
    """Each facet of two normalised runs (guestsim's first), in :data:`FACETS` order."""
    verdicts = {
        facet: compare_sequences(facet, ours[facet], theirs[facet]) for facet in SEQUENCE_FACETS
    }
    verdicts["state"] = compare_state(ours["state"], theirs["state"])
    return verdicts


@dataclass(frozen=True)
class ScenarioDiff:
    """Both agents' runs of one scenario, compared."""

    name: str  # as ``guestsim list`` names it: folder/stem
    path: str
    facets: dict[str, FacetVerdict]
    notes: dict[str, list[str]]  # per agent: why boots ended early

    @property
    def identical(self) -> bool:
        return all(verdict.identical for verdict in self.facets.values())

    @property
    def differing(self) -> list[str]:
        return [facet for facet, verdict in self.facets.items() if not verdict.identical]


def compare_runs(
    name: str,
    path: str,
    ours: RunResult,
    theirs: RunResult,
    probes: tuple[Sequence[RunResult], Sequence[RunResult]] = ((), ()),
) -> ScenarioDiff:
    """guestsim's run and the published agent's, facet by facet; ``probes``: each agent's
    runs of the same world with other seeds, to tell what was random."""
    ours_probes, theirs_probes = probes
    return ScenarioDiff(
        name,
        path,
        compare(
            without_randomness(normalise(ours), [normalise(run) for run in ours_probes]),
            without_randomness(normalise(theirs), [normalise(run) for run in theirs_probes]),
        ),
        {"guestsim": notes(ours), "upstream": notes(theirs)},
    )


def diff_scenario(
    scenario: Scenario, upstream: AgentProgram, seed: int | None = None
) -> ScenarioDiff:
    """Run the scenario's world with each agent (the same seed, then the probe seeds) and
    compare the runs."""
    seed = scenario.seed if seed is None else seed
    seeds = [seed, *(seed + offset for offset in PROBE_SEED_OFFSETS)]
    # Explicitly guestsim's: a scenario may name the agent that runs it by default.
    ours = [scenario.build_machine(each, agent=GUESTSIM_AGENT).run() for each in seeds]
    theirs = [scenario.build_machine(each, agent=upstream).run() for each in seeds]
    return compare_runs(
        scenario.qualified_name,
        scenario.path.as_posix(),
        ours[0],
        theirs[0],
        (ours[1:], theirs[1:]),
    )
