"""FirewallOS: the OS boundary's firewall calls over ``FirewallState``."""

from __future__ import annotations

from guestsim.agent.osutils import PROTOCOL_TCP, PROTOCOL_UDP, OSUtilsError
from guestsim.simulator.windows.firewall import FirewallRule
from guestsim.simulator.windows.osutils.base import FakeOSBase


def _checked(port: object, protocol: str, allow: bool) -> int:
    if not allow:
        raise NotImplementedError("Only allow rules are supported")
    if protocol not in (PROTOCOL_TCP, PROTOCOL_UDP):
        raise NotImplementedError(f"Unsupported protocol: {protocol}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise OSUtilsError(f"Invalid firewall port: {port!r}")
    return port


class FirewallOS(FakeOSBase):
    def firewall_create_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        port = _checked(port, protocol, allow)
        firewall = self.state.firewall
        self._mutation("firewall_create_rule", name=name, port=port, protocol=protocol)
        # Opened ports are identified by port and protocol: opening one again under any
        # name replaces the entry.
        firewall.rules = [r for r in firewall.rules if (r.port, r.protocol) != (port, protocol)]
        firewall.rules.append(FirewallRule(name, port, protocol))

    def firewall_remove_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        port = _checked(port, protocol, allow)
        firewall = self.state.firewall
        if firewall.find_port(port, protocol) is None:
            self._not_modelled("firewall_remove_rule of a port that is not open")
        self._mutation("firewall_remove_rule", name=name, port=port, protocol=protocol)
        firewall.rules = [r for r in firewall.rules if (r.port, r.protocol) != (port, protocol)]
