"""The base metadata machinery against a simulated OpenStack: retries, caching, decoding, HTTP.

Reference: metadata-sources §1.4 (retries, cache, undecodable data) and §1.5 (URL joining,
method choice, TLS verify value). Observed through what a user sees: the requests the
cloud recorded, the sleeps the agent asked for, and the agent's log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.faults import Fault
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.osutils import FakeOSUtils
from tests.builders import meta_data, serving, standalone_osutils

META = "/openstack/latest/meta_data.json"
BASE = "http://169.254.169.254/"
BASE_LOGGER = "guestsim.agent.metadata.base"
# HttpService's load() first checks the route to 169.254.169.254 with a GET of the base
# URL (see test_metadata_route_check.py); Nova answers it with its version list.
ROUTE_CHECK = ("GET", "/", 200)


@dataclass
class Guest:
    service: OpenStackHttpService
    cloud: OpenStackCloud
    trace: Trace
    osutils: FakeOSUtils
    sleeps: list[float] = field(default_factory=list)

    def paths(self) -> list[tuple[str, str, int]]:
        """Method, path and status of every request, as the wire saw it (faults included)."""
        return [
            (str(e.get("method")), str(e.get("url")).removeprefix(BASE[:-1]), int(e.get("status")))
            for e in self.trace.of_kind("http")
        ]

    def urls(self) -> list[tuple[str, str, Any]]:
        return [
            (e.get("method"), e.get("url"), e.get("status")) for e in self.trace.of_kind("http")
        ]


@contextmanager
def guest(
    options: dict[str, dict[str, Any]] | None = None,
    faults: tuple[Fault, ...] = (),
    cloud: type[OpenStackCloud] = OpenStackCloud,
    **model: Any,
) -> Iterator[Guest]:
    sleeps: list[float] = []
    conf = config_from_options(options or {}, "test")
    osutils = standalone_osutils(sleeps)
    service = OpenStackHttpService(AgentContext(conf=conf, osutils=osutils))
    app = cloud(OpenStackModel(meta_data=model.pop("document", meta_data()), **model))
    with serving([app], faults) as trace:
        yield Guest(service, app, trace, osutils, sleeps)


def log_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.name == logger
    ]


def server_error(path: str) -> str:
    return f"500 Server Error: Internal Server Error for url: {BASE}{path.lstrip('/')}"


# --- retries -------------------------------------------------------------------------------


def test_a_failing_request_is_retried_after_the_configured_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, BASE_LOGGER)
    options = {"DEFAULT": {"retry_count": 3, "retry_count_interval": 1.5}}
    with guest(options, (Fault(path=META, status=500, first=2),)) as g:
        assert g.service.load()
    assert g.paths() == [ROUTE_CHECK, ("GET", META, 500), ("GET", META, 500), ("GET", META, 200)]
    assert g.sleeps == [1.5, 1.5]
    assert log_lines(caplog, BASE_LOGGER)[1:] == [
        f"DEBUG Retrying metadata request (1/3) after: {server_error(META)}",
        f"DEBUG Retrying metadata request (2/3) after: {server_error(META)}",
    ]


def test_the_defaults_retry_five_times_four_seconds_apart() -> None:
    with guest(faults=(Fault(path=META, status=503),)) as g:
        assert not g.service.load()
    assert g.paths() == [ROUTE_CHECK] + [("GET", META, 503)] * 6
    assert g.sleeps == [4.0] * 5


def test_the_last_error_surfaces_once_the_retries_are_spent() -> None:
    options = {"DEFAULT": {"retry_count": 1, "retry_count_interval": 0.25}}
    faults = (Fault(path="/openstack/latest/user_data", status=500),)
    with guest(options, faults) as g, pytest.raises(requests.HTTPError, match="500 Server Error"):
        g.service.get_user_data()
    assert g.paths() == [("GET", "/openstack/latest/user_data", 500)] * 2
    assert g.sleeps == [0.25]


def test_without_retries_a_failure_is_final() -> None:
    options = {"DEFAULT": {"retry_count": 0}}
    with guest(options, (Fault(path=META, status=500, first=1),)) as g:
        assert not g.service.load()
    assert g.paths() == [ROUTE_CHECK, ("GET", META, 500)]
    assert g.sleeps == []


def test_a_missing_item_is_not_retried() -> None:
    with guest() as g:
        assert g.service.load()
        with pytest.raises(NotExistingMetadataException, match="openstack/latest/user_data"):
            g.service.get_user_data()
    assert g.paths() == [
        ROUTE_CHECK,
        ("GET", META, 200),
        ("GET", "/openstack/latest/user_data", 404),
    ]
    assert g.sleeps == []


# --- the cache -------------------------------------------------------------------------------


def test_a_document_is_fetched_once_until_the_next_load() -> None:
    with guest(user_data=b"#ps1\r\nhostname") as g:
        assert g.service.load()
        assert g.service.get_host_name() == "web-01.novalocal"
        assert g.service.get_instance_id() is not None
        assert g.service.get_user_data() == b"#ps1\r\nhostname"
        assert g.service.get_user_data() == b"#ps1\r\nhostname"
        assert g.paths() == [
            ROUTE_CHECK,
            ("GET", META, 200),
            ("GET", "/openstack/latest/user_data", 200),
        ]
        # load() starts afresh: the cloud is asked again.
        assert g.service.load()
        assert g.service.get_host_name() == "web-01.novalocal"
    assert g.paths()[3:] == [ROUTE_CHECK, ("GET", META, 200)]


def test_a_failed_read_is_not_cached() -> None:
    options = {"DEFAULT": {"retry_count": 0}}
    faults = (Fault(path="/openstack/latest/user_data", status=500, first=1),)
    with guest(options, faults, user_data=b"#ps1\r\nhostname") as g:
        with pytest.raises(requests.HTTPError):
            g.service.get_user_data()
        assert g.service.get_user_data() == b"#ps1\r\nhostname"
    assert g.paths() == [
        ("GET", "/openstack/latest/user_data", 500),
        ("GET", "/openstack/latest/user_data", 200),
    ]


class NotUtf8NetworkData(OpenStackCloud):
    def _network_data(self, request: SimRequest, version: str) -> SimResponse:
        return SimResponse(200, b"\xff\xfe{}")


def test_undecodable_metadata_reads_as_no_data_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, BASE_LOGGER)
    # No data is not "absent": the network document fails to parse, as upstream's does.
    with guest(cloud=NotUtf8NetworkData) as g, pytest.raises(ValueError):
        g.service.get_network_details_v2()
    assert g.paths() == [("GET", "/openstack/latest/network_data.json", 200)]
    assert log_lines(caplog, BASE_LOGGER) == [
        "ERROR Metadata at 'openstack/latest/network_data.json' is not UTF-8 text"
    ]


# --- HTTP ------------------------------------------------------------------------------------


def test_relative_paths_join_the_base_url_and_absolute_urls_are_kept() -> None:
    with guest({"openstack": {"metadata_base_url": "http://169.254.169.254/"}}) as g:
        assert g.service.url_for("openstack/latest/user_data") == (
            "http://169.254.169.254/openstack/latest/user_data"
        )
        assert g.service.url_for("http://other.test/x") == "http://other.test/x"
        assert g.service.url_for("https://other.test/y") == "https://other.test/y"
        # The rule is upstream's literal one: whatever starts with "http" is kept as-is.
        assert g.service.url_for("http-data/x") == "http-data/x"


def test_a_base_url_without_a_trailing_slash_loses_its_last_segment() -> None:
    with guest({"openstack": {"metadata_base_url": "http://169.254.169.254/ignored"}}) as g:
        assert g.service.load()
    # The route check GETs the base URL as configured; the join drops its last segment.
    # Its 404 is no answer, so it is asked three times (no route is added: the default
    # machine has no default gateway).
    assert g.urls() == [
        *[("GET", f"{BASE}ignored", 404)] * 3,
        ("GET", f"{BASE}openstack/latest/meta_data.json", 200),
    ]
    assert [e.get("call") for e in g.osutils.trace.of_kind("os")] == []


@pytest.mark.parametrize(
    ("options", "verify"),
    [
        ({}, False),
        # verify=True is requests' default, which the wire record leaves out.
        ({"https_allow_insecure": True}, None),
        ({"https_ca_bundle": "C:\\certs\\ca.pem"}, "C:\\certs\\ca.pem"),
        (
            {"https_ca_bundle": "C:\\certs\\ca.pem", "https_allow_insecure": True},
            "C:\\certs\\ca.pem",
        ),
    ],
    ids=["default-inverted", "allow-insecure", "ca-bundle", "ca-bundle-wins"],
)
def test_the_tls_verify_value_follows_the_inverted_upstream_rule(
    options: dict[str, Any], verify: bool | str | None
) -> None:
    with guest({"openstack": options}) as g:
        assert g.service.load()
    # The route check's GET comes first, with requests' defaults whatever the options.
    assert [e.get("verify") for e in g.trace.of_kind("http")] == [None, verify]


def test_a_body_makes_a_post_and_no_body_a_get() -> None:
    with guest() as g:
        g.service._http_request("openstack/2013-04-04/password", data=b"c2VjcmV0")
        g.service._http_request("openstack/2013-04-04/password")
        g.service._http_request("openstack/2013-04-04/password", data=b"")
    assert g.paths() == [
        ("POST", "/openstack/2013-04-04/password", 200),
        ("GET", "/openstack/2013-04-04/password", 200),
        ("GET", "/openstack/2013-04-04/password", 200),
    ]
    assert g.cloud.requests[0].body == b"c2VjcmV0"
    assert g.cloud.model.password == "c2VjcmV0"


def test_service_headers_are_added_to_the_callers_headers() -> None:
    class Headed(OpenStackHttpService):
        def extra_headers(self) -> dict[str, str]:
            return {"Metadata-Flavor": "Sim", "X-Both": "service"}

    with guest() as g:
        service = Headed(g.service.context)
        service._http_request(
            "openstack/latest/meta_data.json", headers={"X-Both": "caller", "X-Caller": "1"}
        )
    headers = {k.lower(): v for k, v in g.cloud.requests[0].headers.items()}
    assert headers["metadata-flavor"] == "Sim"
    assert headers["x-both"] == "service"
    assert headers["x-caller"] == "1"
