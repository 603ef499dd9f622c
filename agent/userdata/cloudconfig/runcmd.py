"""cloud-config ``runcmd``: the entries become one cmd script, run as user data."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from guestsim.agent.userdata.exitcodes import get_plugin_return_value

if TYPE_CHECKING:
    from guestsim.agent.osutils import OSUtils
    from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

# os.linesep of the guest: the agent runs on Windows.
GUEST_LINESEP = "\r\n"


def build_script(osutils: OSUtils, entries: Any) -> bytes:
    """The default-shell header, then one line per entry (lists joined by spaces)."""
    lines = [osutils.get_default_script_exec_header()]
    for entry in entries:
        if isinstance(entry, str):
            lines.append(entry)
        elif isinstance(entry, list | tuple):
            lines.append(" ".join(str(part) for part in entry))
        else:
            raise TypeError(f"Unrecognized type '{type(entry).__name__}' in cmd content")
    return "".join(line + GUEST_LINESEP for line in lines).encode("utf-8")


def run_commands(context: AgentContext, value: Any) -> bool:
    """Run the entries as one script; True when its exit code asks for a reboot."""
    if not value:
        LOG.info("No cloud-config runcmd entries found.")
        return False
    script = build_script(context.osutils, value)
    LOG.info("Found %d cloud-config runcmd entries.", len(value))
    from guestsim.agent.userdata.scripts import execute_user_data_script

    try:
        exit_code = execute_user_data_script(context, script)
        # Only the reboot flag counts; cloud-config turns any reboot into 1003 anyway.
        _, reboot = get_plugin_return_value(exit_code)
        return reboot
    except Exception as ex:
        LOG.warning("An error occurred during runcmd execution: '%s'", ex)
        return False
