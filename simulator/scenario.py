"""Scenario files: load and validate a YAML story, build its machine, run it, judge it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from agent.config import AgentConfig, ConfigError, config_from_options, load_config
from simulator.clouds import (
    CloudApp,
    DocumentSource,
    attach_to_machine,
    build_clouds,
    cloud_schema,
)
from simulator.dhcp import DhcpServer, encode_ipv4_list, encode_mtu
from simulator.drives import attach_media
from simulator.errors import ScenarioError
from simulator.expectations import check_expectations
from simulator.faults import DEFAULT_HANG_BUDGET_S, Fault
from simulator.machine import DEFAULT_MAX_BOOTS, Machine, RunResult
from simulator.overrides import OverrideError, Overrides
from simulator.windows.processes import install_vmware_tools
from simulator.windows.registry import RegType
from simulator.windows.scripts import ScriptDeclaration, declaration_from_spec
from simulator.windows.state import (
    TIME_ZONE_KEY,
    NetworkAdapter,
    UserAccount,
    WindowsState,
    default_windows_state,
)

SCENARIO_SUFFIXES = (".yaml", ".yml")
_PRODUCT_TYPES = {"workstation": 1, "domain_controller": 2, "server": 3}


def _schema() -> dict[str, Any]:
    text = resources.files("simulator").joinpath("schemas/scenario.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


_VALIDATOR = jsonschema.Draft202012Validator(_schema())


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    data: dict[str, Any]
    conf: AgentConfig

    @property
    def seed(self) -> int:
        seed: int = self.data.get("seed", 0)
        return seed

    @property
    def folder(self) -> str:
        return self.path.parent.name

    @property
    def cloud_type(self) -> str:
        """The simulated cloud's type, or "none" when no cloud answers."""
        cloud_type: str = (self.data.get("cloud") or {}).get("type", "none")
        return cloud_type

    @property
    def overridable(self) -> tuple[str, ...]:
        return tuple(self.data.get("overridable", ()))

    def skip_reason(self, overrides: Overrides) -> str | None:
        """Why this scenario cannot run with ``overrides``, or None when it can."""
        refused = [part for part in overrides.parts if part not in self.overridable]
        if refused:
            return f"its story does not take a user's {' or '.join(refused)}"
        return None

    def effective_conf(self, overrides: Overrides | None = None) -> AgentConfig:
        """The scenario's configuration, or the user's with the options this story keeps."""
        if overrides is None or overrides.conf is None:
            return self.conf
        kept: dict[str, dict[str, Any]] = {}
        for option in self.data["agent"].get("keep", []):
            group, _, name = option.rpartition(".")
            group = group or "DEFAULT"
            kept.setdefault(group, {})[name] = self.conf.get(name, group)
        return overrides.conf.with_overrides(kept)

    def build_machine(
        self,
        seed: int | None = None,
        transport: str = "inprocess",
        overrides: Overrides | None = None,
    ) -> Machine:
        overrides = overrides or Overrides()
        conf = self.effective_conf(overrides)
        state = self._build_state()
        if overrides.local_scripts:
            folder = conf.get("local_scripts_path")
            if not folder:
                raise OverrideError(
                    f"{self.path}: --local-scripts needs local_scripts_path in the configuration"
                )
            state.files.make_dirs(folder.rstrip("\\"))
            for name, data in overrides.local_scripts.items():
                state.files.write(f"{folder.rstrip(chr(92))}\\{name}", data)
        return Machine(
            conf,
            state=state,
            clouds=self._build_clouds(overrides.user_data),
            unattend_conf=overrides.unattend_conf,
            dhcp_servers=self._build_dhcp(),
            seed=self.seed if seed is None else seed,
            max_boots=self.data.get("max_boots", DEFAULT_MAX_BOOTS),
            faults=[Fault.from_spec(spec) for spec in self.data.get("faults", [])],
            transport=transport,
            hang_budget_s=self.data.get("hang_budget_s", DEFAULT_HANG_BUDGET_S),
        )

    def _build_state(self) -> WindowsState:
        state = default_windows_state()
        spec: dict[str, Any] = self.data.get("machine") or {}
        if "computer_name" in spec:
            state.computer_name = spec["computer_name"]
        if "os_version" in spec:
            numbers = [int(part) for part in spec["os_version"].split(".")]
            state.version.major, state.version.minor = numbers[0], numbers[1]
            state.version.build = numbers[2] if len(numbers) > 2 else 0
        if "product_type" in spec:
            state.version.product_type = _PRODUCT_TYPES[spec["product_type"]]
        if "rtc_utc" in spec:
            state.registry.set_value(
                TIME_ZONE_KEY, "RealTimeIsUniversal", int(spec["rtc_utc"]), RegType.REG_DWORD
            )
        if "sysprep_seconds" in spec and spec["sysprep_seconds"] > 0:
            state.sysprep_remaining_s = spec["sysprep_seconds"]
            state.registry.set_value(
                "HKLM\\SYSTEM\\Setup\\Status\\SysprepStatus",
                "GeneralizationState",
                3,
                RegType.REG_DWORD,
            )
        for user in spec.get("users", []):
            if state.find_user(user["name"]) is not None:
                raise ScenarioError(str(self.path), "user already exists", "machine.users")
            state.users.append(UserAccount(user["name"], state.next_rid(), user.get("password")))
            for group_name in user.get("groups", []):
                group = state.find_group(group_name)
                if group is None:
                    raise ScenarioError(
                        str(self.path), f"no local group {group_name!r}", "machine.users.groups"
                    )
                group.members.append(user["name"])
        if "adapters" in spec:
            state.adapters = [
                NetworkAdapter(
                    adapter["name"],
                    adapter["mac"].lower().replace("-", ":"),
                    adapter["address"],
                    dhcp_server=adapter.get("dhcp_server"),
                    dhcp_enabled="dhcp_server" in adapter,
                    mtu=adapter.get("mtu", 1500),
                )
                for adapter in spec["adapters"]
            ]
        if "agent_account" in spec:
            agent_service = state.find_service("cloudbase-init")
            assert agent_service is not None
            agent_service.account = spec["agent_account"]
        if "guestinfo" in spec:
            install_vmware_tools(state, {k: v.encode() for k, v in spec["guestinfo"].items()})
        if "media" in spec:
            attach_media(state, spec["media"], self.path)
        cloud = self.data.get("cloud")
        if cloud:
            attach_to_machine(state, DocumentSource(cloud["type"], cloud, self.path))
        for guest_path, content in spec.get("files", {}).items():
            folder = guest_path.rsplit("\\", 1)[0]
            if folder and folder != guest_path:
                state.files.make_dirs(folder)
            state.files.write(guest_path, content.encode("utf-8"))
        state.scripts.declarations = self._build_script_declarations()
        return state

    def _build_script_declarations(self) -> list[ScriptDeclaration]:
        declarations = []
        for index, spec in enumerate(self.data.get("scripts", [])):
            try:
                declarations.append(declaration_from_spec(spec, index))
            except ValueError as ex:
                raise ScenarioError(str(self.path), str(ex), f"scripts.{index}") from ex
        names = [declaration.name for declaration in declarations]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ScenarioError(
                    str(self.path), f"duplicate script name {name!r}", f"scripts.{index}.name"
                )
        return declarations

    def _build_dhcp(self) -> list[DhcpServer]:
        servers = []
        for spec in self.data.get("dhcp", []):
            options: dict[int, bytes] = {}
            if "mtu" in spec:
                options[26] = encode_mtu(spec["mtu"])
            if "ntp_servers" in spec:
                options[42] = encode_ipv4_list(spec["ntp_servers"])
            if "wireserver" in spec:
                options[245] = encode_ipv4_list([spec["wireserver"]])
            servers.append(DhcpServer(spec["address"], options, spec.get("responds", True)))
        return servers

    def _build_clouds(self, user_data: bytes | None = None) -> list[CloudApp]:
        spec = self.data.get("cloud")
        if not spec:
            return []
        if user_data is not None:
            spec = {key: value for key, value in spec.items() if key != "user_data_file"}
            spec["user_data"] = user_data
        return build_clouds(DocumentSource(spec["type"], spec, self.path))

    def _read(self, field: str, relative: str) -> bytes:
        target = self.path.parent / relative
        try:
            return target.read_bytes()
        except OSError as ex:
            raise ScenarioError(str(self.path), f"cannot read {relative}: {ex}", field) from ex

    def check(self, result: RunResult, conf: AgentConfig | None = None) -> list[str]:
        conf = conf or self.conf
        expect = self.data["expect"]
        if result.unattend is not None:
            # An unattend pass may do the story's work (and its reboot) during sysprep, so
            # the number of normal boots no longer says anything about the story.
            expect = {key: value for key, value in expect.items() if key != "boots"}
        failures = check_expectations(expect, result)
        if not conf.get("allow_reboot"):
            failures = [
                f"{failure} (the configuration has allow_reboot = false)"
                if failure.startswith("boots:") and result.boot_count < self.data["expect"]["boots"]
                else failure
                for failure in failures
            ]
        listed = {path.rpartition(".")[2] for path in conf.get("plugins")}
        # Say so when an expectation fails because the configuration lacks the plugin: with
        # a user's conf that is the usual reason.
        return [
            f"{failure} (the configuration does not list {plugin})"
            if (plugin := _plugin_named(failure)) and plugin not in listed
            else failure
            for failure in failures
        ]


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise ScenarioError(str(path), f"cannot read: {ex}") from ex
    try:
        data = yaml.safe_load(text)
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
    return Scenario(
        name=data.get("name", path.stem),
        path=path,
        description=data["description"],
        data=data,
        conf=_load_agent_config(path, data["agent"]),
    )


def _validate_cloud(path: Path, spec: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(cloud_schema(spec["type"]))
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    if error is not None:
        parts = ["cloud", *(str(part) for part in error.absolute_path)]
        raise ScenarioError(str(path), error.message, ".".join(parts))


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
    found: list[Path] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            found.extend(
                sorted(
                    (p for p in entry.rglob("*") if p.suffix in SCENARIO_SUFFIXES),
                    key=lambda p: p.as_posix(),
                )
            )
        elif entry.is_file():
            found.append(entry)
        else:
            raise ScenarioError(str(entry), "no such file or folder")
    return found


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario: Scenario
    result: RunResult
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def _plugin_named(failure: str) -> str | None:
    for prefix in ("plugins.", "plugin_runs."):
        if failure.startswith(prefix):
            return failure[len(prefix) :].split(":", 1)[0]
    return None


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    transport: str = "inprocess",
    overrides: Overrides | None = None,
) -> ScenarioOutcome:
    result = scenario.build_machine(seed, transport, overrides).run()
    return ScenarioOutcome(
        scenario, result, scenario.check(result, scenario.effective_conf(overrides))
    )


def run_all(paths: Sequence[Path], seed: int | None = None) -> list[ScenarioOutcome]:
    return [run_scenario(load_scenario(path), seed) for path in paths]
