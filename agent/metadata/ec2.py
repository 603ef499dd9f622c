"""Amazon EC2 instance metadata (IMDSv1 only, as the upstream agent speaks it)."""

from __future__ import annotations

import logging

from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "ec2"
# Upstream pins this old API version and never asks for another.
METADATA_VERSION = "2009-04-04"


class EC2MetadataError(ValueError):
    """The metadata tree has a document the agent cannot read (upstream fails there too)."""


class EC2Service(HttpMetadataService):
    """``cloudbaseinit.metadata.services.ec2service.EC2Service``.

    Reads the metadata tree with plain GETs. There is no IMDSv2 session (no token PUT,
    no token header), exactly like upstream: an instance whose metadata options require
    IMDSv2 answers 401, every read is retried, and the service does not load.
    """

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context, context.conf.get("metadata_base_url", GROUP), GROUP)

    def get_name(self) -> str:
        return "EC2Service"

    def _meta_data_path(self, item: str) -> str:
        return f"{METADATA_VERSION}/meta-data/{item}"

    def load(self) -> bool:
        super().load()
        self.check_metadata_ip_route()
        try:
            self.get_host_name()
            return True
        except Exception as ex:
            LOG.debug("Metadata not found at URL '%s': %s", self.base_url, ex)
            return False

    def get_host_name(self) -> str | None:
        # Returned as served: upstream does not strip it.
        host_name: str | None = self._get_cache_data(
            self._meta_data_path("local-hostname"), decode=True
        )
        return host_name

    def get_instance_id(self) -> str | None:
        instance_id: str | None = self._get_cache_data(
            self._meta_data_path("instance-id"), decode=True
        )
        return instance_id

    def get_user_data(self) -> bytes | None:
        # A 404 (no user data) surfaces as NotExistingMetadataException; the plugin skips.
        data: bytes = self._get_cache_data(f"{METADATA_VERSION}/user-data")
        return data

    def get_public_keys(self) -> list[str] | None:
        # Quirk kept: a 404 on the listing (an instance launched without a key pair)
        # propagates and fails the plugin asking for keys, on every boot.
        listing: str | None = self._get_cache_data(self._meta_data_path("public-keys"), decode=True)
        if listing is None:
            # Upstream fails the same way (it splits None) when the listing is not text.
            raise EC2MetadataError("The public-keys listing is not UTF-8 text")
        keys: list[str] = []
        for line in listing.splitlines():
            # Quirk kept: the line is split on every "=", so a key pair whose name holds
            # one makes this unpacking fail.
            fields = line.split("=")
            if len(fields) != 2:
                raise EC2MetadataError(
                    f"public-keys listing line {line!r} is not <index>=<name> (one '=')"
                )
            index = fields[0]
            key: str = self._get_cache_data(
                self._meta_data_path(f"public-keys/{index}/openssh-key"), decode=True
            )
            keys.append(key.strip())
        return keys
