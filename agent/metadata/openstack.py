"""OpenStack metadata: the document format, and the HTTP service that serves it."""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from guestsim.agent.metadata.base import (
    HttpMetadataService,
    MetadataService,
    NotExistingMetadataException,
)
from guestsim.agent.network import NetworkDataError
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

PASSWORD_API_VERSION = "2013-04-04"
CERT_HEADER = "-----BEGIN CERTIFICATE-----"


def _unique(items: list[str]) -> list[str]:
    # Upstream de-duplicates through a set, which makes the "first" key (the one used to
    # encrypt posted passwords) depend on hash seeds. We keep first-seen order instead.
    return list(dict.fromkeys(items))


class OpenStackMetadataError(ValueError):
    """``meta_data.json`` is empty, not a JSON object, or a field has the wrong type.

    Where upstream crashes on such a document (the getter, and the plugin asking, fail),
    this is the error, naming the document and the field.
    """


def _key_entries(meta_data: dict[str, Any], kind: str) -> list[str]:
    """The ``data`` of every ``keys`` entry whose ``type`` is ``kind``."""
    entries = meta_data.get("keys") or []
    if not isinstance(entries, list):
        raise OpenStackMetadataError(
            f"meta_data.json 'keys' must be a list, not {type(entries).__name__}"
        )
    found: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise OpenStackMetadataError(
                f"meta_data.json 'keys[{index}]' must be an object, not {type(entry).__name__}"
            )
        for field in ("type", "data"):
            # Upstream reads "data" only from entries of the wanted type.
            if field not in entry and (field == "type" or entry.get("type") == kind):
                raise OpenStackMetadataError(f"meta_data.json 'keys[{index}]' has no {field!r}")
        if entry["type"] == kind:
            found.append(str(entry["data"]))
    return found


class OpenStackMetadata(MetadataService):
    """Getters over ``meta_data.json``, shared by the HTTP service and the config drive."""

    def _get_meta_data(self, version: str = "latest") -> dict[str, Any]:
        data = self._get_cache_data(f"openstack/{version}/meta_data.json", decode=True)
        if not data:
            # Upstream's quirk: an empty body loads, then every getter fails.
            raise OpenStackMetadataError(f"openstack/{version}/meta_data.json is empty")
        try:
            parsed = json.loads(data)
        except ValueError as ex:
            raise OpenStackMetadataError(
                f"openstack/{version}/meta_data.json is not JSON: {ex}"
            ) from ex
        if not isinstance(parsed, dict):
            raise OpenStackMetadataError(f"openstack/{version}/meta_data.json is not a JSON object")
        return parsed

    def _meta(self) -> dict[str, Any]:
        meta = self._get_meta_data().get("meta") or {}
        return meta if isinstance(meta, dict) else {}

    def get_instance_id(self) -> str | None:
        value = self._get_meta_data().get("uuid")
        return None if value is None else str(value)

    def get_host_name(self) -> str | None:
        value = self._get_meta_data().get("hostname")
        return None if value is None else str(value)

    def get_public_keys(self) -> list[str] | None:
        meta_data = self._get_meta_data()
        public_keys = meta_data.get("public_keys") or {}
        if not isinstance(public_keys, dict):
            raise OpenStackMetadataError(
                f"meta_data.json 'public_keys' must be an object, not {type(public_keys).__name__}"
            )
        keys = [str(key).strip() for key in public_keys.values()]
        keys.extend(key.strip() for key in _key_entries(meta_data, "ssh"))
        return _unique(keys)

    def get_admin_username(self) -> str | None:
        return self._meta().get("admin_username")

    def get_admin_password(self) -> str | None:
        return self._meta().get("admin_pass") or self._get_meta_data().get("admin_pass")

    def get_kms_host(self) -> str | None:
        return self._meta().get("kms_host") or self._get_meta_data().get("kms_host")

    def get_user_data(self) -> bytes | None:
        data: bytes = self._get_cache_data("openstack/latest/user_data")
        return data

    def get_network_details_v2(self) -> Any:
        try:
            document = self._get_cache_data("openstack/latest/network_data.json", decode=True)
        except NotExistingMetadataException:
            return None
        # An empty (or undecodable) document is not "absent": as upstream, parsing fails and
        # so does the network plugin.
        from guestsim.agent.metadata.openstack_network import parse_network_data

        try:
            parsed = json.loads(document or "")
        except ValueError as ex:
            raise NetworkDataError(f"network_data.json is not a JSON document: {ex}") from ex
        return parse_network_data(parsed)

    def get_client_auth_certs(self) -> list[str] | None:
        meta = self._meta()
        chunks: list[str] = []
        index = 0
        while meta.get(f"admin_cert{index}"):
            chunks.append(str(meta[f"admin_cert{index}"]))
            index += 1
        certs = ["".join(chunks)] if chunks else []
        certs.extend(_key_entries(self._get_meta_data(), "x509"))
        if not certs:
            try:
                user_data = self.get_user_data() or b""
            except NotExistingMetadataException:
                user_data = b""
            if user_data.strip().startswith(CERT_HEADER.encode()):
                certs.append(user_data.decode("utf-8", "replace"))
        return _unique([cert.strip() for cert in certs])


class OpenStackHttpService(OpenStackMetadata, HttpMetadataService):
    """``cloudbaseinit.metadata.services.httpservice.HttpService``."""

    def get_name(self) -> str:
        return "HttpService"

    def __init__(self, context: AgentContext) -> None:
        HttpMetadataService.__init__(
            self, context, context.conf.get("metadata_base_url", "openstack"), "openstack"
        )

    def load(self) -> bool:
        super().load()
        self.check_metadata_ip_route()
        try:
            self._get_meta_data()
            return True
        except Exception as ex:
            LOG.debug("Metadata not found at URL '%s': %s", self.base_url, ex)
            return False

    @property
    def can_post_password(self) -> bool:
        try:
            self._get_meta_data(PASSWORD_API_VERSION)
            return True
        except NotExistingMetadataException:
            return False

    @property
    def is_password_set(self) -> bool:
        # Deliberately uncached and not retried: the answer changes when we post.
        return len(self._get_data(f"openstack/{PASSWORD_API_VERSION}/password")) > 0

    def post_password(self, enc_password_b64: bytes) -> bool:
        path = f"openstack/{PASSWORD_API_VERSION}/password"
        try:
            self._exec_with_retry(lambda: self._http_request(path, data=enc_password_b64))
        except requests.HTTPError as ex:
            # Upstream means to treat 409 (already set) as "not posted" but tests the
            # wrong exception type, so a 409 is retried and then fails the plugin. Kept:
            # images in the field behave this way.
            LOG.debug("Posting the password failed: %s", ex)
            raise
        return True
