"""RDPSettingsPlugin (keep-alive policy) and RDPPostCertificateThumbprintPlugin."""

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

TERMINAL_SERVICES_POLICY_KEY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services"
KEEPALIVE_ENABLE = "KeepAliveEnable"
KEEPALIVE_INTERVAL = "keepAliveInterval"
KEEPALIVE_INTERVAL_MINUTES = 1


class RDPSettingsPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        enable: bool = self.conf.get("rdp_set_keepalive")
        LOG.info("Setting RDP keep-alive: %s", enable)
        # The policy key is opened, never created: on an image without it the plugin
        # fails (upstream behaviour, kept).
        LOG.debug("Setting RDP KeepAliveEnable: %s", enable)
        self.osutils.set_registry_value(
            TERMINAL_SERVICES_POLICY_KEY, KEEPALIVE_ENABLE, 1 if enable else 0, "REG_DWORD"
        )
        # The interval is written whether keep-alive is turned on or off.
        LOG.debug("Setting RDP keepAliveInterval (minutes): %s", KEEPALIVE_INTERVAL_MINUTES)
        self.osutils.set_registry_value(
            TERMINAL_SERVICES_POLICY_KEY,
            KEEPALIVE_INTERVAL,
            KEEPALIVE_INTERVAL_MINUTES,
            "REG_DWORD",
        )
        return PLUGIN_EXECUTION_DONE, False


class RDPPostCertificateThumbprintPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        if not service.can_post_rdp_cert_thumbprint:
            LOG.info("The metadata service does not support posting the RDP certificate thumbprint")
            return PLUGIN_EXECUTION_DONE, False
        thumbprint = self.osutils.get_rdp_certificate_thumbprint()
        LOG.info("Posting the RDP certificate thumbprint: %s", thumbprint)
        service.post_rdp_cert_thumbprint(thumbprint)
        return PLUGIN_EXECUTION_DONE, False
