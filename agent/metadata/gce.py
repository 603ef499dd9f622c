"""Google Compute Engine: the ``computeMetadata/v1`` server, with ``Metadata-Flavor: Google``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from typing import Any

from guestsim.agent.metadata.base import HttpMetadataService, NotExistingMetadataException
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "gce"
METADATA_HEADERS = {"Metadata-Flavor": "Google"}
INSTANCE = "instance"
INSTANCE_ATTRIBUTES = f"{INSTANCE}/attributes"
PROJECT_ATTRIBUTES = "project/attributes"
SSH_KEY_EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"
GOOGLE_SSH_MARKER = "google-ssh"


class GCEMetadataError(Exception):
    """A GCE metadata value the agent cannot read (an SSH key's ``google-ssh`` details)."""


class GCEService(HttpMetadataService):
    """``cloudbaseinit.metadata.services.gceservice.GCEService``."""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context, context.conf.get("metadata_base_url", GROUP), GROUP)

    def get_name(self) -> str:
        return "GCEService"

    def extra_headers(self) -> dict[str, str]:
        return dict(METADATA_HEADERS)

    def load(self) -> bool:
        super().load()
        try:
            self.get_host_name()
            return True
        except NotExistingMetadataException:
            LOG.debug("Metadata not found at URL '%s'", self.base_url)
            # Upstream returns None here (falsy, like False); any other error is not
            # caught and reaches discovery as a failed load, after the retries.
            return False

    def get_host_name(self) -> str | None:
        # The short instance name, not the FQDN at instance/hostname.
        value: str | None = self._get_cache_data(f"{INSTANCE}/name", decode=True)
        return value

    def get_instance_id(self) -> str | None:
        value: str | None = self._get_cache_data(f"{INSTANCE}/id", decode=True)
        return value

    def get_user_data(self) -> bytes | None:
        # A missing user-data attribute propagates as "not existing"; the plugin skips.
        data: bytes = self._get_cache_data(f"{INSTANCE_ATTRIBUTES}/user-data")
        try:
            encoding: str | None = self._get_cache_data(
                f"{INSTANCE_ATTRIBUTES}/user-data-encoding", decode=True
            )
        except NotExistingMetadataException:
            LOG.info("No user-data-encoding attribute; user data used as is")
            return data
        if encoding == "base64":
            try:
                return base64.b64decode(data)
            except ValueError as ex:  # binascii.Error: bad padding
                # As upstream the user data cannot be read (the plugin fails), said plainly.
                raise GCEMetadataError(
                    f"user-data is declared base64 but does not decode: {ex}"
                ) from ex
        if encoding:
            LOG.warning("Encoding not supported: %s", encoding)
        return data

    # --- SSH keys -------------------------------------------------------------------------

    def _attribute(self, path: str, missing_level: int = logging.WARNING) -> str | None:
        try:
            value: str | None = self._get_cache_data(path, decode=True)
            return value
        except NotExistingMetadataException:
            LOG.log(missing_level, "Metadata attribute not found: %s", path)
            return None

    def get_public_keys(self) -> list[str] | None:
        # Only the exact text "true" blocks project keys (cloud-init lower-cases it first).
        # Its absence is the usual case: only a debug line, as upstream; a missing key
        # list is a warning.
        block = self._attribute(f"{INSTANCE_ATTRIBUTES}/block-project-ssh-keys", logging.DEBUG)
        blocked = block == "true"
        sources = [f"{INSTANCE_ATTRIBUTES}/ssh-keys"]
        if not blocked:
            sources.append(f"{PROJECT_ATTRIBUTES}/ssh-keys")
        username: str = self.conf.get("username")
        keys: list[str] = []
        for source in sources:
            text = self._attribute(source)
            for line in (text or "").splitlines():
                key = self._parse_ssh_key(line.strip(), username)
                if key is not None:
                    keys.append(key)
        return keys

    def _parse_ssh_key(self, line: str, username: str) -> str | None:
        if not line:
            return None
        if ":" not in line:
            LOG.warning("Skipping an SSH key without a user prefix: %s", line)
            return None
        user, key = line.split(":", 1)
        parts = key.split(" ")
        if len(parts) < 3:
            LOG.warning("Skipping a malformed SSH key: %s", key)
            return None
        if len(parts) == 3:
            key_user = parts[2]
        else:
            pieces = key.split(GOOGLE_SSH_MARKER)
            if len(pieces) != 2:
                LOG.warning("Skipping an SSH key with an unknown comment: %s", key)
                return None
            # Upstream's quirk: invalid JSON or a missing userName/expireOn raises and
            # fails the whole SSH keys plugin instead of skipping this key.
            details = self._google_ssh_details(pieces[1].strip())
            key_user = details["userName"]
            if self._is_expired(details["expireOn"], self.osutils.utc_now()):
                LOG.warning("Skipping an expired SSH key of %s", key_user)
                return None
            key = f"{parts[0]} {parts[1]} {key_user}"
        # The prefix, the key's own user and the configured user must all agree
        # (case-sensitive).
        if user != key_user or user != username:
            LOG.warning("Skipping an SSH key of user %s", user)
            return None
        return key

    @staticmethod
    def _google_ssh_details(text: str) -> dict[str, Any]:
        """The JSON after ``google-ssh``: an object with ``userName`` and ``expireOn``."""
        try:
            details = json.loads(text)
        except ValueError as ex:
            raise GCEMetadataError(f"SSH key google-ssh details are not JSON: {ex}") from ex
        if not isinstance(details, dict):
            raise GCEMetadataError(
                f"SSH key google-ssh details are not a JSON object: {type(details).__name__}"
            )
        for field in ("userName", "expireOn"):
            if field not in details:
                raise GCEMetadataError(f"SSH key google-ssh details: missing {field!r}")
        return details

    @staticmethod
    def _is_expired(expire_on: str, now: dt.datetime) -> bool:
        try:
            expires = dt.datetime.strptime(expire_on, SSH_KEY_EXPIRY_FORMAT).replace(tzinfo=dt.UTC)
        except (TypeError, ValueError):
            # An unreadable date keeps the key.
            LOG.warning("Cannot parse the SSH key expiry date: %s", expire_on)
            return False
        return now > expires
