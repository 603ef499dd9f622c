"""The metadata-route check HTTP services run at the start of ``load()`` on Windows.

cloudbase-init 1.1.9's HttpService, EC2Service and OracleCloudService (and CloudStack
when its option is on) look after a guest that cannot reach a ``169.254.x.x`` metadata
host: on Windows 6.0 or later, with ``add_metadata_private_ip_route`` on and no route to
that host, they GET the base URL up to three times and, only when none gets an answer,
add a /32 route to the host through the default gateway (metric 10), ignoring a failure
to add it. As in upstream's urllib check, an error status (4xx, 5xx) is no answer, just
as a connection error is not. Reference: agent-behaviour §6.2 and §7.1,
metadata-sources §1.5.

Each test loads a service against a simulated cloud and asserts what the wire saw (the
``http`` events), the OS changes the agent made (``os`` events) and the final routing
table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.metadata.cloudstack import CloudStack
from guestsim.agent.metadata.ec2 import EC2Service
from guestsim.agent.metadata.gce import GCEService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.metadata.oracle import OracleCloudService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds.base import CloudApp
from guestsim.simulator.clouds.cloudstack import CloudStackMetadata, CloudStackModel
from guestsim.simulator.clouds.ec2 import EC2Cloud, EC2Model
from guestsim.simulator.clouds.gce import GceCloud, GceModel
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.clouds.oracle import OracleCloud, OracleModel
from guestsim.simulator.faults import AgentHung, Fault
from guestsim.simulator.paths import bundled
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.network import IPV4_DEFAULT_ROUTE, IPRoute
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.version import WindowsVersion
from tests.builders import library_outcome, meta_data, serving, standalone_osutils

BASE = "http://169.254.169.254/"
META = f"{BASE}openstack/latest/meta_data.json"
GATEWAY = "10.0.0.1"
# The default machine's only adapter; interface indexes start at 2.
ADAPTER = "Ethernet"
ADAPTER_INDEX = 2
HOST_ROUTE = IPRoute("169.254.169.254/32", GATEWAY, ADAPTER, None, persistent=False)
REFUSE_ROOT = Fault("/", host="169.254.169.254", error="refused")
BASE_LOGGER = "guestsim.agent.metadata.base"

ServiceClass = Callable[[AgentContext], HttpMetadataService]


def windows(gateway: str | None = GATEWAY, version: WindowsVersion | None = None) -> WindowsState:
    """The default machine, with an IPv4 default route through ``gateway``."""
    state = default_windows_state()
    if gateway is not None:
        state.network.routes.append(IPRoute(IPV4_DEFAULT_ROUTE, gateway, ADAPTER))
    if version is not None:
        state.version = version
    return state


def openstack() -> OpenStackCloud:
    return OpenStackCloud(OpenStackModel(meta_data=meta_data()))


@dataclass
class Loaded:
    loaded: bool
    # (URL, status or the connection error) of every request, in order.
    http: list[tuple[str, Any]]
    route_additions: list[Event]
    state: WindowsState

    def root_gets(self) -> int:
        return sum(1 for url, _ in self.http if urlsplit(url).path == "/")


def load(
    service: ServiceClass = OpenStackHttpService,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    apps: Sequence[CloudApp] | None = None,
    faults: Sequence[Fault] = (),
    state: WindowsState | None = None,
) -> Loaded:
    osutils = standalone_osutils([], state or windows())
    conf = config_from_options(dict(options or {}), "test")
    agent_service = service(AgentContext(conf=conf, osutils=osutils))
    with serving([openstack()] if apps is None else apps, faults) as trace:
        loaded = agent_service.load()
    http = [(e.get("url"), e.get("status") or e.get("error")) for e in trace.of_kind("http")]
    additions = [e for e in osutils.trace.of_kind("os") if e.get("call") == "add_static_route"]
    return Loaded(loaded, http, additions, osutils.state)


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.name == BASE_LOGGER
    ]


def addition(event: Event) -> tuple[Any, ...]:
    return tuple(
        event.get(name) for name in ("destination", "mask", "next_hop", "interface_index", "metric")
    )


# --- when the check looks no further ----------------------------------------------------------


def test_an_existing_route_to_the_host_means_no_get_and_no_change() -> None:
    state = windows()
    state.network.routes.append(IPRoute("169.254.169.254/32", GATEWAY, ADAPTER))

    result = load(state=state, faults=[REFUSE_ROOT])

    assert result.loaded
    assert result.http == [(META, 200)]
    assert result.route_additions == []


def test_an_answer_to_the_first_get_adds_no_route() -> None:
    result = load()

    assert result.loaded
    assert result.http == [(BASE, 200), (META, 200)]
    assert result.route_additions == []
    assert result.state.network.routes == [IPRoute(IPV4_DEFAULT_ROUTE, GATEWAY, ADAPTER)]


@pytest.mark.parametrize("status", [300, 401, 404, 500])
def test_a_status_but_2xx_is_retried_three_times_then_the_route_is_added(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Upstream checks with urllib's urlopen, which raises on any final status but 2xx: a
    # 401 (an IMDSv2-only EC2), a 404 (Oracle's root) or a 3xx it cannot follow is no
    # answer, like a refused connection.
    caplog.set_level(logging.DEBUG, BASE_LOGGER)

    result = load(faults=[Fault("/", status=status)])

    assert result.loaded
    assert result.http == [(BASE, status)] * 3 + [(META, 200)]
    assert [addition(e) for e in result.route_additions] == [
        ("169.254.169.254", "255.255.255.255", GATEWAY, ADAPTER_INDEX, 10)
    ]
    assert result.state.network.routes[-1] == HOST_ROUTE
    no_answer = f"DEBUG No answer from {BASE}: HTTP {status}"
    assert log_lines(caplog) == [
        f"DEBUG Checking URL {BASE} (try 1 of 3)",
        no_answer,
        f"DEBUG Checking URL {BASE} (try 2 of 3)",
        no_answer,
        f"DEBUG Checking URL {BASE} (try 3 of 3)",
        no_answer,
        f"DEBUG Adding a route to the metadata host 169.254.169.254 through {GATEWAY}",
    ]


def test_an_error_status_then_a_success_stops_the_gets_and_adds_no_route() -> None:
    result = load(faults=[Fault("/", status=503, first=2)])

    assert result.http == [(BASE, 503), (BASE, 503), (BASE, 200), (META, 200)]
    assert result.route_additions == []


def test_the_gets_stop_at_the_first_answer() -> None:
    result = load(faults=[Fault("/", error="refused", first=2)])

    assert result.http == [(BASE, "refused"), (BASE, "refused"), (BASE, 200), (META, 200)]
    assert result.route_additions == []


# --- three unanswered GETs -------------------------------------------------------------------


def test_three_unanswered_gets_add_a_host_route_through_the_default_gateway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, BASE_LOGGER)

    result = load(faults=[REFUSE_ROOT])

    assert result.loaded
    assert result.http == [(BASE, "refused")] * 3 + [(META, 200)]
    assert [addition(e) for e in result.route_additions] == [
        ("169.254.169.254", "255.255.255.255", GATEWAY, ADAPTER_INDEX, 10)
    ]
    # route ADD without -p: the route is gone after the next reboot.
    assert result.state.network.routes[-1] == HOST_ROUTE
    no_answer = f"DEBUG No answer from {BASE}: Connection refused: {BASE}"
    assert log_lines(caplog) == [
        f"DEBUG Checking URL {BASE} (try 1 of 3)",
        no_answer,
        f"DEBUG Checking URL {BASE} (try 2 of 3)",
        no_answer,
        f"DEBUG Checking URL {BASE} (try 3 of 3)",
        no_answer,
        f"DEBUG Adding a route to the metadata host 169.254.169.254 through {GATEWAY}",
    ]


@pytest.mark.parametrize("error", ["refused", "reset"])
def test_any_connection_error_counts_as_no_answer(error: str) -> None:
    result = load(faults=[Fault("/", error=error)])

    assert result.http[:3] == [(BASE, error)] * 3
    assert len(result.route_additions) == 1


def test_without_a_default_gateway_no_route_is_added_and_loading_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, BASE_LOGGER)

    result = load(faults=[REFUSE_ROOT], state=windows(gateway=None))

    assert result.loaded
    assert result.http == [(BASE, "refused")] * 3 + [(META, 200)]
    assert result.route_additions == []
    assert result.state.network.routes == []
    # Looking for the gateway changed nothing on the machine.
    assert result.state.network.interfaces == {}
    # No attempt was made to add a route through no gateway.
    assert log_lines(caplog)[-1] == (
        "DEBUG No default gateway to route the metadata host 169.254.169.254 through"
    )


def test_a_failed_route_addition_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    # A host name that merely starts like a link-local address passes the check's test,
    # and Windows refuses to route it.
    base = "http://169.254.metadata/"
    caplog.set_level(logging.DEBUG, BASE_LOGGER)
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()), base)
    options = {"openstack": {"metadata_base_url": base}}

    result = load(options=options, apps=[cloud], faults=[Fault("/", error="refused")])

    assert result.loaded
    assert result.http == [(base, "refused")] * 3 + [
        (f"{base}openstack/latest/meta_data.json", 200)
    ]
    assert result.route_additions == []
    assert result.state.network.routes == [IPRoute(IPV4_DEFAULT_ROUTE, GATEWAY, ADAPTER)]
    assert log_lines(caplog)[-2:] == [
        "DEBUG Adding a route to the metadata host 169.254.metadata through 10.0.0.1",
        "ERROR Cannot add a route to the metadata host 169.254.metadata",
    ]
    errors = [r for r in caplog.records if r.name == BASE_LOGGER and r.levelname == "ERROR"]
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "Invalid route destination: '169.254.metadata'"


def test_the_gets_have_no_timeout_so_a_hang_hangs_the_agent() -> None:
    with pytest.raises(AgentHung) as hung:
        load(faults=[Fault("/", error="hang")])

    assert (hung.value.method, hung.value.url) == ("GET", BASE)


# --- which hosts, which Windows ----------------------------------------------------------------


def test_a_host_outside_169_254_is_not_checked() -> None:
    base = "http://10.0.0.1:8775/"
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()), base)
    options = {"openstack": {"metadata_base_url": base}}

    result = load(options=options, apps=[cloud], faults=[Fault("/", error="refused")])

    assert result.http == [(f"{base}openstack/latest/meta_data.json", 200)]
    assert result.route_additions == []


def test_the_host_is_taken_without_its_port() -> None:
    base = "http://169.254.169.254:8775/"
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()), base)
    options = {"openstack": {"metadata_base_url": base}}

    result = load(options=options, apps=[cloud], faults=[Fault("/", error="refused")])

    assert result.http[:3] == [(base, "refused")] * 3
    assert [addition(e)[0] for e in result.route_additions] == ["169.254.169.254"]


@pytest.mark.parametrize(
    ("version", "checked"),
    [
        (WindowsVersion(5, 2, 3790), False),
        (WindowsVersion(6, 0, 6002), True),
        (WindowsVersion(10, 0, 17763), True),
    ],
    ids=["2003", "2008", "2019"],
)
def test_only_windows_6_0_and_later_are_checked(version: WindowsVersion, checked: bool) -> None:
    result = load(faults=[REFUSE_ROOT], state=windows(version=version))

    assert result.root_gets() == (3 if checked else 0)
    assert len(result.route_additions) == (1 if checked else 0)


# --- the option, per service ------------------------------------------------------------------


def ec2() -> EC2Cloud:
    return EC2Cloud(EC2Model(meta_data={"local-hostname": "ip-10-0-0-15", "instance-id": "i-1"}))


def oracle() -> OracleCloud:
    return OracleCloud(OracleModel(instance={"id": "ocid1.instance.oc1..sim"}))


@pytest.mark.parametrize(
    ("service", "cloud"),
    [(OpenStackHttpService, openstack), (EC2Service, ec2), (OracleCloudService, oracle)],
    ids=["openstack", "ec2", "oracle"],
)
def test_on_by_default_for_openstack_ec2_and_oracle(service: ServiceClass, cloud: Any) -> None:
    result = load(service, apps=[cloud()], faults=[REFUSE_ROOT])

    assert result.loaded
    assert result.http[:3] == [(BASE, "refused")] * 3
    assert [addition(e) for e in result.route_additions] == [
        ("169.254.169.254", "255.255.255.255", GATEWAY, ADAPTER_INDEX, 10)
    ]


@pytest.mark.parametrize(
    ("service", "cloud", "options"),
    [
        (OpenStackHttpService, openstack, {"openstack": {"add_metadata_private_ip_route": False}}),
        (OpenStackHttpService, openstack, {"DEFAULT": {"add_metadata_private_ip_route": False}}),
        (EC2Service, ec2, {"ec2": {"add_metadata_private_ip_route": False}}),
        (EC2Service, ec2, {"DEFAULT": {"ec2_add_metadata_private_ip_route": False}}),
        (OracleCloudService, oracle, {"oraclecloud": {"add_metadata_private_ip_route": False}}),
    ],
    ids=["openstack", "openstack-legacy", "ec2", "ec2-legacy", "oracle"],
)
def test_the_option_off_means_no_check(
    service: ServiceClass, cloud: Any, options: dict[str, dict[str, Any]]
) -> None:
    result = load(service, options, apps=[cloud()], faults=[REFUSE_ROOT])

    assert result.loaded
    assert result.root_gets() == 0
    assert result.route_additions == []


def cloudstack() -> CloudStackMetadata:
    model = CloudStackModel(meta_data={"service-offering": "small", "instance-id": "i-1"})
    return CloudStackMetadata(model, BASE)


def test_cloudstack_checks_only_when_its_option_is_on() -> None:
    options: dict[str, dict[str, Any]] = {"cloudstack": {"metadata_base_url": BASE}}
    off = load(CloudStack, options, apps=[cloudstack()], faults=[REFUSE_ROOT])
    options["cloudstack"]["add_metadata_private_ip_route"] = True
    on = load(CloudStack, options, apps=[cloudstack()], faults=[REFUSE_ROOT])

    probe = (f"{BASE}latest/meta-data/service-offering", 200)
    assert (off.loaded, off.http, off.route_additions) == (True, [probe], [])
    assert on.loaded
    assert on.http == [(BASE, "refused")] * 3 + [probe]
    assert [addition(e)[0] for e in on.route_additions] == ["169.254.169.254"]


def test_services_without_the_option_never_check() -> None:
    base = "http://169.254.169.254/computeMetadata/v1/"
    cloud = GceCloud(GceModel(metadata={"instance": {"id": 1, "name": "h"}}), base)

    result = load(GCEService, {"gce": {"metadata_base_url": base}}, [cloud], [REFUSE_ROOT])

    assert result.loaded
    assert result.root_gets() == 0
    assert result.route_additions == []


# --- in a whole boot ---------------------------------------------------------------------------


def test_the_route_is_added_before_any_metadata_is_read() -> None:
    outcome = library_outcome(bundled("scenarios") / "failures/metadata-route-added.yaml")

    steps = [
        (e.kind, e.get("url") or e.get("call"))
        for e in outcome.result.trace
        if e.kind in ("http", "os") and e.boot == 1
    ][:5]
    assert steps == [
        ("http", BASE),
        ("http", BASE),
        ("http", BASE),
        ("os", "add_static_route"),
        ("http", META),
    ]
