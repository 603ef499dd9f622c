"""The simulated EC2 instance metadata service's own contract: routes, formats, IMDSv2."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from guestsim.simulator.clock import VirtualClock
from guestsim.simulator.clouds import build_clouds, cloud_schema
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.ec2 import (
    DEFAULT_BASE_URL,
    MAX_TTL_SECONDS,
    TOKEN_HEADER,
    TTL_HEADER,
    VERSIONS,
    EC2Cloud,
    EC2Model,
    build,
)
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport, LoopbackServer
from tests.builders import FIXTURES, public_key

SCENARIOS = bundled("scenarios") / "clouds"
KEY = public_key()


def model(**overrides: Any) -> EC2Model:
    tree: dict[str, Any] = {
        "instance-id": "i-0123456789abcdef0",
        "local-hostname": "ip-10-0-0-5.ec2.internal",
        "placement": {"availability-zone": "eu-west-1b", "region": "eu-west-1"},
        "security-groups": ["default", "rdp"],
        "public-keys": {"first": KEY, "second": "ssh-ed25519 AAAAsecond second@example"},
    }
    values: dict[str, Any] = {"meta_data": tree, "user_data": b"<powershell>hi</powershell>"}
    values.update(overrides)
    return EC2Model(**values)


def call(
    app: EC2Cloud, method: str, path: str, headers: Mapping[str, str] | None = None
) -> SimResponse:
    return app.handle(
        SimRequest(method, f"http://169.254.169.254{path}", path, dict(headers or {}))
    )


def get(app: EC2Cloud, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    response = call(app, "GET", path, headers)
    return response.status, response.body.decode()


def put_token(app: EC2Cloud, ttl: str | None = "21600", **extra: str) -> SimResponse:
    headers = {} if ttl is None else {TTL_HEADER: ttl}
    headers.update(extra)
    return call(app, "PUT", "/latest/api/token", headers)


# --- the tree ----------------------------------------------------------------------------


def test_root_lists_the_api_versions_oldest_first_then_latest() -> None:
    status, body = get(EC2Cloud(model()), "/")
    assert status == 200
    lines = body.splitlines()
    assert lines[0] == "1.0" and lines[-1] == "latest"
    assert "2009-04-04" in lines and lines == list(VERSIONS)


@pytest.mark.parametrize("version", ["2009-04-04", "latest", "2016-09-02", "1.0"])
def test_every_listed_version_serves_the_same_tree(version: str) -> None:
    app = EC2Cloud(model())
    assert get(app, f"/{version}/meta-data/instance-id") == (200, "i-0123456789abcdef0")
    assert get(app, f"/{version}/") == (200, "dynamic\nmeta-data\nuser-data")


def test_meta_data_listing_marks_folders_with_a_slash() -> None:
    status, body = get(EC2Cloud(model()), "/2009-04-04/meta-data/")
    assert status == 200
    assert body.splitlines() == [
        "instance-id",
        "local-hostname",
        "placement/",
        "security-groups",
        "public-keys/",
    ]
    # Without the trailing slash too.
    assert get(EC2Cloud(model()), "/2009-04-04/meta-data")[1] == body


def test_nested_items_and_list_items_one_per_line() -> None:
    app = EC2Cloud(model())
    assert get(app, "/latest/meta-data/placement/") == (200, "availability-zone\nregion")
    assert get(app, "/latest/meta-data/placement/availability-zone") == (200, "eu-west-1b")
    assert get(app, "/latest/meta-data/security-groups") == (200, "default\nrdp")


def test_public_keys_are_served_in_index_form() -> None:
    app = EC2Cloud(model())
    assert get(app, "/2009-04-04/meta-data/public-keys") == (200, "0=first\n1=second")
    assert get(app, "/2009-04-04/meta-data/public-keys/") == (200, "0=first\n1=second")
    assert get(app, "/2009-04-04/meta-data/public-keys/0/") == (200, "openssh-key")
    assert get(app, "/2009-04-04/meta-data/public-keys/0/openssh-key") == (200, KEY)
    assert get(app, "/2009-04-04/meta-data/public-keys/1/openssh-key") == (
        200,
        "ssh-ed25519 AAAAsecond second@example",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/2009-04-04/meta-data/public-keys/2/openssh-key",
        "/2009-04-04/meta-data/public-keys/first/openssh-key",
        "/2009-04-04/meta-data/public-keys/0/ssh-rsa",
        "/2009-04-04/meta-data/no-such-item",
        "/2009-04-04/meta-data/instance-id/deeper",
        "/2009-04-04/meta-dataX",
        "/2010-01-01/meta-data/instance-id",
        "/openstack/latest/meta_data.json",
        "/openstack",
    ],
)
def test_unknown_paths_are_404(path: str) -> None:
    assert get(EC2Cloud(model()), path)[0] == 404


def test_instance_without_key_pair_has_no_public_keys_entry() -> None:
    tree = dict(model().meta_data)
    del tree["public-keys"]
    app = EC2Cloud(model(meta_data=tree))
    assert get(app, "/2009-04-04/meta-data/public-keys")[0] == 404
    assert "public-keys" not in get(app, "/2009-04-04/meta-data/")[1]


def test_user_data_is_served_raw_or_404_when_absent() -> None:
    response = call(EC2Cloud(model(user_data=b"\x00\x01binary")), "GET", "/2009-04-04/user-data")
    assert (response.status, response.body) == (200, b"\x00\x01binary")
    app = EC2Cloud(model(user_data=None))
    assert get(app, "/2009-04-04/user-data")[0] == 404
    assert get(app, "/2009-04-04/") == (200, "dynamic\nmeta-data")


def test_openstack_probe_is_404_even_when_imdsv2_is_required() -> None:
    # HttpService probes the same host first; anything but a fast 404 would cost it 20 s.
    app = EC2Cloud(model(imdsv2="required"))
    assert get(app, "/openstack/latest/meta_data.json")[0] == 404


def test_post_on_metadata_is_not_allowed() -> None:
    assert call(EC2Cloud(model()), "POST", "/latest/meta-data/instance-id").status == 405


def test_every_request_is_recorded_with_its_status() -> None:
    app = EC2Cloud(model())
    get(app, "/latest/meta-data/instance-id")
    put_token(app, ttl=None)
    assert [(r.method, r.path, r.status) for r in app.requests] == [
        ("GET", "/latest/meta-data/instance-id", 200),
        ("PUT", "/latest/api/token", 400),
    ]


# --- IMDSv2 ------------------------------------------------------------------------------


def test_token_put_returns_a_token_and_echoes_the_ttl() -> None:
    response = put_token(EC2Cloud(model()), "300")
    assert response.status == 200
    assert response.headers[TTL_HEADER] == "300"
    assert response.body.startswith(b"AQAEA") and len(response.body) > 40


@pytest.mark.parametrize("ttl", [None, "", "0", "-5", "21601", "abc", "1.5", "١٢"])
def test_token_put_with_a_missing_or_invalid_ttl_is_400(ttl: str | None) -> None:
    assert put_token(EC2Cloud(model()), ttl).status == 400


@pytest.mark.parametrize("ttl", ["1", str(MAX_TTL_SECONDS)])
def test_token_ttl_bounds_are_inclusive(ttl: str) -> None:
    assert put_token(EC2Cloud(model()), ttl).status == 200


def test_token_put_through_a_proxy_is_forbidden() -> None:
    assert put_token(EC2Cloud(model()), "60", **{"X-Forwarded-For": "10.0.0.9"}).status == 403


def test_token_endpoint_only_takes_put() -> None:
    assert get(EC2Cloud(model()), "/latest/api/token")[0] == 405


def test_tokens_are_deterministic_and_distinct_within_a_run() -> None:
    first, second = EC2Cloud(model()), EC2Cloud(model())
    a1, a2 = put_token(first).body, put_token(first).body
    assert a1 != a2
    assert put_token(second).body == a1


def test_optional_mode_serves_requests_without_a_token() -> None:
    app = EC2Cloud(model())
    assert get(app, "/latest/meta-data/instance-id")[0] == 200


def test_a_valid_token_is_accepted_and_an_unknown_one_is_401() -> None:
    app = EC2Cloud(model())
    token = put_token(app, "60").body.decode()
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: token})[0] == 200
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: "forged"})[0] == 401
    # An empty header is a token too, and not a valid one.
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: ""})[0] == 401


def test_required_mode_refuses_tokenless_gets_and_serves_with_a_token() -> None:
    app = EC2Cloud(model(imdsv2="required"))
    assert get(app, "/latest/meta-data/instance-id") == (401, "Unauthorized")
    assert get(app, "/") == (401, "Unauthorized")
    assert get(app, "/2009-04-04/user-data")[0] == 401
    token = put_token(app, "60").body.decode()
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: token}) == (
        200,
        "i-0123456789abcdef0",
    )


def test_tokens_expire_after_their_ttl_by_the_clock() -> None:
    clock = VirtualClock()
    app = EC2Cloud(model(imdsv2="required"))
    app.clock = clock.timestamp
    token = put_token(app, "10").body.decode()
    clock.advance(9.999)
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: token})[0] == 200
    clock.advance(0.001)
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: token})[0] == 401
    fresh = put_token(app, "10").body.decode()
    assert get(app, "/latest/meta-data/instance-id", {TOKEN_HEADER: fresh})[0] == 200


def test_imdsv2_session_over_the_wire_through_requests() -> None:
    app = EC2Cloud(model(imdsv2="required"))
    with InProcessTransport(Gateway([app], Trace())).serving():
        token = requests.put(
            "http://169.254.169.254/latest/api/token", headers={TTL_HEADER: "120"}
        ).text
        answer = requests.get(
            "http://169.254.169.254/latest/meta-data/local-hostname",
            headers={TOKEN_HEADER: token},
        )
        refused = requests.get("http://169.254.169.254/latest/meta-data/local-hostname")
    assert answer.status_code == 200 and answer.text == "ip-10-0-0-5.ec2.internal"
    assert refused.status_code == 401


def test_loopback_server_serves_the_same_routes_over_a_socket() -> None:
    app = EC2Cloud(model())
    with LoopbackServer(app) as server:
        token = requests.put(f"{server.url}latest/api/token", headers={TTL_HEADER: "5"}, timeout=5)
        keys = requests.get(f"{server.url}2009-04-04/meta-data/public-keys", timeout=5)
    assert token.status_code == 200 and token.headers[TTL_HEADER] == "5"
    assert keys.text == "0=first\n1=second"


# --- building and the scenario schema ----------------------------------------------------


def test_build_serves_the_bundled_documents_by_default() -> None:
    (app,) = build_clouds(DocumentSource("ec2", {}))
    assert isinstance(app, EC2Cloud)
    assert app.base_url == DEFAULT_BASE_URL == "http://169.254.169.254/"
    assert app.model.imdsv2 == "optional"
    assert get(app, "/latest/meta-data/public-keys/0/openssh-key") == (200, KEY)
    body = call(app, "GET", "/latest/user-data").body
    assert body == (FIXTURES / "clouds/ec2/user-data").read_bytes()


def test_build_takes_inline_documents_and_settings() -> None:
    (app,) = build(
        DocumentSource(
            "ec2",
            {
                "meta_data": {"instance-id": "i-inline", "local-hostname": "inline"},
                "user_data": None,
                "imdsv2": "required",
                "base_url": "http://imds.sim.test/",
            },
        )
    )
    assert isinstance(app, EC2Cloud)
    assert app.base_url == "http://imds.sim.test/"
    assert app.model.user_data is None and app.model.imdsv2 == "required"
    assert app.model.meta_data == {"instance-id": "i-inline", "local-hostname": "inline"}


def test_base_url_with_a_path_serves_below_it() -> None:
    app = EC2Cloud(model(), "http://imds.sim.test/aws/")
    assert get(app, "/aws/2009-04-04/meta-data/instance-id")[0] == 200
    assert get(app, "/2009-04-04/meta-data/instance-id")[0] == 404


def test_the_schema_accepts_the_documented_keys() -> None:
    schema = cloud_schema("ec2")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(
        {
            "type": "ec2",
            "base_url": "http://169.254.169.254/",
            "meta_data": {"instance-id": "i-1", "public-keys": {"k": KEY}},
            "user_data": "<powershell></powershell>",
            "imdsv2": "required",
        },
        schema,
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "ec2", "imdsv2": "always"},
        {"type": "ec2", "token_ttl": 5},
        {"type": "ec2", "meta_data": {}, "meta_data_file": "x.json"},
        {"type": "ec2", "base_url": "http://169.254.169.254"},
        {"type": "ec2", "meta_data": {"public-keys": ["not", "a", "mapping"]}},
    ],
)
def test_the_schema_rejects_unknown_or_conflicting_keys(spec: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, cloud_schema("ec2"))


def test_a_scenario_with_a_bad_imdsv2_mode_names_the_field(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "description: bad\ncloud: {type: ec2, imdsv2: sometimes}\n"
        "agent: {options: {DEFAULT: {plugins: []}}}\nexpect: {boots: 1, plugin_runs: {}}\n"
    )
    with pytest.raises(ScenarioError, match=r"cloud\.imdsv2"):
        load_scenario(scenario)


# --- the bundled scenarios ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["ec2-happy-path", "ec2-imdsv2-required"])
def test_scenario_passes_and_loopback_gives_the_same_trace(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    in_process = run_scenario(scenario)
    loopback = run_scenario(scenario, transport="loopback")
    assert in_process.failures == []
    assert loopback.failures == []
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()


def test_happy_path_http_service_fails_fast_on_the_shared_host() -> None:
    outcome = run_scenario(load_scenario(SCENARIOS / "ec2-happy-path.yaml"))
    trace = outcome.result.trace
    first_boot = [e for e in trace if e.boot == 1]
    probes = [e for e in first_boot if e.kind == "metadata_service_probe"]
    assert [(e.get("result"), e.t_ms) for e in probes] == [("not_loaded", 0), ("loaded", 0)]
    assert not any(e.kind == "sleep" for e in first_boot)


def test_an_unknown_imdsv2_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="imdsv2"):
        EC2Model(meta_data={}, imdsv2="sometimes")


def test_imdsv2_required_scenario_waits_20_virtual_seconds_then_finds_no_service() -> None:
    outcome = run_scenario(load_scenario(SCENARIOS / "ec2-imdsv2-required.yaml"))
    trace = outcome.result.trace
    assert [e.get("seconds") for e in trace.of_kind("sleep")][:5] == [4.0] * 5
    statuses = [e.get("status") for e in trace.of_kind("http")]
    # Each service's route check GETs the root first; IMDS refuses it too (401), which is
    # no answer, so each asks three times. The scenario's machine has no default gateway:
    # no route is added, and the second service checks again.
    assert statuses == [401] * 3 + [404] + [401] * 3 + [401] * 6
    assert [e.get("call") for e in trace.of_kind("os")].count("add_static_route") == 0
    # The checks cost no virtual time: the 20 s are EC2Service's five 4 s retry sleeps.
    assert [e.t_ms for e in trace.of_kind("http")][:7] == [0] * 7
    assert trace.of_kind("metadata_service")[-1].t_ms == 20000
    assert trace.of_kind("metadata_service")[-1].get("name") is None
    assert any("No metadata service found" in line for line in outcome.result.log)
