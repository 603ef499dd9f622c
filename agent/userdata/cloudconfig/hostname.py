"""cloud-config ``set_hostname`` / ``hostname``: SetHostNamePlugin's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guestsim.agent.hostname import set_host_name

if TYPE_CHECKING:
    from guestsim.agent.plugins.base import AgentContext


def set_hostname(context: AgentContext, value: Any) -> bool:
    """Apply the name (NetBIOS truncation, trailing '-'); True when a reboot is needed."""
    _, reboot = set_host_name(context.osutils, context.conf, value)
    return reboot
