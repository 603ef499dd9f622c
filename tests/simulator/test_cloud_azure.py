"""The simulated Azure WireServer's own contract, the provisioning drive, and the scenarios.

The app is called directly with :class:`SimRequest` objects: every route, what it serves,
what it records, and every request the real WireServer refuses.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from guestsim.simulator.clouds import azure, build_clouds, cloud_schema
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import Machine
from guestsim.simulator.scenario import Scenario, load_scenario
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "clouds" / "azure"
SCENARIOS = sorted((REPO / "scenarios" / "clouds").glob("azure-*.yaml"))
VERSION = {"x-ms-version": "2015-04-05"}
CONTAINER = azure.DEFAULT_CONTAINER_ID
ROLE = azure.DEFAULT_ROLE_INSTANCE_ID
ROLE_PATH = f"/machine/{CONTAINER}/{ROLE}"
PFX_THUMBPRINT = "A150E824439961862A4277D45178C466D5C99C3A"


def wire_server(**spec: Any) -> azure.AzureWireServer:
    (app,) = azure.build(DocumentSource("azure", {"type": "azure", **spec}))
    assert isinstance(app, azure.AzureWireServer)
    return app


def call(
    app: azure.AzureWireServer,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> SimResponse:
    url = f"http://168.63.129.16{path}"
    return app.handle(SimRequest(method, url, path, headers or {}, body))


def xml(response: SimResponse) -> ET.Element:
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return ET.fromstring(response.body)


def transport_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "transport")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    encoded = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return key, cert, encoded


def health_body(
    state: str = "Ready",
    container: str = CONTAINER,
    role: str = ROLE,
    sub_status: str | None = None,
) -> bytes:
    details = (
        f"<Details><SubStatus>{sub_status}</SubStatus><Description>d</Description></Details>"
        if sub_status
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><Health>'
        "<GoalStateIncarnation>1</GoalStateIncarnation>"
        f"<Container><ContainerId>{container}</ContainerId><RoleInstanceList><Role>"
        f"<InstanceId>{role}</InstanceId><Health><State>{state}</State>{details}</Health>"
        "</Role></RoleInstanceList></Container></Health>"
    ).encode()


def role_properties_body(container: str = CONTAINER, role: str = ROLE, prop: str = "") -> bytes:
    prop = prop or '<Property name="CertificateThumbprint" value="ABCDEF"/>'
    return (
        f"<RoleProperties><Container><ContainerId>{container}</ContainerId><RoleInstances>"
        f"<RoleInstance><Id>{role}</Id><Properties>{prop}</Properties></RoleInstance>"
        "</RoleInstances></Container></RoleProperties>"
    ).encode()


# --- versions ----------------------------------------------------------------------------------


def test_versions_need_no_header_and_list_2015_04_05_first() -> None:
    root = xml(call(wire_server(), "/?comp=Versions"))
    assert root.tag == "Versions"
    assert root.findtext("Preferred/Version") == "2015-04-05"
    listed = [v.text for v in root.findall("Supported/Version")]
    assert listed == list(azure.DEFAULT_VERSIONS)
    assert len(listed) >= 2


def test_versions_can_be_configured() -> None:
    root = xml(call(wire_server(versions=["2015-04-05"]), "/?comp=versions"))
    assert [v.text for v in root.findall("Supported/Version")] == ["2015-04-05"]


# --- goal state ----------------------------------------------------------------------------------


def test_the_goal_state_names_the_container_role_and_configuration_urls() -> None:
    app = wire_server(incarnation=3)
    root = xml(call(app, "/machine?comp=goalstate", headers=VERSION))
    assert root.findtext("Incarnation") == "3"
    assert root.findtext("Machine/ExpectedState") == "Started"
    assert root.findtext("Container/ContainerId") == CONTAINER
    (instance,) = root.findall("Container/RoleInstanceList/RoleInstance")
    assert instance.findtext("InstanceId") == ROLE
    base = f"http://168.63.129.16{ROLE_PATH}"
    assert instance.findtext("Configuration/HostingEnvironmentConfig") == (
        f"{base}?comp=config&type=hostingEnvironmentConfig&incarnation=3"
    )
    assert instance.findtext("Configuration/Certificates") == (
        f"{base}?comp=certificates&incarnation=3"
    )
    for tag in ("SharedConfig", "ExtensionsConfig", "FullConfig"):
        assert instance.findtext(f"Configuration/{tag}", "").startswith(f"{base}?comp=config&")
    # Every configuration document the goal state names is served (certificates: below).
    configuration = instance.find("Configuration")
    assert configuration is not None
    for element in configuration:
        if element.tag not in ("ConfigName", "Certificates"):
            path = (element.text or "").removeprefix("http://168.63.129.16")
            assert call(app, path, headers=VERSION).status == 200, element.tag


def test_the_goal_state_without_a_pfx_has_no_certificates_url() -> None:
    root = xml(call(wire_server(pfx=None), "/machine?comp=goalstate", headers=VERSION))
    assert root.find("Container/RoleInstanceList/RoleInstance/Configuration/Certificates") is None


def test_the_goal_state_urls_follow_the_base_url() -> None:
    app = wire_server(base_url="http://10.20.30.40/")
    root = xml(call(app, "/machine/?comp=goalstate", headers=VERSION))
    url = root.findtext("Container/RoleInstanceList/RoleInstance/Configuration/Certificates")
    assert url is not None and url.startswith("http://10.20.30.40/machine/")


def test_several_role_instances_and_another_expected_state_are_served_as_configured() -> None:
    app = wire_server(role_instance_ids=["r_IN_0", "r_IN_1"], expected_state="Stopped")
    root = xml(call(app, "/machine?comp=goalstate", headers=VERSION))
    assert root.findtext("Machine/ExpectedState") == "Stopped"
    ids = [e.text for e in root.findall("Container/RoleInstanceList/RoleInstance/InstanceId")]
    assert ids == ["r_IN_0", "r_IN_1"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, b"missing x-ms-version"), ({"x-ms-version": "2009-01-01"}, b"unsupported")],
)
def test_everything_but_versions_needs_a_supported_version_header(
    headers: dict[str, str], reason: bytes
) -> None:
    app = wire_server()
    for method, path in (
        ("GET", "/machine?comp=goalstate"),
        ("GET", f"{ROLE_PATH}?comp=config&type=hostingEnvironmentConfig&incarnation=1"),
        ("GET", f"{ROLE_PATH}?comp=certificates&incarnation=1"),
        ("POST", "/machine?comp=health"),
        ("POST", "/machine?comp=roleProperties"),
    ):
        response = call(app, path, method, headers, health_body())
        assert response.status == 400, path
        assert reason in response.body
    assert app.model.health_reports == []


# --- configuration documents ---------------------------------------------------------------------


def test_the_hosting_environment_lists_the_stored_certificates() -> None:
    stored = [
        {"name": "a", "certificate_id": "sha1:AA"},
        {"name": "b", "certificate_id": "sha1:BB", "store_name": "Root"},
        {"name": "c", "certificate_id": "sha1:CC", "configuration_level": "User"},
    ]
    app = wire_server(stored_certificates=stored)
    path = f"{ROLE_PATH}?comp=config&type=hostingEnvironmentConfig&incarnation=1"
    root = xml(call(app, path, headers=VERSION))
    assert root.tag == "HostingEnvironmentConfig"
    assert [dict(e.attrib) for e in root.findall("StoredCertificates/StoredCertificate")] == [
        {
            "name": "a",
            "certificateId": "sha1:AA",
            "storeName": "My",
            "configurationLevel": "System",
        },
        {
            "name": "b",
            "certificateId": "sha1:BB",
            "storeName": "Root",
            "configurationLevel": "System",
        },
        {"name": "c", "certificateId": "sha1:CC", "storeName": "My", "configurationLevel": "User"},
    ]


def test_by_default_the_stored_certificate_is_the_bundled_pfx_certificate() -> None:
    app = wire_server()
    assert app.model.pfx == (FIXTURES / "certificates.pfx").read_bytes()
    assert app.model.stored_certificates == [
        azure.StoredCertificate(f"WinRM_{PFX_THUMBPRINT}", f"sha1:{PFX_THUMBPRINT}")
    ]
    assert wire_server(pfx=None).model.stored_certificates == []


@pytest.mark.parametrize(
    "path",
    [
        f"/machine/other-container/{ROLE}?comp=config&type=sharedConfig&incarnation=1",
        f"/machine/{CONTAINER}/other-role?comp=config&type=sharedConfig&incarnation=1",
        f"{ROLE_PATH}?comp=config&type=nonsense&incarnation=1",
        f"{ROLE_PATH}?comp=nonsense",
        "/machine?comp=nonsense",
        "/openstack/latest/meta_data.json",
        "/metadata/instance?api-version=2021-02-01",
    ],
)
def test_unknown_paths_are_not_found(path: str) -> None:
    assert call(wire_server(), path, headers=VERSION).status == 404


def test_a_wrong_method_is_not_allowed() -> None:
    app = wire_server()
    assert call(app, "/machine?comp=health", "GET", VERSION).status == 405
    assert call(app, "/machine?comp=goalstate", "POST", VERSION, b"<x/>").status == 405


# --- certificates --------------------------------------------------------------------------------


def test_certificates_are_the_pfx_enveloped_to_the_transport_certificate() -> None:
    app = wire_server()
    key, cert, encoded = transport_cert()
    headers = {**VERSION, "x-ms-guest-agent-public-x509-cert": encoded}
    root = xml(call(app, f"{ROLE_PATH}?comp=certificates&incarnation=1", headers=headers))
    assert root.tag == "CertificateFile"
    assert root.findtext("Format") == "Pkcs7BlobWithPfxContents"
    enveloped = base64.b64decode(root.findtext("Data") or "")
    assert pkcs7.pkcs7_decrypt_der(enveloped, cert, key, []) == app.model.pfx
    assert app.model.certificate_downloads == 1


@pytest.mark.parametrize("header", [None, "", "not base64!", base64.b64encode(b"junk").decode()])
def test_certificates_are_refused_without_a_usable_transport_certificate(
    header: str | None,
) -> None:
    app = wire_server()
    headers = dict(VERSION)
    if header is not None:
        headers["x-ms-guest-agent-public-x509-cert"] = header
    response = call(app, f"{ROLE_PATH}?comp=certificates&incarnation=1", headers=headers)
    assert response.status == 400
    assert b"x-ms-guest-agent-public-x509-cert" in response.body
    assert app.model.certificate_downloads == 0


def test_certificates_are_not_found_without_a_pfx() -> None:
    _key, _cert, encoded = transport_cert()
    headers = {**VERSION, "x-ms-guest-agent-public-x509-cert": encoded}
    app = wire_server(pfx=None)
    assert call(app, f"{ROLE_PATH}?comp=certificates&incarnation=1", headers=headers).status == 404


def test_an_unreadable_pfx_file_is_a_scenario_error(tmp_path: Path) -> None:
    (tmp_path / "bad.pfx").write_bytes(b"not a pfx")
    with pytest.raises(ScenarioError, match=r"cloud\.pfx_file"):
        wire_server(pfx_file=str(tmp_path / "bad.pfx"))


# --- posts ---------------------------------------------------------------------------------------


def test_health_reports_are_recorded() -> None:
    app = wire_server()
    assert call(app, "/machine?comp=health", "POST", VERSION, health_body()).status == 200
    body = health_body("NotReady", sub_status="Provisioning")
    assert call(app, "/machine/?comp=health", "POST", VERSION, body).status == 200
    assert app.model.health_reports == [
        azure.HealthReport("1", CONTAINER, ROLE, "Ready"),
        azure.HealthReport("1", CONTAINER, ROLE, "NotReady", "Provisioning", "d"),
    ]
    assert app.model.health_states == ["Ready", "NotReady/Provisioning"]
    assert [r.method for r in app.requests] == ["POST", "POST"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not xml", b"not XML"),
        (b"<Status/>", b"expected <Health>"),
        (health_body(container="someone-else"), b"ContainerId"),
        (health_body(role="other_IN_0"), b"role instance"),
        (health_body(state=""), b"State"),
    ],
)
def test_bad_health_reports_are_refused(body: bytes, reason: bytes) -> None:
    app = wire_server()
    response = call(app, "/machine?comp=health", "POST", VERSION, body)
    assert response.status == 400
    assert reason in response.body
    assert app.model.health_reports == []


def test_role_properties_are_recorded() -> None:
    app = wire_server()
    body = role_properties_body()
    assert call(app, "/machine?comp=roleProperties", "POST", VERSION, body).status == 200
    assert app.model.role_properties == [
        azure.RoleProperty(CONTAINER, ROLE, "CertificateThumbprint", "ABCDEF")
    ]
    assert app.model.rdp_thumbprints == ["ABCDEF"]


@pytest.mark.parametrize(
    "body",
    [
        role_properties_body(container="x"),
        role_properties_body(role="x"),
        role_properties_body(prop='<Property name="CertificateThumbprint"/>'),
        role_properties_body(prop="<Other/>"),
        health_body(),
    ],
)
def test_bad_role_properties_are_refused(body: bytes) -> None:
    app = wire_server()
    assert call(app, "/machine?comp=roleProperties", "POST", VERSION, body).status == 400
    assert app.model.role_properties == []


# --- building from scenarios and the bundled documents -------------------------------------------


def test_the_registry_builds_the_wireserver_from_the_bundled_documents() -> None:
    (app,) = build_clouds(DocumentSource("azure", {}))
    assert isinstance(app, azure.AzureWireServer)
    assert app.base_url == "http://168.63.129.16/"
    assert app.describe() == {
        "cloud": "azure",
        "base_url": "http://168.63.129.16/",
        "container_id": CONTAINER,
    }


def test_the_schema_accepts_the_documented_keys_and_refuses_others() -> None:
    validator = jsonschema.Draft202012Validator(cloud_schema("azure"))
    good = {
        "type": "azure",
        "base_url": "http://168.63.129.16/",
        "versions": ["2015-04-05", "2012-11-30"],
        "incarnation": 2,
        "container_id": "c",
        "role_instance_ids": ["r"],
        "expected_state": "Started",
        "pfx_file": "x.pfx",
        "stored_certificates": [{"name": "n", "certificate_id": "sha1:00"}],
        "provisioning_drive": {
            "letter": "E",
            "label": None,
            "tag": True,
            "ovf_env_file": "ovf.xml",
            "custom_data": None,
            "data_loss_warning": "w",
        },
    }
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({"type": "azure", "provisioning_drive": None})) == []
    for bad in (
        {"type": "azure", "meta_data": {}},
        {"type": "azure", "pfx": None, "pfx_file": "x"},
        {"type": "azure", "provisioning_drive": {"letter": "C"}},
        {"type": "azure", "provisioning_drive": {"ovf_env": "", "ovf_env_file": "x"}},
        {"type": "azure", "base_url": "http://168.63.129.16"},
    ):
        assert list(validator.iter_errors(bad)), bad


def test_attach_plugs_in_the_bundled_provisioning_drive_as_a_cdrom() -> None:
    state = default_windows_state()
    azure.attach(state, DocumentSource("azure", {"type": "azure"}))
    drive = state.find_drive("D")
    assert drive is not None and drive.kind == "cdrom" and drive.label is None
    files = state.files
    assert files.read("D:\\E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag") == b""
    assert files.read("D:\\ovf-env.xml") == (FIXTURES / "ovf-env.xml").read_bytes()
    assert files.read("D:\\CustomData.bin") == (FIXTURES / "CustomData.bin").read_bytes()
    assert (
        files.read("D:\\$$\\OEM\\DATALOSS_WARNING_README.txt")
        == (FIXTURES / "DATALOSS_WARNING_README.txt").read_bytes()
    )


def test_attach_follows_the_provisioning_drive_keys(tmp_path: Path) -> None:
    (tmp_path / "ovf.xml").write_text("<Environment/>")
    spec = {
        "type": "azure",
        "provisioning_drive": {
            "letter": "F",
            "label": "Provisioning",
            "tag": False,
            "ovf_env_file": "ovf.xml",
            "custom_data": "#ps1\n",
            "data_loss_warning": None,
        },
    }
    state = default_windows_state()
    azure.attach(state, DocumentSource("azure", spec, tmp_path / "scenario.yaml"))
    assert state.find_drive("F") == Drive("F", "Provisioning", "cdrom")
    assert state.files.list_dir("F:\\") == ["CustomData.bin", "ovf-env.xml"]
    assert state.files.read("F:\\ovf-env.xml") == b"<Environment/>"


def test_attach_without_a_provisioning_drive_changes_nothing() -> None:
    state = default_windows_state()
    azure.attach(state, DocumentSource("azure", {"type": "azure", "provisioning_drive": None}))
    assert [d.letter for d in state.drives] == ["C"]


def test_the_bundled_ovf_env_announces_the_bundled_custom_data() -> None:
    root = ET.fromstring((FIXTURES / "ovf-env.xml").read_bytes())
    ns = "{http://schemas.microsoft.com/windowsazure}"
    custom = root.findtext(
        f"{ns}ProvisioningSection/{ns}WindowsProvisioningConfigurationSet/{ns}CustomData"
    )
    assert base64.b64decode(custom or "") == (FIXTURES / "CustomData.bin").read_bytes()


# --- the scenarios -------------------------------------------------------------------------------


def _machine(scenario: Scenario, transport: str) -> Machine:
    """The scenario's machine, wired the way scenario.py is asked to wire Azure."""
    spec = scenario.data["cloud"]
    source = DocumentSource("azure", spec, scenario.path)
    state = default_windows_state()
    if "computer_name" in (scenario.data.get("machine") or {}):
        state.computer_name = scenario.data["machine"]["computer_name"]
    azure.attach(state, source)
    servers = []
    for server in scenario.data.get("dhcp") or []:
        options = {}
        if "wireserver" in server:
            options[245] = ipaddress.IPv4Address(server["wireserver"]).packed
        servers.append(DhcpServer(server["address"], options, server.get("responds", True)))
    return Machine(
        scenario.conf,
        state=state,
        clouds=build_clouds(source),
        dhcp_servers=servers,
        faults=[Fault.from_spec(f) for f in scenario.data.get("faults", [])],
        transport=transport,
    )


def test_there_are_azure_scenarios() -> None:
    assert {p.name for p in SCENARIOS} >= {"azure-happy-path.yaml"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_passes_and_loopback_gives_the_same_trace(path: Path) -> None:
    scenario = load_scenario(path)
    assert set(scenario.data.get("machine") or {}) <= {"computer_name"}
    inprocess = _machine(scenario, "inprocess").run()
    assert scenario.check(inprocess) == []
    loopback = _machine(scenario, "loopback").run()
    assert scenario.check(loopback) == []
    assert loopback.trace.to_jsonl() == inprocess.trace.to_jsonl()


def test_the_happy_path_health_reports() -> None:
    scenario = load_scenario(REPO / "scenarios" / "clouds" / "azure-happy-path.yaml")
    result = _machine(scenario, "inprocess").run()
    (cloud,) = result.clouds
    assert isinstance(cloud, azure.AzureWireServer)
    assert cloud.model.health_states == [
        "NotReady/Provisioning",
        "NotReady/Provisioning",
        "Ready",
    ]
