"""OpenNebula: shell variables in ``context.sh`` on the contextualisation CD-ROM."""

from __future__ import annotations

import logging
import ntpath
import re
from collections.abc import Callable
from typing import Any

from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.network import NetworkDetails
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

CONTEXT_FILE = "context.sh"
# Upstream's constant: every OpenNebula VM reports the same instance id, so plugin state
# written in a template image is shared by all its clones.
INSTANCE_ID = "iid-dsopennebula"
NIC_NAME = "eth{index}"

HOST_NAME_VARIABLES = ("SET_HOSTNAME", "HOSTNAME")
USER_DATA_VARIABLES = ("USER_DATA", "USERDATA")
PUBLIC_KEY_VARIABLES = ("SSH_PUBLIC_KEY", "SSH_KEY")
NIC_MAC = "ETH{index}_MAC"
NIC_IP = "ETH{index}_IP"
NIC_MASK = "ETH{index}_MASK"
NIC_GATEWAY = "ETH{index}_GATEWAY"
NIC_DNS = "ETH{index}_DNS"

# ``KEY=<digits>`` or ``KEY='...'`` / ``KEY="..."``. A quoted value may span lines, has no
# escapes, and its two quotes need not be the same character; it ends at the first quote
# followed by whitespace and another ``WORD=`` (or by the end of the text). Anything else
# (an unquoted word such as ``HOSTNAME=web01``) matches neither branch and is skipped.
_ASSIGNMENT = re.compile(
    rb"(?P<key>\w+)=(?:(?P<number>\d+)|['\"](?P<text>.*?)['\"])(?=\s+\w+=|\s*\Z)",
    re.DOTALL,
)


def parse_context(content: bytes) -> dict[str, int | bytes]:
    """The variables of a ``context.sh`` as OpenNebula's agent reads them.

    Lines that are empty or *start* with ``#`` are dropped first; an indented comment
    stays and becomes part of whatever value surrounds it (upstream behaviour). Numbers
    become ``int``; quoted values stay ``bytes``.
    """
    lines = [line for line in content.splitlines() if line and not line.startswith(b"#")]
    variables: dict[str, int | bytes] = {}
    for match in _ASSIGNMENT.finditer(b"\n".join(lines)):
        key = match.group("key").decode("ascii")
        number = match.group("number")
        variables[key] = int(number) if number is not None else match.group("text")
    return variables


def _dotted(address: str, mask: str, combine: Callable[[str, str], int]) -> str:
    # Octets are paired up to the shorter of the two, as upstream does.
    pairs = zip(address.split("."), mask.split("."), strict=False)
    return ".".join(str(combine(a, m)) for a, m in pairs)


def netmask_from_gateway(address: str, gateway: str) -> str:
    """Upstream's guess: 255 where address and gateway octets agree, else 0."""
    return _dotted(address, gateway, lambda a, g: 255 if a == g else 0)


def broadcast_address(address: str, netmask: str) -> str:
    return _dotted(address, netmask, lambda a, m: int(a) | (255 - int(m)))


class OpenNebulaService(MetadataService):
    """``cloudbaseinit.metadata.services.opennebulaservice.OpenNebulaService``."""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self._context_path: str | None = None
        self._variables: dict[str, int | bytes] = {}

    def get_name(self) -> str:
        return "OpenNebulaService"

    def load(self) -> bool:
        super().load()
        self._context_path = None
        self._variables = {}
        # Any CD-ROM will do: the drive's label is not checked.
        for drive in self.osutils.get_cdrom_drives():
            path = ntpath.join(drive, CONTEXT_FILE)
            if self.osutils.path_exists(path) and not self.osutils.is_dir(path):
                self._context_path = path
                break
        if self._context_path is None:
            LOG.error("No CD-ROM holds %s", CONTEXT_FILE)
            return False
        LOG.info("Reading OpenNebula context from %s", self._context_path)
        self._variables = parse_context(self.osutils.read_file(self._context_path))
        return True

    def _get_data(self, path: str) -> Any:
        if path not in self._variables:
            raise NotExistingMetadataException(f"Metadata {path} not found")
        return self._variables[path]

    def _first(self, names: tuple[str, ...], decode: bool = False) -> Any:
        """The value of the first variable that is set; none set raises not-existing.

        With ``decode`` a number comes back as None: upstream's text decoding does that to
        anything that is not bytes (``SET_HOSTNAME=1234`` gives no host name).
        """
        for name in names:
            try:
                return self._get_cache_data(name, decode=decode)
            except NotExistingMetadataException:
                continue
        raise NotExistingMetadataException(f"None of {', '.join(names)} metadata was found")

    def _nic(self, template: str, index: int) -> str | None:
        value: str | None = self._first((template.format(index=index),), decode=True)
        return value

    def _nic_text(self, template: str, index: int) -> str:
        value = self._nic(template, index)
        if value is None:
            # A numeric value decodes to None; upstream then fails using it as text.
            raise TypeError(f"{template.format(index=index)} is not text")
        return value

    def _nic_count(self) -> int:
        count = 0
        while True:
            try:
                self._first((NIC_MAC.format(index=count),))
            except NotExistingMetadataException:
                return count
            count += 1

    def get_instance_id(self) -> str | None:
        return INSTANCE_ID

    def get_host_name(self) -> str | None:
        value: str | None = self._first(HOST_NAME_VARIABLES, decode=True)
        return value

    def get_user_data(self) -> bytes | None:
        # Raw bytes: USERDATA_ENCODING is not looked at, so base64 user data stays encoded.
        value: int | bytes = self._first(USER_DATA_VARIABLES)
        if isinstance(value, int):
            # Upstream hands the int itself on; digits are the nearest bytes to that.
            return str(value).encode("ascii")
        return value

    def get_public_keys(self) -> list[str] | None:
        keys: str | None = self._first(PUBLIC_KEY_VARIABLES, decode=True)
        if keys is None:
            # A numeric (or undecodable) key variable: upstream fails splitting None.
            raise TypeError("The public key variable is not text")
        return keys.splitlines()

    def get_network_details(self) -> list[NetworkDetails] | None:
        details: list[NetworkDetails] = []
        for index in range(self._nic_count()):
            try:
                mac = self._nic_text(NIC_MAC, index)
                address = self._nic_text(NIC_IP, index)
                try:
                    gateway = self._nic(NIC_GATEWAY, index)
                except NotExistingMetadataException:
                    gateway = None
                try:
                    netmask = self._nic_text(NIC_MASK, index)
                except NotExistingMetadataException:
                    if not gateway:
                        raise
                    netmask = netmask_from_gateway(address, gateway)
                broadcast = broadcast_address(address, netmask)
                # Mandatory: a NIC without ETHn_DNS is dropped.
                nameservers = self._nic_text(NIC_DNS, index).split(" ")
            except NotExistingMetadataException:
                LOG.debug("Incomplete settings for NIC %d; skipped", index)
                continue
            details.append(
                NetworkDetails(
                    name=NIC_NAME.format(index=index),
                    mac=mac.upper(),
                    address=address,
                    address6=None,
                    netmask=netmask,
                    netmask6=None,
                    broadcast=broadcast,
                    gateway=gateway,
                    gateway6=None,
                    dnsnameservers=nameservers,
                )
            )
        return details
