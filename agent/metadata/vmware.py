"""VMware guestinfo: ``guestinfo.*`` variables read with VMware Tools' ``rpctool.exe``."""

from __future__ import annotations

import base64
import binascii
import logging
import ntpath
from typing import Any

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.documents import parse_json_or_yaml
from guestsim.agent.network import NetworkDetailsV2
from guestsim.agent.network_config import parse_network_config
from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.resources import CorruptCompressedData, ResourceLimits, bounded_gunzip

LOG = logging.getLogger(__name__)

GROUP = "vmwareguestinfo"

METADATA_KEY = "metadata"
USERDATA_KEY = "userdata"
ENCODING_SUFFIX = ".encoding"
NETWORK_KEY = "network"

ENCODING_PLAINTEXT = "plaintext"
BASE64_ENCODINGS = ("base64", "b64")
GZIP_BASE64_ENCODINGS = ("gzip+base64", "gz+b64")


class UnsupportedEncodingError(Exception):
    """A guestinfo ``.encoding`` value the agent does not know."""


class GuestInfoDecodeError(ValueError):
    """A guestinfo value that does not decode as its encoding says (base64, gzip)."""


def encoding_steps(encoding: str | None) -> tuple[bool, bool]:
    """``(base64, gzip)``: the decoding steps an ``.encoding`` value asks for.

    Plain text when absent, blank or ``plaintext``; ``base64``/``b64``;
    ``gzip+base64``/``gz+b64``; anything else raises :class:`UnsupportedEncodingError`.
    """
    name = (encoding or "").strip()
    if name in ("", ENCODING_PLAINTEXT):
        return False, False
    if name in BASE64_ENCODINGS:
        return True, False
    if name in GZIP_BASE64_ENCODINGS:
        return True, True
    raise UnsupportedEncodingError(f"Encoding {name!r} not supported")


def decode_guestinfo(
    data: bytes | str | None,
    encoding: str | None,
    limit: int = ResourceLimits.decompressed_bytes,
) -> bytes:
    """``data`` decoded per ``encoding`` (see :func:`encoding_steps`); absent is empty.

    Gzip data may expand to ``limit`` bytes (the guest's ``decompressed_bytes``); more
    raises :class:`~guestsim.agent.resources.DecompressionLimitExceeded`.
    """
    is_base64, is_gzip = encoding_steps(encoding)
    if not data:
        return b""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if is_base64:
            raw = base64.b64decode(raw)
        if is_gzip:
            raw = bounded_gunzip(raw, limit, "the gzip guestinfo value")
    except (binascii.Error, CorruptCompressedData) as ex:
        raise GuestInfoDecodeError(f"the guestinfo value is not {encoding}: {ex}") from ex
    return raw


class VMwareGuestInfoService(MetadataService):
    """``cloudbaseinit.metadata.services.vmwareguestinfoservice.VMwareGuestInfoService``."""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self._rpctool_path: str | None = None
        self._meta_data: dict[str, Any] = {}
        self._user_data: bytes = b""

    def get_name(self) -> str:
        return "VMwareGuestInfoService"

    def _absolute(self, path: str) -> str:
        """``path`` with environment variables expanded, made absolute and normalised."""
        expanded = self.osutils.expand_environment_variables(path)
        if not ntpath.isabs(expanded):
            # A relative path is taken from the agent's working folder; the agent runs as
            # a service, whose working folder is the system folder.
            expanded = ntpath.join(self.osutils.get_system32_dir(), expanded)
        return ntpath.normpath(expanded)

    def load(self) -> bool:
        super().load()
        configured: str = self.conf.get("vmware_rpctool_path", GROUP)
        if not configured:
            LOG.info("[%s] vmware_rpctool_path is empty; VMware guestinfo not used", GROUP)
            return False
        self._rpctool_path = self._absolute(configured)
        if not self.osutils.path_exists(self._rpctool_path):
            LOG.info("%s does not exist; VMware Tools are not installed", self._rpctool_path)
            return False
        meta_data = parse_json_or_yaml(self._guest_data(METADATA_KEY))
        if not isinstance(meta_data, dict):
            if meta_data is not None:
                LOG.warning("guestinfo.%s is not a mapping; ignored", METADATA_KEY)
            meta_data = {}
        self._meta_data = meta_data
        self._user_data = self._guest_data(USERDATA_KEY)
        # Upstream returns None (falsy) rather than False when there is nothing.
        return bool(self._meta_data or self._user_data)

    # --- rpctool ----------------------------------------------------------------------------

    def _guestinfo_value(self, key: str) -> bytes | None:
        """The raw value of ``guestinfo.<key>``, or None when the tool reports none."""
        assert self._rpctool_path is not None
        # One argument string, as rpctool expects; no shell.
        stdout, stderr, exit_code = self.osutils.execute_process(
            [self._rpctool_path, f"info-get guestinfo.{key}"], shell=False
        )
        if exit_code:
            LOG.debug(
                "guestinfo.%s not available (exit code %d): %s",
                key,
                exit_code,
                stderr.decode("utf-8", "replace").strip(),
            )
            return None
        # Not stripped: the value is exactly what the tool printed.
        return stdout

    def _guest_data(self, key: str) -> bytes:
        # The value is asked for first and its encoding second, as upstream does; an
        # unknown encoding fails the load only once both have been read.
        value = self._guestinfo_value(key)
        encoding = self._guestinfo_value(f"{key}{ENCODING_SUFFIX}")
        encoding_name = None if encoding is None else encoding.decode("utf-8", "replace")
        return decode_guestinfo(value, encoding_name, self._decompressed_bytes())

    def _decompressed_bytes(self) -> int:
        return self.osutils.get_resource_limits().decompressed_bytes

    # --- getters ------------------------------------------------------------------------------

    def _meta(self, key: str) -> Any:
        return self._meta_data.get(key)

    def get_instance_id(self) -> str | None:
        value = self._meta("instance-id")
        return None if value is None else str(value)

    def get_host_name(self) -> str | None:
        value = self._meta("local-hostname")
        return None if value is None else str(value)

    def get_public_keys(self) -> list[str] | None:
        data = self._meta("public-keys-data")
        if not data:
            return []
        # Upstream de-duplicates through a set (unordered); first-seen order is kept here.
        # Blank lines are not keys and are left out.
        keys = [line.strip() for line in str(data).splitlines()]
        return list(dict.fromkeys(key for key in keys if key))

    def get_admin_username(self) -> str | None:
        value = self._meta("admin-username")
        return None if value is None else str(value)

    def get_admin_password(self) -> str | None:
        value = self._meta("admin-password")
        return None if value is None else str(value)

    def get_user_data(self) -> bytes | None:
        # Already decoded per guestinfo.userdata.encoding; the generic decoded getter
        # still gunzips once more if the result is gzip data.
        return self._user_data or None

    def get_network_details_v2(self) -> NetworkDetailsV2 | None:
        value = self._meta(NETWORK_KEY)
        if not value:
            return None
        if isinstance(value, str):
            encoding = self._meta(f"{NETWORK_KEY}{ENCODING_SUFFIX}")
            value = parse_json_or_yaml(
                decode_guestinfo(
                    value,
                    None if encoding is None else str(encoding),
                    self._decompressed_bytes(),
                )
            )
        if not isinstance(value, dict):
            LOG.warning("The VMware network metadata is not a mapping; ignored")
            return None
        # Read as the content of a NoCloud network-config document (an outer "network:"
        # key is unwrapped; version 1 or 2).
        return parse_network_config(value)
