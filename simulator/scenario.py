"""Scenario files: load and validate a YAML story, build its machine, run it, judge it."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from guestsim.agent.config import AgentConfig, ConfigError, config_from_options, load_config
from guestsim.simulator.clouds import cloud_schema
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.overrides import Overrides

if TYPE_CHECKING:
    # Loading and listing scenarios must stay cheap: the world is imported when built.
    from guestsim.simulator.machine import AgentProgram, BootChanges, Machine, RunResult

SCENARIO_SUFFIXES = (".yaml", ".yml")


def _schema() -> dict[str, Any]:
    text = (
        resources.files("guestsim.simulator").joinpath("schemas/scenario.schema.json").read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


_VALIDATOR = jsonschema.Draft202012Validator(_schema())

# libyaml's parser, which PyYAML's wheels include, reads the library about five times
# faster than the pure-Python one and builds the same data (test_scenario_files.py).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def scenario_name(path: Path, root: Path | None = None, name: str | None = None) -> str:
    """A scenario's name wherever guestsim shows one (``list``, console lines, JUnit, JSON,
    ``diff``/``conformance``, ``trace``, ``explain``): the file's path relative to ``root``
    (the folder it was found under), without its suffix, and never less than its own
    folder and name, e.g. ``clouds/openstack-happy-path``. So a bundled scenario has the
    same name whether the library, its folder or the file was named. ``name`` (the
    scenario's ``name:``) replaces the file's stem."""
    path = _absolute(path)
    folders: tuple[str, ...] = ()
    if root is not None:
        try:
            folders = path.parent.relative_to(_absolute(root)).parts
        except ValueError:
            folders = ()
    if not folders and path.parent.name:
        folders = (path.parent.name,)
    return "/".join([*folders, name or path.stem])


def _absolute(path: str | Path) -> Path:
    """The absolute path, ``..`` taken lexically: names never depend on symbolic links."""
    return Path(os.path.normpath(Path(path).absolute()))


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    data: dict[str, Any]
    conf: AgentConfig
    # The folder the file was found under (``discover_roots``); None: its own folder.
    root: Path | None = None

    @property
    def seed(self) -> int:
        seed: int = self.data.get("seed", 0)
        return seed

    @property
    def qualified_name(self) -> str:
        """The name every report and ``guestsim list`` show (``scenario_name``)."""
        return scenario_name(self.path, self.root, self.name)

    @property
    def folder(self) -> str:
        """The folders of ``qualified_name``, e.g. ``clouds``."""
        return self.qualified_name.rpartition("/")[0]

    @property
    def cloud_type(self) -> str:
        """The simulated cloud's type, or "none" when no cloud answers."""
        cloud_type: str = (self.data.get("cloud") or {}).get("type", "none")
        return cloud_type

    @property
    def overridable(self) -> tuple[str, ...]:
        return tuple(self.data.get("overridable", ()))

    @property
    def agent_program(self) -> tuple[str, Path | None]:
        """Which agent runs (``guestsim`` or ``upstream``) and, for upstream, the source
        folder of a checkout or fork (None: the installed package)."""
        agent = self.data.get("agent") or {}
        source = agent.get("source")
        return agent.get("program", "guestsim"), (self.path.parent / source) if source else None

    @property
    def expectations(self) -> dict[str, Any]:
        """What the run must show: the story's ``expect``, with ``upstream.expect`` on top
        when the published agent runs it."""
        expect: dict[str, Any] = self.data["expect"]
        if self.agent_program[0] == "upstream" and "upstream" in self.data:
            return {**expect, **self.data["upstream"]["expect"]}
        return expect

    @property
    def upstream_difference(self) -> str | None:
        """Why the published agent's run of this story differs (``upstream.reason``)."""
        upstream = self.data.get("upstream")
        return str(upstream["reason"]) if upstream else None

    def agent_options(self) -> list[str]:
        """The command-line options that run this scenario's agent, for replay commands."""
        program, source = self.agent_program
        if program == "guestsim":
            return []
        return ["--agent", program, *(["--agent-source", source.as_posix()] if source else [])]

    def with_agent(self, program: str, source: Path | None = None) -> Scenario:
        """The same scenario run by another agent (``guestsim run --agent``)."""
        agent = {**(self.data.get("agent") or {}), "program": program}
        agent.pop("source", None)
        if source is not None:
            agent["source"] = str(source.resolve())
        return dataclasses.replace(self, data={**self.data, "agent": agent})

    def skip_reason(self, overrides: Overrides) -> str | None:
        """Why this scenario cannot run with ``overrides``, or None when it can."""
        refused = [part for part in overrides.parts if part not in self.overridable]
        if refused:
            return f"its story does not take a user's {' or '.join(refused)}"
        return None

    def effective_conf(self, overrides: Overrides | None = None) -> AgentConfig:
        """The scenario's configuration, or the user's with the options this story keeps
        (``agent.keep``) and the scenario's own endpoints (``ENDPOINT_OPTIONS``)."""
        if overrides is None or overrides.conf is None:
            return self.conf
        kept = self._kept_endpoints(overrides.conf)
        for option in self.data["agent"].get("keep", []):
            group, _, name = option.rpartition(".")
            group = group or "DEFAULT"
            kept.setdefault(group, {})[name] = self.conf.get(name, group)
        return overrides.conf.with_overrides(kept)

    def effective_unattend_conf(self, overrides: Overrides | None = None) -> AgentConfig | None:
        """The user's unattend configuration (``--unattend-conf``) with the scenario's own
        endpoints (``ENDPOINT_OPTIONS``); None when there is none."""
        if overrides is None or overrides.unattend_conf is None:
            return None
        return overrides.unattend_conf.with_overrides(self._kept_endpoints(overrides.unattend_conf))

    def replaced_endpoints(self, overrides: Overrides | None) -> list[str]:
        """The user's endpoint options this scenario runs with its own values instead, as
        ``[group] name`` (for messages). An option the user's conf leaves at its default is
        not the user's: it is not named."""
        confs = [] if overrides is None else [overrides.conf, overrides.unattend_conf]
        return sorted(
            {
                f"[{group}] {name}"
                for conf in confs
                if conf is not None
                for group, names in self._kept_endpoints(conf).items()
                for name in names
                if conf.is_set(name, group)
            }
        )

    def _kept_endpoints(self, conf: AgentConfig) -> dict[str, dict[str, Any]]:
        kept: dict[str, dict[str, Any]] = {}
        for group, name in ENDPOINT_OPTIONS:
            own = self.conf.get(name, group)
            if conf.get(name, group) != own:
                kept.setdefault(group, {})[name] = own
        return kept

    def build_machine(
        self,
        seed: int | None = None,
        transport: str = "inprocess",
        overrides: Overrides | None = None,
        agent: AgentProgram | None = None,
    ) -> Machine:
        """The scenario's world (machine, clouds, DHCP, faults), powered off."""
        from guestsim.simulator.world import agent_program, build_machine

        return build_machine(self, seed, transport, overrides, agent or agent_program(self))

    def check(self, result: RunResult, conf: AgentConfig | None = None) -> list[str]:
        conf = conf or self.conf
        expect = self.expectations
        if result.unattend is not None:
            # An unattend pass may do the story's work (and its reboot) during sysprep, so
            # the number of normal boots no longer says anything about the story.
            expect = {key: value for key, value in expect.items() if key != "boots"}
        from guestsim.simulator.expectations import check_expectations

        failures = check_expectations(expect, result)
        # Say so when the configuration explains a failure: with a user's conf that is the
        # usual reason.
        hints = _ConfHints(conf, expect, result)
        return [
            f"{failure} ({hint})" if (hint := hints.explain(failure)) else failure
            for failure in failures
        ]


def load_scenario(path: str | Path, root: str | Path | None = None) -> Scenario:
    """Load and validate a scenario file; ``root`` is the folder it was found under, which
    its ``qualified_name`` is relative to (``discover_roots``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise ScenarioError(str(path), f"cannot read: {ex}") from ex
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(ex, "problem", None) or str(ex)
        raise ScenarioError(str(path), f"{where}invalid YAML: {problem}") from ex
    if not isinstance(data, dict):
        raise ScenarioError(str(path), "a scenario must be a YAML mapping")
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        field = _field_path(error)
        message = error.message
        if field == "expect" and error.validator == "minProperties":
            # A scenario that only counts boots would pass for almost any agent.
            message = "needs 'boots' and at least one more expectation"
        raise ScenarioError(str(path), message, field)
    if data.get("cloud"):
        _validate_cloud(path, data["cloud"])
    _validate_guest_paths(path, data)
    return Scenario(
        name=data.get("name", path.stem),
        path=path,
        description=data["description"],
        data=data,
        conf=_load_agent_config(path, data["agent"]),
        root=None if root is None else Path(root),
    )


@functools.cache
def _cloud_validator(cloud_type: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(cloud_schema(cloud_type))


def _validate_cloud(path: Path, spec: dict[str, Any]) -> None:
    error = jsonschema.exceptions.best_match(_cloud_validator(spec["type"]).iter_errors(spec))
    if error is not None:
        parts = ["cloud", *(str(part) for part in error.absolute_path)]
        raise ScenarioError(str(path), error.message, ".".join(parts))


def _validate_guest_paths(path: Path, data: dict[str, Any]) -> None:
    """A guest path in the scenario the simulated Windows has no model of (``NUL``, a
    share, a stream) is the scenario's error, not a gap found mid-run."""
    from guestsim.simulator.windows.filesystem import not_modelled_reason

    machine, expect = data.get("machine") or {}, data.get("expect") or {}
    for field, paths in (
        ("machine.files", machine.get("files") or {}),
        ("expect.files", expect.get("files") or {}),
        ("expect.folders", expect.get("folders") or {}),
    ):
        for guest_path in paths:
            reason = not_modelled_reason(str(guest_path))
            if reason is not None:
                raise ScenarioError(
                    str(path), f"{reason}: not modelled by the simulated Windows", field
                )


def _load_agent_config(path: Path, spec: dict[str, Any]) -> AgentConfig:
    try:
        if "conf" in spec:
            conf = load_config(path.parent / spec["conf"])
            if "options" in spec:
                conf = conf.with_overrides(spec["options"])
            return conf
        return config_from_options(spec.get("options", {}), f"{path}: agent.options")
    except ConfigError as ex:
        raise ScenarioError(str(path), str(ex), "agent") from ex


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files named directly or found (recursively, sorted) under folders."""
    return [path for path, _ in discover_roots(paths)]


def discover_roots(paths: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """``discover``, each file with the folder its name is relative to (``scenario_name``):
    the folder named, or a file's own folder. When two different files would get one name
    (``a/x/scenario.yaml`` and ``b/x/scenario.yaml`` named as ``a`` and ``b``), their
    folders widen, a parent at a time, until the names differ."""
    found: list[tuple[Path, Path]] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            found.extend(
                (p, entry)
                for p in sorted(
                    (p for p in entry.rglob("*") if p.suffix in SCENARIO_SUFFIXES),
                    key=lambda p: p.as_posix(),
                )
            )
        elif entry.is_file():
            found.append((entry, entry.parent))
        else:
            raise ScenarioError(str(entry), "no such file or folder")
    while True:
        named: dict[str, set[str]] = {}
        for path, root in found:
            # x.yaml beside x.yml: one name, which no wider folder would tell apart.
            stem = _absolute(path).with_suffix("").as_posix()
            named.setdefault(scenario_name(path, root), set()).add(stem)
        widened = False
        for number, (path, root) in enumerate(found):
            folder = _absolute(root)
            if len(named[scenario_name(path, root)]) > 1 and folder.parent != folder:
                found[number] = (path, folder.parent)
                widened = True
        if not widened:
            return found


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario: Scenario
    result: RunResult
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    def record(self) -> RunRecord:
        """What the reports keep of this run."""
        return RunRecord(
            self.scenario,
            self.failures,
            self.result.boot_count,
            self.result.trace.to_jsonl(),
            self.result.state_changes,
        )


@dataclass(frozen=True)
class RunRecord:
    """A scenario's verdict, boots and trace: small and picklable, so it can come back
    from a worker process (``guestsim run --jobs``) exactly as a run in this one gives it."""

    scenario: Scenario
    failures: list[str]
    boot_count: int
    trace_jsonl: str
    # What each power-on changed, when the run kept it (``run_scenario(keep_states=True)``).
    state_changes: list[BootChanges] | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def _plugin_named(failure: str) -> str | None:
    for prefix in ("plugins.", "plugin_runs."):
        if failure.startswith(prefix):
            return failure[len(prefix) :].split(":", 1)[0]
    return None


# Options that say where the agent finds the scenario's cloud: every cloud's address,
# CloudStack's password server port and the VMware guestinfo tool. A user's conf points them
# at the user's own infrastructure (a real cloud, a mock on localhost), which the simulated
# world does not have; with ``--conf`` they keep the scenario's values, like ``agent.keep``.
ENDPOINT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("openstack", "metadata_base_url"),
    ("ec2", "metadata_base_url"),
    ("cloudstack", "metadata_base_url"),
    ("cloudstack", "password_server_port"),
    ("maas", "metadata_base_url"),
    ("packet", "metadata_base_url"),
    ("gce", "metadata_base_url"),
    ("oraclecloud", "metadata_base_url"),
    ("vmwareguestinfo", "vmware_rpctool_path"),
)

# The configuration group of each HTTP metadata service's address.
_SERVICE_GROUPS = {
    "HttpService": "openstack",
    "EC2Service": "ec2",
    "CloudStack": "cloudstack",
    "MaaSHttpService": "maas",
    "PacketService": "packet",
    "GCEService": "gce",
    "OracleCloudService": "oraclecloud",
}
# Metadata services that read a config drive found by [config_drive] types and locations.
_DRIVE_SERVICES = ("ConfigDriveService", "NoCloudConfigDriveService")
_COUNT = re.compile(r": expected (?:at least )?(\d+)(?: [a-z()]+)?, got (\d+|none)")


def _plugin_behind(field: str) -> str | None:
    """The plugin that makes the change an expectation on ``field`` looks for."""
    if field in ("computer_name", "pending_computer_name"):
        return "SetHostNamePlugin"
    if field.startswith("adapters.") and field.endswith(".mtu"):
        return "MTUPlugin"
    if field == "ntp_peers" or field.startswith("services.w32time."):
        return "NTPClientPlugin"
    if field.startswith("users.") and field.endswith(".exists"):
        return "CreateUserPlugin"
    return None


def _came_up_short(failure: str) -> bool:
    """A count expectation ("expected 2 request(s), got 1") that got fewer."""
    counts = _COUNT.search(failure)
    return counts is not None and counts[2] != "none" and int(counts[2]) < int(counts[1])


class _ConfHints:
    """Why a failed expectation may come from the configuration the agent ran with."""

    def __init__(self, conf: AgentConfig, expect: dict[str, Any], result: RunResult) -> None:
        self.conf = conf
        self.expect = expect
        self.result = result
        self.no_reboot = not conf.get("allow_reboot")
        # Fewer boots than the story needs: everything counted per boot comes up short.
        self.short_of_boots = self.no_reboot and result.boot_count < expect.get("boots", 0)
        self.plugins = {path.rpartition(".")[2] for path in conf.get("plugins")}
        self.services = {path.rpartition(".")[2] for path in conf.get("metadata_services")}

    def explain(self, failure: str) -> str | None:
        field = failure.partition(":")[0]
        plugin = _plugin_named(failure) or _plugin_behind(field)
        if plugin and plugin not in self.plugins:
            return f"the configuration does not list {plugin}"
        if field == "boots" and self.short_of_boots:
            return "the configuration has allow_reboot = false"
        if field in ("computer_name", "pending_computer_name"):
            return self._pending_name()
        if field == "metadata_service":
            return self._metadata_service()
        if field == "config_drive_found":
            return self._config_drive()
        if (switched_off := self._option_behind(field)) is not None:
            return switched_off
        counted = field.startswith(("requests[", "plugin_runs.", "script_runs["))
        if self.short_of_boots and counted and _came_up_short(failure):
            return "fewer boots than the story needs: the configuration has allow_reboot = false"
        return None

    def _option_behind(self, field: str) -> str | None:
        """An option of the configuration that keeps the plugin from making the change."""
        if field.startswith("adapters.") and field.endswith(".mtu"):
            if not self.conf.get("mtu_use_dhcp_config"):
                return "the configuration has mtu_use_dhcp_config = false"
        elif field == "ntp_peers":
            if not self.conf.get("ntp_use_dhcp_config"):
                return "the configuration has ntp_use_dhcp_config = false"
        elif field.startswith("users.") and field.endswith(".exists"):
            user = field.removeprefix("users.").removesuffix(".exists")
            username = self.conf.get("username") or ""
            wanted = (self.expect.get("users") or {}).get(user)
            created = isinstance(wanted, dict) and wanted.get("exists")
            # The agent created the conf's user instead (no name from the metadata).
            made = username and self.result.state.find_user(username) is not None
            if created and made and user.lower() != username.lower():
                return f"the configuration's username is {username!r}"
        return None

    def _pending_name(self) -> str | None:
        pending = self.result.state.pending_computer_name
        if not self.no_reboot or pending is None:
            return None
        return (
            f"the name {pending!r} waits for a reboot, but the configuration has "
            "allow_reboot = false"
        )

    def _metadata_service(self) -> str | None:
        wanted = self.expect.get("metadata_service")
        if not wanted:
            return None
        if wanted not in self.services:
            return f"the configuration's metadata_services does not list {wanted}"
        if wanted in _DRIVE_SERVICES:
            return self._config_drive()
        group = _SERVICE_GROUPS.get(wanted)
        served = {cloud.base_url.rstrip("/") for cloud in self.result.clouds}
        configured = self.conf.get("metadata_base_url", group) if group else None
        if configured and served and configured.rstrip("/") not in served:
            where = ", ".join(sorted(f"{url}/" for url in served))
            return (
                f"the configuration's [{group}] metadata_base_url is {configured}, but the "
                f"scenario's cloud answers at {where}"
            )
        return None

    def _config_drive(self) -> str | None:
        drive = self.expect.get("config_drive_found")
        if not drive:
            return None
        from guestsim.agent.configdrive.finder import ConfigDriveSearchError, configured_search

        try:
            searched = configured_search(self.conf)
        except ConfigDriveSearchError as ex:
            return f"the configuration's config drive search is invalid: {ex}"
        kind, _, location = drive.partition("/")
        if (kind, location) in searched:
            return None
        types = sorted({t for t, _ in searched})
        locations = sorted({place for _, place in searched})
        return (
            f"the configuration searches {', '.join(types) or 'no'} drives in "
            f"{', '.join(locations) or 'no place'}, not {drive}: see [config_drive] types, "
            "locations, raw_hdd, cdrom, vfat"
        )


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    transport: str = "inprocess",
    overrides: Overrides | None = None,
    agent: AgentProgram | None = None,
    keep_states: bool = False,
) -> ScenarioOutcome:
    """Run the scenario and judge it; ``keep_states``: keep what each boot changed in the
    machine's state (``RunResult.state_changes``), at two snapshots a boot."""
    machine = scenario.build_machine(seed, transport, overrides, agent)
    machine.keep_states = keep_states
    result = machine.run()
    return ScenarioOutcome(
        scenario, result, scenario.check(result, scenario.effective_conf(overrides))
    )


def run_all(paths: Sequence[Path], seed: int | None = None) -> list[ScenarioOutcome]:
    return [run_scenario(load_scenario(path), seed) for path in paths]
