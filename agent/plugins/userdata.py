"""UserDataPlugin: fetch the user data, optionally save it, and run what it contains."""

from __future__ import annotations

import logging
import ntpath

from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData
from guestsim.agent.userdata.dispatch import process_user_data

LOG = logging.getLogger(__name__)


class UserDataSaveError(Exception):
    """``userdata_save_path``'s folder exists but is not a folder."""


class UserDataPlugin(Plugin):
    def _absolute(self, path: str) -> str:
        # The service's working folder is system32, so relative paths resolve there.
        return ntpath.normpath(ntpath.join(self.osutils.get_system32_dir(), path))

    def _save(self, configured_path: str, data: bytes) -> None:
        path = self._absolute(self.osutils.expand_environment_variables(configured_path))
        folder = ntpath.dirname(path)
        if not self.osutils.path_exists(folder):
            self.osutils.make_dirs(folder)
        elif not self.osutils.is_dir(folder):
            raise UserDataSaveError(f"userdata_save_path folder is not a directory: {folder}")
        # As the reference states it: the folder is restricted to SYSTEM and
        # Administrators on every save, whether it was just created or not.
        self.osutils.set_path_admin_acls(folder)
        if self.osutils.path_exists(path):
            self.osutils.take_path_ownership(path)
            self.osutils.remove_path(path)
        self.osutils.write_file(path, data)

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        try:
            user_data = service.get_decoded_user_data()
        except NotExistingMetadataException:
            return PLUGIN_EXECUTION_DONE, False
        if not user_data:
            return PLUGIN_EXECUTION_DONE, False
        LOG.debug("User data content length: %d", len(user_data))
        save_path: str | None = self.conf.get("userdata_save_path")
        if save_path:
            self._save(save_path, user_data)
        if not self.conf.get("process_userdata"):
            return PLUGIN_EXECUTION_DONE, False
        return process_user_data(self.context, service, user_data)
