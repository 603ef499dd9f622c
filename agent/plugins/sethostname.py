"""SetHostNamePlugin: the metadata host name becomes the computer name."""

from __future__ import annotations

import logging

from guestsim.agent import hostname
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData

LOG = logging.getLogger(__name__)


class SetHostNamePlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        name = service.get_host_name()
        if not name:
            LOG.debug("Hostname not found in metadata")
            return PLUGIN_EXECUTION_DONE, False
        _, reboot = hostname.set_host_name(self.osutils, self.conf, name)
        return PLUGIN_EXECUTION_DONE, reboot
