"""Hints: what in a finished run most often explains a failing test or scenario.

A test that asserts on the final machine state ("the computer name is web-07") fails with
the state, not with why it is so. These lines say why, from the run's trace, log, state
and configuration: a host name waiting for a reboot the configuration forbids, a plugin
that failed, no metadata service, requests a fault answered, configuration warnings.
``RunResult.hints`` and ``RunResult.explain()`` give them; the pytest plugin attaches them
to a failing test that used a guest machine (report section "guestsim hints").
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guestsim.simulator.machine import RunResult
    from guestsim.simulator.trace import Event

_SHOWN = 3


def _short(path: object) -> str:
    return str(path).rpartition(".")[2]


def _reboot_hints(result: RunResult) -> list[str]:
    conf = result.conf
    if conf is None or conf.get("allow_reboot"):
        return []
    last_boot = result.boots[-1].number if result.boots else None
    askers = [
        f"{event.get('plugin')} asked for one at boot {event.boot}"
        for event in result.trace.of_kind("plugin_end")
        if event.get("reboot") and event.boot == last_boot
    ]
    why = ", ".join(askers) if askers else "no reboot followed"
    pending = result.state.pending_computer_name
    if pending is not None:
        return [
            f"the computer name {pending!r} waits for a reboot that did not happen: {why}, "
            "but the configuration has allow_reboot = false"
        ]
    if askers:
        return [
            f"{why}, but the configuration has allow_reboot = false: "
            "what waits for that reboot did not happen"
        ]
    return []


def _failed_plugins(result: RunResult) -> list[str]:
    hints: dict[str, str] = {}
    for event in result.trace.of_kind("plugin_end"):
        plugin = str(event.get("plugin"))
        if not event.get("success") and plugin not in hints:
            error = event.get("error")
            hints[plugin] = f"{plugin} failed at boot {event.boot}" + (
                f": {error}" if error else ""
            )
    for event in result.trace.of_kind("plugin_unavailable"):
        path = str(event.get("path"))
        hints.setdefault(path, f"plugin {path} could not be loaded (the agent skipped it)")
    return list(hints.values())


def _probe(event: Event) -> str:
    outcome = str(event.get("result", "")).replace("_", " ")
    error = event.get("error")
    return f"{_short(event.get('service'))} ({outcome}{f': {error}' if error else ''})"


def _metadata_hints(result: RunResult) -> list[str]:
    found = result.trace.of_kind("metadata_service")
    if not found or found[-1].get("name") is not None:
        return []
    boot = found[-1].boot
    probes = [_probe(e) for e in result.trace.of_kind("metadata_service_probe") if e.boot == boot]
    tried = f": tried {', '.join(probes)}" if probes else ""
    return [f"no metadata service answered{tried}; the plugins that need one did not run"]


def _fault_hints(result: RunResult) -> list[str]:
    answers: Counter[str] = Counter()
    for event in result.trace.of_kind("fault"):
        if event.get("status") is not None:
            answer = f"status {event.get('status')}"
        elif event.get("error") is not None:
            answer = str(event.get("error"))
        else:
            continue  # a delay or a mangled body: the cloud answered
        answers[f"{event.get('method')} {event.get('url')} -> {answer}"] += 1
    if not answers:
        return []
    shown = [f"{what} (x{count})" for what, count in list(answers.items())[:_SHOWN]]
    more = f" and {len(answers) - _SHOWN} more" if len(answers) > _SHOWN else ""
    return [f"requests answered by faults: {'; '.join(shown)}{more}"]


def _log_errors(result: RunResult) -> list[str]:
    errors = list(dict.fromkeys(line for line in result.log if " ERROR " in line))
    if not errors:
        return []
    more = f" and {len(errors) - _SHOWN} more" if len(errors) > _SHOWN else ""
    return [f"the agent logged errors: {' | '.join(errors[:_SHOWN])}{more}"]


def _conf_warnings(result: RunResult) -> list[str]:
    # An ignored option (a misspelt name) explains a failure; a deprecated spelling does not.
    if result.conf is None:
        return []
    ignored = [w for w in result.conf.warnings if w.message.startswith("unknown ")]
    return [f"configuration warning: {warning}" for warning in ignored[:_SHOWN]]


def run_hints(result: RunResult) -> list[str]:
    """Hints for ``result``, most telling first; empty for an unremarkable run."""
    return [
        *result.findings,
        *_reboot_hints(result),
        *_failed_plugins(result),
        *_metadata_hints(result),
        *_fault_hints(result),
        *_log_errors(result),
        *_conf_warnings(result),
    ]


def explain_run(result: RunResult) -> str:
    """The boots, and the hints, as a few readable lines."""
    lines = []
    for boot in result.boots:
        line = f"boot {boot.number}: {boot.outcome}"
        if boot.reboot_requested_by:
            line += f" (reboot asked by {boot.reboot_requested_by})"
        if boot.exit_code is not None:
            line += f", exit code {boot.exit_code}"
        lines.append(line)
    state = result.state
    lines.append(f"computer name {state.computer_name!r}")
    if state.pending_computer_name is not None:
        lines[-1] += f", {state.pending_computer_name!r} after the next reboot"
    hints = run_hints(result)
    if hints:
        lines += ["hints:", *(f"  - {hint}" for hint in hints)]
    return "\n".join(lines)
