"""Real third-party clients against ``guestsim serve``, and what they need of each cloud.

cloud-init's GCE and Oracle readers (the Debian package, run by the system Python),
botocore's IMDS credential provider, ``openssl cms`` on Azure's certificates, and plain
HTTP for the rest. Each served cloud is a real ``guestsim serve`` process on loopback.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from guestsim.simulator.cli import main
from guestsim.simulator.clouds import DocumentSource, azure, build_clouds
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.transport import LoopbackServer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "clouds"
SYSTEM_PYTHON = Path("/usr/bin/python3")
OPENSSL = shutil.which("openssl")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
# The real clients: cloud-init's readers under the system Python, and openssl.
pytestmark = pytest.mark.host_tools(str(SYSTEM_PYTHON), "openssl")


def _clean_environment() -> dict[str, str]:
    """The test's environment without proxies: every request here stays on loopback."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


@contextmanager
def served(cloud: str, *options: str) -> Iterator[list[str]]:
    """``guestsim serve CLOUD OPTIONS...`` in its own process: the URL of each server."""
    env = _clean_environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from guestsim.simulator.cli import main; main()",
            "serve",
            cloud,
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        urls = []
        for _ in range(2 if cloud == "cloudstack" else 1):
            banner = process.stdout.readline()
            match = re.search(r"serving on (http://\S+/) ", banner)
            if match is None:
                process.kill()
                _, err = process.communicate(timeout=10)
                raise AssertionError(f"no banner: {banner!r}; stderr: {err}")
            urls.append(match.group(1))
        yield urls
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def fetch(
    url: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def call(app: CloudApp, path: str, headers: Mapping[str, str] | None = None) -> SimResponse:
    return app.handle(SimRequest("GET", f"http://169.254.169.254{path}", path, headers or {}))


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["guestsim", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


# --- cloud-init (the Debian package, for the system Python) ----------------------------------

CLOUD_INIT_READER = """
import base64, json, sys
from cloudinit import util
util._DNS_REDIRECT_IP = set()  # a loopback address: no DNS probes for redirection
mode, url = sys.argv[1:3]
if mode == "gce":
    from cloudinit import sources
    from cloudinit.sources import DataSourceGCE as gce
    params = sources.URLParams(
        max_wait_seconds=10, timeout_seconds=10, num_retries=0, sec_between_retries=0
    )
    found = gce.read_md(address=url, url_params=params, platform_check=False)
    md = found["meta-data"] or {}
    user_data = found["user-data"]
    out = {
        "success": found["success"],
        "reason": found["reason"],
        "meta-data": {k: md.get(k) for k in ("instance-id", "availability-zone", "local-hostname")},
        "instance-data": json.loads(md.get("instance-data") or "null"),
        "keys": gce._parse_public_keys(md.get("public-keys-data"), "Admin"),
        "user-data": base64.b64encode(user_data).decode() if user_data else None,
    }
elif mode == "oracle":
    from cloudinit.sources import DataSourceOracle as oracle
    oracle.METADATA_PATTERN = url + "opc/v{version}/{path}/"
    found = oracle.read_opc_metadata(fetch_vnics_data=True)
    out = {"version": found.version, "instance": found.instance_data, "vnics": found.vnics_data}
print(json.dumps(out))
"""


@cache
def cloud_init_missing() -> str | None:
    """Why cloud-init's readers cannot run here; None when they can."""
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing (cloud-init is a Debian package for it)"
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import cloudinit.sources.DataSourceGCE"],
        capture_output=True,
        env=_clean_environment(),
    )
    if found.returncode != 0:
        return (
            f"cloud-init is not installed for {SYSTEM_PYTHON} "
            "(apt-get install --no-install-recommends cloud-init)"
        )
    return None


def need_cloud_init() -> None:
    reason = cloud_init_missing()
    if reason is not None:
        pytest.skip(reason)


def cloud_init_reads(mode: str, url: str) -> Any:
    """What cloud-init's reader for MODE (gce, oracle) makes of the cloud served at URL."""
    completed = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", CLOUD_INIT_READER, mode, url],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_environment(),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# --- GCE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_gce_serves_a_folder_as_json_for_recursive_in_any_case(value: str) -> None:
    (app,) = build_clouds(DocumentSource("gce", {}))
    response = call(
        app,
        f"/computeMetadata/v1/instance/attributes/?recursive={value}",
        {"Metadata-Flavor": "Google"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["user-data-encoding"] == "base64"


@pytest.mark.subprocess
def test_cloud_inits_gce_reader_parses_guestsim_serve_gce() -> None:
    need_cloud_init()
    metadata = json.loads((FIXTURES / "gce" / "metadata.json").read_text())
    attributes = metadata["instance"]["attributes"]
    with served("gce") as (url,):
        found = cloud_init_reads("gce", f"{url}computeMetadata/v1/")
    assert found["success"], found["reason"]
    assert found["meta-data"] == {
        "instance-id": metadata["instance"]["id"],
        "availability-zone": "us-central1-a",
        "local-hostname": metadata["instance"]["hostname"],
    }
    assert found["instance-data"] == attributes
    assert base64.b64decode(found["user-data"]) == base64.b64decode(attributes["user-data"])
    # Admin's keys: the instance's, then the project's (not blocked, expiring in 2031).
    instance_key = attributes["ssh-keys"].splitlines()[0].removeprefix("Admin:")
    project_key = metadata["project"]["attributes"]["ssh-keys"].removeprefix("Admin:")
    assert found["keys"] == [instance_key, project_key]


# --- Azure -------------------------------------------------------------------------------------

AZURE_VERSION = {"x-ms-version": "2015-04-05"}


def transport_certificate(folder: Path) -> str:
    """A transport key and certificate written to FOLDER; the certificate as the header
    ``x-ms-guest-agent-public-x509-cert`` carries it (base64 DER)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TransportCert")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(11)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    (folder / "transport.prv").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "transport.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def certificates_data(url: str, header: str) -> str:
    status, body = fetch(url, {**AZURE_VERSION, "x-ms-guest-agent-public-x509-cert": header})
    assert status == 200, body
    data = ET.fromstring(body).findtext("Data")
    assert data is not None
    return data


def test_azure_certificates_are_base64_in_64_column_lines(tmp_path: Path) -> None:
    (app,) = build_clouds(DocumentSource("azure", {}))
    header = transport_certificate(tmp_path)
    role = f"/machine/{azure.DEFAULT_CONTAINER_ID}/{azure.DEFAULT_ROLE_INSTANCE_ID}"
    response = call(
        app,
        f"{role}?comp=certificates&incarnation=1",
        {**AZURE_VERSION, "x-ms-guest-agent-public-x509-cert": header},
    )
    data = ET.fromstring(response.body).findtext("Data") or ""
    lines = data.split("\n")
    assert len(lines) > 1
    assert all(len(line) == 64 for line in lines[:-1]) and 0 < len(lines[-1]) <= 64


def test_a_directly_served_wire_server_links_to_the_address_the_client_used() -> None:
    (app,) = build_clouds(DocumentSource("azure", {}))
    with LoopbackServer(app, direct=True) as server:
        _, body = fetch(f"{server.url}machine/?comp=goalstate", AZURE_VERSION)
        by_name = f"http://localhost:{server.port}/"
        _, named = fetch(f"{by_name}machine/?comp=goalstate", AZURE_VERSION)
    links = [e.text or "" for e in ET.fromstring(body).iter() if (e.text or "").startswith("http")]
    assert len(links) == 5 and all(link.startswith(f"{server.url}machine/") for link in links)
    certificates = ET.fromstring(named).findtext(".//Configuration/Certificates") or ""
    assert certificates.startswith(f"{by_name}machine/")


def test_behind_a_scenarios_gateway_the_wire_server_links_to_its_base_url() -> None:
    (app,) = build_clouds(DocumentSource("azure", {}))
    with LoopbackServer(app) as server:
        _, body = fetch(f"{server.url}machine/?comp=goalstate", AZURE_VERSION)
    certificates = ET.fromstring(body).findtext(".//Configuration/Certificates") or ""
    assert certificates.startswith("http://168.63.129.16/machine/")


@pytest.mark.subprocess
@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_served_azure_certificates_decrypt_with_openssl_cms(tmp_path: Path) -> None:
    assert OPENSSL is not None
    header = transport_certificate(tmp_path)
    with served("azure") as (url,):
        status, body = fetch(f"{url}machine/?comp=goalstate", AZURE_VERSION)
        assert status == 200, body
        link = ET.fromstring(body).findtext(".//RoleInstance/Configuration/Certificates")
        # Followed only when it points at the served cloud: nothing else is ever asked.
        assert link is not None and link.startswith(f"{url}machine/"), link
        data = certificates_data(link, header)
    # As the Linux agent does it: an S/MIME file of the blob, then openssl cms -decrypt.
    (tmp_path / "Certificates.p7m").write_text(
        "MIME-Version:1.0\n"
        "Content-Disposition: attachment; filename=Certificates.p7m\n"
        "Content-Type: application/x-pkcs7-mime; name=Certificates.p7m\n"
        "Content-Transfer-Encoding: base64\n\n" + data
    )
    (tmp_path / "Certificates.der").write_bytes(base64.b64decode(data))
    keys = ["-inkey", "transport.prv", "-recip", "transport.crt"]
    for input_options in (
        ["-in", "Certificates.p7m"],
        ["-inform", "DER", "-in", "Certificates.der"],
    ):
        decrypted = subprocess.run(
            [OPENSSL, "cms", "-decrypt", *input_options, *keys],
            capture_output=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert decrypted.returncode == 0, decrypted.stderr.decode()
        _key, certificate, _ = pkcs12.load_key_and_certificates(decrypted.stdout, None)
        expected = (FIXTURES / "azure" / "certificates.pfx").read_bytes()
        _key, bundled, _ = pkcs12.load_key_and_certificates(expected, None)
        assert certificate is not None and certificate == bundled


# --- EC2 ---------------------------------------------------------------------------------------

IDENTITY_KEYS = {
    "accountId",
    "architecture",
    "availabilityZone",
    "billingProducts",
    "devpayProductCodes",
    "imageId",
    "instanceId",
    "instanceType",
    "kernelId",
    "marketplaceProductCodes",
    "pendingTime",
    "privateIp",
    "ramdiskId",
    "region",
    "version",
}


def test_ec2_serves_the_instance_identity_document_from_the_tree() -> None:
    (app,) = build_clouds(DocumentSource("ec2", {"identity_document": {"pendingTime": "x"}}))
    assert call(app, "/latest/").body.decode().splitlines()[0] == "dynamic"
    assert call(app, "/latest/dynamic/").body == b"instance-identity/"
    assert call(app, "/latest/dynamic/instance-identity/").body == b"document"
    response = call(app, "/2021-07-15/dynamic/instance-identity/document")
    assert response.status == 200
    document = json.loads(response.body)
    assert set(document) == IDENTITY_KEYS
    assert document["instanceId"] == "i-0b5c3a527f0e4e559"
    assert document["imageId"] == "ami-0a7d3c9e51f2b4d60"
    assert document["instanceType"] == "t3.medium"
    assert document["privateIp"] == "172.31.20.11"
    assert (document["availabilityZone"], document["region"]) == ("us-east-1a", "us-east-1")
    # The account of the instance profile; the scenario's fields over the derived ones.
    assert document["accountId"] == "123456789012"
    assert document["pendingTime"] == "x"
    assert call(app, "/latest/dynamic/instance-identity/pkcs7").status == 404


def test_ec2_identity_document_needs_a_token_when_imdsv2_is_required() -> None:
    (app,) = build_clouds(DocumentSource("ec2", {"imdsv2": "required"}))
    assert call(app, "/latest/dynamic/instance-identity/document").status == 401


def test_ec2_bundled_iam_tree_serves_the_profile_and_role_credentials_as_json() -> None:
    (app,) = build_clouds(DocumentSource("ec2", {}))
    app.clock = lambda: dt.datetime(2026, 3, 1, 10, 42, 7, tzinfo=dt.UTC).timestamp()
    assert call(app, "/latest/meta-data/").body.decode().splitlines().count("iam/") == 1
    assert call(app, "/latest/meta-data/iam/").body == b"info\nsecurity-credentials/"
    info = json.loads(call(app, "/latest/meta-data/iam/info").body)
    assert info["Code"] == "Success" and info["LastUpdated"] == "2026-03-01T10:00:00Z"
    assert info["InstanceProfileArn"].startswith("arn:aws:iam::123456789012:instance-profile/")
    role = call(app, "/latest/meta-data/iam/security-credentials/").body.decode()
    assert role == "guestsim-windows-role"
    credentials = json.loads(call(app, f"/latest/meta-data/iam/security-credentials/{role}").body)
    assert set(credentials) == {
        "Code",
        "LastUpdated",
        "Type",
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
    }
    assert credentials["Type"] == "AWS-HMAC"
    assert credentials["LastUpdated"] == "2026-03-01T10:00:00Z"
    assert credentials["Expiration"] == "2026-03-01T16:00:00Z"
    assert call(app, "/latest/meta-data/iam/security-credentials/nobody").status == 404


@pytest.fixture(scope="module")
def ec2_imdsv2_required() -> Iterator[str]:
    with served("ec2", "--imdsv2", "required") as (url,):
        yield url


@pytest.mark.subprocess
def test_serve_ec2_imdsv2_required_refuses_a_tokenless_get(ec2_imdsv2_required: str) -> None:
    url = ec2_imdsv2_required
    assert fetch(f"{url}latest/meta-data/instance-id")[0] == 401
    status, token = fetch(
        f"{url}latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT"
    )
    assert status == 200
    status, body = fetch(
        f"{url}latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token.decode()}
    )
    assert (status, body) == (200, b"i-0b5c3a527f0e4e559")


@pytest.mark.subprocess
def test_botocore_reads_the_iam_role_credentials_from_guestsim_serve_ec2(
    ec2_imdsv2_required: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in PROXY_VARIABLES:
            monkeypatch.delenv(name)
    # Nothing but the instance metadata service to find credentials in.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ec2_imdsv2_required)
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "10")
    credentials = botocore_session.Session().get_credentials()
    assert credentials is not None and credentials.method == "iam-role"
    frozen = credentials.get_frozen_credentials()
    bundled = json.loads((FIXTURES / "ec2" / "meta-data.json").read_text())
    role = bundled["iam"]["security-credentials"]["guestsim-windows-role"]
    assert frozen.access_key == role["AccessKeyId"]
    assert frozen.secret_key == role["SecretAccessKey"]
    assert frozen.token == role["Token"]


# --- OpenStack, Oracle, CloudStack -------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "status"),
    [("2016-06-30", 404), ("2016-10-06", 200), ("2020-10-14", 200), ("latest", 200)],
)
def test_openstack_serves_vendor_data2_from_2016_10_06(version: str, status: int) -> None:
    targets = {"static": {"domain": "example.test"}}
    (app,) = build_clouds(DocumentSource("openstack", {"vendor_data2": targets}))
    response = call(app, f"/openstack/{version}/vendor_data2.json")
    assert response.status == status
    if status == 200:
        assert json.loads(response.body) == targets
    (bundled,) = build_clouds(DocumentSource("openstack", {}))
    assert call(bundled, f"/openstack/{version}/vendor_data2.json").body in (b"{}", b"Not Found")


ORACLE_AUTH = {"Authorization": "Bearer Oracle"}


def test_oracle_serves_the_vnic_list_on_v2_and_v1() -> None:
    (app,) = build_clouds(DocumentSource("oracle", {}))
    bundled = json.loads((FIXTURES / "oracle" / "vnics.json").read_text())
    response = call(app, "/opc/v2/vnics/", ORACLE_AUTH)
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    vnics = json.loads(response.body)
    assert vnics == bundled and isinstance(vnics, list)
    assert {"vnicId", "privateIp", "macAddr", "subnetCidrBlock", "virtualRouterIp"} <= set(vnics[0])
    assert (
        call(app, "/opc/v2/vnics/0/privateIp", ORACLE_AUTH).body.decode()
        == (bundled[0]["privateIp"])
    )
    assert call(app, "/opc/v2/vnics/1", ORACLE_AUTH).status == 404
    assert call(app, "/opc/v2/vnics/").status == 401
    assert json.loads(call(app, "/opc/v1/vnics/").body) == bundled
    (no_v1,) = build_clouds(DocumentSource("oracle", {"legacy_v1": False}))
    assert call(no_v1, "/opc/v1/vnics/").status == 404


@pytest.mark.subprocess
def test_cloud_inits_oracle_reader_reads_the_vnics_of_guestsim_serve_oracle() -> None:
    need_cloud_init()
    with served("oracle") as (url,):
        found = cloud_init_reads("oracle", url)
    assert found["version"] == 2
    assert found["instance"]["hostname"] == "sim-win-oci-01"
    assert found["vnics"] == json.loads((FIXTURES / "oracle" / "vnics.json").read_text())


@pytest.mark.subprocess
def test_serve_cloudstack_puts_the_password_server_on_the_port_asked_for() -> None:
    port = free_port()
    with served("cloudstack", "--password-port", str(port)) as (_, password_url):
        assert password_url == f"http://127.0.0.1:{port}/"
        status, body = fetch(password_url, {"DomU_Request": "send_my_password"})
    expected = (FIXTURES / "cloudstack" / "password").read_text().strip()
    assert (status, body.decode()) == (200, expected)


@pytest.mark.parametrize(
    ("cloud", "option", "value"),
    [("openstack", "--imdsv2", "required"), ("ec2", "--password-port", "8080")],
)
def test_serve_refuses_an_option_for_another_cloud(
    cloud: str,
    option: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "serve", cloud, option, value)
    assert code == 2
    assert option in err and f"not {cloud}" in err


# --- a busy port -------------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield int(listener.getsockname()[1])


def test_serve_on_a_busy_port_is_a_usage_error_naming_it(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, "serve", "openstack", "--port", str(busy_port))
    assert code == 2
    assert f"port {busy_port} on 127.0.0.1 is in use" in err
    assert "internal error" not in err and "serving on" not in out


def test_a_busy_password_port_is_a_usage_error_and_frees_the_metadata_port(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata_port = free_port()
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "serve",
        "cloudstack",
        "--port",
        str(metadata_port),
        "--password-port",
        str(busy_port),
    )
    assert code == 2
    assert f"port {busy_port} on 127.0.0.1 is in use" in err
    assert "serving on" not in out
    with closing(socket.socket()) as again:
        again.bind(("127.0.0.1", metadata_port))  # released by the refused serve
