"""OVF environment: ``ovf-env.xml`` on a drive labelled ``OVF ENV`` (vApp properties)."""

from __future__ import annotations

import base64
import logging
import ntpath
from xml.dom import minidom
from xml.parsers import expat

from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "ovf"
DEFAULT_INSTANCE_ID = "iid-ovf"

# Element names are matched literally, without resolving namespaces: the document's
# root must be an unprefixed ``Environment`` and its section an unprefixed
# ``PropertySection``; ``<ovfenv:Environment>`` is not understood (as upstream).
ENVIRONMENT = "Environment"
PROPERTY_SECTION = "PropertySection"
PROPERTY = "Property"

INSTANCE_ID_KEY = "instance-id"
HOST_NAME_KEY = "hostname"
PUBLIC_KEYS_KEY = "public-keys"
USERNAME_KEY = "username"
PASSWORD_KEY = "password"
USER_DATA_KEY = "user-data"


class OvfEnvironmentError(Exception):
    """The OVF environment is not readable XML, or has no property to read a single value from."""


def _child_elements(parent: minidom.Node, tag: str) -> list[minidom.Element]:
    return [
        node
        for node in parent.childNodes
        if isinstance(node, minidom.Element) and node.tagName == tag
    ]


def _parse_xml(path: str, data: bytes | str) -> minidom.Document:
    """The document at ``path``; XML that does not parse is an :class:`OvfEnvironmentError`.

    Besides malformed XML that covers a declared encoding Python does not know (a
    ``LookupError``) or cannot decode with (a ``ValueError``).
    """
    try:
        return minidom.parseString(data)
    except expat.ExpatError as ex:
        raise OvfEnvironmentError(f"{path}: not well-formed XML: {ex}") from ex
    except (LookupError, ValueError) as ex:
        raise OvfEnvironmentError(f"{path}: unusable XML encoding: {ex}") from ex


class OvfService(MetadataService):
    """``cloudbaseinit.metadata.services.ovfservice.OvfService``."""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self.config_file_name: str = context.conf.get("config_file_name", GROUP)
        self.drive_label: str = context.conf.get("drive_label", GROUP)
        self.ns: str = context.conf.get("ns", GROUP)
        self._document: minidom.Document | None = None

    def get_name(self) -> str:
        return "OvfService"

    def load(self) -> bool:
        super().load()
        self._document = None
        try:
            self._environment()
            return True
        except Exception as ex:
            LOG.error("No usable OVF environment: %s: %s", type(ex).__name__, ex)
            return False

    # --- the document ---------------------------------------------------------------------

    def _env_path(self) -> str:
        found: str | None = None
        wanted = self.drive_label.lower()
        for drive in self.osutils.get_logical_drives():
            label = self.osutils.get_volume_label(drive)
            # Every matching drive is looked at and the last one wins.
            if label and label.lower() == wanted:
                found = drive
        if found is None:
            raise NotExistingMetadataException(f"No drive labelled {self.drive_label!r}")
        path = ntpath.join(found, self.config_file_name)
        if not self.osutils.path_exists(path):
            raise NotExistingMetadataException(f"{path} not found")
        return path

    def _environment(self) -> minidom.Document:
        if self._document is None:
            path = self._env_path()
            LOG.debug("Reading the OVF environment from %s", path)
            self._document = _parse_xml(path, self.osutils.read_file(path))
        return self._document

    def _properties(self) -> list[minidom.Element]:
        root = self._environment().documentElement
        if root is None or root.tagName != ENVIRONMENT:
            return []
        return [
            prop
            for section in _child_elements(root, PROPERTY_SECTION)
            for prop in _child_elements(section, PROPERTY)
        ]

    def _values(self, key: str) -> list[str] | None:
        """Every non-empty, stripped value of the properties named ``key``.

        None when the document has no Property element at all, which upstream does not
        expect: its single-value getters then fail (see :meth:`_value`).
        """
        properties = self._properties()
        if not properties:
            return None
        # The attribute names are literal ``<ns>:key`` / ``<ns>:value`` (``oe:key``); the
        # URI the prefix is bound to does not matter and another prefix does not match.
        key_attribute = f"{self.ns}:key"
        value_attribute = f"{self.ns}:value"
        values: list[str] = []
        for prop in properties:
            if prop.getAttribute(key_attribute) == key:
                value = prop.getAttribute(value_attribute).strip()
                if value:
                    values.append(value)
        return values

    def _value(self, key: str) -> str | None:
        values = self._values(key)
        if values is None:
            # Upstream's quirk: with no Property element the single-value getters crash;
            # for get_instance_id that aborts the whole run.
            raise OvfEnvironmentError(
                f"The OVF environment has no {PROPERTY} element to read {key!r} from"
            )
        if len(values) > 1:
            LOG.warning("OVF property %r has %d values; using the first", key, len(values))
        return values[0] if values else None

    # --- getters --------------------------------------------------------------------------

    def get_instance_id(self) -> str | None:
        # Defaulted, so every clone of an image without the property shares plugin state.
        return self._value(INSTANCE_ID_KEY) or DEFAULT_INSTANCE_ID

    def get_host_name(self) -> str | None:
        return self._value(HOST_NAME_KEY)

    def get_public_keys(self) -> list[str] | None:
        return self._values(PUBLIC_KEYS_KEY)

    def get_admin_username(self) -> str | None:
        return self._value(USERNAME_KEY)

    def get_admin_password(self) -> str | None:
        return self._value(PASSWORD_KEY)

    def get_user_data(self) -> bytes | None:
        # The property's base64 text as it is (upstream returns it as a str).
        value = self._value(USER_DATA_KEY)
        return None if value is None else value.encode("utf-8")

    def get_decoded_user_data(self) -> bytes | None:
        # Base64-decoded only: unlike the generic getter, gzip data is not expanded.
        value = self._value(USER_DATA_KEY)
        return None if value is None else base64.b64decode(value)
