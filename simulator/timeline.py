"""A trace as people read it: per boot, its phases in virtual time.

A boot is cut into phases that follow one another without gaps: the agent's own work before
the stages (a respawn), each stage with its plugins, the metadata discovery between
PRE_METADATA_DISCOVERY and MAIN with the services it tried, and the agent's work after the
stages (the wait before the service stops). Events worth showing on a picture become marks
that say in which phase and plugin they happened. ``guestsim trace`` prints this model as
text, ``--format json`` and the HTML report carry it as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from guestsim.simulator.trace import Event, Trace, format_event

DISCOVERY = "metadata discovery"
AGENT = "agent"
_DISCOVERY_AFTER = "PRE_METADATA_DISCOVERY"
# Exit codes a script returns to ask cloudbase-init for a reboot or another run: not failures.
_SCRIPT_CONTROL_CODES = frozenset({0, 1001, 1002, 1003})


@dataclass
class PluginRun:
    plugin: str
    stage: str
    start_ms: int
    end_ms: int | None  # None: never ended (a power cut, a hang, a crash)
    status: int | None = None  # 1 done, 2 run again next boot (upstream's values)
    reboot: bool | None = None
    outcome: str = "running"  # "ok", "failed", "skipped", "running" (never ended)
    reason: str | None = None  # why it was skipped ("done", "platform", "not importable")
    error: str | None = None
    seq: int = 0  # plugin_start (plugin_skipped, plugin_unavailable for skipped ones)
    end_seq: int | None = None  # plugin_end


@dataclass
class Probe:
    """One metadata service the discovery tried."""

    service: str  # short class name ("HttpService")
    result: str  # as the event says: "loaded", "not_loaded", "error"
    start_ms: int
    end_ms: int
    requests: int  # HTTP requests made while it was tried
    faults: int  # of them, answered by an injected fault
    waited_ms: int  # virtual time spent sleeping between retries and waiting on DHCP
    seq: int  # its metadata_service_probe event (where it ends)
    start_seq: int = 0  # where it starts: the previous probe's event, or the discovery's start


@dataclass
class Phase:
    """One lane of a boot."""

    name: str  # a stage's name, DISCOVERY or AGENT
    kind: str  # "stage", "discovery" or "agent" (the agent's work outside any stage)
    start_ms: int
    end_ms: int | None  # None: interrupted (it lasted until the boot's end)
    verdict: str  # "ok", "failed", "interrupted"; discovery: the service found or "none"
    reboot: bool = False  # the stage asked for a reboot
    plugins: list[PluginRun] = field(default_factory=list)  # stages only
    probes: list[Probe] = field(default_factory=list)  # discovery only
    # The events it spans: the one it starts at (shared with the previous phase's end) and
    # the one it ends at (None with end_ms: interrupted). Phases are contiguous in seq too.
    start_seq: int = 0
    end_seq: int | None = None


@dataclass
class Mark:
    """One event worth showing on the timeline."""

    kind: str  # "http", "sleep", "dhcp", "probe", "config_drive", "os", "script", "reboot",
    # "respawn", "power_loss", "exit", "hung", "not_modelled", "extra_boot", "reboot_loop",
    # "provisioning"
    seq: int
    start_ms: int
    end_ms: int  # == start_ms for an instant; a sleep or a delayed answer lasts
    label: str
    phase: str  # name of the phase it falls in
    plugin: str | None  # the plugin running when it happened
    fault: str | None  # the injected fault that answered an HTTP request
    bad: bool  # a fault, a failed request, a crash, a power cut, a hang, a gap
    # The event it ends at: its own for an instant (and for a delayed answer, which ends at
    # its http event); a sleep or a DHCP wait ends at the boot's next event.
    end_seq: int = 0


@dataclass
class BootRun:
    number: int  # 0 is the sysprep (unattend) pass
    start_ms: int
    end_ms: int
    phases: list[Phase]  # in time order, covering start_ms..end_ms without gaps
    marks: list[Mark]
    metadata_service: str | None
    ended_with: str
    first_seq: int = 0  # its events' seqs (consecutive): the boot event's ...
    last_seq: int = 0  # ... and its last event's


# --- building ----------------------------------------------------------------------------------


def _short(dotted: object) -> str:
    return str(dotted).rsplit(".", 1)[-1]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _os_label(event: Event) -> str:
    fields = {k: v for k, v in sorted(event.fields.items()) if k not in ("call", "part_of")}
    call = str(event.get("call"))
    if call == "set_registry_value":
        text = f"{call} {event.get('key')} {event.get('name')} = {_text(event.get('data'))}"
    elif "args" in fields:
        rest = " ".join(f"{k}={_text(v)}" for k, v in fields.items() if k != "args")
        text = f"{call} {_text(fields['args'])}" + (f" ({rest})" if rest else "")
    else:
        text = " ".join([call, *(f"{k}={_text(v)}" for k, v in fields.items())])
    part_of = event.get("part_of")
    return f"{text} (part of {part_of})" if part_of else text


def _fault_text(fault: Event) -> str:
    described = []
    for name in ("status", "delay", "error", "body"):
        value = fault.get(name)
        if value is not None:
            described.append(f"delay {value} s" if name == "delay" else f"{name} {value}")
    return ", ".join(described) or "fault"


def _http_label(method: object, url: object, answer: str, fault: str | None) -> str:
    return f"{method} {url} -> {answer}" + (f" (fault: {fault})" if fault else "")


def _dhcp_label(event: Event) -> str:
    server = event.get("server") or "broadcast"
    asked = _text(event.get("requested"))
    answered = event.get("answered")
    if answered is None:
        waited = event.get("waited_s")
        answer = "no answer" + (f" (waited {waited} s)" if waited else "")
    else:
        answer = f"answered {_text(answered) or 'nothing'}"
    return f"DHCP {server} options {asked} -> {answer}"


def _script_label(event: Event) -> str:
    name = event.get("declaration") or event.get("path")
    exit_code = event.get("exit_code")
    result = f"error: {event.get('error')}" if event.get("error") else f"exit {exit_code}"
    return f"script {name} ({event.get('interpreter')}, run {event.get('run')}) -> {result}"


def _config_drive_label(event: Event) -> str:
    where = f"{event.get('location')} {event.get('type')}"
    text = f"config drive {event.get('label')} on {where}: {event.get('result')}"
    if event.get("device"):
        text += f" ({event.get('device')})"
    if event.get("error"):
        text += f": {event.get('error')}"
    return text


# Events that only shape the structure (boots, phases, plugin runs, the boot's ending).
_STRUCTURE = frozenset(
    {
        "boot",
        "agent_start",
        "agent_done",
        "agent_service_stopped",
        "stage_start",
        "stage_end",
        "plugin_start",
        "plugin_end",
        "plugin_skipped",
        "plugin_unavailable",
        "metadata_service",
        "reboot_requested",  # the machine's own "reboot" event follows and carries the mark
    }
)


class _BootBuilder:
    """Walks one boot's events once, keeping the phase and plugin each event falls in."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        first = events[0]
        # reboot_loop is decided after the machine waited for the next power-on that never
        # comes: that wait is the reboot between boots, not part of this boot.
        timed = [e for e in events if e.kind != "reboot_loop"] or [first]
        self.boot = BootRun(
            first.boot, first.t_ms, timed[-1].t_ms, [], [], None, "", first.seq, events[-1].seq
        )
        self.owners: list[Phase] = []  # the phase of each mark, by position
        self.plugin: PluginRun | None = None
        self.fault: Event | None = None
        self.processes = 0  # agent processes running: a respawned child makes it 2
        self.respawn_marked = False
        self.reboot_culprit: str | None = None
        self.probe_from = 0  # index of the first mark of the current probe's window
        self.probe_start_ms = first.t_ms
        self.probe_start_seq = first.seq
        self.spans: list[Mark] = []  # marks lasting past their event: they end at the next one
        self.cut = False  # the boot ended abnormally: power cut, hang, not modelled
        self.crashed = False
        self._begin(AGENT, "agent", first)

    # --- phases ------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.boot.phases[-1]

    def _begin(self, name: str, kind: str, at: Event) -> None:
        """A phase starting at the event ``at`` (where the previous one ends)."""
        if self.boot.phases:
            self._close(at)
        verdict = "none" if kind == "discovery" else "ok"
        self.boot.phases.append(Phase(name, kind, at.t_ms, None, verdict, start_seq=at.seq))
        if kind == "discovery":
            self.probe_from = len(self.boot.marks)
            self.probe_start_ms, self.probe_start_seq = at.t_ms, at.seq

    def _close(self, at: Event) -> None:
        phase = self.phase
        if phase.end_ms is None:
            phase.end_ms = at.t_ms
            if phase.kind == "stage":
                phase.verdict = "interrupted"
        if phase.end_seq is None:
            phase.end_seq = at.seq
        self.plugin = None

    def _discovery_follows(self, index: int) -> bool:
        """After PRE_METADATA_DISCOVERY the agent looks for a metadata service, unless the
        stage's reboot request is honoured first."""
        for event in self.events[index + 1 :]:
            if event.kind in ("metadata_service_probe", "metadata_service"):
                return True
            if event.kind in ("stage_start", "reboot_requested", "reboot"):
                return False
        return not self.events[index].get("reboot")

    # --- marks -------------------------------------------------------------------------

    def mark(
        self,
        kind: str,
        event: Event,
        label: str,
        *,
        bad: bool = False,
        start_ms: int | None = None,
        end_ms: int | None = None,
        fault: str | None = None,
    ) -> Mark:
        start = event.t_ms if start_ms is None else start_ms
        end = start if end_ms is None else end_ms
        mark = Mark(
            kind,
            event.seq,
            start,
            end,
            label,
            self.phase.name,
            None if self.plugin is None else self.plugin.plugin,
            fault,
            bad,
            event.seq,
        )
        if end > event.t_ms:
            self.spans.append(mark)  # it lasts until the next event
        self.boot.marks.append(mark)
        self.owners.append(self.phase)
        return mark

    def _http(self, event: Event) -> None:
        fault, self.fault = self.fault, None
        paired = fault is not None and (fault.get("method"), fault.get("url")) == (
            event.get("method"),
            event.get("url"),
        )
        fault_text = _fault_text(fault) if fault is not None and paired else None
        if fault is not None and not paired:
            self._unanswered(fault)
        status = event.get("status")
        answer = str(status) if status is not None else str(event.get("error") or "no answer")
        self.mark(
            "http",
            event,
            _http_label(event.get("method"), event.get("url"), answer, fault_text),
            bad=fault_text is not None or status is None or int(status) >= 400,
            # A delayed answer lasts from the request (the fault's event) to the answer.
            start_ms=fault.t_ms if fault is not None and paired else None,
            end_ms=event.t_ms,
            fault=fault_text,
        )

    def _unanswered(self, fault: Event) -> None:
        """A fault with no answer after it: the request hung (or the power failed)."""
        text = _fault_text(fault)
        label = _http_label(fault.get("method"), fault.get("url"), "no answer", text)
        self.mark("http", fault, label, bad=True, fault=text)

    # --- the walk ----------------------------------------------------------------------

    def build(self) -> BootRun:
        for index, event in enumerate(self.events):
            for span in self.spans:
                span.end_seq = event.seq
            self.spans.clear()
            if self.fault is not None and event.kind != "http":
                fault, self.fault = self.fault, None
                self._unanswered(fault)
            if event.kind in _STRUCTURE:
                self._structure(index, event)
            else:
                self._event(event)
        if self.fault is not None:
            self._unanswered(self.fault)
        self._finish()
        return self.boot

    def _structure(self, index: int, event: Event) -> None:
        kind = event.kind
        if kind == "stage_start":
            self._begin(str(event.get("stage")), "stage", event)
        elif kind == "stage_end":
            self._stage_end(index, event)
        elif kind == "plugin_start":
            self.plugin = PluginRun(
                str(event.get("plugin")), str(event.get("stage")), event.t_ms, None, seq=event.seq
            )
            self.phase.plugins.append(self.plugin)
        elif kind == "plugin_end":
            self._plugin_end(event)
        elif kind in ("plugin_skipped", "plugin_unavailable"):
            unavailable = kind == "plugin_unavailable"
            self.phase.plugins.append(
                PluginRun(
                    _short(event.get("path") if unavailable else event.get("plugin")),
                    str(event.get("stage")),
                    event.t_ms,
                    event.t_ms,
                    outcome="skipped",
                    reason="not importable" if unavailable else event.get("reason"),
                    seq=event.seq,
                )
            )
        elif kind == "metadata_service":
            self.boot.metadata_service = event.get("name")
            if self.phase.kind == "discovery":
                self.phase.verdict = str(event.get("name") or "none")
                self.phase.end_ms, self.phase.end_seq = event.t_ms, event.seq
                self._begin(AGENT, "agent", event)
        elif kind == "agent_service_stopped":
            self.boot.ended_with = "agent service stopped"

    def _stage_end(self, index: int, event: Event) -> None:
        phase = self.phase
        if phase.kind == "stage" and phase.name == event.get("stage"):
            phase.end_ms, phase.end_seq = event.t_ms, event.seq
            phase.verdict = "ok" if event.get("success") else "failed"
            phase.reboot = bool(event.get("reboot"))
        if event.get("stage") == _DISCOVERY_AFTER and self._discovery_follows(index):
            self._begin(DISCOVERY, "discovery", event)
        else:
            self._begin(AGENT, "agent", event)

    def _plugin_end(self, event: Event) -> None:
        name = event.get("plugin")
        run = self.plugin
        if run is None or run.plugin != name:
            running = [p for p in self.phase.plugins if p.plugin == name and p.end_seq is None]
            run = running[-1] if running else None
        if run is None:
            return
        run.end_ms, run.end_seq = event.t_ms, event.seq
        run.status, run.reboot = event.get("status"), event.get("reboot")
        run.outcome = "ok" if event.get("success") else "failed"
        run.error = event.get("error")
        if run.reboot:
            self.reboot_culprit = run.plugin
        self.plugin = None

    def _event(self, event: Event) -> None:
        kind = event.kind
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)
        elif kind == "fault":
            self.fault = event
        elif kind == "http":
            self._http(event)
        else:
            # An event this module does not know yet: still shown, by its kind.
            details = " ".join(f"{k}={_text(v)}" for k, v in sorted(event.fields.items()))
            self.mark("os", event, f"{kind} {details}".rstrip())

    def _drop_empty_phases(self) -> None:
        """An agent phase with nothing in it and no time is no phase, but a boot keeps one.
        Its events (structure only, at one instant) go to the phase before it, or to the one
        after it when it was the first: the phases still cover the boot's seqs."""
        boot = self.boot
        kept: list[Phase] = []
        start_seq: int | None = None
        for p in boot.phases:
            if p.kind == "agent" and p.end_ms == p.start_ms and not self.marks_of(p):
                if kept:
                    kept[-1].end_seq = p.end_seq
                elif start_seq is None:
                    start_seq = p.start_seq
                continue
            if start_seq is not None:
                p.start_seq, start_seq = start_seq, None
            kept.append(p)
        if not kept:
            first = boot.phases[0]
            first.end_seq = boot.phases[-1].end_seq
            kept = [first]
        boot.phases = kept

    def marks_of(self, phase: Phase) -> list[Mark]:
        return [m for m, owner in zip(self.boot.marks, self.owners, strict=True) if owner is phase]

    def _finish(self) -> None:
        boot = self.boot
        phase = self.phase
        if phase.end_ms is None:
            if self.cut or phase.kind != "agent":
                phase.verdict = "interrupted"
            else:
                phase.end_ms, phase.end_seq = boot.end_ms, boot.last_seq
                phase.verdict = "failed" if self.crashed else "ok"
        self._drop_empty_phases()
        if not boot.ended_with:
            boot.ended_with = "agent still running"


def _process(builder: _BootBuilder, event: Event) -> None:
    builder.processes += 1
    if builder.processes > 1 and not builder.respawn_marked:
        # An agent that respawns without saying so (upstream's): its child is the mark.
        argv = _text(event.get("argv"))
        builder.mark("respawn", event, f"respawn: {argv} as {event.get('user')}")
    builder.respawn_marked = False


def _respawn(builder: _BootBuilder, event: Event) -> None:
    builder.mark("respawn", event, f"respawn as {event.get('user')} (new service credentials)")
    builder.respawn_marked = True


def _exit(builder: _BootBuilder, event: Event) -> None:
    child = builder.processes > 1
    builder.processes = max(builder.processes - 1, 0)
    who = "respawned agent" if child else "agent"
    error = event.get("error")
    code = event.get("exit_code")
    if error:
        builder.crashed = True
        label = f"{who} crashed: {error}"
    else:
        label = f"{who} exited with {code}"
    builder.mark("exit", event, label, bad=bool(error) or code != 0)
    boot = builder.boot
    if error and not boot.ended_with:
        boot.ended_with = f"agent crashed: {error}"
    elif not child and not boot.ended_with:
        boot.ended_with = f"agent exited with {code}"


def _sleep(builder: _BootBuilder, event: Event) -> None:
    seconds = float(event.get("seconds") or 0)
    end = event.t_ms + round(seconds * 1000)
    builder.mark("sleep", event, f"sleep {seconds:.1f} s", end_ms=end)


def _probe(builder: _BootBuilder, event: Event) -> None:
    service, result = _short(event.get("service")), str(event.get("result"))
    label = f"metadata service {service}: {result}"
    if event.get("error"):
        label += f" ({event.get('error')})"
    window = builder.boot.marks[builder.probe_from :]
    requests = [m for m in window if m.kind == "http"]
    builder.phase.probes.append(
        Probe(
            service,
            result,
            builder.probe_start_ms,
            event.t_ms,
            len(requests),
            sum(1 for m in requests if m.fault is not None),
            sum(m.end_ms - m.start_ms for m in window if m.kind in ("sleep", "dhcp")),
            event.seq,
            builder.probe_start_seq,
        )
    )
    builder.mark("probe", event, label, bad=result == "error")
    builder.probe_from = len(builder.boot.marks)
    builder.probe_start_ms, builder.probe_start_seq = event.t_ms, event.seq


def _reboot(builder: _BootBuilder, event: Event) -> None:
    if builder.reboot_culprit is not None:
        label = f"reboot, asked for by {builder.reboot_culprit}"
    elif builder.plugin is not None:
        label = f"reboot during {builder.plugin.plugin}"
    else:
        label = "reboot"
    builder.mark("reboot", event, label)
    builder.boot.ended_with = "reboot"


def _sysprep_reboot(builder: _BootBuilder, event: Event) -> None:
    builder.mark("reboot", event, "Windows restarts after the sysprep (specialize) pass")
    boot = builder.boot
    ended = boot.ended_with or "agent stopped"
    boot.ended_with = f"{ended}; end of the sysprep pass" if ended != "reboot" else ended


def _power_loss(builder: _BootBuilder, event: Event) -> None:
    at, call = event.get("at"), event.get("call")
    builder.mark("power_loss", event, f"power cut at side effect {at} ({call})", bad=True)
    builder.cut = True
    builder.boot.ended_with = f"power lost at side effect {at} ({call})"


def _hung(builder: _BootBuilder, event: Event) -> None:
    request = f"{event.get('method')} {event.get('url')}"
    builder.mark("hung", event, f"agent hung on {request}", bad=True)
    builder.cut = True
    builder.boot.ended_with = f"agent hung on {request}"


def _not_modelled(builder: _BootBuilder, event: Event) -> None:
    builder.mark("not_modelled", event, f"not modelled: {event.get('what')}", bad=True)
    builder.cut = True
    builder.boot.ended_with = "not modelled"


def _extra_boot(builder: _BootBuilder, event: Event) -> None:
    builder.mark("extra_boot", event, "powered on again (extra boot)")
    boot = builder.boot
    boot.ended_with = f"{boot.ended_with or 'agent stopped'}; powered on again (extra boot)"


def _reboot_loop(builder: _BootBuilder, event: Event) -> None:
    boots = event.get("boots")
    label = f"reboot loop: the agent asked for a reboot on each of {boots} boots"
    end = builder.boot.end_ms
    builder.mark("reboot_loop", event, label, bad=True, start_ms=end, end_ms=end)
    builder.boot.ended_with = "reboot loop"


def _script(builder: _BootBuilder, event: Event) -> None:
    failed = bool(event.get("error")) or event.get("exit_code") not in _SCRIPT_CONTROL_CODES
    builder.mark("script", event, _script_label(event), bad=failed)


def _python_import(builder: _BootBuilder, event: Event) -> None:
    name = event.get("declaration") or "undeclared module"
    types = _text(event.get("types") or [])
    label = f"python import {event.get('path')} ({name}" + (f": {types})" if types else ")")
    builder.mark("script", event, label)


def _config_drive(builder: _BootBuilder, event: Event) -> None:
    builder.mark("config_drive", event, _config_drive_label(event), bad=bool(event.get("error")))


def _provisioning(builder: _BootBuilder, event: Event) -> None:
    state = event.get("state")
    builder.mark("provisioning", event, f"reported provisioning {state}", bad=state == "failed")


def _os(builder: _BootBuilder, event: Event) -> None:
    builder.mark("os", event, _os_label(event))


def _dhcp(builder: _BootBuilder, event: Event) -> None:
    # An unanswered DHCP request is a failed request: the agent waits out its timeout.
    waited_ms = round(float(event.get("waited_s") or 0) * 1000)
    builder.mark(
        "dhcp",
        event,
        _dhcp_label(event),
        bad=event.get("answered") is None,
        end_ms=event.t_ms + waited_ms,
    )


_HANDLERS: dict[str, Callable[[_BootBuilder, Event], None]] = {
    "agent_process": _process,
    "respawn": _respawn,
    "agent_exit": _exit,
    "sleep": _sleep,
    "metadata_service_probe": _probe,
    "reboot": _reboot,
    "sysprep_reboot": _sysprep_reboot,
    "power_loss": _power_loss,
    "agent_hung": _hung,
    "not_modelled": _not_modelled,
    "extra_boot": _extra_boot,
    "reboot_loop": _reboot_loop,
    "script": _script,
    "python_import": _python_import,
    "config_drive_search": _config_drive,
    "provisioning_report": _provisioning,
    "os": _os,
    "dhcp": _dhcp,
}


def _boot_events(trace: Trace) -> list[list[Event]]:
    """The events of each power-on, in order. Boot numbers can repeat (an interrupted
    sysprep pass runs again as boot 0), so each ``boot`` event starts a new one."""
    groups: list[list[Event]] = []
    for event in trace:
        if event.kind == "boot" or not groups:
            groups.append([])
        groups[-1].append(event)
    return groups


def build_timeline(trace: Trace) -> list[BootRun]:
    """Each power-on of the run, in order, as phases, plugin runs, probes and marks."""
    return [_BootBuilder(events).build() for events in _boot_events(trace)]


# --- text --------------------------------------------------------------------------------------

_NAME_COLUMN = 40  # indent and name; the durations line up after it


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}s"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


# Marks that change the course of a boot: said in words, never only counted.
_TOLD = frozenset(
    {
        "respawn",
        "reboot",
        "power_loss",
        "hung",
        "not_modelled",
        "extra_boot",
        "reboot_loop",
        "provisioning",
    }
)


def _activity(marks: Sequence[Mark], agent: bool = False) -> list[str]:
    """What a phase, probe or plugin did, counted: what explains its time. For the agent's
    own phases (``agent``) one or two OS changes are named instead of counted (few and
    telling: the service stopped), and so is the process's exit."""
    parts: list[str] = []
    requests = [m for m in marks if m.kind == "http"]
    if requests:
        faults = sum(1 for m in requests if m.fault is not None)
        failed = sum(1 for m in requests if m.bad and m.fault is None)
        notes = [_count(faults, "fault")] if faults else []
        notes += [f"{failed} failed"] if failed else []
        noted = f" ({', '.join(notes)})" if notes else ""
        parts.append(_count(len(requests), "request") + noted)
    dhcp = [m for m in marks if m.kind == "dhcp"]
    if dhcp:
        unanswered = sum(1 for m in dhcp if m.bad)
        waited = sum(m.end_ms - m.start_ms for m in dhcp)
        notes = [f"{unanswered} unanswered"] if unanswered else []
        notes += [f"waited {_seconds(waited)} for answers"] if waited else []
        silent = f" ({', '.join(notes)})" if notes else ""
        parts.append(_count(len(dhcp), "DHCP request") + silent)
    sleeps = [m for m in marks if m.kind == "sleep"]
    if sleeps:
        waited = sum(m.end_ms - m.start_ms for m in sleeps)
        times = f" in {len(sleeps)} sleeps" if len(sleeps) > 1 else ""
        parts.append(f"waited {_seconds(waited)}{times}")
    changes = [m.label for m in marks if m.kind == "os"]
    if agent and len(changes) <= 2:
        parts += changes
    elif changes:
        parts.append(_count(len(changes), "OS change"))
    for kind, what in (("script", "script"), ("config_drive", "drive search")):
        n = sum(1 for m in marks if m.kind == kind)
        if n:
            parts.append(_count(n, what))
    parts += [m.label for m in marks if m.kind in _TOLD or (m.kind == "exit" and (m.bad or agent))]
    return parts


def _row(indent: str, name: str, ms: int, detail: str) -> str:
    width = max(_NAME_COLUMN - len(indent), len(name) + 1)
    return f"{indent}{name:<{width}}{_seconds(ms):>8}  {detail}".rstrip()


def _within(marks: Sequence[Mark], first_seq: int, last_seq: int | None) -> list[Mark]:
    return [m for m in marks if m.seq >= first_seq and (last_seq is None or m.seq <= last_seq)]


def _plugin_detail(run: PluginRun, marks: Sequence[Mark]) -> str:
    if run.outcome == "skipped":
        return f"skipped: {run.reason}"
    if run.outcome == "ok":
        detail = f"ok status={run.status} reboot={run.reboot}"
    elif run.outcome == "failed":
        detail = f"FAILED ({run.error})" if run.error else "FAILED"
    else:
        detail = "interrupted"
    mine = [m for m in _within(marks, run.seq, run.end_seq) if m.plugin == run.plugin]
    activity = _activity(mine)
    return f"{detail}; {', '.join(activity)}" if activity else detail


def _phase_lines(boot: BootRun, phase: Phase, marks: Sequence[Mark]) -> list[str]:
    end = boot.end_ms if phase.end_ms is None else phase.end_ms
    if phase.kind == "stage":
        verdict = {"failed": "FAILED"}.get(phase.verdict, phase.verdict)
        detail = verdict + (", reboot requested" if phase.reboot else "")
        activity = _activity([m for m in marks if m.plugin is None])
    elif phase.kind == "discovery":
        detail = {"none": "no metadata service found", "interrupted": "interrupted"}.get(
            phase.verdict, f"found {phase.verdict}"
        )
        activity = _activity(marks)
    else:
        detail = {"ok": "", "failed": "FAILED"}.get(phase.verdict, phase.verdict)
        activity = _activity(marks, agent=True)
    detail = "; ".join(part for part in (detail, ", ".join(activity)) if part)
    lines = [_row("  ", phase.name, end - phase.start_ms, detail)]
    previous = -1
    for probe in phase.probes:
        tried = _activity([m for m in marks if previous < m.seq < probe.seq])
        result = probe.result.replace("_", " ")
        probe_detail = f"{result}: {', '.join(tried)}" if tried else result
        lines.append(_row("    ", probe.service, probe.end_ms - probe.start_ms, probe_detail))
        previous = probe.seq
    for run in phase.plugins:
        run_end = boot.end_ms if run.end_ms is None else run.end_ms
        lines.append(_row("    ", run.plugin, run_end - run.start_ms, _plugin_detail(run, marks)))
    return lines


def _boot_heading(boot: BootRun, previous: BootRun | None) -> str:
    name = f"Boot {boot.number}" + (" (sysprep pass)" if boot.number == 0 else "")
    gap = ""
    if previous is not None:
        gap = f", {_seconds(boot.start_ms - previous.end_ms)} after boot {previous.number} ended"
    service = boot.metadata_service or "none"
    duration = _seconds(boot.end_ms - boot.start_ms)
    return f"{name} at {_seconds(boot.start_ms)}{gap}: ran {duration}, metadata service {service}"


def render_timeline(trace: Trace, verbose: bool = False) -> str:
    """Each boot's phases, probes and plugins with their virtual durations and what filled
    them; ``verbose`` adds every event after each boot."""
    lines: list[str] = []
    previous: BootRun | None = None
    for events in _boot_events(trace):
        builder = _BootBuilder(events)
        boot = builder.build()
        lines.append(_boot_heading(boot, previous))
        for phase in boot.phases:
            lines.extend(_phase_lines(boot, phase, builder.marks_of(phase)))
        lines.append(f"  ended: {boot.ended_with}")
        if verbose:
            lines.extend("    " + format_event(event) for event in events)
        previous = boot
    return "\n".join(lines)


def timeline_document(trace: Trace) -> dict[str, Any]:
    """The timeline and every event, as one JSON-able document (``trace --format json``)."""
    return {
        "boots": [asdict(boot) for boot in build_timeline(trace)],
        "events": [
            {"seq": e.seq, "boot": e.boot, "t_ms": e.t_ms, "kind": e.kind, **e.fields}
            for e in trace
        ],
    }
