"""NetworkConfigPlugin's log lines, compared whole: what an image builder reads in the agent's
log to see which adapters were renamed, teamed and configured, and why details were not
used.

The machines are those of ``test_networkconfig.py``: a simulated OpenStack serving
``network_data.json`` (v2) or a stub service handing the legacy list (v1).
"""

from __future__ import annotations

import pytest

from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE
from guestsim.simulator.machine import RunResult
from tests.agent.test_networkconfig import (
    BOND_VLAN_DOCUMENT,
    V1_MAC0,
    V1_MAC1,
    details,
    failure,
    os_calls,
    outcome,
    physical_document,
    run_v1,
    run_v2,
    two_nic_state,
    v1_state,
)

PREFIX = "boot 1 {level} agent.plugins.networkconfig: "


def plugin_log(result: RunResult) -> list[str]:
    return [line for line in result.log if " agent.plugins.networkconfig: " in line]


def line(level: str, message: str) -> str:
    return PREFIX.format(level=level) + message


def test_v2_bond_and_vlan_steps_are_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run_v2(monkeypatch, BOND_VLAN_DOCUMENT)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert plugin_log(result) == [
        line("INFO", 'Renaming network adapter "Ethernet" to "nic0"'),
        line("INFO", 'Renaming network adapter "Ethernet 2" to "nic1"'),
        line("INFO", "Creating network team \"bond_bond0\" with members ['nic0', 'nic1']"),
        line("INFO", 'Adding team NIC "vlan101" (VLAN 101) to team "bond_bond0"'),
        line(
            "INFO",
            'Setting static network configuration on "vlan101": address 198.51.100.20/24, '
            "gateway 198.51.100.1, DNS ['198.51.100.53']",
        ),
        line(
            "INFO",
            'Setting static network configuration on "vlan101": address 2001:db8:10::20/64, '
            "gateway 2001:db8:10::1, DNS []",
        ),
    ]


def test_v2_network_without_default_route_is_logged_without_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = two_nic_state()
    state.adapters[0].name = "lan0"
    routes = [{"network": "10.0.0.0", "netmask": "255.0.0.0", "gateway": "203.0.113.254"}]

    result, _ = run_v2(monkeypatch, physical_document(routes=routes), state=state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert plugin_log(result) == [
        line(
            "INFO",
            'Setting static network configuration on "lan0": address 203.0.113.10/24, '
            "gateway None, DNS ['192.0.2.53']",
        )
    ]
    assert os_calls(result, "set_static_network_config") == [
        ("set_static_network_config", "lan0", "203.0.113.10/24", None, ("192.0.2.53",))
    ]


def test_no_network_details_is_logged_at_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run_v2(monkeypatch, None)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert plugin_log(result) == [line("DEBUG", "Network details were not provided")]


def test_v1_configured_missing_and_unused_adapters_are_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured = details(mac=V1_MAC1, address="203.0.113.20")
    unused = details(mac="FA:16:3E:00:10:99", address="203.0.113.30")

    result = run_v1(monkeypatch, [configured, unused], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert plugin_log(result) == [
        line("INFO", "Configuring network adapter: Ethernet 2"),
        line("WARNING", f"Missing details for adapter {V1_MAC0}"),
        line("WARNING", "Details not used for adapter FA:16:3E:00:10:99"),
    ]


def test_v1_nothing_configured_is_an_error_in_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    incomplete = details(netmask=None)

    result = run_v1(monkeypatch, [incomplete], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert plugin_log(result) == [
        line("ERROR", f"Incomplete NetworkDetails object {incomplete}"),
        line("WARNING", f"Missing details for adapter {V1_MAC1}"),
        line("WARNING", f"Missing details for adapter {V1_MAC0}"),
        line("ERROR", "No adapters were configured"),
    ]


def test_v1_unknown_adapter_name_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_v1(monkeypatch, [details(name="lan", mac=None)], v1_state())

    assert failure(result) == (
        "NetworkConfigError: Cannot find the adapter of network details named 'lan'"
    )


def test_v1_eth_index_past_the_last_adapter_leaves_the_entry_unmatched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = run_v1(monkeypatch, [details(name="eth2", mac=None)], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == []
    assert plugin_log(result) == [
        line("WARNING", f"Missing details for adapter {V1_MAC1}"),
        line("WARNING", f"Missing details for adapter {V1_MAC0}"),
        line("WARNING", "Details not used for adapter None"),
        line("ERROR", "No adapters were configured"),
    ]


def test_v1_first_eth_index_is_the_first_adapter_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_v1(monkeypatch, [details(name="eth0", mac=None)], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [call[1] for call in os_calls(result)] == ["Ethernet"]


def test_v1_ipv6_only_adapter_after_an_ipv4_one_keeps_the_ipv4_reboot_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Quirk kept (see the plugin): an IPv6-only adapter reuses the previous IPv4 call's hint.
    from guestsim.simulator.windows.version import WindowsVersion

    state = v1_state(WindowsVersion(major=6, minor=1, build=7601))
    state.network.legacy_static_reboot_required = True
    v4 = details(mac=V1_MAC1, address="203.0.113.20")
    v6_only = details(address=None, netmask=None, address6="2001:db8::10", netmask6="64")

    result = run_v1(monkeypatch, [v6_only, v4], state)

    first = [e for e in result.trace.of_kind("plugin_end") if e.boot == 1]
    assert [(e.get("status"), e.get("reboot")) for e in first] == [(PLUGIN_EXECUTION_DONE, True)]


def test_v1_ipv6_only_first_adapter_error_is_pythons_unbound_local_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v6_only = details(address=None, netmask=None, address6="2001:db8::10", netmask6="64")

    result = run_v1(monkeypatch, [v6_only], v1_state())

    assert failure(result) == (
        "UnboundLocalError: local variable 'reboot' referenced before assignment"
    )


def test_v1_entry_matched_by_name_keeps_all_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = details(
        name="Ethernet 2",
        mac=None,
        address6="2001:db8:20::10",
        netmask6="64",
        gateway6="2001:db8:20::1",
    )

    result = run_v1(monkeypatch, [entry], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result) == [
        (
            "set_static_network_config",
            "Ethernet 2",
            "203.0.113.10/24",
            "203.0.113.1",
            ("203.0.113.53", "203.0.113.54"),
        ),
        ("set_static_network_config", "Ethernet 2", "2001:db8:20::10/64", "2001:db8:20::1", ()),
    ]


def test_v1_eth_index_follows_adapter_names_not_macs(monkeypatch: pytest.MonkeyPatch) -> None:
    state = v1_state()
    # Name order ("Ethernet", "Ethernet 2") is the reverse of MAC order here.
    state.adapters[0].mac, state.adapters[1].mac = V1_MAC0, V1_MAC1

    result = run_v1(monkeypatch, [details(name="eth0", mac=None)], state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [call[1] for call in os_calls(result)] == ["Ethernet"]


def test_v1_half_ipv4_settings_are_not_applied_beside_complete_ipv6(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Ethernet 2" (configured first) has IPv4; "Ethernet" has an IPv4 address without a
    # netmask, and a complete IPv6 half: only its IPv6 is set.
    v4 = details(mac=V1_MAC1, address="203.0.113.20")
    half_v4 = details(netmask=None, address6="2001:db8::10", netmask6="64")

    result = run_v1(monkeypatch, [v4, half_v4], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [(c[1], c[2]) for c in os_calls(result)] == [
        ("Ethernet 2", "203.0.113.20/24"),
        ("Ethernet", "2001:db8::10/64"),
    ]


def test_v1_half_ipv6_settings_are_not_applied_beside_complete_ipv4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    half_v6 = details(address6="2001:db8::10", netmask6=None)

    result = run_v1(monkeypatch, [half_v6], v1_state())

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert [(c[1], c[2]) for c in os_calls(result)] == [("Ethernet", "203.0.113.10/24")]


def test_v2_default_route_is_found_whatever_the_host_bits_of_other_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = two_nic_state()
    state.adapters[0].name = "lan0"
    routes = [
        # A route written with host bits set: not a default route, and not an error.
        {"network": "10.0.0.5", "netmask": "255.0.0.0", "gateway": "203.0.113.254"},
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "203.0.113.1"},
    ]

    result, _ = run_v2(monkeypatch, physical_document(routes=routes), state=state)

    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_static_network_config") == [
        ("set_static_network_config", "lan0", "203.0.113.10/24", "203.0.113.1", ("192.0.2.53",))
    ]
