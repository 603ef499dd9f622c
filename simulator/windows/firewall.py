"""The fake Windows: the firewall (globally opened ports)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class FirewallState:
    """What this feature keeps on the machine (persists across reboots)."""


class FirewallOS(FakeOSBase):
    def firewall_create_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        self._not_modelled("firewall_create_rule")

    def firewall_remove_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        self._not_modelled("firewall_remove_rule")
