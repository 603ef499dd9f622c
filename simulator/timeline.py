"""A trace as people read it: per boot, per stage, each plugin with its virtual duration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from guestsim.simulator.trace import Event, Trace, format_event


@dataclass
class PluginRun:
    plugin: str
    start_ms: int
    duration_ms: int | None = None
    status: int | None = None
    reboot: bool | None = None
    outcome: str = "running"  # "ok", "failed", "skipped: <reason>", "running" (never ended)
    error: str | None = None


@dataclass
class StageRun:
    stage: str
    start_ms: int
    duration_ms: int | None = None
    success: bool | None = None
    reboot: bool | None = None
    plugins: list[PluginRun] = field(default_factory=list)


@dataclass
class BootRun:
    number: int
    start_ms: int
    stages: list[StageRun] = field(default_factory=list)
    metadata_service: str | None = None
    ended_with: str = ""


_ENDINGS = {
    "reboot": "reboot",
    "agent_service_stopped": "agent service stopped",
    "agent_hung": "agent hung",
    "not_modelled": "not modelled",
    "reboot_loop": "reboot loop",
}


def build_timeline(trace: Trace) -> list[BootRun]:
    boots: list[BootRun] = []
    stage: StageRun | None = None
    running: dict[str, PluginRun] = {}
    for event in trace:
        if event.kind == "boot":
            boots.append(BootRun(event.boot, event.t_ms))
            stage = None
            continue
        if not boots:
            continue
        boot = boots[-1]
        if event.kind == "stage_start":
            stage = StageRun(str(event.get("stage")), event.t_ms)
            boot.stages.append(stage)
        elif event.kind == "stage_end" and stage is not None:
            stage.duration_ms = event.t_ms - stage.start_ms
            stage.success, stage.reboot = event.get("success"), event.get("reboot")
        elif event.kind == "plugin_start" and stage is not None:
            run = PluginRun(str(event.get("plugin")), event.t_ms)
            stage.plugins.append(run)
            running[run.plugin] = run
        elif event.kind == "plugin_end" and event.get("plugin") in running:
            run = running.pop(str(event.get("plugin")))
            run.duration_ms = event.t_ms - run.start_ms
            run.status, run.reboot = event.get("status"), event.get("reboot")
            run.outcome = "ok" if event.get("success") else "failed"
            run.error = event.get("error")
        elif event.kind == "plugin_skipped" and stage is not None:
            stage.plugins.append(
                PluginRun(
                    str(event.get("plugin")),
                    event.t_ms,
                    0,
                    outcome=f"skipped: {event.get('reason')}",
                )
            )
        elif event.kind == "metadata_service":
            boot.metadata_service = event.get("name")
        elif event.kind in _ENDINGS:
            boot.ended_with = _ENDINGS[event.kind]
        elif event.kind == "extra_boot":
            boot.ended_with = f"{boot.ended_with or 'agent stopped'}; powered on again (extra boot)"
        elif event.kind == "power_loss":
            boot.ended_with = f"power lost at side effect {event.get('at')} ({event.get('call')})"
        elif event.kind == "agent_exit" and not boot.ended_with:
            boot.ended_with = f"agent exited with {event.get('exit_code')}"
    return boots


def _seconds(ms: int | None) -> str:
    return "      ?" if ms is None else f"{ms / 1000:6.1f}s"


def render_timeline(trace: Trace, verbose: bool = False) -> str:
    """Boots, stages and plugins with virtual times; ``verbose`` adds every event."""
    lines: list[str] = []
    events_by_boot: dict[int, list[Event]] = {}
    for event in trace:
        events_by_boot.setdefault(event.boot, []).append(event)
    for boot in build_timeline(trace):
        service = boot.metadata_service or "none"
        lines.append(f"Boot {boot.number} at {boot.start_ms / 1000:.1f}s (metadata: {service})")
        for stage in boot.stages:
            verdict = (
                "interrupted" if stage.duration_ms is None else "ok" if stage.success else "FAILED"
            )
            reboot = ", reboot requested" if stage.reboot else ""
            lines.append(f"  {stage.stage:<24} {_seconds(stage.duration_ms)}  {verdict}{reboot}")
            for run in stage.plugins:
                detail = "interrupted" if run.outcome == "running" else run.outcome
                if run.outcome == "ok":
                    detail += f" status={run.status} reboot={run.reboot}"
                if run.error:
                    detail += f" ({run.error})"
                lines.append(f"    {run.plugin:<36} {_seconds(run.duration_ms)}  {detail}")
        lines.append(f"  ended: {boot.ended_with or 'agent still running'}")
        if verbose:
            lines.extend(
                "    " + format_event(event) for event in events_by_boot.get(boot.number, [])
            )
    return "\n".join(lines)


def timeline_document(trace: Trace) -> dict[str, Any]:
    return {
        "boots": [asdict(boot) for boot in build_timeline(trace)],
        "events": [
            {"seq": e.seq, "boot": e.boot, "t_ms": e.t_ms, "kind": e.kind, **e.fields}
            for e in trace
        ],
    }
