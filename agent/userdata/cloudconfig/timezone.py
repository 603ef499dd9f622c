"""cloud-config ``set_timezone`` / ``timezone``: an IANA zone name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.agent.plugins.base import AgentContext


def set_timezone(context: AgentContext, value: Any) -> bool:
    """Set the zone; the OS maps the IANA name to a Windows zone (unknown raises)."""
    context.osutils.set_timezone(value)
    return False
