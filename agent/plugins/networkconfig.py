"""NetworkConfigPlugin: static addresses, adapter names, teams and VLANs from metadata.

Two inputs, as upstream has them. The v2 model (:class:`guestsim.agent.network.NetworkDetailsV2`)
is preferred: physical links are found by MAC and renamed to the link name, bonds become
LBFO teams named ``bond_<link id>``, VLANs become team NICs on the team of their parent
link, and every static network is applied to the adapter named by its link. Without v2
data the legacy per-adapter list (:class:`guestsim.agent.network.NetworkDetails`) is matched to the
machine's adapters by MAC address.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence

from guestsim.agent import network
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData

LOG = logging.getLogger(__name__)

BOND_TEAM_PREFIX = "bond_"
_ETH_INDEX = re.compile(r"eth(\d+)")


class NetworkConfigError(Exception):
    """The legacy network details cannot be applied to this machine."""


def team_name(link_id: str | None) -> str:
    """The LBFO team a bond link becomes (and that VLANs on that link are added to)."""
    return f"{BOND_TEAM_PREFIX}{link_id}"


class NetworkConfigPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        details_v2 = service.get_network_details_v2()
        if details_v2:
            return self._apply_v2(details_v2)
        details = service.get_network_details()
        if details:
            return self._apply_v1(details)
        LOG.debug("Network details were not provided")
        return PLUGIN_EXECUTION_DONE, False

    # --- v2 ----------------------------------------------------------------------------

    def _apply_v2(self, details: network.NetworkDetailsV2) -> PluginResult:
        links = details.links
        for link in [k for k in links if k.type == network.LINK_TYPE_PHYSICAL]:
            current = self.osutils.get_network_adapter_name_by_mac_address(
                link.mac_address  # type: ignore[arg-type]  # None fails in the OS call
            )
            if current != link.name:
                LOG.info('Renaming network adapter "%s" to "%s"', current, link.name)
                self.osutils.rename_network_adapter(current, link.name)
            self._apply_link_common(link)
        for link in [k for k in links if k.type == network.LINK_TYPE_BOND]:
            bond = link.bond
            if bond is None:
                raise network.NetworkDataError(f"Bond link {link.id!r} has no bond settings")
            team = team_name(link.id)
            LOG.info('Creating network team "%s" with members %s', team, bond.members)
            self.osutils.create_network_team(
                team,
                bond.type,
                bond.lb_algorithm,
                bond.members,
                link.mac_address,
                link.name,
                None,
                bond.lacp_rate,
            )
            self._apply_link_common(link)
        for link in [k for k in links if k.type == network.LINK_TYPE_VLAN]:
            # VLANs are only team NICs: a VLAN on a plain NIC names a team that is not there.
            team = team_name(link.vlan_link)
            LOG.info('Adding team NIC "%s" (VLAN %s) to team "%s"', link.name, link.vlan_id, team)
            self.osutils.add_network_team_nic(team, link.name, link.vlan_id)  # type: ignore[arg-type]
            self._apply_link_common(link)

        reboot_required = False
        for net in details.networks:
            # Quirk kept: an address without "/prefix" fails the plugin here.
            address, prefix = (net.address_cidr or "").split("/")
            gateway = next(
                (
                    route.gateway
                    for route in net.routes
                    if ipaddress.ip_network(route.network_cidr, strict=False).prefixlen == 0
                ),
                None,
            )
            version = ipaddress.ip_address(address).version
            dns = net.dns_nameservers or [
                server
                for service in details.services
                for server in service.addresses
                if ipaddress.ip_address(server).version == version
            ]
            LOG.info(
                'Setting static network configuration on "%s": address %s/%s, gateway %s, DNS %s',
                net.link,
                address,
                prefix,
                gateway,
                dns,
            )
            reboot = self.osutils.set_static_network_config(net.link, address, prefix, gateway, dns)
            reboot_required = bool(reboot) or reboot_required
        return PLUGIN_EXECUTION_DONE, reboot_required

    def _apply_link_common(self, link: network.Link) -> None:
        if link.mtu:
            self.osutils.set_network_adapter_mtu(link.name, link.mtu)
        self.osutils.enable_network_adapter(link.name, link.enabled)

    # --- v1 ----------------------------------------------------------------------------

    def _apply_v1(self, details: Sequence[network.NetworkDetails]) -> PluginResult:
        adapters = self.osutils.get_network_adapters()
        if not adapters:
            raise NetworkConfigError("no network adapters available")
        usable = [
            entry for entry in (self._complete(entry, adapters) for entry in details) if entry
        ]
        # Keyed by the exact MAC string: when two entries share one, the last one wins.
        by_mac = {entry.mac: entry for entry in usable}

        # Upstream quirk kept: the IPv4 call's reboot hint is folded into the result
        # outside the "has IPv4" branch, so an IPv6-only adapter configured before any
        # IPv4 one reads a variable that was never assigned and the plugin fails (before
        # its IPv6 settings are applied). Later IPv6-only adapters reuse the stale value.
        unassigned = object()
        reboot: object = unassigned
        reboot_required = False
        configured = False
        for _, mac in adapters:
            entry = by_mac.pop(mac, None)
            if entry is None:
                LOG.warning("Missing details for adapter %s", mac)
                continue
            name = self.osutils.get_network_adapter_name_by_mac_address(mac)
            LOG.info("Configuring network adapter: %s", name)
            if entry.address and entry.netmask:
                reboot = self.osutils.set_static_network_config(
                    name, entry.address, entry.netmask, entry.gateway, entry.dnsnameservers or []
                )
            if reboot is unassigned:
                raise UnboundLocalError("local variable 'reboot' referenced before assignment")
            reboot_required = bool(reboot) or reboot_required
            if entry.address6 and entry.netmask6:
                reboot = self.osutils.set_static_network_config(
                    name, entry.address6, entry.netmask6, entry.gateway6, []
                )
                reboot_required = bool(reboot) or reboot_required
            configured = True

        for unused in by_mac:
            LOG.warning("Details not used for adapter %s", unused)
        if not configured:
            LOG.error("No adapters were configured")
        return PLUGIN_EXECUTION_DONE, reboot_required

    @staticmethod
    def _complete(
        entry: network.NetworkDetails, adapters: list[tuple[str, str]]
    ) -> network.NetworkDetails | None:
        """The entry with its MAC filled in, or None (logged) if it is incomplete."""
        valid = bool(
            (entry.name or entry.mac)
            and (entry.address or entry.address6)
            and (entry.netmask or entry.netmask6)
        )
        if valid and not (entry.address and entry.netmask):
            valid = bool(entry.address6 and entry.netmask6)
        if not valid:
            LOG.error("Incomplete NetworkDetails object %s", entry)
            return None
        if entry.mac:
            return entry
        mac: str | None = next(
            (m for adapter_name, m in adapters if adapter_name == entry.name), None
        )
        if mac is None:
            # Matched by position: "ethN" is the Nth adapter in name order.
            match = _ETH_INDEX.fullmatch(entry.name or "")
            if match is None:
                raise NetworkConfigError(
                    f"Cannot find the adapter of network details named {entry.name!r}"
                )
            index = int(match.group(1))
            by_name = sorted(adapters, key=lambda adapter: adapter[0])
            if index < len(by_name):
                mac = by_name[index][1]
        return network.NetworkDetails(
            name=entry.name,
            mac=mac,
            address=entry.address,
            address6=entry.address6,
            netmask=entry.netmask,
            netmask6=entry.netmask6,
            broadcast=entry.broadcast,
            gateway=entry.gateway,
            gateway6=entry.gateway6,
            dnsnameservers=entry.dnsnameservers,
        )
