"""ExtendVolumesPlugin: volumes grown into the unallocated space that follows them."""

from __future__ import annotations

import logging
from typing import ClassVar

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)


class ExtendVolumesPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        # An empty list means every volume, like no list at all.
        indexes: list[int] | None = self.conf.get("volumes_to_extend") or None
        self.osutils.extend_volumes(indexes)
        # Always NEXT_BOOT: the plugin runs again at every boot, so a disk enlarged while
        # the machine was off is filled at the next start.
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False
