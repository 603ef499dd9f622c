"""PageFilesPlugin: system-managed page files on the volumes named by label or mount point."""

from __future__ import annotations

import logging
import ntpath
from typing import ClassVar

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import ItemNotFound
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)

PAGE_FILE_NAME = "pagefile.sys"
SYSTEM_MANAGED = (0, 0)  # minimum and maximum size 0: Windows chooses the size


class PageFilesPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def _volumes_by_mount_point(self) -> list[str]:
        volumes = []
        for mount_point in self.conf.get("page_file_volume_mount_points"):
            try:
                paths = self.osutils.get_volume_path_names_by_mount_point(mount_point)
            except ItemNotFound:
                LOG.info("Mount point not found: %s", mount_point)
                continue
            if paths:
                volumes.append(paths[0])
        return volumes

    def _volumes_by_label(self) -> list[str]:
        labels = [label.lower() for label in self.conf.get("page_file_volume_labels")]
        if not labels:
            return []
        volumes = []
        for drive in self.osutils.get_logical_drives():
            found = self.osutils.get_volume_label(drive)
            if found and found.lower() in labels:
                volumes.append(drive)
        return volumes

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        volumes = sorted(set(self._volumes_by_mount_point()) | set(self._volumes_by_label()))
        if not volumes:
            LOG.info("No page file volume found, skipping configuration")
            return PLUGIN_EXECUTE_ON_NEXT_BOOT, False

        wanted = [(ntpath.join(volume, PAGE_FILE_NAME), *SYSTEM_MANAGED) for volume in volumes]
        reboot = False
        if sorted(self.osutils.get_page_files()) != wanted:
            self.osutils.set_page_files(wanted)
            LOG.info("Page file configuration set: %s", wanted)
            reboot = True
        # Always NEXT_BOOT, so the configuration is checked again at every boot; a reboot
        # is asked for only when it changed (page files change when Windows starts).
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, reboot
