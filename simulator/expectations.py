"""Judging a run: a scenario's ``expect`` block against the final state and the trace."""

from __future__ import annotations

import enum
import fnmatch
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from guestsim.agent.init import plugin_status_section
from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.registry import RegistryError
from guestsim.simulator.windows.state import AGENT_KEY

_STATUS_NAMES = {PLUGIN_EXECUTION_DONE: "done", PLUGIN_EXECUTE_ON_NEXT_BOOT: "next_boot"}


def outcome_of(result: RunResult) -> str:
    if result.reboot_loop:
        return "reboot_loop"
    last = result.boots[-1].outcome if result.boots else "stopped"
    return last if last in ("crashed", "not_modelled", "hung") else "stopped"


def _mismatch(field: str, expected: Any, actual: Any) -> str:
    return f"{field}: expected {expected!r}, got {actual!r}"


def _last_event_field(result: RunResult, kind: str, name: str) -> Any:
    events = result.trace.of_kind(kind)
    return events[-1].get(name) if events else None


def _registry_value(result: RunResult, key: str, name: str) -> Any:
    try:
        return result.state.registry.get_value(key, name).data
    except RegistryError:
        return None


def _check_plugins(expected: dict[str, str], result: RunResult, instance_id: Any) -> list[str]:
    failures = []
    key = f"{AGENT_KEY}\\{plugin_status_section(instance_id).replace('/', chr(92))}"
    for plugin, want in sorted(expected.items()):
        value = _registry_value(result, key, plugin)
        got = "absent" if value is None else _STATUS_NAMES.get(value, f"unknown value {value!r}")
        if got != want:
            failures.append(_mismatch(f"plugins.{plugin}", want, got))
    return failures


def _check_users(expected: dict[str, dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    for name, want in sorted(expected.items()):
        user = result.state.find_user(name)
        exists = user is not None
        if want.get("exists", True) != exists:
            failures.append(_mismatch(f"users.{name}.exists", want.get("exists", True), exists))
            continue
        if user is None:
            continue
        groups = sorted(
            g.name for g in result.state.groups if any(m.lower() == name.lower() for m in g.members)
        )
        missing = [g for g in want.get("groups", []) if g.lower() not in map(str.lower, groups)]
        if missing:
            failures.append(f"users.{name}.groups: not a member of {missing}; member of {groups}")
        if "password_expired" in want and want["password_expired"] != user.password_expired:
            failures.append(
                _mismatch(
                    f"users.{name}.password_expired",
                    want["password_expired"],
                    user.password_expired,
                )
            )
        if "has_password" in want and want["has_password"] != bool(user.password):
            failures.append(
                _mismatch(f"users.{name}.has_password", want["has_password"], bool(user.password))
            )
    return failures


def _check_requests(expected: list[dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    recorded = [request for cloud in result.clouds for request in cloud.requests]
    for index, want in enumerate(expected):
        matching = [
            r
            for r in recorded
            if r.path == want["path"]
            and r.method == want.get("method", r.method)
            and r.status == want.get("status", r.status)
            and all(r.header(name) == value for name, value in want.get("headers", {}).items())
        ]
        label = f"requests[{index}] {want.get('method', 'ANY')} {want['path']}"
        if want.get("headers"):
            label += f" with {want['headers']}"
        if "count" in want:
            if len(matching) != want["count"]:
                failures.append(
                    f"{label}: expected {want['count']} request(s), got {len(matching)}"
                )
        elif not matching:
            failures.append(f"{label}: expected at least one request, got none")
    return failures


def _check_registry(expected: list[dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    for want in expected:
        value = _registry_value(result, want["key"], want["name"])
        label = f"registry {want['key']}\\{want['name']}"
        if want.get("absent"):
            if value is not None:
                failures.append(f"{label}: expected absent, got {value!r}")
        elif value != want.get("data"):
            failures.append(_mismatch(label, want.get("data"), value))
    return failures


# Expectation fields named otherwise than the state's attribute.
_ATTRIBUTES = {"dhcp": "dhcp_enabled"}


def _check_objects(
    section: str, expected: dict[str, dict[str, Any]], find: Callable[[str], Any]
) -> list[str]:
    failures = []
    for name, fields in sorted(expected.items()):
        item = find(name)
        if item is None:
            failures.append(f"{section}.{name}: does not exist")
            continue
        for field, want in sorted(fields.items()):
            got = getattr(item, _ATTRIBUTES.get(field, field))
            if got != want:
                failures.append(_mismatch(f"{section}.{name}.{field}", want, got))
    return failures


def _check_script_runs(expected: list[dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    scripts = result.state.scripts
    for index, want in enumerate(expected):
        interpreter = want.get("interpreter")
        runs = scripts.runs_matching(want["match"], interpreter)
        label = f"script_runs[{index}] {want['match']!r}"
        if interpreter:
            label += f" ({interpreter})"
        ran = [f"{run.interpreter} {run.path}" for run in scripts.runs]
        if "count" in want:
            if len(runs) != want["count"]:
                failures.append(
                    f"{label}: expected {want['count']} run(s), got {len(runs)} (runs: {ran})"
                )
        elif not runs:
            failures.append(f"{label}: expected at least one run, got none (runs: {ran})")
    return failures


def _check_files(expected: dict[str, dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    files = result.state.files
    for path, want in sorted(expected.items()):
        exists = files.exists(path) and not files.is_dir(path)
        if want.get("exists", True) != exists:
            failures.append(_mismatch(f"files.{path}.exists", want.get("exists", True), exists))
            continue
        if exists and "content" in want:
            content = files.read(path).decode("utf-8", "replace")
            if content != want["content"]:
                failures.append(_mismatch(f"files.{path}.content", want["content"], content))
    return failures


def _check_folders(expected: dict[str, dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    files = result.state.files
    for path, want in sorted(expected.items()):
        exists = files.is_dir(path)
        if want.get("exists", True) != exists:
            failures.append(_mismatch(f"folders.{path}.exists", want.get("exists", True), exists))
    return failures


def _check_groups(expected: dict[str, dict[str, Any]], result: RunResult) -> list[str]:
    failures = []
    for name, want in sorted(expected.items()):
        group = result.state.find_group(name)
        exists = group is not None
        if want.get("exists", True) != exists:
            failures.append(_mismatch(f"groups.{name}.exists", want.get("exists", True), exists))
            continue
        if group is not None and "members" in want:
            wanted = sorted(want["members"], key=str.lower)
            members = sorted(group.members, key=str.lower)
            if [m.lower() for m in wanted] != [m.lower() for m in members]:
                failures.append(_mismatch(f"groups.{name}.members", wanted, members))
    return failures


def log_matches(pattern: str, line: str) -> bool:
    """A ``log`` pattern: a glob (``*``, ``?``, ``[...]``) found anywhere in the line,
    ignoring case."""
    return fnmatch.fnmatchcase(line.lower(), f"*{pattern.lower()}*")


def _check_log(expected: dict[str, list[str]], result: RunResult) -> list[str]:
    failures = []
    for pattern in expected.get("present", []):
        if not any(log_matches(pattern, line) for line in result.log):
            failures.append(f"log.present: no log line matches {pattern!r}")
    for pattern in expected.get("absent", []):
        matching = [line for line in result.log if log_matches(pattern, line)]
        if matching:
            failures.append(
                f"log.absent: {len(matching)} log line(s) match {pattern!r}, "
                f"the first: {matching[0]!r}"
            )
    return failures


_MISSING = object()


def _resolve(root: Any, path: str) -> Any:
    """Follow ``a.b.c`` through attributes, mapping keys (case-insensitive) and list indexes."""
    value = root
    for part in path.split("."):
        if isinstance(value, dict):
            matches = [key for key in value if str(key).lower() == part.lower()]
            value = value[matches[0]] if matches else _MISSING
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            value = getattr(value, part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _check_state(expected: dict[str, Any], result: RunResult) -> list[str]:
    failures = []
    for path, want in expected.items():
        got = _resolve(result.state, path)
        if got is _MISSING:
            failures.append(f"state.{path}: no such field in the final machine state")
        elif _plain(got) != want:
            failures.append(_mismatch(f"state.{path}", want, _plain(got)))
    return failures


def check_expectations(expect: dict[str, Any], result: RunResult) -> list[str]:
    """Every unmet expectation as one readable line; empty when the run passed."""
    failures: list[str] = []
    trace = result.trace
    outcome = outcome_of(result)
    want_outcome = expect.get("outcome", "stopped")
    if outcome != want_outcome:
        detail = "; ".join(result.findings)
        failures.append(
            _mismatch("outcome", want_outcome, outcome) + (f" ({detail})" if detail else "")
        )
    if "boots" in expect and result.boot_count != expect["boots"]:
        failures.append(_mismatch("boots", expect["boots"], result.boot_count))
    for finding in expect.get("findings", []):
        if not any(finding in actual for actual in result.findings):
            failures.append(f"findings: no finding mentions {finding!r} (got {result.findings})")
    state = result.state
    if "computer_name" in expect and expect["computer_name"] != state.computer_name:
        failures.append(_mismatch("computer_name", expect["computer_name"], state.computer_name))
    if "pending_computer_name" in expect and (
        expect["pending_computer_name"] != state.pending_computer_name
    ):
        failures.append(
            _mismatch(
                "pending_computer_name",
                expect["pending_computer_name"],
                state.pending_computer_name,
            )
        )
    service_name = _last_event_field(result, "metadata_service", "name")
    if "metadata_service" in expect and expect["metadata_service"] != service_name:
        failures.append(_mismatch("metadata_service", expect["metadata_service"], service_name))
    instance_id = expect.get(
        "instance_id", _last_event_field(result, "metadata_service", "instance_id")
    )
    failures += _check_plugins(expect.get("plugins", {}), result, instance_id)
    runs = Counter(str(e.get("plugin")) for e in trace.of_kind("plugin_start"))
    for plugin, count in sorted(expect.get("plugin_runs", {}).items()):
        if runs[plugin] != count:
            failures.append(_mismatch(f"plugin_runs.{plugin}", count, runs[plugin]))
    if "failed_plugins" in expect:
        failed = sorted(
            {str(e.get("plugin")) for e in trace.of_kind("plugin_end") if not e.get("success")}
        )
        if sorted(expect["failed_plugins"]) != failed:
            failures.append(_mismatch("failed_plugins", sorted(expect["failed_plugins"]), failed))
    if "provisioning" in expect:
        reported = [e.get("state") for e in trace.of_kind("provisioning_report")]
        if reported != expect["provisioning"]:
            failures.append(_mismatch("provisioning", expect["provisioning"], reported))
    failures += _check_users(expect.get("users", {}), result)
    failures += _check_groups(expect.get("groups", {}), result)
    failures += _check_objects("adapters", expect.get("adapters", {}), state.find_adapter)
    failures += _check_objects("services", expect.get("services", {}), state.find_service)
    if "ntp_peers" in expect and expect["ntp_peers"] != state.ntp_peers:
        failures.append(_mismatch("ntp_peers", expect["ntp_peers"], state.ntp_peers))
    failures += _check_registry(expect.get("registry", []), result)
    failures += _check_state(expect.get("state", {}), result)
    failures += _check_requests(expect.get("requests", []), result)
    failures += _check_script_runs(expect.get("script_runs", []), result)
    failures += _check_files(expect.get("files", {}), result)
    failures += _check_folders(expect.get("folders", {}), result)
    failures += _check_log(expect.get("log", {}), result)
    searches = trace.of_kind("config_drive_search")
    if "config_drive_found" in expect:
        found = [
            f"{e.get('type')}/{e.get('location')}" for e in searches if e.get("result") == "found"
        ]
        got = found[-1] if found else None
        if got != expect["config_drive_found"]:
            failures.append(_mismatch("config_drive_found", expect["config_drive_found"], got))
    errors = [str(e.get("error")) for e in searches if e.get("result") == "error"]
    for fragment in expect.get("config_drive_errors", []):
        if not any(fragment in error for error in errors):
            failures.append(
                f"config_drive_errors: no search error mentions {fragment!r} (got {errors})"
            )
    if "faults_injected" in expect:
        injected = len(trace.of_kind("fault"))
        if injected != expect["faults_injected"]:
            failures.append(_mismatch("faults_injected", expect["faults_injected"], injected))
    if "virtual_seconds_at_least" in expect:
        last_ms = trace.events[-1].t_ms if trace.events else 0
        if last_ms / 1000 < expect["virtual_seconds_at_least"]:
            failures.append(
                f"virtual time: expected at least {expect['virtual_seconds_at_least']} s, "
                f"got {last_ms / 1000} s"
            )
    return failures
