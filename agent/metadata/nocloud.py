"""NoCloud: a ``cidata`` drive with ``meta-data``, ``user-data`` and ``network-config``."""

from __future__ import annotations

import logging
from typing import Any

import yaml

from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.configdrive import DriveMetadataService
from guestsim.agent.metadata.documents import parse_json_or_yaml
from guestsim.agent.network import NetworkDetailsV2
from guestsim.agent.network_config import parse_network_config
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

NOCLOUD_LABEL = "cidata"
NETWORK_CONFIG_FILE = "network-config"
GROUP = "nocloud"


class NoCloudMetadataError(TypeError):
    """meta-data (or a field of it) has a type the agent cannot read; names the field.

    Upstream crashes on such documents too (the plugin asking fails); a TypeError, as
    upstream's crash on a plain-string ``public-keys`` is.
    """


class NoCloudConfigDriveService(DriveMetadataService):
    """``cloudbaseinit.metadata.services.nocloudservice.NoCloudConfigDriveService``."""

    label = NOCLOUD_LABEL

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self.metadata_file = context.conf.get("metadata_file", GROUP)
        self.userdata_file = context.conf.get("userdata_file", GROUP)

    def get_name(self) -> str:
        return "NoCloudConfigDriveService"

    def validate_metadata(self, data: bytes) -> None:
        try:
            document = parse_json_or_yaml(data.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as ex:
            raise ValueError(str(ex)) from ex
        if not isinstance(document, dict):
            raise ValueError("not a mapping")

    def _meta_data(self) -> Any:
        text = self._get_cache_data(self.metadata_file, decode=True)
        if text is None:
            return None
        try:
            return parse_json_or_yaml(text)
        except yaml.YAMLError as ex:
            LOG.error("Invalid meta-data on the NoCloud drive: %s", ex)
            return {}

    def _meta(self, key: str) -> Any:
        # Upstream's quirk: an empty meta-data file parses to None and getters then fail.
        meta = self._meta_data()
        if not isinstance(meta, dict):
            raise NoCloudMetadataError(
                f"meta-data must be a mapping to read {key!r} from, not {type(meta).__name__}"
            )
        return meta.get(key)

    def get_instance_id(self) -> str | None:
        value = self._meta("instance-id")
        return None if value is None else str(value)

    def get_host_name(self) -> str | None:
        # Only local-hostname is read; the documented "hostname:" key is not.
        value = self._meta("local-hostname")
        return None if value is None else str(value)

    def get_public_keys(self) -> list[str] | None:
        keys = self._meta("public-keys")
        if keys is None:
            return []
        if isinstance(keys, list):
            return [str(key) for key in keys]
        if isinstance(keys, dict):
            for name, value in keys.items():
                if not isinstance(value, dict) or "openssh-key" not in value:
                    raise NoCloudMetadataError(
                        f"public-keys[{name!r}] must be a mapping with an 'openssh-key'"
                    )
            return [str(value["openssh-key"]) for value in keys.values()]
        # Upstream crashes on a plain string; so do we, with a clearer message.
        raise NoCloudMetadataError(
            f"public-keys must be a list or a mapping, not {type(keys).__name__}"
        )

    def get_network_details_v2(self) -> NetworkDetailsV2 | None:
        try:
            text = self._get_cache_data(NETWORK_CONFIG_FILE, decode=True)
        except NotExistingMetadataException:
            return None
        if not text:
            return None
        try:
            document = parse_json_or_yaml(text)
        except yaml.YAMLError as ex:
            LOG.error("network-config on the NoCloud drive does not parse: %s", ex)
            return None
        if not isinstance(document, dict):
            return None
        return parse_network_config(document)

    def get_user_data(self) -> bytes | None:
        try:
            data: bytes = self._get_cache_data(self.userdata_file)
        except NotExistingMetadataException:
            raise
        return data
