"""The fake Windows: the firewall (globally opened ports)."""

from __future__ import annotations

from dataclasses import dataclass, field

SCOPE_ALL = "All"


@dataclass
class FirewallRule:
    """A globally opened port (``INetFwOpenPort``), open to every address."""

    name: str
    port: int
    protocol: str  # TCP or UDP
    scope: str = SCOPE_ALL
    enabled: bool = True


@dataclass
class FirewallState:
    """What this feature keeps on the machine (persists across reboots).

    Only the globally opened ports the agent manages are modelled; Windows' own inbound
    rules (e.g. "Windows Remote Management (HTTP-In)") are not.
    """

    rules: list[FirewallRule] = field(default_factory=list)

    def find_rule(self, name: str) -> FirewallRule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def find_port(self, port: int, protocol: str) -> FirewallRule | None:
        return next((r for r in self.rules if (r.port, r.protocol) == (port, protocol)), None)
