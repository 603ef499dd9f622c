"""ServerCertificatesPlugin: the cloud's PFX certificates in the machine or user stores."""

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
from guestsim.agent.windows.x509 import STORE_LOCATIONS

LOG = logging.getLogger(__name__)


class UnsupportedStoreLocation(Exception):
    """A certificate names a store location other than LocalMachine or CurrentUser."""


class ServerCertificatesPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        # Asked twice, as upstream does: once to see whether there are any, once for the
        # loop. On Azure each ask makes a new transport certificate and fetches them again.
        if service.get_server_certs() is None:
            LOG.info("No server certificates found in the metadata")
            return PLUGIN_EXECUTION_DONE, False
        for cert in service.get_server_certs() or []:
            store_location: str = cert["store_location"]
            store_name: str = cert["store_name"]
            # LocalMachine goes to the machine key set, CurrentUser to the agent account's
            # own; any other location fails the plugin, even after earlier imports.
            if store_location not in STORE_LOCATIONS:
                raise UnsupportedStoreLocation(
                    f"Unsupported certificate store location: {store_location}"
                )
            LOG.info(
                'Importing certificate "%s" in store "%s\\%s"',
                cert.get("name"),
                store_location,
                store_name,
            )
            self.osutils.import_pfx_certificate(cert["pfx_data"], store_location, store_name)
        return PLUGIN_EXECUTION_DONE, False
