"""NetworkOS: the OS boundary's adapter, address, team and route calls over ``NetworkState``."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.simulator.windows.network import (
    IPV4_DEFAULT_ROUTE,
    IPV6_DEFAULT_ROUTE,
    InterfaceSettings,
    IPRoute,
    NetworkTeam,
    TeamNic,
)
from guestsim.simulator.windows.osutils.base import FakeOSBase
from guestsim.simulator.windows.state import NetworkAdapter

LOG = logging.getLogger(__name__)


def _family_default(version: int) -> str:
    return IPV6_DEFAULT_ROUTE if version == 6 else IPV4_DEFAULT_ROUTE


def _ip(value: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError as ex:
        raise OSUtilsError(f"Invalid {what}: {value!r}") from ex


def _prefix_length(value: str | int, version: int) -> int:
    """A prefix length from a length (int or digits) or a netmask of either family."""
    maximum = 128 if version == 6 else 32
    text = str(value).strip()
    if text.isdigit():
        length = int(text)
    else:
        mask = _ip(text, "netmask")
        bits = format(int(mask), f"0{mask.max_prefixlen}b")
        if "01" in bits or mask.max_prefixlen != maximum:
            raise OSUtilsError(f"Invalid netmask: {value!r}")
        length = bits.count("1")
    if not 0 <= length <= maximum:
        raise OSUtilsError(f"Invalid prefix length: {value!r}")
    return length


def _mac(value: str) -> str:
    return value.lower().replace("-", ":")


class NetworkOS(FakeOSBase):
    # --- bookkeeping ---------------------------------------------------------------------

    def _interfaces(self) -> dict[str, InterfaceSettings]:
        """Every adapter's settings, created on first use in adapter order."""
        network = self.state.network
        for adapter in self.state.adapters:
            if adapter.name not in network.interfaces:
                network.interfaces[adapter.name] = InterfaceSettings(network.next_interface_index)
                network.next_interface_index += 1
        return network.interfaces

    def _interfaces_seen(self) -> dict[str, InterfaceSettings]:
        """What ``_interfaces`` would give, without storing the new entries: for queries,
        which must leave the machine as they found it."""
        network = self.state.network
        seen = dict(network.interfaces)
        index = network.next_interface_index
        for adapter in self.state.adapters:
            if adapter.name not in seen:
                seen[adapter.name] = InterfaceSettings(index)
                index += 1
        return seen

    def _adapter(self, name: str) -> NetworkAdapter:
        adapter = self.state.find_adapter(name)
        if adapter is None:
            raise ItemNotFound(f"Network adapter not found: {name}")
        return adapter

    def _new_adapter(self, name: str, mac: str) -> None:
        if self.state.find_adapter(name) is not None:
            raise OSUtilsError(f"A network adapter named {name!r} already exists")
        # A new team NIC asks DHCP for an address; which lease it gets is not modelled.
        self.state.adapters.append(NetworkAdapter(name, mac, "", dhcp_enabled=True))
        self._interfaces()

    # --- adapters ------------------------------------------------------------------------

    def rename_network_adapter(self, old_name: str, new_name: str) -> None:
        adapter = self._adapter(old_name)
        other = self.state.find_adapter(new_name)
        if other is not None and other is not adapter:
            raise OSUtilsError(f"A network adapter named {new_name!r} already exists")
        interfaces = self._interfaces()
        old = adapter.name
        self._mutation("rename_network_adapter", old_name=old, new_name=new_name)
        adapter.name = new_name
        network = self.state.network
        network.interfaces = {
            (new_name if key == old else key): value for key, value in interfaces.items()
        }
        if old in network.team_nics:
            network.team_nics = {
                (new_name if key == old else key): value for key, value in network.team_nics.items()
            }
        for team in network.teams.values():
            team.members = [new_name if member == old else member for member in team.members]
            if team.primary_nic == old:
                team.primary_nic = new_name
        for route in network.routes:
            if route.interface == old:
                route.interface = new_name

    def enable_network_adapter(self, name: str, enabled: bool) -> None:
        adapter = self._adapter(name)
        self._mutation("enable_network_adapter", name=adapter.name, enabled=enabled)
        adapter.enabled = enabled

    # --- addresses -----------------------------------------------------------------------

    def set_static_network_config(
        self,
        name: str,
        address: str,
        prefix_len_or_netmask: str | int,
        gateway: str | None,
        dnsnameservers: Sequence[str] | None,
    ) -> bool | None:
        adapter = self._adapter(name)
        settings = self._interfaces()[adapter.name]
        ip = _ip(address, "IP address")
        prefix = _prefix_length(prefix_len_or_netmask, ip.version)
        legacy = not self.check_os_version(6, 2)
        if legacy and ip.version == 6:
            LOG.warning("Setting IPv6 info not available on this system")
            return None
        if gateway and _ip(gateway, "gateway").version != ip.version:
            raise OSUtilsError(f"Gateway {gateway!r} is not an IPv{ip.version} address")
        dns = [str(_ip(server, "DNS server")) for server in dnsnameservers or []]
        if settings.team is not None:
            raise OSUtilsError(f"Adapter {adapter.name!r} is a member of team {settings.team!r}")
        self._mutation(
            "set_static_network_config",
            name=adapter.name,
            address=str(ip),
            prefix_length=prefix,
            gateway=gateway,
            dns=dns,
            legacy_wmi=legacy,
        )
        family = settings.family(ip.version)
        family.dhcp = False
        family.addresses = [f"{ip}/{prefix}"]
        if dns:
            family.dns_servers = dns
        network = self.state.network
        network.routes = [
            r
            for r in network.routes
            if not (r.interface == adapter.name and r.version == ip.version)
        ]
        if gateway:
            network.routes.append(IPRoute(_family_default(ip.version), gateway, adapter.name))
        if ip.version == 4:
            adapter.address = str(ip)
            adapter.dhcp_enabled = False
            adapter.dhcp_server = None
        if legacy:
            return network.legacy_static_reboot_required
        return None

    # --- teams -----------------------------------------------------------------------------

    def create_network_team(
        self,
        team_name: str,
        mode: str,
        load_balancing_algorithm: str | None,
        members: Sequence[str],
        mac_address: str | None,
        primary_nic_name: str | None = None,
        primary_nic_vlan_id: int | None = None,
        lacp_timer: str | None = None,
    ) -> None:
        network = self.state.network
        if not network.lbfo_available or not self.check_os_version(6, 2):
            raise ItemNotFound("No network team manager available")
        if team_name in network.teams:
            raise OSUtilsError(f"A network team named {team_name!r} already exists")
        if not members:
            raise OSUtilsError(f"Network team {team_name!r} needs at least one member")
        interfaces = self._interfaces()
        adapters = [self._adapter(member) for member in members]
        for adapter in adapters:
            if interfaces[adapter.name].team is not None or adapter.name in network.team_nics:
                raise OSUtilsError(f"Adapter {adapter.name!r} cannot join team {team_name!r}")
        # LBFO gives the team a member's MAC unless told otherwise; guestsim takes the
        # first listed member's.
        mac = _mac(mac_address) if mac_address else adapters[0].mac
        primary = primary_nic_name or team_name
        if self.state.find_adapter(primary) is not None:
            raise OSUtilsError(f"A network adapter named {primary!r} already exists")
        self._mutation(
            "create_network_team",
            team=team_name,
            mode=mode,
            lb_algorithm=load_balancing_algorithm,
            members=[adapter.name for adapter in adapters],
            mac=mac,
            primary_nic=primary,
            primary_nic_vlan_id=primary_nic_vlan_id,
            lacp_timer=lacp_timer,
        )
        self._new_adapter(primary, mac)
        for adapter in adapters:
            # Members are bound to the multiplexor, not to TCP/IP: no lease, no routes.
            interfaces[adapter.name].team = team_name
            adapter.address = ""
            adapter.dhcp_enabled = False
            adapter.dhcp_server = None
        names = {adapter.name for adapter in adapters}
        network.routes = [r for r in network.routes if r.interface not in names]
        network.teams[team_name] = NetworkTeam(
            team_name,
            mode,
            load_balancing_algorithm,
            [adapter.name for adapter in adapters],
            mac,
            primary,
            lacp_timer,
        )
        network.team_nics[primary] = TeamNic(team_name, primary_nic_vlan_id)

    def add_network_team_nic(self, team_name: str, nic_name: str, vlan_id: int) -> None:
        network = self.state.network
        team = network.teams.get(team_name)
        if team is None:
            raise ItemNotFound(f"Network team not found: {team_name}")
        if any(n.team == team_name and n.vlan_id == vlan_id for n in network.team_nics.values()):
            raise OSUtilsError(f"Team {team_name!r} already has a team NIC on VLAN {vlan_id}")
        if self.state.find_adapter(nic_name) is not None:
            raise OSUtilsError(f"A network adapter named {nic_name!r} already exists")
        self._mutation("add_network_team_nic", team=team_name, name=nic_name, vlan_id=vlan_id)
        self._new_adapter(nic_name, team.mac)
        network.team_nics[nic_name] = TeamNic(team_name, vlan_id)

    # --- routes ----------------------------------------------------------------------------

    def get_default_gateway(self) -> tuple[int | None, str | None]:
        interfaces = self._interfaces_seen()
        for route in self.state.network.routes:
            if route.destination == IPV4_DEFAULT_ROUTE and route.interface in interfaces:
                return interfaces[route.interface].index, route.next_hop
        return None, None

    def check_static_route_exists(self, destination: str) -> bool:
        return any(
            route.version == 4 and route.destination.split("/")[0] == destination
            for route in self.state.network.routes
        )

    def add_static_route(
        self,
        destination: str,
        mask: str,
        next_hop: str,
        interface_index: int | None,
        metric: int,
    ) -> None:
        # route.exe ADD <destination> MASK <mask> <next_hop>: interface and metric are not
        # passed, so Windows picks the interface that reaches the next hop.
        dest = _ip(destination, "route destination")
        hop = _ip(next_hop, "gateway")
        if dest.version != 4 or hop.version != 4:
            raise OSUtilsError("The route addition failed: bad argument")
        try:
            target = ipaddress.IPv4Network(f"{dest}/{_prefix_length(mask, 4)}")
        except ValueError as ex:
            raise OSUtilsError(
                "The route addition failed: The specified mask parameter is invalid. "
                "(Destination & Mask) != Destination."
            ) from ex
        interface = self._interface_reaching(hop)
        if interface is None:
            raise OSUtilsError(
                "The route addition failed: Either the interface index is wrong or the gateway "
                "does not lie on the same network as the interface. Check the IP Address Table "
                "for the machine."
            )
        network = self.state.network
        if any(r.destination == str(target) and r.next_hop == str(hop) for r in network.routes):
            raise OSUtilsError("The route addition failed: The object already exists.")
        self._mutation(
            "add_static_route",
            destination=str(dest),
            mask=mask,
            next_hop=str(hop),
            interface=interface,
            interface_index=interface_index,
            metric=metric,
        )
        network.routes.append(IPRoute(str(target), str(hop), interface, persistent=False))

    def _interface_reaching(self, hop: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        interfaces = self._interfaces_seen()
        for name, settings in interfaces.items():
            for address in settings.ipv4.addresses:
                if hop in ipaddress.ip_interface(address).network:
                    return name
        for route in self.state.network.routes:
            if route.destination == IPV4_DEFAULT_ROUTE and route.next_hop == str(hop):
                return route.interface
        return None
