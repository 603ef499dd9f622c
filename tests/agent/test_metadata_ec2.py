"""The agent's EC2Service against the simulated EC2 instance metadata service.

Every test serves a real ``EC2Cloud`` through the in-process transport and asserts what
the service returns and what the cloud received (paths, statuses, sleeps between
retries), never how the service is built inside.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from guestsim.agent.config import config_from_options, default_config
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.ec2 import EC2Service
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.ec2 import EC2Cloud, EC2Model, build
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.faults import Fault
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPV4_DEFAULT_ROUTE, IPRoute
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import WindowsState
from tests.builders import FIXTURES, HTTP_SERVICE, public_key, serving, standalone_osutils

EC2_SERVICE = "cloudbaseinit.metadata.services.ec2service.EC2Service"
INSTANCE_ID = "i-0123456789abcdef0"
HOST_NAME = "ip-10-0-1-17.eu-west-1.compute.internal"
GATEWAY = "10.0.0.1"
V = "/2009-04-04/meta-data"
# load() first checks the route to 169.254.169.254: a GET of the base URL, which IMDS
# answers with its version list.
ROUTE_CHECK = ("GET", "/", 200)


class RecordingEC2(EC2Cloud):
    """The EC2 fake, also keeping each request's headers for header assertions."""

    def __init__(self, model: EC2Model, base_url: str = "http://169.254.169.254/") -> None:
        super().__init__(model, base_url)
        self.headers: list[Mapping[str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.headers.append(request.headers)
        return super().handle(request)


def meta_data(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "instance-id": INSTANCE_ID,
        "local-hostname": HOST_NAME,
        "public-keys": {"test-key": public_key()},
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


def cloud(
    document: dict[str, Any] | None = None, user_data: bytes | None = None, imdsv2: str = "optional"
) -> RecordingEC2:
    return RecordingEC2(
        EC2Model(
            meta_data=meta_data() if document is None else document,
            user_data=user_data,
            imdsv2=imdsv2,
        )
    )


@dataclass
class Agent:
    service: EC2Service
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

    osutils = standalone_osutils(sleeps, state)
    conf = config_from_options(options or {}, "test")
    return Agent(EC2Service(AgentContext(conf=conf, osutils=osutils)), osutils, sleeps)


def with_gateway() -> WindowsState:
    """The default machine with an IPv4 default route, as a real EC2 instance has."""
    state = default_windows_state()
    state.network.routes.append(IPRoute(IPV4_DEFAULT_ROUTE, GATEWAY, "Ethernet"))
    return state


def paths(app: CloudApp) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in app.requests]


# --- loading and every getter ------------------------------------------------------------


def test_loads_by_reading_local_hostname_of_the_2009_04_04_api() -> None:
    ec2, a = cloud(), agent()
    with serving([ec2]):
        assert a.service.load() is True

    assert paths(ec2) == [ROUTE_CHECK, ("GET", f"{V}/local-hostname", 200)]
    assert a.service.get_name() == "EC2Service"
    assert a.sleeps == []


def test_getters_read_instance_id_host_name_keys_and_user_data() -> None:
    ec2, a = cloud(user_data=b"<powershell>echo hi</powershell>"), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_instance_id() == INSTANCE_ID
        assert a.service.get_host_name() == HOST_NAME
        assert a.service.get_public_keys() == [public_key()]
        assert a.service.get_user_data() == b"<powershell>echo hi</powershell>"

    assert paths(ec2) == [
        ROUTE_CHECK,
        ("GET", f"{V}/local-hostname", 200),
        ("GET", f"{V}/instance-id", 200),
        ("GET", f"{V}/public-keys", 200),
        ("GET", f"{V}/public-keys/0/openssh-key", 200),
        ("GET", "/2009-04-04/user-data", 200),
    ]


def test_everything_else_keeps_the_base_service_defaults() -> None:
    ec2, a = cloud(), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_admin_username() is None
        assert a.service.get_admin_password() is None
        assert a.service.get_client_auth_certs() is None
        assert a.service.get_kms_host() is None
        assert a.service.can_post_password is False
        assert a.service.can_update_password is False
        # The base encryption key is the first public key (unused: no password posting).
        assert a.service.get_user_pwd_encryption_key() == public_key()

    assert {path for _, path, _ in paths(ec2)} == {
        "/",
        f"{V}/local-hostname",
        f"{V}/public-keys",
        f"{V}/public-keys/0/openssh-key",
    }


def test_default_documents_load_from_the_bundled_fixtures() -> None:
    (app,) = build(DocumentSource("ec2", {}))
    a = agent()
    with serving([app]):
        assert a.service.load()
        assert a.service.get_instance_id() == "i-0b5c3a527f0e4e559"
        assert a.service.get_host_name() == "ip-172-31-20-11.ec2.internal"
        assert a.service.get_public_keys() == [public_key()]
        assert a.service.get_user_data() == (FIXTURES / "clouds/ec2/user-data").read_bytes()


def test_host_name_is_returned_as_served_not_stripped() -> None:
    ec2, a = cloud(meta_data(**{"local-hostname": "web-01.internal\n"})), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_host_name() == "web-01.internal\n"


def test_reads_are_cached_per_load() -> None:
    ec2, a = cloud(), agent()
    with serving([ec2]):
        assert a.service.load()
        for _ in range(3):
            assert a.service.get_host_name() == HOST_NAME
            assert a.service.get_instance_id() == INSTANCE_ID
        assert paths(ec2)[1:] == [
            ("GET", f"{V}/local-hostname", 200),
            ("GET", f"{V}/instance-id", 200),
        ]
        # load() starts over with an empty cache.
        assert a.service.load()
    assert [path for _, path, _ in paths(ec2)].count(f"{V}/local-hostname") == 2


def test_never_uses_imdsv2_no_token_put_and_no_token_headers() -> None:
    ec2, a = cloud(user_data=b"x"), agent()
    with serving([ec2]):
        assert a.service.load()
        a.service.get_instance_id()
        a.service.get_public_keys()
        a.service.get_user_data()

    assert all(method == "GET" for method, _, _ in paths(ec2))
    for headers in ec2.headers:
        assert not any(name.lower().startswith("x-aws-ec2-metadata-token") for name in headers)


# --- public keys -------------------------------------------------------------------------


def test_public_keys_follow_the_listing_order_and_are_stripped() -> None:
    keys = {
        "zeta": "ssh-rsa AAAAzeta zeta@example\n",
        "alpha": "  ssh-ed25519 AAAAalpha alpha@example  ",
        "mid": public_key(),
    }
    ec2, a = cloud(meta_data(**{"public-keys": keys})), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_public_keys() == [
            "ssh-rsa AAAAzeta zeta@example",
            "ssh-ed25519 AAAAalpha alpha@example",
            public_key(),
        ]
    assert [p for _, p, _ in paths(ec2) if "openssh-key" in p] == [
        f"{V}/public-keys/0/openssh-key",
        f"{V}/public-keys/1/openssh-key",
        f"{V}/public-keys/2/openssh-key",
    ]


def test_instance_without_key_pair_404_propagates_from_get_public_keys() -> None:
    # Quirk: real EC2 has no public-keys entry at all; upstream lets the 404 escape.
    ec2, a = cloud(meta_data(**{"public-keys": None})), agent()
    with serving([ec2]):
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_public_keys()
    assert paths(ec2)[-1] == ("GET", f"{V}/public-keys", 404)
    assert a.sleeps == []


def test_empty_public_keys_listing_means_no_keys() -> None:
    ec2, a = cloud(meta_data(**{"public-keys": {}})), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_public_keys() == []
        assert a.service.get_user_pwd_encryption_key() is None


def test_key_name_containing_equals_sign_breaks_the_listing_parse() -> None:
    ec2, a = cloud(meta_data(**{"public-keys": {"team=ops": public_key()}})), agent()
    with serving([ec2]):
        assert a.service.load()
        with pytest.raises(ValueError):
            a.service.get_public_keys()
    # The listing was read, the key never fetched.
    assert paths(ec2)[-1] == ("GET", f"{V}/public-keys", 200)


# --- user data ---------------------------------------------------------------------------


def test_missing_user_data_is_not_existing_and_not_retried() -> None:
    ec2, a = cloud(user_data=None), agent()
    with serving([ec2]):
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_user_data()
    assert paths(ec2)[-1] == ("GET", "/2009-04-04/user-data", 404)
    assert a.sleeps == []


def test_user_data_is_raw_bytes_and_gzip_is_undone_by_the_decoded_getter() -> None:
    script = "#ps1_sysnative\r\nWrite-Output 'héllo'\r\n".encode()
    ec2, a = cloud(user_data=gzip.compress(script, mtime=0)), agent()
    with serving([ec2]):
        assert a.service.load()
        raw = a.service.get_user_data()
        assert raw is not None and raw[:2] == b"\x1f\x8b"
        assert a.service.get_decoded_user_data() == script


def test_binary_user_data_is_not_decoded() -> None:
    blob = bytes(range(256))
    ec2, a = cloud(user_data=blob), agent()
    with serving([ec2]):
        assert a.service.load()
        assert a.service.get_user_data() == blob


def test_undecodable_host_name_becomes_none() -> None:
    # Upstream's decode quirk: bytes that are not UTF-8 silently read as "no value".
    class Latin1HostName(RecordingEC2):
        def handle(self, request: SimRequest) -> SimResponse:
            if request.path.endswith("/local-hostname"):
                return SimResponse(200, "hôte".encode("latin-1"))
            return super().handle(request)

    ec2, a = Latin1HostName(EC2Model(meta_data())), agent()
    with serving([ec2]):
        assert a.service.load() is True
        assert a.service.get_host_name() is None


# --- failures, retries, 401 --------------------------------------------------------------


def test_404_on_local_hostname_fails_load_fast() -> None:
    ec2, a = cloud(meta_data(**{"local-hostname": None})), agent()
    with serving([ec2]):
        assert a.service.load() is False
    assert paths(ec2) == [ROUTE_CHECK, ("GET", f"{V}/local-hostname", 404)]
    assert a.sleeps == []


def test_server_errors_are_retried_5_times_4_seconds_apart_then_load_fails() -> None:
    ec2, a = cloud(), agent()
    with serving([ec2], [Fault(path=f"{V}/local-hostname", status=500)]) as trace:
        assert a.service.load() is False
    assert [e.get("status") for e in trace.of_kind("http")] == [200] + [500] * 6
    assert a.sleeps == [4.0] * 5


def test_a_transient_error_is_retried_and_load_succeeds() -> None:
    ec2, a = cloud(), agent()
    with serving([ec2], [Fault(path=f"{V}/local-hostname", status=503, first=2)]) as trace:
        assert a.service.load() is True
        assert a.service.get_host_name() == HOST_NAME
    assert [e.get("status") for e in trace.of_kind("http")] == [200, 503, 503, 200]
    assert a.sleeps == [4.0, 4.0]


def test_retry_count_and_interval_come_from_the_default_section() -> None:
    ec2, a = cloud(), agent({"DEFAULT": {"retry_count": 2, "retry_count_interval": 0.5}})
    with serving([ec2], [Fault(path=f"{V}/*", error="refused")]) as trace:
        assert a.service.load() is False
    assert [e.get("error") for e in trace.of_kind("http")] == [None] + ["refused"] * 3
    assert a.sleeps == [0.5, 0.5]


def test_imdsv2_required_gets_401_on_every_attempt_and_the_service_does_not_load() -> None:
    ec2, a = cloud(imdsv2="required"), agent()
    with serving([ec2]):
        assert a.service.load() is False
    # The route check's 401 is no answer (upstream's urllib check raises on it): three
    # GETs of the root, then no route, as the default machine has no default gateway.
    assert paths(ec2) == [("GET", "/", 401)] * 3 + [("GET", f"{V}/local-hostname", 401)] * 6
    assert a.route_additions() == []
    assert a.sleeps == [4.0] * 5


def test_imdsv2_required_with_a_default_gateway_adds_a_host_route_and_still_fails() -> None:
    ec2, a = cloud(imdsv2="required"), agent(state=with_gateway())
    with serving([ec2]):
        assert a.service.load() is False
    assert paths(ec2) == [("GET", "/", 401)] * 3 + [("GET", f"{V}/local-hostname", 401)] * 6
    # The route through the gateway changes nothing: IMDS still wants a token.
    assert a.route_additions() == [("169.254.169.254", "255.255.255.255", GATEWAY, 2, 10)]
    assert a.osutils.state.network.routes[-1] == IPRoute(
        "169.254.169.254/32", GATEWAY, "Ethernet", None, persistent=False
    )
    assert a.sleeps == [4.0] * 5


def test_nothing_listening_fails_load_after_retries() -> None:
    a = agent()
    with serving([]) as trace:
        assert a.service.load() is False
    # Three route-check GETs first; the default machine has no default gateway to route
    # the metadata host through, so no route is added.
    assert [e.get("error") for e in trace.of_kind("http")] == ["refused"] * 9
    assert [e.get("url") for e in trace.of_kind("http")][:3] == ["http://169.254.169.254/"] * 3


# --- configuration -----------------------------------------------------------------------


def test_metadata_base_url_comes_from_the_ec2_group() -> None:
    ec2 = RecordingEC2(EC2Model(meta_data()), "http://imds.sim.test/ec2/")
    a = agent({"ec2": {"metadata_base_url": "http://imds.sim.test/ec2/"}})
    with serving([ec2]) as trace:
        assert a.service.load()
        assert a.service.get_instance_id() == INSTANCE_ID
    assert trace.of_kind("http")[0].get("url") == (
        "http://imds.sim.test/ec2/2009-04-04/meta-data/local-hostname"
    )


def test_deprecated_default_group_spelling_still_sets_the_base_url() -> None:
    ec2 = RecordingEC2(EC2Model(meta_data()), "http://10.9.8.7/")
    a = agent({"DEFAULT": {"ec2_metadata_base_url": "http://10.9.8.7/"}})
    with serving([ec2]):
        assert a.service.load()
    assert len(ec2.requests) == 1


def test_base_url_without_trailing_slash_loses_its_last_segment() -> None:
    # RFC 3986 joining, as upstream: ".../ec2" + "2009-04-04/..." drops "ec2".
    ec2 = RecordingEC2(EC2Model(meta_data()), "http://imds.sim.test/")
    a = agent({"ec2": {"metadata_base_url": "http://imds.sim.test/ec2"}})
    with serving([ec2]):
        assert a.service.load()
    assert paths(ec2) == [("GET", f"{V}/local-hostname", 200)]


# --- discovery next to OpenStack ---------------------------------------------------------


def _discover(apps: Sequence[CloudApp], services: list[str]) -> tuple[str, list[float], Trace]:
    sleeps: list[float] = []

    def refuse(*_: Any) -> Any:
        raise AssertionError("unexpected")

    hooks = MachineHooks(
        sleep=sleeps.append, reboot=refuse, service_stopped=refuse, run_as_user=refuse
    )
    osutils = FakeOSUtils(default_windows_state(), Trace(), random.Random(0), hooks)
    conf = config_from_options({"DEFAULT": {"metadata_services": services}}, "test")
    with serving(apps) as trace:
        service = get_metadata_service(AgentContext(conf=conf, osutils=osutils))
    return service.get_name(), sleeps, trace


def test_behind_http_service_the_openstack_probe_404s_and_ec2_loads_without_delay() -> None:
    ec2 = cloud()
    name, sleeps, trace = _discover([ec2], [HTTP_SERVICE, EC2_SERVICE])
    assert name == "EC2Service"
    assert sleeps == []
    assert [(e.get("url"), e.get("status")) for e in trace.of_kind("http")] == [
        ("http://169.254.169.254/", 200),
        ("http://169.254.169.254/openstack/latest/meta_data.json", 404),
        ("http://169.254.169.254/", 200),
        ("http://169.254.169.254/2009-04-04/meta-data/local-hostname", 200),
    ]


def test_openstack_cloud_wins_over_ec2_when_listed_first() -> None:
    openstack = OpenStackCloud(OpenStackModel(meta_data={"uuid": "x"}))
    name, _, _ = _discover([openstack], [HTTP_SERVICE, EC2_SERVICE])
    assert name == "HttpService"


def test_ec2_is_the_third_service_of_the_default_list() -> None:
    assert default_config().get("metadata_services")[2] == EC2_SERVICE
