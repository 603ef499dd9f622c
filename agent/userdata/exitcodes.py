"""What a script's exit code means to the plugin that ran it (upstream's 1001-1003)."""

from __future__ import annotations

from typing import Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE

# Exit codes a user script returns to ask for a reboot and/or to be run again.
EXIT_REBOOT = 1001
EXIT_RUN_AGAIN = 1002
EXIT_REBOOT_AND_RUN_AGAIN = 1003

_REBOOT_BIT = 1
_RUN_AGAIN_BIT = 2


def get_plugin_return_value(exit_code: Any) -> tuple[int, bool]:
    """``(status, reboot)`` for an exit code; anything ``int()`` cannot convert counts as 0.

    Only 1001-1003 mean something: their low two bits (above 1000) are "reboot" and "run
    again". Every other code, error codes included, leaves the plugin DONE.
    """
    try:
        code = int(exit_code)
    except (TypeError, ValueError, OverflowError):
        code = 0
    if EXIT_REBOOT <= code <= EXIT_REBOOT_AND_RUN_AGAIN:
        flags = code - 1000
        status = PLUGIN_EXECUTE_ON_NEXT_BOOT if flags & _RUN_AGAIN_BIT else PLUGIN_EXECUTION_DONE
        return status, bool(flags & _REBOOT_BIT)
    return PLUGIN_EXECUTION_DONE, False
