"""The agent's OracleCloudService against the simulated OCI instance metadata service."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.metadata.oracle import OracleCloudService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.oracle import OracleCloud, OracleModel, build
from guestsim.simulator.faults import Fault
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPV4_DEFAULT_ROUTE, IPRoute
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.state import WindowsState
from tests.builders import FIXTURES, HTTP_SERVICE, public_key, serving, standalone_osutils

ORACLE_SERVICE = "cloudbaseinit.metadata.services.oraclecloudservice.OracleCloudService"
EC2_SERVICE = "cloudbaseinit.metadata.services.ec2service.EC2Service"
OCID = "ocid1.instance.oc1.phx.anyhqljtsimtestinstance0000000000000000000000000000000042"
# load() first checks the route to 169.254.169.254 with plain GETs of the base URL (no
# Authorization header). OCI answers its root with 404, which (as with upstream's urllib
# check) is no answer: three GETs, then the route would be added through the default
# gateway; the default machine has none, so no route is added.
ROUTE_CHECK = [("GET", "/", 404)] * 3
GATEWAY = "10.0.0.1"
USER_DATA = b"#ps1_sysnative\r\nNew-Item C:\\oci -ItemType Directory\r\n"


def instance(user_data: bytes | None = USER_DATA, **overrides: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"ssh_authorized_keys": public_key()}
    if user_data is not None:
        metadata["user_data"] = base64.b64encode(user_data).decode()
    document: dict[str, Any] = {
        "id": OCID,
        "hostname": "winsrv-oci-7",
        "displayName": "Windows server 7",
        "metadata": metadata,
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


class RecordingOracle(OracleCloud):
    """The OCI fake, also keeping each request's headers."""

    def __init__(self, model: OracleModel, base_url: str = "http://169.254.169.254/") -> None:
        super().__init__(model, base_url)
        self.headers: list[Mapping[str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.headers.append(request.headers)
        return super().handle(request)


def cloud(document: dict[str, Any] | None = None) -> RecordingOracle:
    return RecordingOracle(OracleModel(instance() if document is None else document))


@dataclass
class Agent:
    service: OracleCloudService
    osutils: FakeOSUtils
    sleeps: list[float] = field(default_factory=list)

    def route_additions(self) -> list[tuple[Any, ...]]:
        """Destination, mask, next hop, interface index and metric of each route added."""
        fields = ("destination", "mask", "next_hop", "interface_index", "metric")
        return [
            tuple(e.get(name) for name in fields)
            for e in self.osutils.trace.of_kind("os")
            if e.get("call") == "add_static_route"
        ]


def agent(
    options: Mapping[str, Mapping[str, Any]] | None = None, state: WindowsState | None = None
) -> Agent:
    sleeps: list[float] = []
    conf = config_from_options(options or {}, "test")
    osutils = standalone_osutils(sleeps, state)
    return Agent(OracleCloudService(AgentContext(conf=conf, osutils=osutils)), osutils, sleeps)


def with_gateway() -> WindowsState:
    """The default machine with an IPv4 default route, as a real OCI instance has."""
    state = default_windows_state()
    state.network.routes.append(IPRoute(IPV4_DEFAULT_ROUTE, GATEWAY, "Ethernet"))
    return state


def paths(app: CloudApp) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in app.requests]


# --- loading and the getters -------------------------------------------------------------


def test_loads_by_reading_the_instance_id() -> None:
    oci, a = cloud(), agent()
    with serving([oci]):
        assert a.service.load() is True
    assert paths(oci) == [*ROUTE_CHECK, ("GET", "/opc/v2/instance/id", 200)]
    assert a.service.get_name() == "OracleCloudService"
    assert a.route_additions() == []


def test_with_a_default_gateway_the_404_root_gets_a_host_route_added() -> None:
    # As on a real OCI instance: the root's 404 is no answer, so after three GETs load()
    # routes 169.254.169.254/32 through the default gateway (not persistent: every boot).
    oci, a = cloud(), agent(state=with_gateway())
    with serving([oci]):
        assert a.service.load() is True
    assert paths(oci) == [*ROUTE_CHECK, ("GET", "/opc/v2/instance/id", 200)]
    assert a.route_additions() == [("169.254.169.254", "255.255.255.255", GATEWAY, 2, 10)]
    assert a.osutils.state.network.routes[-1] == IPRoute(
        "169.254.169.254/32", GATEWAY, "Ethernet", None, persistent=False
    )


def test_every_request_carries_the_bearer_oracle_header() -> None:
    oci, a = cloud(), agent()
    with serving([oci]):
        assert a.service.load()
        a.service.get_host_name()
        a.service.get_user_data()
    # Every request but the route check's three, which are plain GETs.
    assert len(oci.headers) == 6
    for headers in oci.headers[:3]:
        assert headers.get("Authorization") is None
    for headers in oci.headers[3:]:
        assert headers.get("Authorization") == "Bearer Oracle"
    assert paths(oci)[:3] == ROUTE_CHECK
    assert all(status == 200 for _, _, status in paths(oci)[3:])


def test_getters_read_id_hostname_and_base64_user_data() -> None:
    oci, a = cloud(), agent()
    with serving([oci]):
        assert a.service.load()
        assert a.service.get_instance_id() == OCID
        assert a.service.get_host_name() == "winsrv-oci-7"
        assert a.service.get_user_data() == USER_DATA
        assert a.service.get_decoded_user_data() == USER_DATA
    assert paths(oci) == [
        *ROUTE_CHECK,
        ("GET", "/opc/v2/instance/id", 200),
        ("GET", "/opc/v2/instance/hostname", 200),
        ("GET", "/opc/v2/instance/metadata/user_data", 200),
    ]


def test_gzipped_user_data_inside_base64_is_unzipped_by_the_decoded_getter() -> None:
    script = b"#cloud-config\nhostname: zipped\n"
    oci, a = cloud(instance(user_data=gzip.compress(script, mtime=0))), agent()
    with serving([oci]):
        assert a.service.load()
        raw = a.service.get_user_data()
        assert raw is not None and raw[:2] == b"\x1f\x8b"
        assert a.service.get_decoded_user_data() == script


def test_missing_user_data_is_not_existing_and_not_retried() -> None:
    oci, a = cloud(instance(user_data=None)), agent()
    with serving([oci]):
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_user_data()
    assert paths(oci)[-1] == ("GET", "/opc/v2/instance/metadata/user_data", 404)
    assert a.sleeps == []


def test_user_data_that_is_not_base64_fails() -> None:
    document = instance()
    document["metadata"]["user_data"] = "not base64!"
    oci, a = cloud(document), agent()
    with serving([oci]):
        assert a.service.load()
        with pytest.raises(ValueError):
            a.service.get_user_data()


def test_keys_passwords_and_the_rest_keep_the_base_defaults() -> None:
    # OCI serves ssh_authorized_keys, but the upstream service does not read them.
    oci, a = cloud(), agent()
    with serving([oci]):
        assert a.service.load()
        assert a.service.get_public_keys() is None
        assert a.service.get_user_pwd_encryption_key() is None
        assert a.service.get_admin_username() is None
        assert a.service.get_admin_password() is None
        assert a.service.get_client_auth_certs() is None
        assert a.service.can_post_password is False
    assert paths(oci) == [*ROUTE_CHECK, ("GET", "/opc/v2/instance/id", 200)]


def test_missing_hostname_is_not_existing() -> None:
    oci, a = cloud(instance(hostname=None)), agent()
    with serving([oci]):
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_host_name()


def test_bundled_document_loads_by_default() -> None:
    (app,) = build(DocumentSource("oracle", {}))
    a = agent()
    with serving([app]):
        assert a.service.load()
        assert a.service.get_instance_id() == (
            "ocid1.instance.oc1.sim-region-1.anqwguestsiminstance000000000000000000000000000001"
        )
        assert a.service.get_host_name() == "sim-win-oci-01"
        assert a.service.get_user_data() == (
            b"#ps1_sysnative\r\nSet-Content -Path C:\\guestsim-oci.txt -Value 'user data ran'\r\n"
        )
    assert (FIXTURES / "clouds/oracle/instance.json").is_file()


# --- failures and retries ----------------------------------------------------------------


def test_a_cloud_without_the_id_fails_load_fast() -> None:
    oci, a = cloud(instance(id=None)), agent()
    with serving([oci]):
        assert a.service.load() is False
    assert paths(oci) == [*ROUTE_CHECK, ("GET", "/opc/v2/instance/id", 404)]
    assert a.sleeps == []


def test_a_refusal_401_is_retried_like_any_error_then_load_fails() -> None:
    # What a cloud that rejected the header would cost: 6 attempts, 20 s.
    oci, a = cloud(), agent()
    with serving([oci], [Fault(path="/opc/v2/instance/id", status=401)]) as trace:
        assert a.service.load() is False
    assert [e.get("status") for e in trace.of_kind("http")] == [404] * 3 + [401] * 6
    assert a.sleeps == [4.0] * 5


def test_a_transient_error_is_retried_and_load_succeeds() -> None:
    oci, a = cloud(), agent()
    with serving([oci], [Fault(path="/opc/v2/instance/id", status=500, first=1)]) as trace:
        assert a.service.load() is True
        assert a.service.get_instance_id() == OCID
    assert [e.get("status") for e in trace.of_kind("http")] == [404] * 3 + [500, 200]
    assert a.sleeps == [4.0]


def test_metadata_base_url_comes_from_the_oraclecloud_group() -> None:
    oci = RecordingOracle(OracleModel(instance()), "http://imds.sim.test/oci/")
    a = agent({"oraclecloud": {"metadata_base_url": "http://imds.sim.test/oci/"}})
    with serving([oci]) as trace:
        assert a.service.load()
    assert trace.of_kind("http")[0].get("url") == "http://imds.sim.test/oci/opc/v2/instance/id"


# --- discovery on the shared 169.254.169.254 ---------------------------------------------


def test_behind_the_default_http_and_ec2_services_both_404_fast_then_oracle_loads() -> None:
    oci = cloud()
    sleeps: list[float] = []
    osutils = standalone_osutils(sleeps)
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [HTTP_SERVICE, EC2_SERVICE, ORACLE_SERVICE]}}, "test"
    )
    with serving([oci]):
        service = get_metadata_service(AgentContext(conf=conf, osutils=osutils))
    assert service.get_name() == "OracleCloudService"
    # Each of the three services checks the route first, with three GETs of the root:
    # nine of them in all, as no route gets added (no default gateway).
    assert [e.get("call") for e in osutils.trace.of_kind("os")] == []
    assert paths(oci) == [
        *ROUTE_CHECK,
        ("GET", "/openstack/latest/meta_data.json", 404),
        *ROUTE_CHECK,
        ("GET", "/2009-04-04/meta-data/local-hostname", 404),
        *ROUTE_CHECK,
        ("GET", "/opc/v2/instance/id", 200),
    ]
    assert sleeps == []


def test_behind_the_default_services_only_the_first_checks_once_a_route_is_added() -> None:
    oci = cloud()
    sleeps: list[float] = []
    osutils = standalone_osutils(sleeps, with_gateway())
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [HTTP_SERVICE, EC2_SERVICE, ORACLE_SERVICE]}}, "test"
    )
    with serving([oci]):
        service = get_metadata_service(AgentContext(conf=conf, osutils=osutils))
    assert service.get_name() == "OracleCloudService"
    # HttpService's check adds the route; EC2Service and OracleCloudService find it there
    # and GET nothing more of the root.
    assert paths(oci) == [
        *ROUTE_CHECK,
        ("GET", "/openstack/latest/meta_data.json", 404),
        ("GET", "/2009-04-04/meta-data/local-hostname", 404),
        ("GET", "/opc/v2/instance/id", 200),
    ]
    assert [e.get("call") for e in osutils.trace.of_kind("os")] == ["add_static_route"]
    assert sleeps == []
