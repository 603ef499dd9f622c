"""Which events of a run explain an unmet expectation (the HTML report links them).

A failure line names what it is about before its first ``": "`` (``expectations`` writes
``plugins.SetHostNamePlugin: expected 'done', got 'absent'``, ``registry KEY\\NAME: ...``,
``requests[0] GET /path: ...``); that subject picks the events touching the same plugin,
registry value, user, request path, file or service. A subject with no events that can
explain it (``log.present``, ``state.x``, a cloud's state after a cut) gets none: no link
is better than a wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from guestsim.simulator.trace import Event

Match = Callable[[Event], bool]

_PLUGIN_KINDS = ("plugin_start", "plugin_end", "plugin_skipped")
# How a run ended, or how it got to its number of boots.
_ENDING_KINDS = (
    "reboot",
    "power_loss",
    "agent_exit",
    "agent_hung",
    "not_modelled",
    "reboot_loop",
    "extra_boot",
    "respawn",
)
# Expectation subjects whose events are all the events of some kinds.
_KINDS = {
    "boots": _ENDING_KINDS,
    "outcome": _ENDING_KINDS,
    "findings": _ENDING_KINDS,
    "metadata_service": ("metadata_service_probe", "metadata_service"),
    "provisioning": ("provisioning_report",),
    "config_drive_found": ("config_drive_search",),
    "config_drive_errors": ("config_drive_search",),
    "faults_injected": ("fault",),
    "virtual time": ("sleep",),
}
_OS_CALLS = {
    "computer_name": ("set_host_name",),
    "pending_computer_name": ("set_host_name",),
    "ntp_peers": ("set_ntp_client_config",),
}
_REQUEST = re.compile(r"requests\[\d+\] (\S+) (\S+)")
# What ``statediff.diff_lines`` names first ("machine registry / KEY / NAME: ..."), and the
# findings a cut run ends with ("reboot loop: ...", "boot 3: ...").
_ENDINGS = re.compile(r"(reboot loop|boot \d+|unattend pass|the agent crashed)\b")


def explaining_events(failure: str, events: Sequence[Event]) -> list[int]:
    """The seqs of the events that explain ``failure`` (an expectation's failure line, or a
    line of an explored cut's diff), in order; empty when none can be told apart."""
    match = _matcher(failure)
    return [event.seq for event in events if match(event)] if match is not None else []


def _matcher(failure: str) -> Match | None:
    failure = failure.removeprefix("expectation ")  # a cut run's unmet expectation
    subject = failure.partition(": ")[0]
    if subject.startswith("machine "):
        return _state_matcher(subject.removeprefix("machine ").split(" / "))
    if _ENDINGS.match(subject):
        return _kinds(_ENDING_KINDS)
    if subject in _KINDS:
        return _kinds(_KINDS[subject])
    if subject in _OS_CALLS:
        return _os(lambda event: event.get("call") in _OS_CALLS[subject])
    if subject.startswith(("plugins.", "plugin_runs.")):
        return _plugins({subject.partition(".")[2]})
    if subject == "failed_plugins":
        named = set(re.findall(r"'([^']*)'", failure))
        return lambda e: _plugins(named)(e) or (e.kind == "plugin_end" and not e.get("success"))
    if subject.startswith("registry "):
        key, _, name = subject.removeprefix("registry ").rpartition("\\")
        return _registry(key, name)
    if subject.startswith("requests["):
        request = _REQUEST.match(subject)
        return _requests(*request.groups()) if request else None
    if subject.startswith("script_runs["):
        return _kinds(("script",))
    section, _, rest = subject.partition(".")
    if failure.endswith(f"{subject}: does not exist"):  # services.NAME, adapters.NAME
        return _named(section, rest)
    # users.NAME.exists, files.C:\x.txt.content: the name may hold dots, the field does not.
    return _named(section, rest.rpartition(".")[0])


def _state_matcher(path: list[str]) -> Match | None:
    """A line of a cut's machine diff, by the path of the value that differs."""
    section, name = path[0], path[1] if len(path) > 1 else ""
    if section == "registry" and name:
        return _registry(name, path[2] if len(path) > 2 else None)
    if section in _OS_CALLS:
        return _os(lambda event: event.get("call") in _OS_CALLS[section])
    return _named(section, name) if name else None


def _named(section: str, name: str) -> Match | None:
    if not name:
        return None
    if section == "users":
        return _os_field(("username", "new_username"), name)
    if section == "groups":
        return _os_field(("group",), name)
    if section == "services":
        return _os_field(("service",), name)
    if section in ("files", "folders"):
        wanted = _guest_path(name)
        return _os(lambda event: _guest_path(str(event.get("path", ""))) == wanted)
    if section == "adapters":
        # Other calls have a "name" too (a registry value, a firewall rule).
        adapter = _os_field(("name", "old_name", "new_name"), name)
        return lambda e: adapter(e) and any(w in str(e.get("call")) for w in ("adapter", "network"))
    return None


def _kinds(kinds: Sequence[str]) -> Match:
    return lambda event: event.kind in kinds


def _os(match: Match) -> Match:
    return lambda event: event.kind == "os" and match(event)


def _os_field(fields: Sequence[str], value: str) -> Match:
    wanted = value.lower()
    return _os(lambda event: any(str(event.get(f, "")).lower() == wanted for f in fields))


def _plugins(names: set[str]) -> Match:
    return lambda event: event.kind in _PLUGIN_KINDS and event.get("plugin") in names


def _registry(key: str, name: str | None) -> Match:
    """Writes to the value ``name`` of ``key`` (any value of it when ``name`` is None)."""

    def match(event: Event) -> bool:
        if str(event.get("key", "")).lower() != key.lower():
            return False
        return name is None or str(event.get("name", "")).lower() == name.lower()

    return _os(match)


def _requests(method: str, path: str) -> Match:
    def match(event: Event) -> bool:
        if event.kind not in ("http", "fault"):
            return False
        same_method = method == "ANY" or event.get("method") == method
        return same_method and urlsplit(str(event.get("url", ""))).path == path

    return match


def _guest_path(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").lower()
