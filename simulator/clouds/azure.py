"""Microsoft Azure's WireServer (the model, its routes) and the provisioning drive.

The WireServer at ``http://168.63.129.16/`` serves the protocol versions, the goal state and
the role's configuration documents, hands out the VM's certificates (a PFX enveloped in
PKCS#7 to the transport certificate the guest sends, base64 in 64-column lines as the
WireServer wraps it), and records the health reports and role properties the guest posts.
Served on its own (``guestsim serve azure``), the goal state's links point at the address
the client used, so that a real client can follow them. The guest's own configuration
(``ovf-env.xml``, ``CustomData.bin``) is not served over HTTP: Azure puts it on a drive,
which :func:`attach` plugs into the machine.
"""

from __future__ import annotations

import base64
import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.windows.disks import Drive
from guestsim.simulator.windows.state import WindowsState

DEFAULT_BASE_URL = "http://168.63.129.16/"

# What the WireServer lists at ?comp=Versions; the agent needs 2015-04-05 among them.
DEFAULT_VERSIONS = (
    "2015-04-05",
    "2012-11-30",
    "2012-09-15",
    "2012-05-15",
    "2011-12-31",
    "2011-10-15",
    "2011-08-31",
    "2011-04-07",
    "2010-12-15",
)
DEFAULT_CONTAINER_ID = "7d0b2f4e-5c1a-4e8b-9f36-2a4c6e8d0b13"
DEFAULT_ROLE_INSTANCE_ID = "a3f1c2d4-5b6e-4f70-8192-a3b4c5d6e7f8.az-sim-01"
EXPECTED_STATE_STARTED = "Started"
CERTIFICATES_FORMAT = "Pkcs7BlobWithPfxContents"
BASE64_LINE = 64

HEADER_VERSION = "x-ms-version"
HEADER_TRANSPORT_CERT = "x-ms-guest-agent-public-x509-cert"

# The drive Azure attaches with the guest's provisioning data.
PROVISIONING_TAG_FILE = "E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag"
OVF_ENV_FILE = "ovf-env.xml"
CUSTOM_DATA_FILE = "CustomData.bin"
DATA_LOSS_WARNING_FILE = "$$\\OEM\\DATALOSS_WARNING_README.txt"
DEFAULT_DRIVE_LETTER = "D"

# Scenario key -> (bundled default document, file name on the drive).
_DRIVE_DOCUMENTS = (
    ("ovf_env", "ovf-env.xml", OVF_ENV_FILE),
    ("custom_data", "CustomData.bin", CUSTOM_DATA_FILE),
    ("data_loss_warning", "DATALOSS_WARNING_README.txt", DATA_LOSS_WARNING_FILE),
)


@dataclass(frozen=True)
class StoredCertificate:
    """One ``HostingEnvironmentConfig/StoredCertificates/StoredCertificate``."""

    name: str
    certificate_id: str
    store_name: str = "My"
    configuration_level: str = "System"


@dataclass(frozen=True)
class HealthReport:
    """A health report the guest posted."""

    incarnation: str
    container_id: str
    instance_id: str
    state: str
    sub_status: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RoleProperty:
    """A role property the guest posted (the RDP certificate thumbprint)."""

    container_id: str
    instance_id: str
    name: str
    value: str


@dataclass
class AzureModel:
    # What the cloud saw rather than what it holds: a power cut that adds a boot changes it
    # by design, so the power-loss explorer does not compare it.
    HISTORY: ClassVar[tuple[str, ...]] = ("certificate_downloads",)
    # Reports in order; the cloud holds the latest as the machine's state.
    LATEST: ClassVar[tuple[str, ...]] = ("health_reports",)
    container_id: str = DEFAULT_CONTAINER_ID
    role_instance_ids: list[str] = field(default_factory=lambda: [DEFAULT_ROLE_INSTANCE_ID])
    incarnation: int = 1
    expected_state: str = EXPECTED_STATE_STARTED
    versions: list[str] = field(default_factory=lambda: list(DEFAULT_VERSIONS))
    # The PFX handed out at the Certificates URL; None: the goal state names no such URL.
    pfx: bytes | None = None
    stored_certificates: list[StoredCertificate] = field(default_factory=list)
    # What the guest told the WireServer.
    health_reports: list[HealthReport] = field(default_factory=list)
    role_properties: list[RoleProperty] = field(default_factory=list)
    certificate_downloads: int = 0

    @property
    def health_states(self) -> list[str]:
        """Each report as ``State`` or ``State/SubStatus``, in order."""
        return [
            report.state + (f"/{report.sub_status}" if report.sub_status else "")
            for report in self.health_reports
        ]

    @property
    def rdp_thumbprints(self) -> list[str]:
        return [p.value for p in self.role_properties if p.name == "CertificateThumbprint"]


@functools.lru_cache(maxsize=16)
def pfx_thumbprint(pfx: bytes) -> str:
    """The upper-case SHA-1 thumbprint of the certificate in a password-less PFX."""
    _key, certificate, _others = pkcs12.load_key_and_certificates(pfx, None)
    if certificate is None:
        raise ValueError("the PFX holds no certificate")
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def _xml(root: ET.Element) -> SimResponse:
    ET.indent(root)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text(body, content_type="text/xml; charset=utf-8")


def _sub(parent: ET.Element, tag: str, value: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if value is not None:
        element.text = value
    return element


def _bad_request(reason: str) -> SimResponse:
    return text(f"Bad Request: {reason}", 400)


def _wrapped_base64(data: bytes) -> str:
    """Base64 in lines of 64 characters, as the WireServer sends the certificates blob:
    S/MIME readers (``openssl cms``, which the Linux agent feeds it to) need the breaks."""
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + BASE64_LINE] for i in range(0, len(encoded), BASE64_LINE))


def _field(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    return None if element is None else (element.text or "")


class AzureWireServer(CloudApp):
    name = "azure"

    def __init__(self, model: AzureModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        self.route("GET", r"/\?comp=[Vv]ersions", self._versions)
        self.route("GET", r"/machine/?\?comp=goalstate", self._goal_state)
        self.route("POST", r"/machine/?\?comp=health", self._health)
        self.route("POST", r"/machine/?\?comp=roleProperties", self._role_properties)
        self.route(
            "GET", r"/machine/(?P<container>[^/?]+)/(?P<role>[^/?]+)\?(?P<query>.*)", self._role
        )

    # --- helpers ------------------------------------------------------------------------------

    def _role_url(self, request: SimRequest, role: str, query: str) -> str:
        base = self.link_base(request).rstrip("/")
        return f"{base}/machine/{quote(self.model.container_id)}/{quote(role)}?{query}"

    def _version_refusal(self, request: SimRequest) -> SimResponse | None:
        version = request.header(HEADER_VERSION)
        if version is None:
            return _bad_request(f"missing {HEADER_VERSION} header")
        if version not in self.model.versions:
            return _bad_request(f"unsupported {HEADER_VERSION} {version!r}")
        return None

    # --- routes -------------------------------------------------------------------------------

    def _versions(self, request: SimRequest) -> SimResponse:
        root = ET.Element("Versions")
        if self.model.versions:
            _sub(_sub(root, "Preferred"), "Version", self.model.versions[0])
        supported = _sub(root, "Supported")
        for version in self.model.versions:
            _sub(supported, "Version", version)
        return _xml(root)

    def _goal_state(self, request: SimRequest) -> SimResponse:
        refusal = self._version_refusal(request)
        if refusal is not None:
            return refusal
        model = self.model
        incarnation = str(model.incarnation)
        root = ET.Element("GoalState")
        _sub(root, "Version", "2015-04-05")
        _sub(root, "Incarnation", incarnation)
        machine = _sub(root, "Machine")
        _sub(machine, "ExpectedState", model.expected_state)
        _sub(machine, "StopRolesDeadlineHint", "300000")
        _sub(machine, "ExpectHealthReport", "FALSE")
        container = _sub(root, "Container")
        _sub(container, "ContainerId", model.container_id)
        instances = _sub(container, "RoleInstanceList")
        for role in model.role_instance_ids:
            instance = _sub(instances, "RoleInstance")
            _sub(instance, "InstanceId", role)
            _sub(instance, "State", model.expected_state)
            configuration = _sub(instance, "Configuration")
            for tag, kind in (
                ("HostingEnvironmentConfig", "hostingEnvironmentConfig"),
                ("SharedConfig", "sharedConfig"),
                ("ExtensionsConfig", "extensionsConfig"),
                ("FullConfig", "fullConfig"),
            ):
                query = f"comp=config&type={kind}&incarnation={incarnation}"
                _sub(configuration, tag, self._role_url(request, role, query))
            if model.pfx is not None:
                query = f"comp=certificates&incarnation={incarnation}"
                _sub(configuration, "Certificates", self._role_url(request, role, query))
            _sub(configuration, "ConfigName", f"{role}.1.{incarnation}.xml")
        return _xml(root)

    def _role(self, request: SimRequest, container: str, role: str, query: str) -> SimResponse:
        if unquote(container) != self.model.container_id:
            return not_found()
        role = unquote(role)
        if role not in self.model.role_instance_ids:
            return not_found()
        refusal = self._version_refusal(request)
        if refusal is not None:
            return refusal
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        comp, kind = params.get("comp"), params.get("type")
        if comp == "certificates":
            return self._certificates(request)
        if comp != "config":
            return not_found()
        if kind == "hostingEnvironmentConfig":
            return self._hosting_environment()
        if kind == "sharedConfig":
            return self._shared_config(role)
        if kind == "extensionsConfig":
            return _xml(self._config_root("Extensions"))
        if kind == "fullConfig":
            return _xml(self._config_root("RDConfig"))
        return not_found()

    def _config_root(self, tag: str) -> ET.Element:
        return ET.Element(
            tag, {"version": "1.0.0.0", "goalStateIncarnation": str(self.model.incarnation)}
        )

    def _hosting_environment(self) -> SimResponse:
        root = self._config_root("HostingEnvironmentConfig")
        stored = _sub(root, "StoredCertificates")
        for certificate in self.model.stored_certificates:
            _sub(
                stored,
                "StoredCertificate",
                name=certificate.name,
                certificateId=certificate.certificate_id,
                storeName=certificate.store_name,
                configurationLevel=certificate.configuration_level,
            )
        return _xml(root)

    def _shared_config(self, role: str) -> SimResponse:
        root = self._config_root("SharedConfig")
        _sub(root, "Deployment", name=self.model.container_id, incarnation="0")
        _sub(_sub(root, "Instances"), "Instance", id=role)
        return _xml(root)

    def _certificates(self, request: SimRequest) -> SimResponse:
        if self.model.pfx is None:
            return not_found()
        encoded = request.header(HEADER_TRANSPORT_CERT)
        if not encoded:
            return _bad_request(f"missing {HEADER_TRANSPORT_CERT} header")
        try:
            transport = x509.load_der_x509_certificate(base64.b64decode(encoded, validate=True))
            enveloped = (
                pkcs7.PKCS7EnvelopeBuilder()
                .set_data(self.model.pfx)
                .add_recipient(transport)
                .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
            )
        except ValueError as ex:
            return _bad_request(f"{HEADER_TRANSPORT_CERT} is not a usable certificate: {ex}")
        self.model.certificate_downloads += 1
        root = ET.Element("CertificateFile")
        _sub(root, "Version", "2012-11-30")
        _sub(root, "Incarnation", str(self.model.incarnation))
        _sub(root, "Format", CERTIFICATES_FORMAT)
        _sub(root, "Data", _wrapped_base64(enveloped))
        return _xml(root)

    def _posted_xml(self, request: SimRequest, root_tag: str) -> ET.Element | SimResponse:
        refusal = self._version_refusal(request)
        if refusal is not None:
            return refusal
        try:
            root = ET.fromstring(request.body)
        except ET.ParseError as ex:
            return _bad_request(f"body is not XML: {ex}")
        if root.tag != root_tag:
            return _bad_request(f"expected <{root_tag}>, got <{root.tag}>")
        return root

    def _check_role(self, container_id: str | None, instance_id: str | None) -> str | None:
        if container_id != self.model.container_id:
            return f"unknown ContainerId {container_id!r}"
        if instance_id not in self.model.role_instance_ids:
            return f"unknown role instance {instance_id!r}"
        return None

    def _health(self, request: SimRequest) -> SimResponse:
        root = self._posted_xml(request, "Health")
        if isinstance(root, SimResponse):
            return root
        role = "Container/RoleInstanceList/Role"
        container_id = _field(root, "Container/ContainerId")
        instance_id = _field(root, f"{role}/InstanceId")
        state = _field(root, f"{role}/Health/State")
        problem = self._check_role(container_id, instance_id)
        if problem is not None:
            return _bad_request(problem)
        if not state:
            return _bad_request("no Health/State")
        assert container_id is not None and instance_id is not None
        self.model.health_reports.append(
            HealthReport(
                incarnation=_field(root, "GoalStateIncarnation") or "",
                container_id=container_id,
                instance_id=instance_id,
                state=state,
                sub_status=_field(root, f"{role}/Health/Details/SubStatus"),
                description=_field(root, f"{role}/Health/Details/Description"),
            )
        )
        return text("")

    def _role_properties(self, request: SimRequest) -> SimResponse:
        root = self._posted_xml(request, "RoleProperties")
        if isinstance(root, SimResponse):
            return root
        instance = "Container/RoleInstances/RoleInstance"
        container_id = _field(root, "Container/ContainerId")
        instance_id = _field(root, f"{instance}/Id")
        problem = self._check_role(container_id, instance_id)
        if problem is not None:
            return _bad_request(problem)
        assert container_id is not None and instance_id is not None
        properties = root.findall(f"{instance}/Properties/Property")
        if not properties:
            return _bad_request("no Property")
        for prop in properties:
            name, value = prop.get("name"), prop.get("value")
            if name is None or value is None:
                return _bad_request("a Property needs name and value attributes")
            self.model.role_properties.append(RoleProperty(container_id, instance_id, name, value))
        return text("")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "container_id": self.model.container_id}


# --- building it from a scenario ----------------------------------------------------------------


def _stored_certificates(source: DocumentSource, pfx: bytes | None) -> list[StoredCertificate]:
    spec = source.setting("stored_certificates")
    if spec is not None:
        return [
            StoredCertificate(
                name=entry["name"],
                certificate_id=entry["certificate_id"],
                store_name=entry.get("store_name", "My"),
                configuration_level=entry.get("configuration_level", "System"),
            )
            for entry in spec
        ]
    if pfx is None:
        return []
    # By default the PFX's certificate is the one stored, for the WinRM HTTPS listener.
    try:
        thumbprint = pfx_thumbprint(pfx)
    except ValueError as ex:
        where = str(source.origin) if source.origin else "cloud azure"
        raise ScenarioError(where, f"not a password-less PFX: {ex}", "cloud.pfx_file") from ex
    return [StoredCertificate(name=f"WinRM_{thumbprint}", certificate_id=f"sha1:{thumbprint}")]


def build_model(source: DocumentSource) -> AzureModel:
    pfx = source.raw("pfx", "certificates.pfx")
    return AzureModel(
        container_id=source.setting("container_id", DEFAULT_CONTAINER_ID),
        role_instance_ids=list(source.setting("role_instance_ids", [DEFAULT_ROLE_INSTANCE_ID])),
        incarnation=source.setting("incarnation", 1),
        expected_state=source.setting("expected_state", EXPECTED_STATE_STARTED),
        versions=list(source.setting("versions", DEFAULT_VERSIONS)),
        pfx=pfx,
        stored_certificates=_stored_certificates(source, pfx),
    )


def build(source: DocumentSource) -> list[CloudApp]:
    """The WireServer only; the provisioning drive is the machine's (see :func:`attach`)."""
    return [AzureWireServer(build_model(source), source.setting("base_url", DEFAULT_BASE_URL))]


def provisioning_drive_files(source: DocumentSource) -> dict[str, bytes] | None:
    """The files of the provisioning drive a scenario describes; None for no drive."""
    if "provisioning_drive" in source.spec and source.spec["provisioning_drive"] is None:
        return None
    spec = source.setting("provisioning_drive") or {}
    documents = DocumentSource(source.cloud_type, spec, source.origin, source.defaults_dir)
    files: dict[str, bytes] = {}
    if spec.get("tag", True):
        files[PROVISIONING_TAG_FILE] = b""
    for key, default_file, name in _DRIVE_DOCUMENTS:
        data = documents.raw(key, default_file)
        if data is not None:
            files[name] = data
    return files


def attach(state: WindowsState, source: DocumentSource) -> None:
    """Plug the scenario's provisioning drive (a CD-ROM) into the machine, if it has one."""
    files = provisioning_drive_files(source)
    if files is None:
        return
    spec = source.setting("provisioning_drive") or {}
    drive = Drive(spec.get("letter", DEFAULT_DRIVE_LETTER), spec.get("label"), "cdrom")
    state.attach_drive(drive, files)
