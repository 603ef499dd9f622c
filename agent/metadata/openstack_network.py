"""OpenStack ``network_data.json`` as :class:`guestsim.agent.network.NetworkDetailsV2`.

The same document is served by the Nova metadata API and written on config drives. Links
become physical NICs, bonds or VLANs (any link type other than ``bond`` and ``vlan`` is a
physical NIC); only networks of type exactly ``ipv4`` or ``ipv6`` are kept (DHCP and SLAAC
networks need nothing from the agent); ``dns`` services become name servers, per network
and globally. Bond settings are validated by the model, so an unknown bond mode or
transmit hash policy fails the parse.

Input is the already decoded JSON document; fetching it (and treating a 404 as "no v2
data") is the service's business.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from guestsim.agent import network

LOG = logging.getLogger(__name__)

LINK_TYPE_BOND = "bond"
LINK_TYPE_VLAN = "vlan"
NETWORK_TYPE_IPV4 = "ipv4"
NETWORK_TYPE_IPV6 = "ipv6"
SERVICE_TYPE_DNS = "dns"


def parse_network_data(document: Any) -> network.NetworkDetailsV2:
    """The links, static networks and DNS services of a ``network_data.json`` document."""
    if not isinstance(document, Mapping):
        raise network.NetworkDataError("network_data.json is not a JSON object")
    links = [
        _link(item, f"network_data.json: links[{index}]")
        for index, item in enumerate(_items(document, "links"))
    ]
    networks = [
        _network(item, f"network_data.json: networks[{index}]")
        for index, item in enumerate(_items(document, "networks"))
        if item.get("type") in (NETWORK_TYPE_IPV4, NETWORK_TYPE_IPV6)
    ]
    services: list[network.NameServerService] = []
    addresses = _dns_addresses(_items(document, "services"), "network_data.json: services")
    if addresses:
        services.append(network.NameServerService(addresses, None))
    return network.NetworkDetailsV2(links=links, networks=networks, services=services)


def _items(document: Mapping[str, Any], key: str, where: str = "network_data.json") -> list[Any]:
    """The list of objects at ``key`` of the object at ``where``; absent (or empty) is ``[]``."""
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise network.NetworkDataError(f"{where}: {key!r} is not a list of objects")
    return value


def _required(item: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise network.NetworkDataError(f"{where}: missing {key!r}")
    return item[key]


def _optional_int(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as ex:
        raise network.NetworkDataError(f"{where}: {key!r} is not an integer: {value!r}") from ex


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _link(item: Mapping[str, Any], where: str) -> network.Link:
    link_id = str(_required(item, "id", where))
    kind = item.get("type")
    mac = _optional_str(item.get("ethernet_mac_address"))
    bond = None
    vlan_link = None
    vlan_id = None
    if kind == LINK_TYPE_BOND:
        link_type = network.LINK_TYPE_BOND
        # Nova has no LACP rate field; the miimon interval is not used on Windows.
        members = item.get("bond_links") or []
        if not isinstance(members, list):
            raise network.NetworkDataError(f"{where}: 'bond_links' is not a list: {members!r}")
        bond = network.Bond(
            members=[str(member) for member in members],
            type=network.check_bond_mode(item.get("bond_mode")),
            lb_algorithm=_optional_str(item.get("bond_xmit_hash_policy")),
            lacp_rate=None,
        )
    elif kind == LINK_TYPE_VLAN:
        link_type = network.LINK_TYPE_VLAN
        vlan_link = _optional_str(item.get("vlan_link"))
        vlan_id = _optional_int(item.get("vlan_id"), where, "vlan_id")
        if item.get("vlan_mac_address"):
            mac = str(item["vlan_mac_address"])
    else:
        # phy, ovs, tap, bridge, vif, hw_veb, a missing type ...: all physical NICs.
        link_type = network.LINK_TYPE_PHYSICAL
    return network.Link(
        id=link_id,
        # The link id is also the name the Windows plugin gives the adapter.
        name=link_id,
        type=link_type,
        enabled=True,
        mac_address=mac,
        mtu=_optional_int(item.get("mtu"), where, "mtu"),
        bond=bond,
        vlan_link=vlan_link,
        vlan_id=vlan_id,
    )


def prefix_length(netmask: Any) -> int:
    """A dotted IPv4 mask, an IPv6 mask (``ffff:ffff::``) or a prefix length, as a length."""
    text = str(netmask).strip()
    if text.isdigit():
        return int(text)
    try:
        mask = ipaddress.ip_address(text)
    except ValueError as ex:
        raise network.NetworkDataError(f"Invalid netmask: {text!r}") from ex
    bits = format(int(mask), f"0{mask.max_prefixlen}b")
    if "01" in bits:
        raise network.NetworkDataError(f"Invalid netmask: {text!r}")
    return bits.count("1")


def _cidr(address: str, netmask: Any) -> str:
    # Quirk kept: with no netmask the address goes through as written; if it carries no
    # "/prefix" either, the network plugin fails later when it splits it.
    if netmask is None:
        return address
    if "/" in address:
        raise network.NetworkDataError(f"Address {address!r} has a prefix and a netmask")
    return f"{address}/{prefix_length(netmask)}"


def _network(item: Mapping[str, Any], where: str) -> network.Network:
    if "ip_address" not in item:
        raise network.NetworkDataError(f"Network {item.get('id')!r} has no ip_address")
    routes = [
        network.Route(
            network_cidr=_cidr(
                str(_required(route, "network", f"{where}: routes[{index}]")),
                route.get("netmask"),
            ),
            gateway=str(_required(route, "gateway", f"{where}: routes[{index}]")),
        )
        for index, route in enumerate(_items(item, "routes", where))
    ]
    return network.Network(
        link=str(item.get("link")),
        address_cidr=_cidr(str(item["ip_address"]), item.get("netmask")),
        dns_nameservers=_dns_addresses(_items(item, "services", where), f"{where}: services"),
        routes=routes,
    )


def _dns_addresses(services: list[Mapping[str, Any]], where: str) -> list[str]:
    addresses: list[str] = []
    for index, service in enumerate(services):
        if service.get("type") == SERVICE_TYPE_DNS:
            addresses.append(str(_required(service, "address", f"{where}[{index}]")))
        else:
            LOG.warning("Skipping unsupported service type: %s", service.get("type"))
    return addresses
