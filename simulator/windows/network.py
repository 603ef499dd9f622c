"""The fake Windows: network adapters' IP settings, LBFO teams and VLANs, and routes.

The adapters themselves (name, MAC, DHCP lease address, MTU, enabled) are
``WindowsState.adapters``. What Windows keeps beyond that lives in :class:`NetworkState`,
keyed by adapter name: per address family the DHCP switch, the static addresses and the
DNS servers; the LBFO teams with their members and team NICs (a team NIC is an adapter
too, sharing the team's MAC); and the IP routing table, default gateways included.

Modelled from the OS contracts the agent relies on: ``set_static_network_config`` on
Windows 8 / Server 2012 (6.2) and later replaces an address family's DHCP configuration,
addresses and routes and returns no reboot hint; before 6.2 IPv6 is refused with a warning
and IPv4 goes through the legacy WMI call, whose "reboot required" answer is
``NetworkState.legacy_static_reboot_required``. LBFO exists from 6.2 on.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

# Interface indexes are handed out in adapter order from here (1 is the loopback). Real
# Windows numbers are arbitrary; the agent only passes them back.
FIRST_INTERFACE_INDEX = 2
IPV4_DEFAULT_ROUTE = "0.0.0.0/0"
IPV6_DEFAULT_ROUTE = "::/0"


@dataclass
class IPSettings:
    """One address family of one interface."""

    dhcp: bool = True
    # Statically configured unicast addresses as "address/prefix"; a DHCP lease is not
    # listed here (the IPv4 lease is ``NetworkAdapter.address``).
    addresses: list[str] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=list)


@dataclass
class InterfaceSettings:
    index: int
    ipv4: IPSettings = field(default_factory=IPSettings)
    ipv6: IPSettings = field(default_factory=IPSettings)
    # The LBFO team this NIC is a member of; a member has no IP binding of its own.
    team: str | None = None

    def family(self, version: int) -> IPSettings:
        return self.ipv6 if version == 6 else self.ipv4


@dataclass
class NetworkTeam:
    """An LBFO team, with the arguments it was created with (bond mode, hash policy ...)."""

    name: str
    mode: str
    lb_algorithm: str | None
    members: list[str]
    mac: str
    # The team's default team NIC (the adapter named primary_nic_name, else the team).
    primary_nic: str
    lacp_timer: str | None = None


@dataclass
class TeamNic:
    """A team NIC: an adapter on top of a team, untagged (vlan_id None) or on one VLAN."""

    team: str
    vlan_id: int | None = None


@dataclass
class IPRoute:
    destination: str  # CIDR
    next_hop: str
    interface: str  # adapter name
    metric: int | None = None
    # ``route ADD`` without -p lasts until the next reboot.
    persistent: bool = True

    @property
    def version(self) -> int:
        return ipaddress.ip_network(self.destination, strict=False).version


@dataclass
class NetworkState:
    """What this domain keeps on the machine (persists across reboots)."""

    interfaces: dict[str, InterfaceSettings] = field(default_factory=dict)
    teams: dict[str, NetworkTeam] = field(default_factory=dict)
    team_nics: dict[str, TeamNic] = field(default_factory=dict)
    routes: list[IPRoute] = field(default_factory=list)
    next_interface_index: int = FIRST_INTERFACE_INDEX
    # Server SKUs from 2012 on ship LBFO; False models a machine without a team manager.
    lbfo_available: bool = True
    # What the legacy WMI EnableStatic answers before Windows 6.2 (True: reboot required).
    legacy_static_reboot_required: bool = False

    def power_on(self) -> None:
        """Routes added without -p do not survive a reboot."""
        self.routes = [route for route in self.routes if route.persistent]

    def default_gateway(self, adapter: str, version: int = 4) -> str | None:
        default = IPV6_DEFAULT_ROUTE if version == 6 else IPV4_DEFAULT_ROUTE
        return next(
            (
                r.next_hop
                for r in self.routes
                if r.interface == adapter and r.destination == default
            ),
            None,
        )
