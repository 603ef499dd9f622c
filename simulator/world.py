"""A scenario's world: the fake Windows, its clouds and DHCP servers, faults; a Machine."""

from __future__ import annotations

import dataclasses
from typing import Any

from guestsim.agent.osutils import AGENT_SERVICE_NAME
from guestsim.agent.resources import ResourceLimits
from guestsim.simulator.clouds import CloudApp, DocumentSource, attach_to_machine, build_clouds
from guestsim.simulator.dhcp import DhcpServer, encode_ipv4_list, encode_mtu
from guestsim.simulator.drives import attach_media
from guestsim.simulator.errors import NotModelled, ScenarioError
from guestsim.simulator.faults import DEFAULT_HANG_BUDGET_S, Fault
from guestsim.simulator.machine import DEFAULT_MAX_BOOTS, AgentProgram, Machine
from guestsim.simulator.overrides import OverrideError, Overrides
from guestsim.simulator.scenario import Scenario
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPV4_DEFAULT_ROUTE, IPRoute
from guestsim.simulator.windows.processes import install_vmware_tools
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.scripts import ScriptDeclaration, declaration_from_spec
from guestsim.simulator.windows.state import (
    TIME_ZONE_KEY,
    NetworkAdapter,
    Service,
    UserAccount,
    WindowsState,
)

_PRODUCT_TYPES = {"workstation": 1, "domain_controller": 2, "server": 3}


def agent_program(scenario: Scenario) -> AgentProgram | None:
    """The agent the scenario asks for (None: guestsim's own)."""
    program, source = scenario.agent_program
    if program == "guestsim":
        return None
    from guestsim.simulator.upstream import UpstreamAgent

    return UpstreamAgent(source)


def build_machine(
    scenario: Scenario,
    seed: int | None = None,
    transport: str = "inprocess",
    overrides: Overrides | None = None,
    agent: AgentProgram | None = None,
) -> Machine:
    """The scenario's machine, clouds, DHCP servers and faults, before the first boot."""
    overrides = overrides or Overrides()
    conf = scenario.effective_conf(overrides)
    state = _build_state(scenario)
    if overrides.local_scripts:
        folder = conf.get("local_scripts_path")
        if not folder:
            raise OverrideError(
                f"{scenario.path}: --local-scripts needs local_scripts_path in the configuration"
            )
        try:
            state.files.make_dirs(folder.rstrip("\\"))
            for name, data in overrides.local_scripts.items():
                state.files.write(f"{folder.rstrip(chr(92))}\\{name}", data)
        except (OSError, NotModelled) as ex:
            raise OverrideError(
                f"{scenario.path}: local_scripts_path {folder} is not on a drive of the guest"
            ) from ex
    return Machine(
        conf,
        state=state,
        clouds=_build_clouds(scenario, overrides.user_data),
        unattend_conf=scenario.effective_unattend_conf(overrides),
        dhcp_servers=_build_dhcp(scenario),
        seed=scenario.seed if seed is None else seed,
        max_boots=scenario.data.get("max_boots", DEFAULT_MAX_BOOTS),
        faults=[Fault.from_spec(spec) for spec in scenario.data.get("faults", [])],
        transport=transport,
        hang_budget_s=scenario.data.get("hang_budget_s", DEFAULT_HANG_BUDGET_S),
        agent=agent,
    )


def _build_state(scenario: Scenario) -> WindowsState:
    state = default_windows_state()
    spec: dict[str, Any] = scenario.data.get("machine") or {}
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
            raise ScenarioError(str(scenario.path), "user already exists", "machine.users")
        state.users.append(UserAccount(user["name"], state.next_rid(), user.get("password")))
        for group_name in user.get("groups", []):
            group = state.find_group(group_name)
            if group is None:
                raise ScenarioError(
                    str(scenario.path), f"no local group {group_name!r}", "machine.users.groups"
                )
            group.members.append(user["name"])
    if "adapters" in spec:
        state.adapters = [
            NetworkAdapter(
                adapter["name"],
                adapter["mac"].lower().replace("-", ":"),
                adapter.get("address", ""),
                dhcp_server=adapter.get("dhcp_server"),
                # By default DHCP is on where a server leased the address and on a
                # disconnected adapter (waiting for a link), off for a static address.
                dhcp_enabled=adapter.get(
                    "dhcp", "dhcp_server" in adapter or not adapter.get("connected", True)
                ),
                mtu=adapter.get("mtu", 1500),
                connected=adapter.get("connected", True),
            )
            for adapter in spec["adapters"]
        ]
        state.network.routes = [
            IPRoute(IPV4_DEFAULT_ROUTE, adapter["gateway"], adapter["name"])
            for adapter in spec["adapters"]
            if "gateway" in adapter
        ]
    for name, service_spec in (spec.get("services") or {}).items():
        _set_up_service(state, str(scenario.path), name, service_spec)
    if "agent_account" in spec:
        agent_service = state.find_service("cloudbase-init")
        assert agent_service is not None
        agent_service.account = spec["agent_account"]
    if "guestinfo" in spec:
        install_vmware_tools(state, {k: v.encode() for k, v in spec["guestinfo"].items()})
    if "media" in spec:
        attach_media(state, spec["media"], scenario.path)
    cloud = scenario.data.get("cloud")
    if cloud:
        attach_to_machine(state, DocumentSource(cloud["type"], cloud, scenario.path))
    for guest_path, content in spec.get("files", {}).items():
        folder = guest_path.rsplit("\\", 1)[0]
        try:
            if folder and folder != guest_path:
                state.files.make_dirs(folder)
            state.files.write(guest_path, content.encode("utf-8"))
        except OSError as ex:
            raise ScenarioError(
                str(scenario.path),
                f"{guest_path} is not a file path on a drive of the guest ({ex.strerror})",
                "machine.files",
            ) from ex
    state.scripts.declarations = _build_script_declarations(scenario)
    state.resource_limits = dataclasses.replace(ResourceLimits(), **scenario.data.get("budget", {}))
    return state


def _set_up_service(state: WindowsState, path: str, name: str, spec: dict[str, Any]) -> None:
    """``machine.services.<name>``: an image's service changed, or a new one installed."""
    if name.lower() == AGENT_SERVICE_NAME:
        # guestsim starts the agent at every boot, whatever its service says.
        raise ScenarioError(
            path,
            "the agent's own service cannot be set up here (agent_account sets its account)",
            f"machine.services.{name}",
        )
    service = state.find_service(name)
    if service is None:
        service = Service(name, spec.get("display_name", name))
        state.services.append(service)
    elif "display_name" in spec:
        service.display_name = spec["display_name"]
    service.start_mode = spec.get("start_mode", service.start_mode)
    service.boot_status = spec.get("status")


def _build_script_declarations(scenario: Scenario) -> list[ScriptDeclaration]:
    declarations = []
    for index, spec in enumerate(scenario.data.get("scripts", [])):
        try:
            declarations.append(declaration_from_spec(spec, index))
        except ValueError as ex:
            raise ScenarioError(str(scenario.path), str(ex), f"scripts.{index}") from ex
    names = [declaration.name for declaration in declarations]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ScenarioError(
                str(scenario.path), f"duplicate script name {name!r}", f"scripts.{index}.name"
            )
    return declarations


def _build_dhcp(scenario: Scenario) -> list[DhcpServer]:
    servers = []
    for spec in scenario.data.get("dhcp", []):
        options: dict[int, bytes] = {}
        if "mtu" in spec:
            options[26] = encode_mtu(spec["mtu"])
        if "ntp_servers" in spec:
            options[42] = encode_ipv4_list(spec["ntp_servers"])
        if "wireserver" in spec:
            options[245] = encode_ipv4_list([spec["wireserver"]])
        unsolicited = frozenset({245}) if "wireserver" in spec else frozenset()
        servers.append(
            DhcpServer(spec["address"], options, spec.get("responds", True), unsolicited)
        )
    return servers


def _build_clouds(scenario: Scenario, user_data: bytes | None = None) -> list[CloudApp]:
    spec = scenario.data.get("cloud")
    if not spec:
        return []
    if user_data is not None:
        spec = {key: value for key, value in spec.items() if key != "user_data_file"}
        spec["user_data"] = user_data
    return build_clouds(DocumentSource(spec["type"], spec, scenario.path))
