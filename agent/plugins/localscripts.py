"""LocalScriptsPlugin: run every script file of ``local_scripts_path`` at every boot."""

from __future__ import annotations

import logging
import ntpath

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData
from guestsim.agent.userdata.exitcodes import get_plugin_return_value
from guestsim.agent.userdata.scripts import execute_script_file

LOG = logging.getLogger(__name__)


class LocalScriptsPlugin(Plugin):
    def _script_files(self, folder: str) -> list[str]:
        # A missing folder raises here and fails the plugin, as upstream.
        paths = [ntpath.join(folder, name) for name in self.osutils.list_dir(folder)]
        # Quirk (upstream): plain string order of the full paths, so upper-case names
        # come before lower-case ones; subfolders are not entered.
        return sorted(path for path in paths if not self.osutils.is_dir(path))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        folder: str | None = self.conf.get("local_scripts_path")
        if not folder:
            return PLUGIN_EXECUTION_DONE, False
        status, reboot = PLUGIN_EXECUTION_DONE, False
        for path in self._script_files(folder):
            script_status, reboot = get_plugin_return_value(execute_script_file(self.context, path))
            # Quirk (upstream): the worst status wins (unlike multipart user data, where
            # the last part's counts), and the first script asking for a reboot is the
            # last to run in this boot.
            status = max(status, script_status)
            if reboot:
                break
        return status, reboot
