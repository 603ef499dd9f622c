"""NoCloud-style network-config v1 / v2 documents turned into network details (§3.6)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from guestsim.agent.network import (
    Bond,
    Link,
    NameServerService,
    Network,
    NetworkDataError,
    NetworkDetailsV2,
    Route,
)
from guestsim.agent.network_config import parse_network_config


def parse_yaml(text: str) -> NetworkDetailsV2:
    return parse_network_config(yaml.safe_load(text))


# --- envelope -------------------------------------------------------------------------------


def test_an_outer_network_key_is_unwrapped() -> None:
    inner = {"version": 1, "config": [{"type": "physical", "name": "eth0"}]}
    assert parse_network_config({"network": inner}) == parse_network_config(inner)
    assert parse_network_config({"network": inner}).links[0].name == "eth0"


@pytest.mark.parametrize("version", [None, 3, "2", True, 0])
def test_an_unsupported_version_raises(version: Any) -> None:
    document: dict[str, Any] = {"ethernets": {}}
    if version is not None:
        document["version"] = version
    with pytest.raises(NetworkDataError, match="version"):
        parse_network_config(document)


@pytest.mark.parametrize("document", [None, [], "version: 2", {"network": ["x"]}])
def test_a_document_that_is_not_a_mapping_raises(document: Any) -> None:
    with pytest.raises(NetworkDataError, match="mapping"):
        parse_network_config(document)


def test_empty_v1_and_v2_documents_give_empty_details() -> None:
    assert parse_network_config({"version": 1}) == NetworkDetailsV2()
    assert parse_network_config({"version": 2}) == NetworkDetailsV2()


# --- version 1 ------------------------------------------------------------------------------

V1_FULL = """
version: 1
config:
  - type: physical
    name: lan0
    mac_address: "52:54:00:12:34:01"
    mtu: 9000
    subnets:
      - type: static
        address: 192.0.2.10
        netmask: 255.255.255.0
        gateway: 192.0.2.1
        dns_nameservers: [192.0.2.53]
        routes:
          - {network: 198.51.100.0, netmask: 255.255.255.0, gateway: 192.0.2.254}
      - type: static6
        address: "2001:db8::10/64"
        gateway: "2001:db8::1"
      - type: dhcp
      - type: dhcp6
  - type: physical
    name: lan1
    mac_address: "52:54:00:12:34:02"
  - type: bond
    name: bond0
    mac_address: "52:54:00:12:34:03"
    bond_interfaces: [lan0, lan1]
    params:
      bond-mode: 802.3ad
      bond-lacp-rate: fast
      xmit_hash_policy: layer3+4
    subnets:
      - {type: static, address: 10.0.0.5/24}
  - type: vlan
    name: bond0.42
    vlan_link: bond0
    vlan_id: 42
    mtu: 1500
  - type: nameserver
    address: [192.0.2.53, 192.0.2.54]
    search: [sim.test]
"""


def test_v1_document_with_every_supported_item() -> None:
    details = parse_yaml(V1_FULL)
    assert details.links == [
        Link("lan0", "lan0", "physical", True, "52:54:00:12:34:01", 9000),
        Link("lan1", "lan1", "physical", True, "52:54:00:12:34:02", None),
        Link(
            "bond0",
            "bond0",
            "bond",
            True,
            "52:54:00:12:34:03",
            None,
            bond=Bond(["lan0", "lan1"], "802.3ad", "layer3+4", "fast"),
        ),
        Link("bond0.42", "bond0.42", "vlan", True, None, 1500, vlan_link="bond0", vlan_id=42),
    ]
    assert details.networks == [
        Network(
            "lan0",
            "192.0.2.10/24",
            ["192.0.2.53"],
            [Route("0.0.0.0/0", "192.0.2.1"), Route("198.51.100.0/24", "192.0.2.254")],
        ),
        Network("lan0", "2001:db8::10/64", [], [Route("::/0", "2001:db8::1")]),
        Network("bond0", "10.0.0.5/24", [], []),
    ]
    assert details.services == [NameServerService(["192.0.2.53", "192.0.2.54"], ["sim.test"])]


def test_v1_dhcp_subnets_give_no_network() -> None:
    details = parse_yaml(
        "version: 1\nconfig:\n- {type: physical, name: e0, subnets: [{type: dhcp}, {type: dhcp6}]}"
    )
    assert details.networks == []
    assert [link.name for link in details.links] == ["e0"]


def test_v1_address_without_netmask_is_kept_as_written() -> None:
    details = parse_yaml(
        "version: 1\nconfig:\n- {type: physical, name: e0, subnets: [{address: 192.0.2.9}]}"
    )
    assert details.networks[0].address_cidr == "192.0.2.9"


def test_v1_ipv6_netmask_and_prefix_length_netmask_become_prefixes() -> None:
    details = parse_network_config(
        {
            "version": 1,
            "config": [
                {
                    "type": "physical",
                    "name": "e0",
                    "subnets": [
                        {"address": "2001:db8::5", "netmask": "ffff:ffff:ffff:ffff::"},
                        {"address": "192.0.2.5", "netmask": 26},
                    ],
                }
            ],
        }
    )
    assert [n.address_cidr for n in details.networks] == ["2001:db8::5/64", "192.0.2.5/26"]


def test_v1_items_that_are_not_mappings_or_of_unknown_type_are_skipped() -> None:
    details = parse_yaml(
        """
version: 1
config:
  - just a string
  - {type: bridge, name: br0, bridge_interfaces: [e0]}
  - {type: route, destination: 0.0.0.0/0, gateway: 192.0.2.1}
  - {type: physical, name: e0}
"""
    )
    assert [link.name for link in details.links] == ["e0"]


def test_v1_physical_without_a_name_is_skipped() -> None:
    details = parse_yaml(
        "version: 1\nconfig:\n- {type: physical, mac_address: '52:54:00:00:00:01'}"
    )
    assert details == NetworkDetailsV2()


def test_v1_bond_without_params_is_skipped() -> None:
    details = parse_yaml("version: 1\nconfig:\n- {type: bond, name: b0, bond_interfaces: [e0]}")
    assert details.links == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"bond-mode": "round-robin"}, "bond type"),
        ({"bond-mode": "active-backup", "xmit_hash_policy": "layer9"}, "hash policy"),
        ({"bond-mode": "802.3ad", "bond-lacp-rate": "sometimes"}, "LACP rate"),
    ],
)
def test_v1_invalid_bond_settings_raise(params: dict[str, str], error: str) -> None:
    document = {
        "version": 1,
        "config": [{"type": "bond", "name": "b0", "bond_interfaces": ["e0"], "params": params}],
    }
    with pytest.raises(NetworkDataError, match=error):
        parse_network_config(document)


def test_v1_lacp_rate_is_only_read_for_802_3ad() -> None:
    document = {
        "version": 1,
        "config": [
            {
                "type": "bond",
                "name": "b0",
                "bond_interfaces": ["e0"],
                "params": {"bond-mode": "active-backup", "bond-lacp-rate": "sometimes"},
            }
        ],
    }
    bond = parse_network_config(document).links[0].bond
    assert bond == Bond(["e0"], "active-backup", None, None)


def test_v1_cloud_init_hash_policy_spelling_is_not_read() -> None:
    document = {
        "version": 1,
        "config": [
            {
                "type": "bond",
                "name": "b0",
                "params": {"bond-mode": "balance-xor", "bond-xmit-hash-policy": "layer2"},
            }
        ],
    }
    bond = parse_network_config(document).links[0].bond
    assert bond is not None and bond.lb_algorithm is None


def test_v1_nameserver_without_search_has_none() -> None:
    details = parse_yaml("version: 1\nconfig:\n- {type: nameserver, address: [192.0.2.53]}")
    assert details.services == [NameServerService(["192.0.2.53"], None)]


# --- version 2 ------------------------------------------------------------------------------

V2_FULL = """
version: 2
ethernets:
  nic0:
    match: {macaddress: "00:50:56:00:50:01"}
    set-name: Ethernet0
    mtu: 1400
    addresses: [172.16.5.20/24, "2001:db8:5::20/64"]
    gateway4: 172.16.5.1
    routes:
      - {to: 10.10.0.0/16, via: 172.16.5.254}
    nameservers: {addresses: [172.16.5.53], search: [sim.test, lab.test]}
  nic1:
    match: {macaddress: "00:50:56:00:50:02"}
  nic2:
    match: {macaddress: "00:50:56:00:50:03"}
bonds:
  bond0:
    interfaces: [nic1, nic2]
    parameters: {mode: 802.3ad, lacp-rate: slow, transmit-hash-policy: layer2+3}
    addresses: [10.1.0.2/24]
vlans:
  vlan7:
    id: 7
    link: bond0
    addresses: [10.7.0.2/24]
    routes:
      - {to: default, via: 10.7.0.1}
bridges:
  br0: {interfaces: [nic0]}
"""


def test_v2_document_with_ethernets_bonds_and_vlans() -> None:
    details = parse_yaml(V2_FULL)
    assert details.links == [
        Link("nic0", "Ethernet0", "physical", True, "00:50:56:00:50:01", 1400),
        Link("nic1", "nic1", "physical", True, "00:50:56:00:50:02"),
        Link("nic2", "nic2", "physical", True, "00:50:56:00:50:03"),
        Link(
            "bond0",
            "bond0",
            "bond",
            True,
            bond=Bond(["nic1", "nic2"], "802.3ad", "layer2+3", "slow"),
        ),
        Link("vlan7", "vlan7", "vlan", True, vlan_link="bond0", vlan_id=7),
    ]
    nic0_routes = [Route("0.0.0.0/0", "172.16.5.1"), Route("10.10.0.0/16", "172.16.5.254")]
    assert details.networks == [
        # Networks name their link by its (renamed) name, which the plugin matches.
        Network("Ethernet0", "172.16.5.20/24", ["172.16.5.53"], nic0_routes),
        Network("Ethernet0", "2001:db8:5::20/64", ["172.16.5.53"], nic0_routes),
        Network("bond0", "10.1.0.2/24", [], []),
        Network("vlan7", "10.7.0.2/24", [], [Route("0.0.0.0/0", "10.7.0.1")]),
    ]
    # One service per item, the empty ones included.
    assert details.services == [
        NameServerService(["172.16.5.53"], ["sim.test", "lab.test"]),
        NameServerService([], []),
        NameServerService([], []),
        NameServerService([], []),
        NameServerService([], []),
    ]


def test_v2_gateway6_wins_over_gateway4() -> None:
    details = parse_yaml(
        """
version: 2
ethernets:
  e0:
    addresses: [192.0.2.2/24]
    gateway4: 192.0.2.1
    gateway6: "2001:db8::1"
"""
    )
    assert details.networks[0].routes == [Route("::/0", "2001:db8::1")]


def test_v2_default_route_takes_the_family_of_its_gateway() -> None:
    details = parse_yaml(
        """
version: 2
ethernets:
  e0:
    addresses: ["2001:db8::2/64"]
    routes: [{to: default, via: "2001:db8::1"}]
"""
    )
    assert details.networks[0].routes == [Route("::/0", "2001:db8::1")]


def test_v2_route_without_a_destination_raises() -> None:
    with pytest.raises(NetworkDataError, match="'to'"):
        parse_yaml("version: 2\nethernets:\n  e0: {routes: [{via: 192.0.2.1}]}")


def test_v2_ethernet_without_settings_is_a_bare_link() -> None:
    details = parse_yaml("version: 2\nethernets:\n  e0:\n")
    assert details.links == [Link("e0", "e0", "physical", True)]
    assert details.networks == []


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({}, "bond type"),
        ({"mode": "fastest"}, "bond type"),
        ({"mode": "balance-xor", "transmit-hash-policy": "layer7"}, "hash policy"),
        ({"mode": "802.3ad", "lacp-rate": "medium"}, "LACP rate"),
    ],
)
def test_v2_invalid_bond_parameters_raise(parameters: dict[str, str], error: str) -> None:
    document = {"version": 2, "bonds": {"b0": {"interfaces": ["e0"], "parameters": parameters}}}
    with pytest.raises(NetworkDataError, match=error):
        parse_network_config(document)


def test_v2_lacp_rate_is_only_read_for_802_3ad() -> None:
    document = {
        "version": 2,
        "bonds": {"b0": {"parameters": {"mode": "balance-rr", "lacp-rate": "medium"}}},
    }
    assert parse_network_config(document).links[0].bond == Bond([], "balance-rr", None, None)
