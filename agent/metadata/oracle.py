"""Oracle Cloud Infrastructure instance metadata (IMDS v2), as in the published 1.1.9."""

from __future__ import annotations

import base64
import binascii
import logging

from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "oraclecloud"
# OCI's v2 endpoints refuse any request without this exact header.
AUTH_HEADER = ("Authorization", "Bearer Oracle")


class OracleMetadataError(ValueError):
    """A metadata value the agent cannot decode (upstream fails there too)."""


class OracleCloudService(HttpMetadataService):
    """``cloudbaseinit.metadata.services.oraclecloudservice.OracleCloudService``.

    Reads the instance id, host name and (base64) user data from ``opc/v2/instance/``.
    Keys, passwords and network data are not read: base-service defaults apply.
    """

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context, context.conf.get("metadata_base_url", GROUP), GROUP)

    def get_name(self) -> str:
        return "OracleCloudService"

    def extra_headers(self) -> dict[str, str]:
        name, value = AUTH_HEADER
        return {name: value}

    def load(self) -> bool:
        super().load()
        self.check_metadata_ip_route()
        try:
            self.get_instance_id()
            return True
        except Exception as ex:
            LOG.debug("Metadata not found at URL '%s': %s", self.base_url, ex)
            return False

    def get_instance_id(self) -> str | None:
        instance_id: str | None = self._get_cache_data("opc/v2/instance/id", decode=True)
        return instance_id

    def get_host_name(self) -> str | None:
        host_name: str | None = self._get_cache_data("opc/v2/instance/hostname", decode=True)
        return host_name

    def get_user_data(self) -> bytes | None:
        # OCI stores user data base64-encoded; a 404 (none given) surfaces as
        # NotExistingMetadataException and the user-data plugin skips.
        encoded: bytes = self._get_cache_data("opc/v2/instance/metadata/user_data")
        try:
            return base64.b64decode(encoded)
        except binascii.Error as ex:
            raise OracleMetadataError(
                f"opc/v2/instance/metadata/user_data is not base64: {ex}"
            ) from ex
