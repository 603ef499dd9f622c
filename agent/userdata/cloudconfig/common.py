"""What every cloud-config handler shares."""

from __future__ import annotations

import ntpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.agent.osutils import OSUtils
    from guestsim.agent.plugins.base import AgentContext

Handler = Callable[["AgentContext", Any], "bool | None"]
"""A cloud-config handler: called with the key's value; a truthy result asks for a reboot."""


def absolute_path(osutils: OSUtils, path: str) -> str:
    """``path`` made absolute as the agent's process sees it, normalised.

    The agent runs as a service whose working folder is the system folder: a relative
    path lands there, and a root-relative one (``/etc/x``) on that folder's drive.
    """
    return ntpath.normpath(ntpath.join(osutils.get_system32_dir(), path))
