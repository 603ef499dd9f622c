"""Packet / Equinix Metal metadata, with password and provisioning reports to phone-home."""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "packet"


class PacketService(HttpMetadataService):
    """``cloudbaseinit.metadata.services.packet.PacketService``.

    Everything comes from one JSON document at ``metadata``; the password is encrypted
    with a key fetched from ``<phone_home_url>/key`` and posted back to the phone-home
    URL, which also receives the (bodiless) "provisioning completed" report.
    """

    def __init__(self, context: AgentContext) -> None:
        # HTTPS by default; with the default [packet] https_allow_insecure=False the
        # certificate is not verified (the inverted flag handled in the base class).
        super().__init__(context, context.conf.get("metadata_base_url", GROUP), GROUP)

    def get_name(self) -> str:
        return "PacketService"

    def _parsed_meta_data(self) -> Any:
        data: str | None = self._get_cache_data("metadata", decode=True)
        return json.loads(data) if data else None

    def _get_meta_data(self) -> dict[str, Any]:
        parsed = self._parsed_meta_data()
        if not isinstance(parsed, dict):
            # Quirk kept: load() accepts an empty document; each getter then fails.
            raise ValueError("The Packet metadata document is empty or not a JSON object")
        return parsed

    def load(self) -> bool:
        super().load()
        try:
            # A 200 with an empty body still loads (quirk); invalid JSON does not.
            self._parsed_meta_data()
            return True
        except Exception as ex:
            LOG.debug("Metadata not found at URL '%s': %s", self.base_url, ex)
            return False

    def get_instance_id(self) -> str | None:
        value = self._get_meta_data().get("id")
        return None if value is None else str(value)

    def get_host_name(self) -> str | None:
        value = self._get_meta_data().get("hostname")
        return None if value is None else str(value)

    def get_public_keys(self) -> list[str] | None:
        ssh_keys = self._get_meta_data().get("ssh_keys")
        if not ssh_keys:
            return []
        # Upstream de-duplicates through a set (unordered); first-seen order here keeps
        # runs reproducible.
        return list(dict.fromkeys(str(key).strip() for key in ssh_keys))

    def get_user_data(self) -> bytes | None:
        data: bytes = self._get_cache_data("userdata")
        return data

    def _phone_home_url(self) -> str:
        # Quirk kept: a document without phone_home_url yields the text "None", which
        # then resolves relative to the metadata base URL.
        return str(self._get_meta_data().get("phone_home_url"))

    def get_user_pwd_encryption_key(self) -> str | None:
        key_url = requests.compat.urljoin(f"{self._phone_home_url()}/", "key")
        key: str | None = self._get_cache_data(key_url, decode=True)
        return key

    @property
    def can_post_password(self) -> bool:
        return True

    def post_password(self, enc_password_b64: bytes) -> bool:
        url = self._phone_home_url()
        # JSON text sent without a Content-Type header, as upstream does.
        body = json.dumps({"password": enc_password_b64.decode()}).encode("utf-8")
        # Errors after the retries surface as the raw HTTP error (upstream's intended
        # wrapping into its own exception type never matches).
        self._exec_with_retry(lambda: self._http_request(url, data=body))
        return True

    def provisioning_completed(self) -> None:
        url = self._phone_home_url()
        # The same URL as the password post, told apart by having no body at all.
        self._exec_with_retry(lambda: self._http_request(url, method="POST"))
