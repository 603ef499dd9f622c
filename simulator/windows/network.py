"""The fake Windows: network adapters, teams, VLANs, routes and the firewall."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)


@dataclass
class NetworkState:
    """What this domain keeps on the machine (persists across reboots)."""


class NetworkOS(FakeOSBase):
    def rename_network_adapter(self, old_name: str, new_name: str) -> None:
        self._not_modelled("rename_network_adapter")

    def enable_network_adapter(self, name: str, enabled: bool) -> None:
        self._not_modelled("enable_network_adapter")

    def set_static_network_config(
        self,
        name: str,
        address: str,
        prefix_len_or_netmask: str | int,
        gateway: str | None,
        dnsnameservers: Sequence[str] | None,
    ) -> bool | None:
        self._not_modelled("set_static_network_config")

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
        self._not_modelled("create_network_team")

    def add_network_team_nic(self, team_name: str, nic_name: str, vlan_id: int) -> None:
        self._not_modelled("add_network_team_nic")

    def get_default_gateway(self) -> tuple[int | None, str | None]:
        self._not_modelled("get_default_gateway")

    def check_static_route_exists(self, destination: str) -> bool:
        self._not_modelled("check_static_route_exists")

    def add_static_route(
        self, destination: str, mask: str, next_hop: str, interface_index: int, metric: int
    ) -> None:
        self._not_modelled("add_static_route")
