"""SANPolicyPlugin: the SAN policy Windows applies to newly found disks."""

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
from guestsim.agent.windows.storage import (
    SAN_POLICY_OFFLINE,
    SAN_POLICY_OFFLINE_SHARED,
    SAN_POLICY_ONLINE,
)

LOG = logging.getLogger(__name__)

SAN_POLICIES = {
    "OnlineAll": SAN_POLICY_ONLINE,
    "OfflineShared": SAN_POLICY_OFFLINE_SHARED,
    "OfflineAll": SAN_POLICY_OFFLINE,
}


class SANPolicyPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 1))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        name: str | None = self.conf.get("san_policy")
        if name:
            wanted = SAN_POLICIES[name]
            # On Nano Server (WSM) only OnlineAll can be set; another value fails the plugin.
            if self.osutils.get_san_policy() != wanted:
                self.osutils.set_san_policy(wanted)
                LOG.info("SAN policy set to: %s", name)
        return PLUGIN_EXECUTION_DONE, False
