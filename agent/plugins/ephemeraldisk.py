"""EphemeralDiskPlugin: the cloud's data-loss warning written onto the ephemeral disk."""

from __future__ import annotations

import logging
import ntpath
from typing import ClassVar

from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.osutils import ItemNotFound
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTION_DONE,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)


class EphemeralDiskPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def _volume_by_mount_point(self) -> str | None:
        mount_point: str | None = self.conf.get("ephemeral_disk_volume_mount_point")
        if not mount_point:
            return None
        try:
            paths = self.osutils.get_volume_path_names_by_mount_point(mount_point)
        except ItemNotFound:
            LOG.debug("Ephemeral disk mount point not found: %s", mount_point)
            return None
        return paths[0] if paths else None

    def _volume_by_label(self) -> str | None:
        label: str | None = self.conf.get("ephemeral_disk_volume_label")
        if not label:
            return None
        for drive in self.osutils.get_logical_drives():
            found = self.osutils.get_volume_label(drive)
            if found and found.lower() == label.lower():
                return drive
        return None

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        try:
            # Only Azure has a warning; for every other service this ends the plugin.
            warning = service.get_ephemeral_disk_data_loss_warning()
        except NotExistingMetadataException:
            LOG.debug("The metadata service provides no ephemeral disk data loss warning")
            return PLUGIN_EXECUTION_DONE, False

        volume = self._volume_by_mount_point() or self._volume_by_label()
        if not volume:
            LOG.info("Ephemeral disk volume not found")
            return PLUGIN_EXECUTION_DONE, False

        relative: str | None = self.conf.get("ephemeral_disk_data_loss_warning_path")
        if relative:
            path = ntpath.join(volume, relative)
            LOG.debug("Writing the ephemeral disk data loss warning to: %s", path)
            self.osutils.write_file(path, warning or b"")
        return PLUGIN_EXECUTION_DONE, False
