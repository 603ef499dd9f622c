"""The fake Windows network: adapter names, IP settings, LBFO teams, team NICs and routes.

Each test calls FakeOSUtils directly and asserts the resulting state and trace.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPRoute, IPSettings
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import NetworkAdapter, WindowsState
from guestsim.simulator.windows.version import WindowsVersion

MAC0 = "52:54:00:aa:00:01"
MAC1 = "52:54:00:aa:00:02"


def guest(version: WindowsVersion | None = None) -> FakeOSUtils:
    state = default_windows_state()
    state.adapters = [
        NetworkAdapter("Ethernet", MAC0, "10.0.0.15", dhcp_server="10.0.0.1"),
        NetworkAdapter("Ethernet 2", MAC1, "10.0.1.15", dhcp_server="10.0.1.1"),
    ]
    if version is not None:
        state.version = version

    def refuse(*_: object) -> NoReturn:
        raise AssertionError("not expected")

    hooks = MachineHooks(sleep=refuse, reboot=refuse, service_stopped=refuse, run_as_user=refuse)
    return FakeOSUtils(state, Trace(), random.Random(0), hooks)


def calls(os: FakeOSUtils) -> list[str]:
    return [str(e.get("call")) for e in os.trace.of_kind("os")]


def adapter(state: WindowsState, name: str) -> NetworkAdapter:
    found = state.find_adapter(name)
    assert found is not None, name
    return found


def teamed(os: FakeOSUtils, members: Sequence[str] = ("Ethernet", "Ethernet 2")) -> FakeOSUtils:
    os.create_network_team("bond_bond0", "802.3ad", "layer3+4", members, MAC0, "bond0")
    return os


# --- fresh machine -------------------------------------------------------------------------


def test_fresh_adapters_use_dhcp_and_have_no_routes() -> None:
    os = guest()
    assert os.get_default_gateway() == (None, None)
    assert os.check_static_route_exists("169.254.169.254") is False
    network = os.state.network
    assert network.teams == {} and network.routes == []
    # Queries leave the machine as they found it: no settings are recorded yet.
    assert network.interfaces == {} and network.next_interface_index == 2
    # The first change records settings for every adapter, with indexes in adapter order.
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, None, None)
    assert [
        (name, s.index, s.ipv4.dhcp, s.ipv6.dhcp) for name, s in network.interfaces.items()
    ] == [
        ("Ethernet", 2, False, True),
        ("Ethernet 2", 3, True, True),
    ]


# --- rename / enable -----------------------------------------------------------------------


def test_rename_changes_the_adapter_and_keeps_its_settings() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", ["192.0.2.53"])
    index = os.state.network.interfaces["Ethernet"].index

    os.rename_network_adapter("ethernet", "nic0")

    assert [a.name for a in os.state.adapters] == ["nic0", "Ethernet 2"]
    assert adapter(os.state, "nic0").mac == MAC0
    settings = os.state.network.interfaces["nic0"]
    assert (settings.index, settings.ipv4.addresses) == (index, ["192.0.2.5/24"])
    assert "Ethernet" not in os.state.network.interfaces
    assert os.state.network.routes == [IPRoute("0.0.0.0/0", "192.0.2.1", "nic0")]
    assert os.get_network_adapter_name_by_mac_address(MAC0.upper()) == "nic0"
    (event,) = os.trace.of_kind("os")[-1:]
    assert (event.get("call"), event.get("old_name"), event.get("new_name")) == (
        "rename_network_adapter",
        "Ethernet",
        "nic0",
    )


def test_rename_of_team_member_and_team_nic_follows_into_the_team() -> None:
    os = teamed(guest())
    os.add_network_team_nic("bond_bond0", "vlan7", 7)

    os.rename_network_adapter("Ethernet 2", "nic1")
    os.rename_network_adapter("bond0", "team0")
    os.rename_network_adapter("vlan7", "v7")

    team = os.state.network.teams["bond_bond0"]
    assert (team.members, team.primary_nic) == (["Ethernet", "nic1"], "team0")
    assert sorted(os.state.network.team_nics) == ["team0", "v7"]


def test_rename_errors() -> None:
    os = guest()
    with pytest.raises(ItemNotFound):
        os.rename_network_adapter("Wi-Fi", "nic0")
    with pytest.raises(OSUtilsError, match="already exists"):
        os.rename_network_adapter("Ethernet", "ethernet 2")
    assert calls(os) == []
    # Changing only the case is a rename of the same adapter.
    os.rename_network_adapter("Ethernet", "ETHERNET")
    assert os.state.adapters[0].name == "ETHERNET"


def test_enable_and_disable() -> None:
    os = guest()
    os.enable_network_adapter("Ethernet 2", False)
    assert adapter(os.state, "Ethernet 2").enabled is False
    # A disabled adapter is not a DHCP host in use.
    assert [h[0] for h in os.get_dhcp_hosts_in_use()] == ["Ethernet"]
    os.enable_network_adapter("Ethernet 2", True)
    assert adapter(os.state, "Ethernet 2").enabled is True
    assert calls(os) == ["enable_network_adapter", "enable_network_adapter"]
    with pytest.raises(ItemNotFound):
        os.enable_network_adapter("nope", True)


# --- static configuration (6.2+) ---------------------------------------------------------


def test_static_ipv4_replaces_dhcp_address_gateway_and_dns() -> None:
    os = guest()
    result = os.set_static_network_config(
        "Ethernet", "192.0.2.5", "255.255.255.0", "192.0.2.1", ["192.0.2.53", "192.0.2.54"]
    )

    assert result is None
    nic = adapter(os.state, "Ethernet")
    assert (nic.address, nic.dhcp_enabled, nic.dhcp_server) == ("192.0.2.5", False, None)
    settings = os.state.network.interfaces["Ethernet"]
    assert settings.ipv4 == IPSettings(False, ["192.0.2.5/24"], ["192.0.2.53", "192.0.2.54"])
    assert settings.ipv6 == IPSettings()
    assert os.get_default_gateway() == (settings.index, "192.0.2.1")
    # The adapter is no longer a DHCP host; its MAC is found by its new address.
    assert [h[0] for h in os.get_dhcp_hosts_in_use()] == ["Ethernet 2"]
    assert os.get_mac_address_by_local_ip("192.0.2.5") == MAC0
    (event,) = os.trace.of_kind("os")
    assert event.get("call") == "set_static_network_config"
    assert (event.get("address"), event.get("prefix_length"), event.get("gateway")) == (
        "192.0.2.5",
        24,
        "192.0.2.1",
    )
    assert (event.get("dns"), event.get("legacy_wmi")) == (["192.0.2.53", "192.0.2.54"], False)


def test_static_config_again_replaces_address_and_routes_of_that_family_only() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", ["192.0.2.53"])
    os.set_static_network_config("Ethernet", "2001:db8::5", "64", "2001:db8::1", ["2001:db8::53"])
    os.set_static_network_config("Ethernet", "198.51.100.7", "25", None, [])

    settings = os.state.network.interfaces["Ethernet"]
    # An empty DNS list leaves the servers as they were.
    assert settings.ipv4 == IPSettings(False, ["198.51.100.7/25"], ["192.0.2.53"])
    assert settings.ipv6 == IPSettings(False, ["2001:db8::5/64"], ["2001:db8::53"])
    assert os.state.network.routes == [IPRoute("::/0", "2001:db8::1", "Ethernet")]
    assert os.get_default_gateway() == (None, None)
    assert os.state.network.default_gateway("Ethernet", 6) == "2001:db8::1"
    # IPv6 does not touch the IPv4 lease fields.
    assert adapter(os.state, "Ethernet").address == "198.51.100.7"


@pytest.mark.parametrize(
    ("address", "mask", "prefix"),
    [
        ("192.0.2.5", 24, 24),
        ("192.0.2.5", "24", 24),
        ("192.0.2.5", "255.255.255.252", 30),
        ("192.0.2.5", "0.0.0.0", 0),
        ("2001:db8::5", "64", 64),
        ("2001:db8::5", "ffff:ffff:ffff:ff00::", 56),
        ("2001:db8::5", 128, 128),
    ],
)
def test_static_config_accepts_prefix_lengths_and_netmasks(
    address: str, mask: str | int, prefix: int
) -> None:
    os = guest()
    os.set_static_network_config("Ethernet", address, mask, None, None)
    family = os.state.network.interfaces["Ethernet"].ipv6 if ":" in address else None
    family = family or os.state.network.interfaces["Ethernet"].ipv4
    assert family.addresses == [f"{address}/{prefix}"]


@pytest.mark.parametrize(
    ("name", "address", "mask", "gateway", "dns", "error"),
    [
        ("Wi-Fi", "192.0.2.5", 24, None, [], ItemNotFound),
        ("Ethernet", "192.0.2.500", 24, None, [], OSUtilsError),
        ("Ethernet", "192.0.2.5", 33, None, [], OSUtilsError),
        ("Ethernet", "192.0.2.5", "255.0.255.0", None, [], OSUtilsError),
        ("Ethernet", "192.0.2.5", "ffff:ff00::", None, [], OSUtilsError),
        ("Ethernet", "2001:db8::5", 129, None, [], OSUtilsError),
        ("Ethernet", "192.0.2.5", 24, "2001:db8::1", [], OSUtilsError),
        ("Ethernet", "192.0.2.5", 24, None, ["dns.example"], OSUtilsError),
    ],
)
def test_static_config_refusals_change_nothing(
    name: str,
    address: str,
    mask: str | int,
    gateway: str | None,
    dns: list[str],
    error: type[Exception],
) -> None:
    os = guest()
    with pytest.raises(error):
        os.set_static_network_config(name, address, mask, gateway, dns)
    assert calls(os) == []
    assert adapter(os.state, "Ethernet").dhcp_enabled is True
    assert os.state.network.routes == []


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32))
def test_static_ipv4_config_is_read_back_from_state(address: object, prefix: int) -> None:
    os = guest()
    os.set_static_network_config("Ethernet", str(address), prefix, None, [])
    assert os.state.network.interfaces["Ethernet"].ipv4.addresses == [f"{address}/{prefix}"]
    assert adapter(os.state, "Ethernet").address == str(address)


# --- static configuration before 6.2 -------------------------------------------------------


def test_before_6_2_ipv6_is_refused_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    os = guest(WindowsVersion(major=6, minor=1, build=7601))
    with caplog.at_level("WARNING"):
        assert os.set_static_network_config("Ethernet", "2001:db8::5", 64, None, []) is None
    assert "Setting IPv6 info not available on this system" in caplog.text
    assert calls(os) == []
    assert os.state.network.interfaces["Ethernet"].ipv6 == IPSettings()


@pytest.mark.parametrize("reboot", [False, True])
def test_before_6_2_ipv4_returns_the_legacy_reboot_answer(reboot: bool) -> None:
    os = guest(WindowsVersion(major=6, minor=1, build=7601))
    os.state.network.legacy_static_reboot_required = reboot
    assert os.set_static_network_config("Ethernet", "192.0.2.5", "255.255.255.0", None, []) is (
        reboot
    )
    assert os.state.network.interfaces["Ethernet"].ipv4.addresses == ["192.0.2.5/24"]
    (event,) = os.trace.of_kind("os")
    assert event.get("legacy_wmi") is True


# --- teams -----------------------------------------------------------------------------------


def test_team_creation_binds_members_and_adds_the_team_nic() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", [])
    os.create_network_team(
        "bond_bond0",
        "active-backup",
        None,
        ["Ethernet", "Ethernet 2"],
        "52-54-00-AA-00-09",
        "bond0",
        None,
        "fast",
    )

    network = os.state.network
    team = network.teams["bond_bond0"]
    assert (team.mode, team.lb_algorithm, team.members) == (
        "active-backup",
        None,
        ["Ethernet", "Ethernet 2"],
    )
    assert (team.mac, team.primary_nic, team.lacp_timer) == ("52:54:00:aa:00:09", "bond0", "fast")
    assert network.team_nics["bond0"].team == "bond_bond0"
    assert network.team_nics["bond0"].vlan_id is None
    bond = adapter(os.state, "bond0")
    assert (bond.mac, bond.address, bond.dhcp_enabled, bond.mtu, bond.enabled) == (
        "52:54:00:aa:00:09",
        "",
        True,
        1500,
        True,
    )
    assert network.interfaces["bond0"].index == 4
    # Members lose their IP binding: no lease, no routes, no DHCP host.
    for name in ("Ethernet", "Ethernet 2"):
        member = adapter(os.state, name)
        assert (member.address, member.dhcp_enabled) == ("", False)
        assert network.interfaces[name].team == "bond_bond0"
    assert network.routes == []
    assert os.get_dhcp_hosts_in_use() == []
    assert calls(os)[-1] == "create_network_team"


def test_team_without_mac_or_primary_name_uses_first_member_and_team_name() -> None:
    os = guest()
    os.create_network_team("team1", "balance-xor", "layer2", ["Ethernet 2", "Ethernet"], None)
    assert os.state.network.teams["team1"].mac == MAC1
    assert adapter(os.state, "team1").mac == MAC1
    assert os.state.network.team_nics["team1"].vlan_id is None


def test_team_primary_nic_on_a_vlan() -> None:
    os = guest()
    os.create_network_team("t", "802.3ad", None, ["Ethernet"], None, "t-nic", 30)
    assert os.state.network.team_nics["t-nic"].vlan_id == 30


@pytest.mark.parametrize(
    "version",
    [WindowsVersion(major=6, minor=1, build=7601), WindowsVersion(major=6, minor=0, build=6002)],
)
def test_no_team_manager_before_windows_2012(version: WindowsVersion) -> None:
    os = guest(version)
    with pytest.raises(ItemNotFound, match="No network team manager available"):
        teamed(os)
    assert os.state.network.teams == {}


def test_no_team_manager_when_lbfo_is_absent() -> None:
    os = guest()
    os.state.network.lbfo_available = False
    with pytest.raises(ItemNotFound, match="No network team manager available"):
        teamed(os)
    assert calls(os) == []


def test_team_refusals() -> None:
    os = guest()
    with pytest.raises(ItemNotFound):
        os.create_network_team("t", "802.3ad", None, ["Ethernet", "Wi-Fi"], None)
    with pytest.raises(OSUtilsError, match="at least one member"):
        os.create_network_team("t", "802.3ad", None, [], None)
    with pytest.raises(OSUtilsError, match="already exists"):
        os.create_network_team("t", "802.3ad", None, ["Ethernet"], None, "Ethernet 2")
    assert calls(os) == [] and len(os.state.adapters) == 2
    teamed(os, ["Ethernet"])
    with pytest.raises(OSUtilsError, match="already exists"):
        os.create_network_team("bond_bond0", "802.3ad", None, ["Ethernet 2"], None)
    with pytest.raises(OSUtilsError, match="cannot join"):
        os.create_network_team("t2", "802.3ad", None, ["Ethernet"], None)
    with pytest.raises(OSUtilsError, match="cannot join"):
        os.create_network_team("t2", "802.3ad", None, ["bond0"], None)
    with pytest.raises(OSUtilsError, match="member of team"):
        os.set_static_network_config("Ethernet", "192.0.2.5", 24, None, [])


def test_team_nic_with_vlan() -> None:
    os = teamed(guest())
    os.add_network_team_nic("bond_bond0", "vlan101", 101)

    nic = adapter(os.state, "vlan101")
    assert (nic.mac, nic.address, nic.enabled) == (MAC0, "", True)
    assert os.state.network.team_nics["vlan101"].vlan_id == 101
    (event,) = [e for e in os.trace.of_kind("os") if e.get("call") == "add_network_team_nic"]
    assert (event.get("team"), event.get("name"), event.get("vlan_id")) == (
        "bond_bond0",
        "vlan101",
        101,
    )
    os.set_network_adapter_mtu("vlan101", 1400)
    os.set_static_network_config("vlan101", "198.51.100.20", 24, "198.51.100.1", [])
    index = os.state.network.interfaces["vlan101"].index
    assert os.get_default_gateway() == (index, "198.51.100.1")


def test_team_nic_refusals() -> None:
    os = teamed(guest())
    with pytest.raises(ItemNotFound, match="Network team not found: bond_nic0"):
        os.add_network_team_nic("bond_nic0", "vlan7", 7)
    os.add_network_team_nic("bond_bond0", "vlan7", 7)
    with pytest.raises(OSUtilsError, match="VLAN 7"):
        os.add_network_team_nic("bond_bond0", "vlan7b", 7)
    with pytest.raises(OSUtilsError, match="already exists"):
        os.add_network_team_nic("bond_bond0", "VLAN7", 8)


# --- routes ----------------------------------------------------------------------------------


def test_route_via_the_default_gateway_lasts_until_reboot() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", [])
    index, gateway = os.get_default_gateway()
    assert index is not None and gateway == "192.0.2.1"

    os.add_static_route("169.254.169.254", "255.255.255.255", gateway, index, 10)

    assert os.check_static_route_exists("169.254.169.254") is True
    route = os.state.network.routes[-1]
    assert route == IPRoute("169.254.169.254/32", "192.0.2.1", "Ethernet", None, False)
    (event,) = [e for e in os.trace.of_kind("os") if e.get("call") == "add_static_route"]
    assert (event.get("destination"), event.get("interface"), event.get("metric")) == (
        "169.254.169.254",
        "Ethernet",
        10,
    )
    os.state.network.power_on()
    assert os.check_static_route_exists("169.254.169.254") is False
    assert os.get_default_gateway() == (index, "192.0.2.1")


def test_route_next_hop_on_a_static_subnet_picks_that_interface() -> None:
    os = guest()
    os.set_static_network_config("Ethernet 2", "192.0.2.5", 24, None, [])
    os.add_static_route("10.9.0.0", "255.255.0.0", "192.0.2.77", 0, 0)
    assert os.state.network.routes[-1].interface == "Ethernet 2"
    assert os.check_static_route_exists("10.9.0.0") is True
    assert os.check_static_route_exists("10.9.0.1") is False


@pytest.mark.parametrize(
    ("destination", "mask", "next_hop", "message"),
    [
        ("169.254.169.254", "255.255.255.255", "203.0.113.1", "does not lie on the same network"),
        ("10.9.0.1", "255.255.0.0", "192.0.2.1", "mask parameter is invalid"),
        ("10.9.0.0", "255.0.255.0", "192.0.2.1", "Invalid netmask"),
        ("not-an-ip", "255.255.255.255", "192.0.2.1", "Invalid route destination"),
        ("2001:db8::", "64", "192.0.2.1", "bad argument"),
    ],
)
def test_route_add_failures(destination: str, mask: str, next_hop: str, message: str) -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", [])
    with pytest.raises(OSUtilsError, match=message):
        os.add_static_route(destination, mask, next_hop, 2, 10)
    assert len(os.state.network.routes) == 1


def test_route_add_twice_fails() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "192.0.2.5", 24, "192.0.2.1", [])
    os.add_static_route("169.254.169.254", "255.255.255.255", "192.0.2.1", 2, 10)
    with pytest.raises(OSUtilsError, match="already exists"):
        os.add_static_route("169.254.169.254", "255.255.255.255", "192.0.2.1", 2, 10)


def test_ipv6_routes_are_not_static_ipv4_routes() -> None:
    os = guest()
    os.set_static_network_config("Ethernet", "2001:db8::5", 64, "2001:db8::1", [])
    assert os.check_static_route_exists("::") is False
    assert os.get_default_gateway() == (None, None)
