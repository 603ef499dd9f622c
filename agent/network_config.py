"""NoCloud-style ``network-config`` documents (versions 1 and 2) as network details.

NoCloud's ``network-config`` file and VMware's ``network`` guestinfo metadata key share
this format: version 1 is a list of typed items (``physical``, ``bond``, ``vlan``,
``nameserver``), version 2 is netplan's ``ethernets`` / ``bonds`` / ``vlans`` maps. Both
become :class:`guestsim.agent.network.NetworkDetailsV2`. Bond settings are validated by the model,
so an unknown bond mode, transmit hash policy or LACP rate fails the parse, and with it the
network plugin; so does an unsupported ``version``.

Input is an already parsed document (JSON or YAML); reading and parsing the text is the
calling service's business, since the services differ in how they treat unreadable text.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from guestsim.agent import network

LOG = logging.getLogger(__name__)

V1_PHYSICAL = "physical"
V1_BOND = "bond"
V1_VLAN = "vlan"
V1_NAMESERVER = "nameserver"
V1_DHCP_SUBNET_TYPES = ("dhcp", "dhcp6")

V2_ETHERNETS = "ethernets"
V2_BONDS = "bonds"
V2_VLANS = "vlans"
V2_DEFAULT_ROUTE = "default"

IPV4_DEFAULT = "0.0.0.0/0"
IPV6_DEFAULT = "::/0"


def parse_network_config(document: Any) -> network.NetworkDetailsV2:
    """Network details from a parsed ``network-config`` document.

    An outer ``network:`` key is unwrapped once; ``version`` 1 or 2 picks the format and
    anything else raises :class:`guestsim.agent.network.NetworkDataError`.
    """
    if not isinstance(document, Mapping):
        raise network.NetworkDataError(
            f"Network config must be a mapping, not {type(document).__name__}"
        )
    if "network" in document:
        document = document["network"]
        if not isinstance(document, Mapping):
            raise network.NetworkDataError(
                f"Network config 'network' must be a mapping, not {type(document).__name__}"
            )
    version = document.get("version")
    # ``bool`` is an ``int``; "version: true" is not a version.
    if version == 1 and not isinstance(version, bool):
        return _parse_v1(document)
    if version == 2 and not isinstance(version, bool):
        return _parse_v2(document)
    raise network.NetworkDataError(f"Unsupported network config version: {version!r}")


# --- shared helpers ---------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """How a wrongly typed value is named in an error: its JSON/YAML kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _mapping(value: Any, where: str, key: str) -> Mapping[str, Any]:
    """The mapping at ``key`` of the item at ``where``; absent (or empty) is ``{}``."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise network.NetworkDataError(f"{where}: {key!r} must be a mapping, not {_kind(value)}")
    return value


def _list(value: Any, where: str, key: str) -> list[Any]:
    """The list at ``key`` of the item at ``where``; absent (or empty) is ``[]``."""
    if not value:
        return []
    if not isinstance(value, list):
        raise network.NetworkDataError(f"{where}: {key!r} must be a list, not {_kind(value)}")
    return value


def _family_default(address: str, where: str = "network config") -> str:
    try:
        version = ipaddress.ip_address(address).version
    except ValueError as ex:
        raise network.NetworkDataError(f"{where}: invalid gateway address {address!r}") from ex
    return IPV6_DEFAULT if version == 6 else IPV4_DEFAULT


def _prefix_length(netmask: Any) -> int:
    """A netmask (``255.255.255.0``) or a bare prefix length (``24``) as a prefix length."""
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


def _with_prefix(address: str, netmask: Any) -> str:
    if "/" in address or netmask is None:
        return address
    return f"{address}/{_prefix_length(netmask)}"


def _str_list(value: Any, where: str = "network config", key: str = "value") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [str(item) for item in value]
    except TypeError as ex:
        raise network.NetworkDataError(
            f"{where}: {key!r} must be a list or a string, not {_kind(value)}"
        ) from ex


def _optional_int(value: Any, where: str = "network config", key: str = "value") -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as ex:
        raise network.NetworkDataError(f"{where}: {key!r} is not an integer: {value!r}") from ex


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


# --- version 1 ------------------------------------------------------------------------------


def _v1_networks(link_name: str, item: Mapping[str, Any], where: str) -> list[network.Network]:
    networks: list[network.Network] = []
    subnets = item.get("subnets")
    if subnets and not isinstance(subnets, list):
        # As upstream: subnets that are not a list are skipped, not an error.
        LOG.warning("Skipping the subnets of %r: not a list: %r", link_name, subnets)
        return networks
    for index, subnet in enumerate(subnets or []):
        if not isinstance(subnet, Mapping):
            LOG.warning("Skipping a subnet of %r that is not a mapping: %r", link_name, subnet)
            continue
        if subnet.get("type") in V1_DHCP_SUBNET_TYPES:
            # DHCP needs no static settings; the plugin only configures static networks.
            continue
        at = f"{where}: subnets[{index}]"
        address = subnet.get("address")
        address_cidr = (
            None if address is None else _with_prefix(str(address), subnet.get("netmask"))
        )
        routes: list[network.Route] = []
        gateway = subnet.get("gateway")
        if gateway:
            routes.append(network.Route(_family_default(str(gateway), at), str(gateway)))
        for route_index, route in enumerate(_list(subnet.get("routes"), at, "routes")):
            if not isinstance(route, Mapping):
                raise network.NetworkDataError(
                    f"{at}: routes[{route_index}] must be a mapping, not {_kind(route)}"
                )
            destination = _with_prefix(str(route.get("network")), route.get("netmask"))
            routes.append(network.Route(destination, str(route.get("gateway"))))
        networks.append(
            network.Network(
                link=link_name,
                address_cidr=address_cidr,
                dns_nameservers=_str_list(subnet.get("dns_nameservers"), at, "dns_nameservers"),
                routes=routes,
            )
        )
    return networks


def _v1_link(
    item: Mapping[str, Any], link_type: str, where: str, **extra: Any
) -> network.Link | None:
    name = item.get("name")
    if not name:
        # Documented for physical items; a bond or VLAN without a name could never be
        # referenced either, so it is skipped the same way.
        LOG.warning("Skipping a %s network config item without a name", link_type)
        return None
    return network.Link(
        id=str(name),
        name=str(name),
        type=link_type,
        enabled=True,
        mac_address=_optional_str(item.get("mac_address")),
        mtu=_optional_int(item.get("mtu"), where, "mtu"),
        **extra,
    )


def _v1_bond(params: Mapping[str, Any], members: Any, where: str) -> network.Bond:
    mode = network.check_bond_mode(params.get("bond-mode"))
    # The LACP rate only means something for 802.3ad; for other modes it is not read.
    lacp_rate = params.get("bond-lacp-rate") if mode == network.BOND_TYPE_8023AD else None
    # The hash policy key is ``xmit_hash_policy`` here (cloud-init spells it
    # ``bond-xmit-hash-policy``); a document using cloud-init's spelling gets none.
    return network.Bond(
        members=_str_list(members, where, "bond_interfaces"),
        type=mode,
        lb_algorithm=params.get("xmit_hash_policy") or None,
        lacp_rate=lacp_rate or None,
    )


def _parse_v1(document: Mapping[str, Any]) -> network.NetworkDetailsV2:
    details = network.NetworkDetailsV2()
    items = document.get("config") or []
    if not isinstance(items, list):
        raise network.NetworkDataError("Network config v1 'config' must be a list")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            LOG.warning("Skipping a network config item that is not a mapping: %r", item)
            continue
        where = f"network config v1: config[{index}]"
        item_type = item.get("type")
        link: network.Link | None
        if item_type == V1_PHYSICAL:
            link = _v1_link(item, network.LINK_TYPE_PHYSICAL, where)
        elif item_type == V1_BOND:
            params = item.get("params")
            if not params:
                LOG.warning("Skipping bond %r: it has no params", item.get("name"))
                continue
            link = _v1_link(
                item,
                network.LINK_TYPE_BOND,
                where,
                bond=_v1_bond(
                    _mapping(params, where, "params"), item.get("bond_interfaces"), where
                ),
            )
        elif item_type == V1_VLAN:
            link = _v1_link(
                item,
                network.LINK_TYPE_VLAN,
                where,
                vlan_link=_optional_str(item.get("vlan_link")),
                vlan_id=_optional_int(item.get("vlan_id"), where, "vlan_id"),
            )
        elif item_type == V1_NAMESERVER:
            search = item.get("search")
            details.services.append(
                network.NameServerService(
                    addresses=_str_list(item.get("address"), where, "address"),
                    search=None if search is None else _str_list(search, where, "search"),
                )
            )
            continue
        else:
            # ``bridge`` and ``route`` items are not supported; unknown types neither.
            LOG.warning("Skipping unsupported network config item type %r", item_type)
            continue
        if link is None:
            continue
        details.links.append(link)
        details.networks.extend(_v1_networks(link.name, item, where))
    return details


# --- version 2 ------------------------------------------------------------------------------


def _v2_routes(item: Mapping[str, Any], where: str) -> list[network.Route]:
    routes: list[network.Route] = []
    # One default route only: gateway6 wins over gateway4 when both are given.
    gateway = item.get("gateway6") or item.get("gateway4")
    if gateway:
        routes.append(network.Route(_family_default(str(gateway), where), str(gateway)))
    for index, route in enumerate(_list(item.get("routes"), where, "routes")):
        if not isinstance(route, Mapping):
            raise network.NetworkDataError(
                f"{where}: routes[{index}] must be a mapping, not {_kind(route)}"
            )
        if "to" not in route:
            # As upstream: a route without a destination is an error, not skipped.
            raise network.NetworkDataError(f"Network config route without 'to': {route!r}")
        if not route.get("via"):
            raise network.NetworkDataError(f"Network config route without 'via': {route!r}")
        via = str(route["via"])
        to = str(route["to"])
        if to == V2_DEFAULT_ROUTE:
            to = _family_default(via, f"{where}: routes[{index}]")
        routes.append(network.Route(to, via))
    return routes


def _v2_addressing(
    link: network.Link, item: Mapping[str, Any], details: network.NetworkDetailsV2, where: str
) -> None:
    routes = _v2_routes(item, where)
    nameservers = _mapping(item.get("nameservers"), where, "nameservers")
    at = f"{where}: nameservers"
    dns = _str_list(nameservers.get("addresses"), at, "addresses")
    search = _str_list(nameservers.get("search"), at, "search")
    for address in _str_list(item.get("addresses"), where, "addresses"):
        details.networks.append(
            network.Network(
                link=link.name,
                address_cidr=address,
                dns_nameservers=list(dns),
                routes=list(routes),
            )
        )
    # One name-server service per item, even an empty one. Upstream joins the search
    # domains into one comma-separated string; the model keeps them as a list.
    details.services.append(network.NameServerService(addresses=list(dns), search=search))


def _v2_section(document: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any], str]]:
    """``(name, item, where)`` for each entry of the ``key`` map."""
    section = document.get(key) or {}
    if not isinstance(section, Mapping):
        raise network.NetworkDataError(f"Network config v2 {key!r} must be a mapping")
    entries: list[tuple[str, Mapping[str, Any], str]] = []
    for name, item in section.items():
        if not isinstance(item, Mapping):
            # ``eth0: {}`` written as ``eth0:`` parses to None: an item with no settings.
            item = {}
        entries.append((str(name), item, f"network config v2: {key}[{str(name)!r}]"))
    return entries


def _v2_bond(name: str, parameters: Mapping[str, Any], members: Any, where: str) -> network.Bond:
    try:
        mode = network.check_bond_mode(parameters.get("mode"))
    except network.NetworkDataError as ex:
        raise network.NetworkDataError(f"Bond {name!r}: {ex}") from ex
    lacp_rate = parameters.get("lacp-rate") if mode == network.BOND_TYPE_8023AD else None
    return network.Bond(
        members=_str_list(members, where, "interfaces"),
        type=mode,
        lb_algorithm=parameters.get("transmit-hash-policy") or None,
        lacp_rate=lacp_rate or None,
    )


def _parse_v2(document: Mapping[str, Any]) -> network.NetworkDetailsV2:
    details = network.NetworkDetailsV2()
    for key, item, where in _v2_section(document, V2_ETHERNETS):
        match = _mapping(item.get("match"), where, "match")
        link = network.Link(
            id=key,
            # The adapter is renamed to ``set-name``; the id stays the map key, which is
            # what bonds and VLANs refer to.
            name=str(item.get("set-name") or key),
            type=network.LINK_TYPE_PHYSICAL,
            enabled=True,
            mac_address=_optional_str(match.get("macaddress")),
            mtu=_optional_int(item.get("mtu"), where, "mtu"),
        )
        details.links.append(link)
        _v2_addressing(link, item, details, where)
    for key, item, where in _v2_section(document, V2_BONDS):
        link = network.Link(
            id=key,
            name=key,
            type=network.LINK_TYPE_BOND,
            enabled=True,
            bond=_v2_bond(
                key,
                _mapping(item.get("parameters"), where, "parameters"),
                item.get("interfaces"),
                where,
            ),
        )
        details.links.append(link)
        _v2_addressing(link, item, details, where)
    for key, item, where in _v2_section(document, V2_VLANS):
        link = network.Link(
            id=key,
            name=key,
            type=network.LINK_TYPE_VLAN,
            enabled=True,
            vlan_link=_optional_str(item.get("link")),
            vlan_id=_optional_int(item.get("id"), where, "id"),
        )
        details.links.append(link)
        _v2_addressing(link, item, details, where)
    if document.get("bridges"):
        LOG.warning("Network config v2 bridges are not supported; ignored")
    return details
