"""Microsoft Azure: the WireServer protocol plus the provisioning drive's ``ovf-env.xml``.

The WireServer's address comes from DHCP option 245 (falling back to the well-known
``168.63.129.16``). Over it the agent checks the protocol version, reads the goal state,
the hosting environment and the certificates, and posts health reports and the RDP
certificate thumbprint. Everything about the guest itself (name, administrator, WinRM,
licensing, user data) is read from the drive tagged with a well-known ``.tag`` file.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import ntpath
import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

from guestsim.agent import dhcp
from guestsim.agent.metadata.base import HttpMetadataService, NotExistingMetadataException
from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.windows.x509 import STORE_LOCATION_LOCAL_MACHINE

LOG = logging.getLogger(__name__)

GROUP = "azure"

WIRESERVER_DHCP_OPTION = dhcp.OPTION_AZURE_WIRESERVER
DEFAULT_WIRESERVER = "168.63.129.16"
# DHCP is polled every 2 s for 150 s (75 requests, each of which may also wait out the
# DHCP receive timeout) before the well-known address is assumed.
WIRESERVER_POLL_INTERVAL_S = 2
WIRESERVER_POLL_ATTEMPTS = 150 // WIRESERVER_POLL_INTERVAL_S

WIRE_SERVER_VERSION = "2015-04-05"
HEADER_AGENT_NAME = "x-ms-guest-agent-name"
HEADER_VERSION = "x-ms-version"
HEADER_TRANSPORT_CERT = "x-ms-guest-agent-public-x509-cert"
AGENT_NAME = "cloudbase-init"
POST_CONTENT_TYPE = "text/xml; charset=utf-8"

VERSIONS_PATH = "?comp=Versions"
GOAL_STATE_PATH = "machine?comp=goalstate"
HEALTH_PATH = "machine?comp=health"
ROLE_PROPERTIES_PATH = "machine?comp=roleProperties"

CERTIFICATES_FORMAT = "Pkcs7BlobWithPfxContents"
TRANSPORT_CERT_SUBJECT = "CN=Cloudbase-Init AzureService Transport"

PROVISIONING_TAG_FILE = "E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag"
OVF_ENV_FILE = "ovf-env.xml"
CUSTOM_DATA_FILE = "CustomData.bin"
DATA_LOSS_WARNING_FILE = "$$\\OEM\\DATALOSS_WARNING_README.txt"

# ovf-env.xml element names as the agent matches them: literally, prefix included.
PROVISIONING_SECTION = "wa:ProvisioningSection"
PLATFORM_SETTINGS_SECTION = "wa:PlatformSettingsSection"
CONFIGURATION_SET = "WindowsProvisioningConfigurationSet"

DEFAULT_KMS_HOST = "kms.core.windows.net"

HEALTH_READY = "Ready"
HEALTH_NOT_READY = "NotReady"
SUB_STATUS_PROVISIONING = "Provisioning"
SUB_STATUS_PROVISIONING_FAILED = "ProvisioningFailed"
DESCRIPTION_PROVISIONING = "Cloudbase-Init is preparing your computer for first use"
DESCRIPTION_PROVISIONING_FAILED = "Provisioning failed"
RDP_THUMBPRINT_PROPERTY = "CertificateThumbprint"

# Hosting-environment ``configurationLevel`` values that name a different store location.
STORE_LOCATIONS = {"System": "LocalMachine"}


class AzureMetadataError(Exception):
    """The WireServer or the provisioning drive said something the agent cannot use."""


class DhcpUnavailable(Exception):
    """The agent was started without a way to talk DHCP."""


# --- XML as the agent reads it ----------------------------------------------------------------


def parse_xml(data: bytes) -> ET.Element:
    """An element tree whose tags and attribute names are the document's literal names.

    Namespaces are not resolved: ``<wa:X>`` is the tag ``"wa:X"`` whatever URI ``wa`` is
    bound to, and a default namespace changes nothing. That is how upstream's XML library
    behaves, so documents using another prefix are not understood (reproduced on purpose).
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def start(tag: str, attributes: dict[str, str]) -> None:
        builder.start(tag, attributes)

    def end(tag: str) -> None:
        builder.end(tag)

    def refuse_entities(*args: object) -> None:
        raise AzureMetadataError("XML entity declarations are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as ex:
        raise AzureMetadataError(f"not well-formed XML: {ex}") from ex
    except (LookupError, ValueError) as ex:
        # A declared encoding Python does not know (LookupError: unknown encoding, or a
        # codec that is not a text encoding) or cannot decode with (idna: a ValueError).
        raise AzureMetadataError(f"unusable XML encoding: {ex}") from ex
    root: ET.Element = builder.close()
    return root


def _children(element: ET.Element, tag: str) -> list[ET.Element]:
    return [child for child in element if child.tag == tag]


def _child(element: ET.Element, *path: str) -> ET.Element:
    """The element at ``path`` below ``element``; each step must name exactly one child."""
    for tag in path:
        found = _children(element, tag)
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise AzureMetadataError(f"<{element.tag}> has {what} <{tag}> element(s)")
        element = found[0]
    return element


def _optional_child(element: ET.Element, *path: str) -> ET.Element | None:
    """Like :func:`_child`, but None when a step is missing (several still raise)."""
    for tag in path:
        if not _children(element, tag):
            return None
        element = _child(element, tag)
    return element


def _text(element: ET.Element) -> str:
    return element.text or ""


def _is_true(element: ET.Element | None) -> bool:
    return element is not None and _text(element).lower() == "true"


def _document(data: bytes, root_tag: str) -> ET.Element:
    root = parse_xml(data)
    if root.tag != root_tag:
        raise AzureMetadataError(f"expected a <{root_tag}> document, got <{root.tag}>")
    return root


def _xml_bytes(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


# --- the service --------------------------------------------------------------------------------


class AzureService(HttpMetadataService):
    """``cloudbaseinit.metadata.services.azureservice.AzureService``."""

    def get_name(self) -> str:
        return "AzureService"

    def __init__(self, context: AgentContext) -> None:
        # The base URL is only known once DHCP has answered, in load().
        super().__init__(context, "", GROUP)
        self._headers: dict[str, str] = {HEADER_AGENT_NAME: AGENT_NAME}
        self._goal_state: ET.Element | None = None
        self._drive: str | None = None
        self._ovf_env: ET.Element | None = None

    def _verify(self) -> bool | str:
        # The WireServer is plain HTTP; upstream builds this service with the base HTTP
        # class's defaults, which (inverted flag, see the base class) mean "do not verify".
        return False

    # --- load ---------------------------------------------------------------------------------

    def load(self) -> bool:
        super().load()
        self._headers = {HEADER_AGENT_NAME: AGENT_NAME}
        self._goal_state = None
        self._drive = None
        self._ovf_env = None
        self.base_url = f"http://{self._wire_server_address()}"
        try:
            self._check_version_header()
            self._get_ovf_env()
            return True
        except Exception as ex:
            LOG.error("Azure metadata not found: %s: %s", type(ex).__name__, ex)
            return False

    def _wire_server_address(self) -> str:
        transport = self.context.dhcp
        if transport is None:
            raise DhcpUnavailable("AzureService needs DHCP but no DHCP transport is set")
        for attempt in range(1, WIRESERVER_POLL_ATTEMPTS + 1):
            # Deviation: upstream sends an empty parameter request list and relies on the
            # server adding 245 unasked; asking for it also works with servers that only
            # answer what is requested (the simulated one does).
            options = dhcp.get_dhcp_options(transport, self.osutils, None, [WIRESERVER_DHCP_OPTION])
            value = (options or {}).get(WIRESERVER_DHCP_OPTION)
            if value:
                address = str(ipaddress.IPv4Address(value))
                LOG.debug("WireServer endpoint from DHCP option 245: %s", address)
                return address
            LOG.debug(
                "DHCP option 245 not received (attempt %d/%d); retrying in %d s",
                attempt,
                WIRESERVER_POLL_ATTEMPTS,
                WIRESERVER_POLL_INTERVAL_S,
            )
            self.osutils.sleep(WIRESERVER_POLL_INTERVAL_S)
        LOG.debug(
            "DHCP option 245 not received; using the default WireServer address %s",
            DEFAULT_WIRESERVER,
        )
        return DEFAULT_WIRESERVER

    # --- WireServer requests --------------------------------------------------------------------

    def _wire_request(
        self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        if not self.base_url:
            raise AzureMetadataError("the WireServer address is not known yet")
        all_headers = dict(self._headers)
        all_headers.update(headers or {})
        if body:
            all_headers["Content-Type"] = POST_CONTENT_TYPE
        # Not through _get_data: WireServer calls skip the 404 -> "not existing" mapping,
        # so with retries on a 404 is retried like any other error (as upstream).
        return self._exec_with_retry(
            lambda: self._http_request(path, data=body, headers=all_headers)
        )

    def _check_version_header(self) -> None:
        if HEADER_VERSION in self._headers:
            return
        versions = _document(self._wire_request(VERSIONS_PATH), "Versions")
        listed = _children(_child(versions, "Supported"), "Version")
        if len(listed) == 1:
            # Upstream's quirk: with a single <Version> its XML library tests membership
            # against that element's child element names, so the check always fails. A
            # WireServer must list at least two versions.
            offered = [child.tag for child in listed[0]]
        else:
            offered = [_text(version) for version in listed]
        if WIRE_SERVER_VERSION not in offered:
            raise AzureMetadataError(
                f"the WireServer does not support protocol version {WIRE_SERVER_VERSION}"
            )
        self._headers[HEADER_VERSION] = WIRE_SERVER_VERSION

    def _get_goal_state(self, force_update: bool = False) -> ET.Element:
        if self._goal_state is None or force_update:
            self._check_version_header()
            goal_state = _document(self._wire_request(GOAL_STATE_PATH), "GoalState")
            expected = _text(_child(goal_state, "Machine", "ExpectedState"))
            if expected != "Started":
                raise AzureMetadataError(f"goal state ExpectedState is {expected!r}, not Started")
            self._goal_state = goal_state
        return self._goal_state

    def _incarnation(self) -> str:
        return _text(_child(self._get_goal_state(), "Incarnation"))

    def _container_id(self) -> str:
        return _text(_child(self._get_goal_state(), "Container", "ContainerId"))

    def _role_instance(self) -> ET.Element:
        # Exactly one RoleInstance: with several, upstream's lookups fail.
        return _child(self._get_goal_state(), "Container", "RoleInstanceList", "RoleInstance")

    def _role_instance_id(self) -> str:
        return _text(_child(self._role_instance(), "InstanceId"))

    def _role_config_url(self, name: str) -> str | None:
        element = _optional_child(self._role_instance(), "Configuration", name)
        return None if element is None else _text(element)

    def _post(self, path: str, root: ET.Element) -> None:
        self._check_version_header()
        self._wire_request(path, body=_xml_bytes(root))

    # --- health and role properties -------------------------------------------------------------

    def _health_report(
        self, state: str, sub_status: str | None = None, description: str | None = None
    ) -> ET.Element:
        root = ET.Element("Health")
        ET.SubElement(root, "GoalStateIncarnation").text = self._incarnation()
        container = ET.SubElement(root, "Container")
        ET.SubElement(container, "ContainerId").text = self._container_id()
        role = ET.SubElement(ET.SubElement(container, "RoleInstanceList"), "Role")
        ET.SubElement(role, "InstanceId").text = self._role_instance_id()
        health = ET.SubElement(role, "Health")
        ET.SubElement(health, "State").text = state
        if sub_status:
            details = ET.SubElement(health, "Details")
            ET.SubElement(details, "SubStatus").text = sub_status
            ET.SubElement(details, "Description").text = description
        return root

    def _post_health(
        self, state: str, sub_status: str | None = None, description: str | None = None
    ) -> None:
        # Building the report reads the goal state (cached after the first fetch).
        report = self._health_report(state, sub_status, description)
        LOG.debug("Posting health report %s%s", state, f"/{sub_status}" if sub_status else "")
        self._post(HEALTH_PATH, report)

    def provisioning_started(self) -> None:
        self._post_health(HEALTH_NOT_READY, SUB_STATUS_PROVISIONING, DESCRIPTION_PROVISIONING)

    def provisioning_completed(self) -> None:
        self._post_health(HEALTH_READY)

    def provisioning_failed(self) -> None:
        self._post_health(
            HEALTH_NOT_READY, SUB_STATUS_PROVISIONING_FAILED, DESCRIPTION_PROVISIONING_FAILED
        )

    @property
    def can_post_rdp_cert_thumbprint(self) -> bool:
        return True

    def post_rdp_cert_thumbprint(self, thumbprint: str) -> None:
        root = ET.Element("RoleProperties")
        container = ET.SubElement(root, "Container")
        ET.SubElement(container, "ContainerId").text = self._container_id()
        instance = ET.SubElement(ET.SubElement(container, "RoleInstances"), "RoleInstance")
        ET.SubElement(instance, "Id").text = self._role_instance_id()
        properties = ET.SubElement(instance, "Properties")
        ET.SubElement(
            properties, "Property", {"name": RDP_THUMBPRINT_PROPERTY, "value": thumbprint}
        )
        LOG.debug("Posting the RDP certificate thumbprint %s", thumbprint)
        self._post(ROLE_PROPERTIES_PATH, root)

    # --- certificates ---------------------------------------------------------------------------

    def _hosting_environment(self, url: str) -> ET.Element:
        self._check_version_header()
        return _document(self._wire_request(url), "HostingEnvironmentConfig")

    def _fetch_pfx(self, url: str) -> bytes:
        # A transport certificate lives in the [azure] transport_cert_store_name store of
        # the machine while the answer is awaited, and is removed whatever happens.
        store: str = self.conf.get("transport_cert_store_name", GROUP)
        thumbprint = self.osutils.create_self_signed_cert(
            TRANSPORT_CERT_SUBJECT, store, STORE_LOCATION_LOCAL_MACHINE
        )
        try:
            der = self.osutils.export_certificate(thumbprint, STORE_LOCATION_LOCAL_MACHINE, store)
            header = base64.b64encode(der).decode("ascii")
            self._check_version_header()
            answer = _document(
                self._wire_request(url, headers={HEADER_TRANSPORT_CERT: header}),
                "CertificateFile",
            )
            data_format = _text(_child(answer, "Format"))
            if data_format != CERTIFICATES_FORMAT:
                raise AzureMetadataError(f"unsupported certificates format {data_format!r}")
            try:
                enveloped = base64.b64decode(_text(_child(answer, "Data")))
            except ValueError as ex:  # binascii.Error: bad padding
                raise AzureMetadataError(f"CertificateFile <Data> is not base64: {ex}") from ex
            return self.osutils.decrypt_enveloped_data(
                enveloped, thumbprint, STORE_LOCATION_LOCAL_MACHINE, store
            )
        finally:
            self.osutils.delete_certificate_from_store(
                thumbprint, STORE_LOCATION_LOCAL_MACHINE, store
            )

    def get_server_certs(self) -> list[dict[str, Any]]:
        certificates_url = self._role_config_url("Certificates")
        if not certificates_url:
            return []
        # Not cached: every call fetches the certificates again with a new transport cert,
        # and only then the hosting environment that says where they go, as upstream.
        pfx = self._fetch_pfx(certificates_url)
        hosting = self._hosting_environment(
            _text(_child(self._role_instance(), "Configuration", "HostingEnvironmentConfig"))
        )
        stored = _optional_child(hosting, "StoredCertificates")
        entries = [] if stored is None else _children(stored, "StoredCertificate")
        certs = []
        for entry in entries:
            level = entry.get("configurationLevel", "")
            certs.append(
                {
                    "store_name": entry.get("storeName"),
                    "store_location": STORE_LOCATIONS.get(level, level),
                    "certificate_id": entry.get("certificateId"),
                    "name": entry.get("name"),
                    "pfx_data": pfx,
                }
            )
        return certs

    # --- the provisioning drive -----------------------------------------------------------------

    def _get_config_set_drive_path(self) -> str:
        if self._drive is None:
            found = None
            for drive in self.osutils.get_logical_drives():
                if self.osutils.path_exists(ntpath.join(drive, PROVISIONING_TAG_FILE)):
                    found = drive  # the last tagged drive wins, as upstream
            if found is None:
                raise AzureMetadataError(f"no drive holds {PROVISIONING_TAG_FILE}")
            self._drive = found
        return self._drive

    def _get_ovf_env(self) -> ET.Element:
        if self._ovf_env is None:
            path = ntpath.join(self._get_config_set_drive_path(), OVF_ENV_FILE)
            self._ovf_env = _document(self.osutils.read_file(path), "Environment")
        return self._ovf_env

    def _configuration_set(self) -> ET.Element:
        return _child(self._get_ovf_env(), PROVISIONING_SECTION, CONFIGURATION_SET)

    def _platform_settings(self) -> ET.Element | None:
        return _optional_child(self._get_ovf_env(), PLATFORM_SETTINGS_SECTION, "PlatformSettings")

    def _platform_setting(self, name: str) -> ET.Element | None:
        settings = self._platform_settings()
        return None if settings is None else _optional_child(settings, name)

    # --- what plugins ask for -------------------------------------------------------------------

    def get_instance_id(self) -> str | None:
        return self._role_instance_id()

    def get_host_name(self) -> str | None:
        return _text(_child(self._configuration_set(), "ComputerName"))

    def get_admin_username(self) -> str | None:
        return _text(_child(self._configuration_set(), "AdminUsername"))

    def get_admin_password(self) -> str | None:
        return _text(_child(self._configuration_set(), "AdminPassword"))

    def get_enable_automatic_updates(self) -> bool:
        # Absent means False (updates get disabled), not None (left alone).
        return _is_true(_optional_child(self._configuration_set(), "EnableAutomaticUpdates"))

    def get_winrm_listeners_configuration(self) -> list[dict[str, str]]:
        # Absent means [] (configure no listener), not None (use the agent's options).
        listeners = _optional_child(self._configuration_set(), "WinRM", "Listeners")
        if listeners is None:
            return []
        configured = []
        for listener in _children(listeners, "Listener"):
            entry = {"protocol": _text(_child(listener, "Protocol"))}
            thumbprint = _optional_child(listener, "CertificateThumbprint")
            if thumbprint is not None:
                entry["certificate_thumbprint"] = _text(thumbprint)
            configured.append(entry)
        return configured

    def get_vm_agent_package_provisioning_data(self) -> dict[str, Any]:
        package = self._platform_setting("GuestAgentPackageName")
        return {
            "provision": _is_true(self._platform_setting("ProvisionGuestAgent")),
            "package_name": None if package is None else _text(package),
        }

    def get_kms_host(self) -> str | None:
        host = self._platform_setting("KmsServerHostname")
        return DEFAULT_KMS_HOST if host is None else _text(host)

    def get_use_avma_licensing(self) -> bool:
        return _is_true(self._platform_setting("UseAVMA"))

    def get_user_data(self) -> bytes | None:
        path = ntpath.join(self._get_config_set_drive_path(), CUSTOM_DATA_FILE)
        if not self.osutils.path_exists(path):
            if _optional_child(self._configuration_set(), "CustomData") is not None:
                raise AzureMetadataError(f"ovf-env.xml has CustomData but {path} is missing")
            raise NotExistingMetadataException(f"{path}: no custom data")
        return self.osutils.read_file(path)

    def get_decoded_user_data(self) -> bytes | None:
        # Custom data is handed over as is: unlike the base service, never gunzipped.
        return self.get_user_data()

    def get_ephemeral_disk_data_loss_warning(self) -> bytes:
        path = ntpath.join(self._get_config_set_drive_path(), DATA_LOSS_WARNING_FILE)
        return self.osutils.read_file(path)
