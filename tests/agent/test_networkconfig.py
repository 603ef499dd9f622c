"""NetworkConfigPlugin on a simulated guest, and OpenStack ``network_data.json`` parsing.

The v2 tests boot a whole machine on a simulated OpenStack serving ``network_data.json``,
which the OpenStack HTTP service reads through
:func:`guestsim.agent.metadata.openstack_network.parse_network_data`. The v1 tests feed legacy
``NetworkDetails`` through a stub service: the list is the plugin's input, not the
behaviour under test. Every test asserts what the machine ends up with (adapters, IP
settings, teams, routes), the ``plugin_end`` event and the status stored in the registry.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest

from guestsim.agent import network
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.metadata.openstack_network import parse_network_data, prefix_length
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPRoute
from guestsim.simulator.windows.state import AGENT_KEY, NetworkAdapter, WindowsState
from guestsim.simulator.windows.version import WindowsVersion
from tests.builders import (
    INSTANCE_ID,
    meta_data,
    openstack_machine,
    register_metadata_service,
)

PLUGIN_PATH = "cloudbaseinit.plugins.common.networkconfig.NetworkConfigPlugin"
LEGACY_PLUGIN_PATH = "cloudbaseinit.plugins.windows.networkconfig.NetworkConfigPlugin"
PLUGIN = "NetworkConfigPlugin"
PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
SCENARIO = "plugins/network-static-bond-vlan.yaml"
MAC0 = "52:54:00:00:10:01"
MAC1 = "52:54:00:00:10:02"
V1_MAC0 = "FA:16:3E:00:10:01"
V1_MAC1 = "FA:16:3E:00:10:02"

# The bond-and-VLAN example of the reference (metadata-sources §2.3).
BOND_VLAN_DOCUMENT: dict[str, Any] = {
    "links": [
        {"id": "nic0", "type": "phy", "ethernet_mac_address": MAC0, "mtu": 9000},
        {"id": "nic1", "type": "phy", "ethernet_mac_address": MAC1, "mtu": 9000},
        {
            "id": "bond0",
            "type": "bond",
            "bond_links": ["nic0", "nic1"],
            "bond_mode": "802.3ad",
            "bond_xmit_hash_policy": "layer3+4",
            "bond_miimon": 100,
            "ethernet_mac_address": MAC0,
            "mtu": 9000,
        },
        {
            "id": "vlan101",
            "type": "vlan",
            "vlan_link": "bond0",
            "vlan_id": 101,
            "vlan_mac_address": MAC0,
            "mtu": 1500,
        },
    ],
    "networks": [
        {
            "id": "net0",
            "type": "ipv4",
            "link": "vlan101",
            "ip_address": "198.51.100.20",
            "netmask": "255.255.255.0",
            "network_id": "a1",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "198.51.100.1"}],
            "services": [{"type": "dns", "address": "198.51.100.53"}],
        },
        {
            "id": "net1",
            "type": "ipv6",
            "link": "vlan101",
            "ip_address": "2001:db8:10::20",
            "netmask": "ffff:ffff:ffff:ffff::",
            "network_id": "a2",
            "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:10::1"}],
        },
        {"id": "net2", "type": "ipv4_dhcp", "link": "nic0", "network_id": "a3"},
    ],
    "services": [
        {"type": "dns", "address": "192.0.2.53"},
        {"type": "ntp", "address": "192.0.2.123"},
    ],
}


def two_nic_state(version: WindowsVersion | None = None) -> WindowsState:
    state = default_windows_state()
    state.adapters = [
        NetworkAdapter("Ethernet", MAC0, "10.0.0.15", dhcp_server="10.0.0.1"),
        NetworkAdapter("Ethernet 2", MAC1, "10.0.1.15", dhcp_server="10.0.1.1"),
    ]
    if version is not None:
        state.version = version
    return state


def physical_document(**network_overrides: Any) -> dict[str, Any]:
    """One NIC, one static IPv4 network on it."""
    net: dict[str, Any] = {
        "id": "net0",
        "type": "ipv4",
        "link": "lan0",
        "ip_address": "203.0.113.10",
        "netmask": "255.255.255.0",
        "routes": [
            {"network": "10.0.0.0", "netmask": "255.0.0.0", "gateway": "203.0.113.254"},
            {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "203.0.113.1"},
            {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "203.0.113.2"},
        ],
    }
    net.update(network_overrides)
    return {
        "links": [{"id": "lan0", "type": "ovs", "ethernet_mac_address": MAC0, "mtu": 1450}],
        "networks": [net],
        "services": [{"type": "dns", "address": "192.0.2.53"}],
    }


# --- machines ------------------------------------------------------------------------------


class LegacyDetailsService(MetadataService):
    """A loaded service whose only data is an instance id and a v1 network list."""

    details: ClassVar[list[network.NetworkDetails]] = []

    def load(self) -> bool:
        super().load()
        return True

    def get_instance_id(self) -> str | None:
        return INSTANCE_ID

    def get_network_details(self) -> list[Any] | None:
        return list(self.details)


def run_v2(
    monkeypatch: pytest.MonkeyPatch,
    document: dict[str, Any] | None,
    state: WindowsState | None = None,
    plugins: tuple[str, ...] = (PLUGIN_PATH,),
    options: dict[str, Any] | None = None,
) -> tuple[RunResult, OpenStackCloud]:
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data(), network_data=document))
    machine, _ = openstack_machine(
        plugins,
        options,
        state=state if state is not None else two_nic_state(),
        clouds=[cloud],
    )
    return machine.run(), cloud


def run_v1(
    monkeypatch: pytest.MonkeyPatch,
    details: list[network.NetworkDetails],
    state: WindowsState,
) -> RunResult:
    monkeypatch.setattr(LegacyDetailsService, "details", details)
    service = register_metadata_service(monkeypatch, LegacyDetailsService)
    machine, _ = openstack_machine(
        (PLUGIN_PATH,), {"metadata_services": [service]}, state=state, clouds=[]
    )
    return machine.run()


# --- assertions helpers --------------------------------------------------------------------


def only_end(result: RunResult) -> Event:
    ends = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == PLUGIN]
    assert len(ends) == 1, ends
    return ends[0]


def outcome(result: RunResult) -> tuple[Any, Any]:
    end = only_end(result)
    assert end.get("success") is True, end
    assert end.get("stage") == "MAIN"
    return end.get("status"), end.get("reboot")


def failure(result: RunResult) -> str:
    end = only_end(result)
    assert end.get("success") is False, end
    assert end.get("status") is None
    assert stored_status(result.state) is None
    return str(end.get("error"))


def stored_status(state: WindowsState) -> object:
    registry = state.registry
    if not registry.key_exists(PLUGINS_KEY):
        return None
    return {name: value.data for name, value in registry.values(PLUGINS_KEY)}.get(PLUGIN)


def os_calls(result: RunResult, *names: str) -> list[tuple[Any, ...]]:
    """(call, arguments...) of the network OS mutations, in trace order."""
    wanted = names or (
        "rename_network_adapter",
        "set_network_adapter_mtu",
        "enable_network_adapter",
        "create_network_team",
        "add_network_team_nic",
        "set_static_network_config",
    )
    calls: list[tuple[Any, ...]] = []
    for event in result.trace.of_kind("os"):
        call = event.get("call")
        if call not in wanted:
            continue
        if call == "rename_network_adapter":
            calls.append((call, event.get("old_name"), event.get("new_name")))
        elif call == "set_network_adapter_mtu":
            calls.append((call, event.get("name"), event.get("mtu")))
        elif call == "enable_network_adapter":
            calls.append((call, event.get("name"), event.get("enabled")))
        elif call == "create_network_team":
            calls.append((call, event.get("team"), tuple(event.get("members"))))
        elif call == "add_network_team_nic":
            calls.append((call, event.get("team"), event.get("name"), event.get("vlan_id")))
        else:
            calls.append(
                (
                    call,
                    event.get("name"),
                    f"{event.get('address')}/{event.get('prefix_length')}",
                    event.get("gateway"),
                    tuple(event.get("dns")),
                )
            )
    return calls


def log_lines(result: RunResult, level: str) -> list[str]:
    return [line for line in result.log if f" {level} agent.plugins.networkconfig:" in line]


# --- v2: the reference's bond + VLAN document ---------------------------------------------


def test_v2_bond_vlan_document_renames_nics_teams_them_and_configures_the_vlan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, cloud = run_v2(monkeypatch, BOND_VLAN_DOCUMENT)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state) == PLUGIN_EXECUTION_DONE
    assert result.boot_count == 1
    assert any(r.path == "/openstack/latest/network_data.json" for r in cloud.requests)

    state = result.state
    net = state.network
    assert [(a.name, a.mac, a.mtu, a.enabled) for a in state.adapters] == [
        ("nic0", MAC0, 9000, True),
        ("nic1", MAC1, 9000, True),
        ("bond0", MAC0, 9000, True),
        ("vlan101", MAC0, 1500, True),
    ]
    team = net.teams["bond_bond0"]
    assert (team.mode, team.lb_algorithm, team.members, team.mac) == (
        "802.3ad",
        "layer3+4",
        ["nic0", "nic1"],
        MAC0,
    )
    assert (team.primary_nic, team.lacp_timer) == ("bond0", None)
    assert {name: (n.team, n.vlan_id) for name, n in net.team_nics.items()} == {
        "bond0": ("bond_bond0", None),
        "vlan101": ("bond_bond0", 101),
    }
    assert [net.interfaces[name].team for name in ("nic0", "nic1")] == ["bond_bond0"] * 2

    vlan = net.interfaces["vlan101"]
    assert (vlan.ipv4.dhcp, vlan.ipv4.addresses, vlan.ipv4.dns_servers) == (
        False,
        ["198.51.100.20/24"],
        ["198.51.100.53"],
    )
    # The IPv6 network has no DNS of its own and the only global server is IPv4.
    assert (vlan.ipv6.dhcp, vlan.ipv6.addresses, vlan.ipv6.dns_servers) == (
        False,
        ["2001:db8:10::20/64"],
        [],
    )
    assert net.default_gateway("vlan101", 4) == "198.51.100.1"
    assert net.default_gateway("vlan101", 6) == "2001:db8:10::1"
    vlan_adapter = state.find_adapter("vlan101")
    assert vlan_adapter is not None
    assert (vlan_adapter.address, vlan_adapter.dhcp_enabled) == ("198.51.100.20", False)
    # The ipv4_dhcp network on nic0 is not the agent's business: nothing else was set.
    assert [i.ipv4.dhcp for n, i in net.interfaces.items() if n != "vlan101"] == [True] * 3


def test_v2_applies_physical_links_then_bonds_then_vlans_then_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = copy.deepcopy(BOND_VLAN_DOCUMENT)
    # Document order must not matter: VLAN first, bond second, NICs last.
    document["links"].reverse()
    result, _ = run_v2(monkeypatch, document)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == [
        ("rename_network_adapter", "Ethernet 2", "nic1"),
        ("set_network_adapter_mtu", "nic1", 9000),
        ("enable_network_adapter", "nic1", True),
        ("rename_network_adapter", "Ethernet", "nic0"),
        ("set_network_adapter_mtu", "nic0", 9000),
        ("enable_network_adapter", "nic0", True),
        ("create_network_team", "bond_bond0", ("nic0", "nic1")),
        ("set_network_adapter_mtu", "bond0", 9000),
        ("enable_network_adapter", "bond0", True),
        ("add_network_team_nic", "bond_bond0", "vlan101", 101),
        ("set_network_adapter_mtu", "vlan101", 1500),
        ("enable_network_adapter", "vlan101", True),
        (
            "set_static_network_config",
            "vlan101",
            "198.51.100.20/24",
            "198.51.100.1",
            ("198.51.100.53",),
        ),
        (
            "set_static_network_config",
            "vlan101",
            "2001:db8:10::20/64",
            "2001:db8:10::1",
            (),
        ),
    ]
    (team_call,) = [e for e in result.trace.of_kind("os") if e.get("call") == "create_network_team"]
    assert team_call.get("mac") == MAC0
    assert team_call.get("primary_nic") == "bond0"
    assert team_call.get("primary_nic_vlan_id") is None


def test_v2_physical_link_already_named_is_not_renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    state = two_nic_state()
    state.adapters[0].name = "lan0"
    result, _ = run_v2(monkeypatch, physical_document(), state=state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "rename_network_adapter") == []
    adapter = result.state.find_adapter("lan0")
    assert adapter is not None and adapter.mtu == 1450


def test_v2_gateway_is_the_first_prefix_zero_route_and_dns_falls_back_to_global(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, _ = run_v2(monkeypatch, physical_document())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_static_network_config") == [
        ("set_static_network_config", "lan0", "203.0.113.10/24", "203.0.113.1", ("192.0.2.53",))
    ]
    net = result.state.network
    assert net.routes == [IPRoute("0.0.0.0/0", "203.0.113.1", "lan0")]
    assert net.interfaces["lan0"].ipv4.dns_servers == ["192.0.2.53"]
    # The second adapter is left alone, its DHCP lease included.
    other = result.state.find_adapter("Ethernet 2")
    assert other is not None and (other.address, other.dhcp_enabled) == ("10.0.1.15", True)


def test_v2_ipv6_network_takes_only_ipv6_global_name_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = physical_document(type="ipv6", ip_address="2001:db8:1::5", netmask="64", routes=[])
    document["services"] = [
        {"type": "dns", "address": "192.0.2.53"},
        {"type": "dns", "address": "2001:db8::53"},
    ]
    result, _ = run_v2(monkeypatch, document)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_static_network_config") == [
        ("set_static_network_config", "lan0", "2001:db8:1::5/64", None, ("2001:db8::53",))
    ]
    settings = result.state.network.interfaces["lan0"]
    assert (settings.ipv6.addresses, settings.ipv6.dns_servers) == (
        ["2001:db8:1::5/64"],
        ["2001:db8::53"],
    )
    # IPv4 keeps DHCP.
    assert settings.ipv4.dhcp is True
    adapter = result.state.find_adapter("lan0")
    assert adapter is not None and (adapter.address, adapter.dhcp_enabled) == ("10.0.0.15", True)


def test_v2_runs_once_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    hostname = "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin"
    result, _ = run_v2(monkeypatch, physical_document(), plugins=(PLUGIN_PATH, hostname))

    assert result.boot_count == 2
    starts = [e.boot for e in result.trace.of_kind("plugin_start") if e.get("plugin") == PLUGIN]
    assert starts == [1]
    assert stored_status(result.state) == PLUGIN_EXECUTION_DONE


def test_legacy_windows_plugin_path_loads_the_same_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run_v2(monkeypatch, physical_document(), plugins=(LEGACY_PLUGIN_PATH,))

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.network.interfaces["lan0"].ipv4.addresses == ["203.0.113.10/24"]


# --- v2 failure paths ------------------------------------------------------------------------


def test_v2_unknown_bond_mode_fails_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    document = copy.deepcopy(BOND_VLAN_DOCUMENT)
    document["links"][2]["bond_mode"] = "balance-fast"
    result, _ = run_v2(monkeypatch, document)

    assert "Invalid bond type" in failure(result)
    assert os_calls(result) == []
    assert [a.name for a in result.state.adapters] == ["Ethernet", "Ethernet 2"]


def test_v2_vlan_on_a_plain_nic_fails_because_vlans_need_a_team(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = physical_document()
    document["links"].append({"id": "vlan7", "type": "vlan", "vlan_link": "lan0", "vlan_id": 7})
    result, _ = run_v2(monkeypatch, document)

    assert failure(result) == "ItemNotFound: Network team not found: bond_lan0"
    # What came before the VLAN stays done; the networks were never reached.
    assert [a.name for a in result.state.adapters][:1] == ["lan0"]
    assert os_calls(result, "set_static_network_config") == []


def test_v2_address_without_prefix_fails_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    document = physical_document()
    del document["networks"][0]["netmask"]
    result, _ = run_v2(monkeypatch, document)

    assert failure(result).startswith("ValueError")
    assert os_calls(result, "set_static_network_config") == []


def test_v2_link_whose_mac_is_not_on_the_machine_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    document = physical_document()
    document["links"][0]["ethernet_mac_address"] = "52:54:00:99:99:99"
    result, _ = run_v2(monkeypatch, document)

    assert failure(result).startswith("ItemNotFound")
    assert os_calls(result) == []


def test_v2_without_team_manager_the_bond_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    state = two_nic_state()
    state.network.lbfo_available = False
    result, _ = run_v2(monkeypatch, BOND_VLAN_DOCUMENT, state=state)

    assert failure(result) == "ItemNotFound: No network team manager available"
    assert result.state.network.teams == {}
    # The physical links were handled before the bond.
    assert [a.name for a in result.state.adapters] == ["nic0", "nic1"]


def test_v2_failed_plugin_runs_again_on_the_next_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    hostname = "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin"
    document = physical_document()
    document["links"][0]["ethernet_mac_address"] = "52:54:00:99:99:99"
    result, _ = run_v2(monkeypatch, document, plugins=(PLUGIN_PATH, hostname))

    ends = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == PLUGIN]
    assert [(e.boot, e.get("success")) for e in ends] == [(1, False), (2, False)]
    assert stored_status(result.state) is None


# --- v2 vs. the Windows version (quirk 17) ---------------------------------------------------


def test_v2_on_windows_2012_and_later_never_asks_for_a_reboot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = two_nic_state()
    # Even if the legacy API would want one, 6.2+ does not use it.
    state.network.legacy_static_reboot_required = True
    result, _ = run_v2(monkeypatch, physical_document(), state=state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.boot_count == 1


def test_v2_on_windows_2008_r2_reboots_when_the_legacy_api_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Quirk 17: only the pre-6.2 path can return a reboot hint.
    state = two_nic_state(WindowsVersion(major=6, minor=1, build=7601))
    state.network.legacy_static_reboot_required = True
    document = physical_document()
    document["networks"].append(
        {"id": "net6", "type": "ipv6", "link": "lan0", "ip_address": "2001:db8::9/64"}
    )
    result, _ = run_v2(monkeypatch, document, state=state)

    first = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == PLUGIN]
    assert [(e.boot, e.get("status"), e.get("reboot")) for e in first] == [
        (1, PLUGIN_EXECUTION_DONE, True)
    ]
    assert result.boot_count == 2
    settings = result.state.network.interfaces["lan0"]
    assert settings.ipv4.addresses == ["203.0.113.10/24"]
    # IPv6 is refused with a warning before 6.2.
    assert (settings.ipv6.dhcp, settings.ipv6.addresses) == (True, [])
    assert any(
        r.levelname == "WARNING" and "Setting IPv6 info not available" in r.getMessage()
        for r in caplog.records
    )


def test_v2_on_windows_2008_r2_without_reboot_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    state = two_nic_state(WindowsVersion(major=6, minor=1, build=7601))
    result, _ = run_v2(monkeypatch, physical_document(), state=state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.boot_count == 1


# --- no network data -------------------------------------------------------------------------


def test_without_network_data_the_plugin_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    result, cloud = run_v2(monkeypatch, None)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state) == PLUGIN_EXECUTION_DONE
    assert os_calls(result) == []
    (request,) = [r for r in cloud.requests if r.path.endswith("network_data.json")]
    assert request.path == "/openstack/latest/network_data.json"


def test_empty_network_data_is_v2_data_with_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run_v2(monkeypatch, {})

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == []


# --- v1 ----------------------------------------------------------------------------------------


def v1_state(version: WindowsVersion | None = None) -> WindowsState:
    state = default_windows_state()
    # Windows reports MACs in upper case; the legacy details are matched as exact strings.
    state.adapters = [
        NetworkAdapter("Ethernet 2", V1_MAC1, "10.0.1.15", dhcp_server="10.0.1.1"),
        NetworkAdapter("Ethernet", V1_MAC0, "10.0.0.15", dhcp_server="10.0.0.1"),
    ]
    if version is not None:
        state.version = version
    return state


def details(**fields: Any) -> network.NetworkDetails:
    values: dict[str, Any] = {
        "name": "eth0",
        "mac": V1_MAC0,
        "address": "203.0.113.10",
        "netmask": "255.255.255.0",
        "gateway": "203.0.113.1",
        "dnsnameservers": ["203.0.113.53", "203.0.113.54"],
    }
    values.update(fields)
    return network.NetworkDetails(**values)


def test_v1_configures_ipv4_and_ipv6_of_the_adapter_with_that_mac(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = details(address6="2001:db8:20::10", netmask6="64", gateway6="2001:db8:20::1")
    result = run_v1(monkeypatch, [entry], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state) == PLUGIN_EXECUTION_DONE
    assert os_calls(result) == [
        (
            "set_static_network_config",
            "Ethernet",
            "203.0.113.10/24",
            "203.0.113.1",
            ("203.0.113.53", "203.0.113.54"),
        ),
        ("set_static_network_config", "Ethernet", "2001:db8:20::10/64", "2001:db8:20::1", ()),
    ]
    settings = result.state.network.interfaces["Ethernet"]
    assert settings.ipv4.addresses == ["203.0.113.10/24"]
    assert settings.ipv6.addresses == ["2001:db8:20::10/64"]
    assert settings.ipv6.dns_servers == []
    assert result.state.network.default_gateway("Ethernet", 6) == "2001:db8:20::1"
    # The adapter without details keeps DHCP, with a warning.
    assert result.state.network.interfaces["Ethernet 2"].ipv4.dhcp is True
    assert any(f"Missing details for adapter {V1_MAC1}" in x for x in log_lines(result, "WARNING"))
    assert any("Configuring network adapter: Ethernet" in x for x in log_lines(result, "INFO"))


def test_v1_mac_is_an_exact_string_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lower-case MAC does not match Windows' upper-case one: nothing is configured.
    result = run_v1(monkeypatch, [details(mac=V1_MAC0.lower())], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == []
    warnings = log_lines(result, "WARNING")
    assert any(f"Details not used for adapter {V1_MAC0.lower()}" in line for line in warnings)
    assert any("No adapters were configured" in line for line in log_lines(result, "ERROR"))


def test_v1_entry_without_mac_is_matched_by_adapter_name(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_v1(monkeypatch, [details(name="Ethernet 2", mac=None)], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [c[1] for c in os_calls(result)] == ["Ethernet 2"]


def test_v1_entry_without_mac_is_matched_by_eth_index_in_name_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Adapters sorted by name: "Ethernet", "Ethernet 2"; eth1 is the second.
    result = run_v1(monkeypatch, [details(name="eth1", mac=None)], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [c[1] for c in os_calls(result)] == ["Ethernet 2"]


def test_v1_entry_without_mac_and_unknown_name_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_v1(monkeypatch, [details(name="lan", mac=None)], v1_state())

    assert failure(result).startswith("NetworkConfigError")
    assert os_calls(result) == []


def test_v1_incomplete_entries_are_dropped_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    incomplete = [
        details(netmask=None),  # IPv4 half only, no IPv6
        details(name=None, mac=None),
        details(address=None, address6="2001:db8::1"),  # IPv6 address without mask
    ]
    result = run_v1(monkeypatch, incomplete, v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == []
    errors = log_lines(result, "ERROR")
    assert sum("Incomplete NetworkDetails object" in line for line in errors) == 3
    assert any("No adapters were configured" in line for line in errors)


def test_v1_two_entries_for_one_mac_the_last_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_v1(
        monkeypatch,
        [details(address="203.0.113.10"), details(address="203.0.113.11")],
        v1_state(),
    )

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.network.interfaces["Ethernet"].ipv4.addresses == ["203.0.113.11/24"]


def test_v1_ipv6_only_first_adapter_fails_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    # Upstream quirk: the reboot flag of the (absent) IPv4 call is read unassigned.
    v6_only = details(address=None, netmask=None, address6="2001:db8::10", netmask6="64")
    result = run_v1(monkeypatch, [v6_only], v1_state())

    assert failure(result).startswith("UnboundLocalError")
    assert os_calls(result) == []


def test_v1_ipv6_only_adapter_after_an_ipv4_one_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Ethernet 2" comes first in get_network_adapters() order.
    v4 = details(mac=V1_MAC1, address="203.0.113.20")
    v6_only = details(address=None, netmask=None, address6="2001:db8::10", netmask6="64")
    result = run_v1(monkeypatch, [v6_only, v4], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [(c[1], c[2]) for c in os_calls(result)] == [
        ("Ethernet 2", "203.0.113.20/24"),
        ("Ethernet", "2001:db8::10/64"),
    ]


def test_v1_without_adapters_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    state = v1_state()
    state.adapters = []
    result = run_v1(monkeypatch, [details()], state)

    assert failure(result) == "NetworkConfigError: no network adapters available"


def test_v1_reboot_hint_from_windows_2008_r2(monkeypatch: pytest.MonkeyPatch) -> None:
    state = v1_state(WindowsVersion(major=6, minor=1, build=7601))
    state.network.legacy_static_reboot_required = True
    result = run_v1(monkeypatch, [details()], state)

    first = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == PLUGIN]
    assert (first[0].get("status"), first[0].get("reboot")) == (PLUGIN_EXECUTION_DONE, True)
    assert result.boot_count == 2


def test_v2_is_preferred_over_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_v1(self: MetadataService) -> list[Any] | None:
        raise AssertionError("v1 must not be read when v2 data exists")

    monkeypatch.setattr(OpenStackHttpService, "get_network_details", no_v1)
    result, _ = run_v2(monkeypatch, physical_document())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.network.interfaces["lan0"].ipv4.addresses == ["203.0.113.10/24"]


# --- network_data.json parsing ---------------------------------------------------------------


def test_parse_reference_document() -> None:
    parsed = parse_network_data(BOND_VLAN_DOCUMENT)

    assert parsed.links == [
        network.Link("nic0", "nic0", "physical", True, MAC0, 9000),
        network.Link("nic1", "nic1", "physical", True, MAC1, 9000),
        network.Link(
            "bond0",
            "bond0",
            "bond",
            True,
            MAC0,
            9000,
            bond=network.Bond(["nic0", "nic1"], "802.3ad", "layer3+4", None),
        ),
        network.Link("vlan101", "vlan101", "vlan", True, MAC0, 1500, None, "bond0", 101),
    ]
    assert parsed.networks == [
        network.Network(
            "vlan101",
            "198.51.100.20/24",
            ["198.51.100.53"],
            [network.Route("0.0.0.0/0", "198.51.100.1")],
        ),
        network.Network(
            "vlan101", "2001:db8:10::20/64", [], [network.Route("::/0", "2001:db8:10::1")]
        ),
    ]
    assert parsed.services == [network.NameServerService(["192.0.2.53"], None)]


@pytest.mark.parametrize("kind", ["phy", "ovs", "tap", "bridge", "vif", "hw_veb", None])
def test_parse_any_other_link_type_is_physical(kind: str | None) -> None:
    link: dict[str, Any] = {"id": "x", "ethernet_mac_address": MAC0}
    if kind is not None:
        link["type"] = kind
    (parsed,) = parse_network_data({"links": [link]}).links
    assert (parsed.type, parsed.mtu, parsed.bond) == ("physical", None, None)


def test_parse_vlan_mac_overrides_ethernet_mac() -> None:
    link = {
        "id": "v",
        "type": "vlan",
        "ethernet_mac_address": MAC1,
        "vlan_mac_address": MAC0,
        "vlan_link": "b",
        "vlan_id": 5,
    }
    (parsed,) = parse_network_data({"links": [link]}).links
    assert (parsed.mac_address, parsed.vlan_link, parsed.vlan_id) == (MAC0, "b", 5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bond_mode", "balance-fast", "Invalid bond type"),
        ("bond_xmit_hash_policy", "layer5", "Invalid bond transmit hash policy"),
    ],
)
def test_parse_bad_bond_settings_raise(field: str, value: str, message: str) -> None:
    document = copy.deepcopy(BOND_VLAN_DOCUMENT)
    document["links"][2][field] = value
    with pytest.raises(network.NetworkDataError, match=message):
        parse_network_data(document)


def test_parse_bond_without_hash_policy() -> None:
    document = copy.deepcopy(BOND_VLAN_DOCUMENT)
    del document["links"][2]["bond_xmit_hash_policy"]
    bond = parse_network_data(document).links[2].bond
    assert bond == network.Bond(["nic0", "nic1"], "802.3ad", None, None)


@pytest.mark.parametrize(
    "kind", ["ipv4_dhcp", "ipv6_dhcp", "ipv6_slaac", "ipv6_dhcpv6-stateful", "IPV4", None]
)
def test_parse_only_static_network_types_are_kept(kind: str | None) -> None:
    net: dict[str, Any] = {"id": "n", "link": "l", "ip_address": "192.0.2.9"}
    if kind is not None:
        net["type"] = kind
    assert parse_network_data({"networks": [net]}).networks == []


@pytest.mark.parametrize(
    ("ip_address", "netmask", "cidr"),
    [
        ("192.0.2.9", "255.255.255.128", "192.0.2.9/25"),
        ("192.0.2.9", "25", "192.0.2.9/25"),
        ("192.0.2.9", 25, "192.0.2.9/25"),
        ("2001:db8::9", "ffff:ffff:ffff:ff00::", "2001:db8::9/56"),
        ("2001:db8::9", "64", "2001:db8::9/64"),
        ("2001:db8::9/48", None, "2001:db8::9/48"),
        # Quirk kept: no netmask and no prefix goes through unchanged.
        ("192.0.2.9", None, "192.0.2.9"),
    ],
)
def test_parse_network_address_forms(ip_address: str, netmask: Any, cidr: str) -> None:
    net: dict[str, Any] = {"type": "ipv4", "link": "l", "ip_address": ip_address}
    if netmask is not None:
        net["netmask"] = netmask
    (parsed,) = parse_network_data({"networks": [net]}).networks
    assert parsed.address_cidr == cidr


def test_parse_other_service_types_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    document = {
        "networks": [
            {
                "type": "ipv4",
                "link": "l",
                "ip_address": "192.0.2.9/24",
                "services": [{"type": "ntp", "address": "192.0.2.1"}],
            }
        ],
        "services": [{"type": "ntp", "address": "192.0.2.123"}],
    }
    with caplog.at_level("WARNING"):
        parsed = parse_network_data(document)
    assert parsed.networks[0].dns_nameservers == []
    # No DNS anywhere: no global name-server service at all.
    assert parsed.services == []
    assert sum("unsupported service type: ntp" in r.getMessage() for r in caplog.records) == 2


def test_parse_missing_sections_default_to_empty() -> None:
    assert parse_network_data({}) == network.NetworkDetailsV2([], [], [])


@pytest.mark.parametrize("document", [None, [], "links"])
def test_parse_a_document_that_is_not_an_object_raises(document: Any) -> None:
    with pytest.raises(network.NetworkDataError):
        parse_network_data(document)


@pytest.mark.parametrize("mask", ["255.0.255.0", "ffff::ff", "not-a-mask"])
def test_prefix_length_rejects_non_contiguous_or_bad_masks(mask: str) -> None:
    with pytest.raises(network.NetworkDataError):
        prefix_length(mask)


# --- the scenario ----------------------------------------------------------------------------


def test_bond_vlan_scenario_ends_with_the_team_and_the_static_vlan() -> None:
    # What the scenario's expect: block cannot say yet (only adapter MTUs).
    outcome_ = run_scenario(load_scenario(bundled("scenarios") / SCENARIO))
    assert outcome_.failures == []
    net = outcome_.result.state.network
    assert net.teams["bond_bond0"].members == ["nic0", "nic1"]
    assert (net.teams["bond_bond0"].mode, net.teams["bond_bond0"].lb_algorithm) == (
        "802.3ad",
        "layer3+4",
    )
    assert {name: nic.vlan_id for name, nic in net.team_nics.items()} == {
        "bond0": None,
        "vlan101": 101,
    }
    vlan = net.interfaces["vlan101"]
    assert (vlan.ipv4.addresses, vlan.ipv4.dns_servers) == (["198.51.100.20/24"], ["198.51.100.53"])
    assert (vlan.ipv6.addresses, vlan.ipv6.dns_servers) == (["2001:db8:10::20/64"], [])
    assert net.default_gateway("vlan101", 4) == "198.51.100.1"
    assert net.default_gateway("vlan101", 6) == "2001:db8:10::1"


def test_an_empty_network_data_document_fails_the_plugin_as_upstream() -> None:
    from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
    from guestsim.simulator.faults import Fault, FaultPlan
    from tests.builders import meta_data, openstack_machine

    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data(), network_data={"links": []}))
    machine, _ = openstack_machine(
        ("cloudbaseinit.plugins.common.networkconfig.NetworkConfigPlugin",), clouds=[cloud]
    )
    machine.gateway.faults = FaultPlan([Fault("/openstack/latest/network_data.json", body="empty")])
    result = machine.run()
    (end,) = result.trace.of_kind("plugin_end")
    assert end.get("success") is False
    # Upstream fails with json's JSONDecodeError; the outcome is kept, the error is typed.
    assert str(end.get("error")).startswith(
        "NetworkDataError: network_data.json is not a JSON document: "
    )
