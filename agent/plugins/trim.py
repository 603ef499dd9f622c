"""TrimConfigPlugin: TRIM (delete notifications) on or off, as ``trim_enabled`` says."""

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


class TrimConfigPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 1))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        # The option defaults to False, so listing the plugin without setting it turns TRIM
        # off (upstream's default; a fresh Windows has TRIM on).
        enabled: bool = self.conf.get("trim_enabled")
        self.osutils.enable_trim(enabled)
        LOG.info("TRIM enabled status: %s", enabled)
        return PLUGIN_EXECUTION_DONE, False
