"""cloud-config ``ntp``: manual time peers from ``servers`` and ``pools``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.agent.plugins.base import AgentContext


def configure_ntp(context: AgentContext, value: Any) -> bool:
    """Point the time service at the servers, then the pools, unless ``enabled`` is false."""
    peers = list(value.get("servers", [])) + list(value.get("pools", []))
    if value.get("enabled", True) and peers:
        context.osutils.set_ntp_client_config(peers)
    return False
