"""Metadata read from a config drive: OpenStack's ``config-2`` layout."""

from __future__ import annotations

import json
import logging

from guestsim.agent.configdrive.finder import ConfigDriveFinder
from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.metadata.openstack import OpenStackMetadata
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

CONFIG_DRIVE_LABEL = "config-2"
OPENSTACK_METADATA_FILE = "openstack\\latest\\meta_data.json"


class DriveMetadataService(MetadataService):
    """A service whose documents are files copied off a drive into a temporary folder."""

    label = ""
    metadata_file = ""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self._folder: str | None = None

    def validate_metadata(self, data: bytes) -> None:
        """Raise ValueError unless ``data`` is a usable metadata document."""
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")

    def load(self) -> bool:
        super().load()
        finder = ConfigDriveFinder(
            self.context, self.label, self.metadata_file, self.validate_metadata
        )
        self._folder = finder.find()
        return self._folder is not None

    def _get_data(self, path: str) -> bytes:
        if self._folder is None:
            raise NotExistingMetadataException(f"{path}: no drive loaded")
        full = f"{self._folder}\\{path.replace('/', chr(92))}"
        if not self.osutils.path_exists(full):
            raise NotExistingMetadataException(f"{path}: not on the drive")
        return self.osutils.read_file(full)

    def cleanup(self) -> None:
        if self._folder is not None and self.osutils.path_exists(self._folder):
            LOG.debug("Deleting metadata folder: %r", self._folder)
            self.osutils.remove_path(self._folder)
        self._folder = None


class ConfigDriveService(DriveMetadataService, OpenStackMetadata):
    """``cloudbaseinit.metadata.services.configdrive.ConfigDriveService``."""

    label = CONFIG_DRIVE_LABEL
    metadata_file = OPENSTACK_METADATA_FILE

    def get_name(self) -> str:
        return "ConfigDriveService"
