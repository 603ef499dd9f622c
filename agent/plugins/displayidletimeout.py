"""DisplayIdleTimeoutConfigPlugin: how long the display stays on without input."""

from __future__ import annotations

import logging
from typing import ClassVar

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTION_DONE,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)


class DisplayIdleTimeoutError(Exception):
    """powercfg refused the setting."""


class DisplayIdleTimeoutConfigPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        timeout: int = self.conf.get("display_idle_timeout")
        LOG.info("Setting display idle timeout: %s", timeout)
        # Written to the current scheme's AC value; 0 keeps the display on.
        args = ["powercfg.exe", "/setacvalueindex", "SCHEME_CURRENT", "SUB_VIDEO", "VIDEOIDLE"]
        out, err, exit_code = self.osutils.execute_system32_process([*args, str(timeout)])
        if exit_code:
            raise DisplayIdleTimeoutError(
                f"powercfg.exe failed with exit code {exit_code}.\n"
                f"Output: {out.decode(errors='replace')}\nError: {err.decode(errors='replace')}"
            )
        return PLUGIN_EXECUTION_DONE, False
