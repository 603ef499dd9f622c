"""The network data every metadata parser produces and the network plugin applies.

Two shapes exist, as upstream has them: the legacy per-adapter :class:`NetworkDetails`
(v1) and :class:`NetworkDetailsV2`, a graph of links (physical NICs, bonds, VLANs),
networks (static addresses on a link) and name-server services. Bond settings are checked
when the objects are built, so a document naming an unknown bond mode, transmit hash
policy or LACP rate fails the parse (and so the network plugin) as it does upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LINK_TYPE_PHYSICAL = "physical"
LINK_TYPE_BOND = "bond"
LINK_TYPE_VLAN = "vlan"
LINK_TYPES = (LINK_TYPE_PHYSICAL, LINK_TYPE_BOND, LINK_TYPE_VLAN)

BOND_TYPE_8023AD = "802.3ad"
BOND_TYPE_BALANCE_RR = "balance-rr"
BOND_TYPE_ACTIVE_BACKUP = "active-backup"
BOND_TYPE_BALANCE_XOR = "balance-xor"
BOND_TYPE_BROADCAST = "broadcast"
BOND_TYPE_BALANCE_TLB = "balance-tlb"
BOND_TYPE_BALANCE_ALB = "balance-alb"
AVAILABLE_BOND_TYPES = (
    BOND_TYPE_8023AD,
    BOND_TYPE_BALANCE_RR,
    BOND_TYPE_ACTIVE_BACKUP,
    BOND_TYPE_BALANCE_XOR,
    BOND_TYPE_BROADCAST,
    BOND_TYPE_BALANCE_TLB,
    BOND_TYPE_BALANCE_ALB,
)

BOND_LB_HASH_ALGORITHM_L2 = "layer2"
BOND_LB_HASH_ALGORITHM_L2_L3 = "layer2+3"
BOND_LB_HASH_ALGORITHM_L3_L4 = "layer3+4"
BOND_LB_HASH_ALGORITHM_E2_E3 = "encap2+3"
BOND_LB_HASH_ALGORITHM_E3_E4 = "encap3+4"
AVAILABLE_BOND_LB_ALGORITHMS = (
    BOND_LB_HASH_ALGORITHM_L2,
    BOND_LB_HASH_ALGORITHM_L2_L3,
    BOND_LB_HASH_ALGORITHM_L3_L4,
    BOND_LB_HASH_ALGORITHM_E2_E3,
    BOND_LB_HASH_ALGORITHM_E3_E4,
)

BOND_LACP_RATE_SLOW = "slow"
BOND_LACP_RATE_FAST = "fast"
AVAILABLE_BOND_LACP_RATES = (BOND_LACP_RATE_SLOW, BOND_LACP_RATE_FAST)


class NetworkDataError(ValueError):
    """A network document the agent cannot turn into network settings."""


def check_bond_mode(mode: str | None) -> str:
    if mode not in AVAILABLE_BOND_TYPES:
        raise NetworkDataError(f"Invalid bond type: {mode!r}")
    return mode


def check_bond_lb_algorithm(algorithm: str | None) -> str | None:
    if algorithm is not None and algorithm not in AVAILABLE_BOND_LB_ALGORITHMS:
        raise NetworkDataError(f"Invalid bond transmit hash policy: {algorithm!r}")
    return algorithm


def check_bond_lacp_rate(rate: str | None) -> str | None:
    if rate is not None and rate not in AVAILABLE_BOND_LACP_RATES:
        raise NetworkDataError(f"Invalid bond LACP rate: {rate!r}")
    return rate


@dataclass
class NetworkDetails:
    """Legacy (v1) settings of one adapter; the v6 fields are filled by a few parsers only."""

    name: str | None = None
    mac: str | None = None
    address: str | None = None
    address6: str | None = None
    netmask: str | None = None
    netmask6: str | None = None
    broadcast: str | None = None
    gateway: str | None = None
    gateway6: str | None = None
    dnsnameservers: list[str] | None = None


@dataclass
class Bond:
    """A bond's members (link ids), mode, transmit hash policy and LACP rate."""

    members: list[str]
    type: str
    lb_algorithm: str | None = None
    lacp_rate: str | None = None

    def __post_init__(self) -> None:
        check_bond_mode(self.type)
        check_bond_lb_algorithm(self.lb_algorithm)
        check_bond_lacp_rate(self.lacp_rate)


@dataclass
class Link:
    """A NIC, bond or VLAN. The Windows plugin renames adapters to ``name``."""

    id: str
    name: str
    type: str
    enabled: bool = True
    mac_address: str | None = None
    mtu: int | None = None
    bond: Bond | None = None
    vlan_link: str | None = None
    vlan_id: int | None = None

    def __post_init__(self) -> None:
        if self.type not in LINK_TYPES:
            raise NetworkDataError(f"Invalid link type: {self.type!r}")


@dataclass
class Route:
    """A route; a destination with prefix length 0 gives the network's gateway."""

    network_cidr: str
    gateway: str


@dataclass
class Network:
    """A static address (``address_cidr``) on the link whose *name* equals ``link``."""

    link: str
    address_cidr: str | None
    dns_nameservers: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)


@dataclass
class NameServerService:
    """Global DNS servers and search domains."""

    addresses: list[str]
    search: list[str] | None = None


@dataclass
class NetworkDetailsV2:
    links: list[Link] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    services: list[NameServerService] = field(default_factory=list)
