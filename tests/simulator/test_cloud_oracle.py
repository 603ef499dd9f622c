"""The simulated OCI instance metadata service's own contract: routes, formats, the header."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import pytest
import requests

from guestsim.simulator.clouds import build_clouds, cloud_schema
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.oracle import DEFAULT_BASE_URL, OracleCloud, OracleModel, build
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport, LoopbackServer
from tests.builders import FIXTURES, public_key

SCENARIO = bundled("scenarios") / "clouds" / "oracle-happy-path.yaml"
AUTH = {"Authorization": "Bearer Oracle"}


def document() -> dict[str, Any]:
    return {
        "id": "ocid1.instance.oc1.iad.test",
        "hostname": "oci-host",
        "shapeConfig": {"ocpus": 2.0, "memoryInGBs": 32.0},
        "metadata": {"user_data": "I3BzMQ==", "ssh_authorized_keys": public_key()},
        "timeCreated": 1767225600000,
    }


def call(app: OracleCloud, path: str, headers: dict[str, str] | None = None) -> SimResponse:
    return app.handle(SimRequest("GET", f"http://169.254.169.254{path}", path, headers or {}))


def get(app: OracleCloud, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    response = call(app, path, AUTH if headers is None else headers)
    return response.status, response.body.decode()


# --- the v2 endpoints --------------------------------------------------------------------


def test_string_members_are_plain_text() -> None:
    app = OracleCloud(OracleModel(document()))
    assert get(app, "/opc/v2/instance/id") == (200, "ocid1.instance.oc1.iad.test")
    assert get(app, "/opc/v2/instance/hostname") == (200, "oci-host")
    assert get(app, "/opc/v2/instance/metadata/user_data") == (200, "I3BzMQ==")


def test_objects_and_numbers_are_json() -> None:
    app = OracleCloud(OracleModel(document()))
    response = call(app, "/opc/v2/instance/", AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == document()
    assert json.loads(get(app, "/opc/v2/instance")[1]) == document()
    assert json.loads(get(app, "/opc/v2/instance/shapeConfig")[1]) == {
        "ocpus": 2.0,
        "memoryInGBs": 32.0,
    }
    assert get(app, "/opc/v2/instance/timeCreated") == (200, "1767225600000")


@pytest.mark.parametrize(
    "path",
    [
        "/opc/v2/instance/nothing",
        "/opc/v2/instance/metadata/nothing",
        "/opc/v2/instance/hostname/deeper",
        "/opc/v3/instance/id",
        "/opc/v2/vnics/",
        "/openstack/latest/meta_data.json",
        "/2009-04-04/meta-data/local-hostname",
    ],
)
def test_unknown_paths_are_404(path: str) -> None:
    assert get(OracleCloud(OracleModel(document())), path)[0] == 404


def test_the_root_answers_404_with_or_without_the_header() -> None:
    # cloudbase-init's route check GETs the root without the header; the 404 is no answer
    # to it, so it asks three times, then adds a route to the host through the gateway.
    app = OracleCloud(OracleModel(document()))
    assert get(app, "/", {})[0] == 404
    assert get(app, "/")[0] == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer oracle"},
        {"Authorization": "Bearer Other"},
        {"Authorization": "Basic T3JhY2xl"},
        {"X-Authorization": "Bearer Oracle"},
    ],
)
def test_v2_without_the_exact_header_is_refused_with_401(headers: dict[str, str]) -> None:
    app = OracleCloud(OracleModel(document()))
    response = call(app, "/opc/v2/instance/id", headers)
    assert response.status == 401
    assert json.loads(response.body)["code"] == "NotAuthorized"
    assert [(r.path, r.status) for r in app.requests] == [("/opc/v2/instance/id", 401)]


def test_the_header_name_is_case_insensitive() -> None:
    app = OracleCloud(OracleModel(document()))
    assert get(app, "/opc/v2/instance/id", {"authorization": "Bearer Oracle"})[0] == 200


def test_post_is_not_allowed() -> None:
    app = OracleCloud(OracleModel(document()))
    request = SimRequest(
        "POST", "http://169.254.169.254/opc/v2/instance/id", "/opc/v2/instance/id", AUTH, b"x"
    )
    assert app.handle(request).status == 405


# --- legacy v1 ---------------------------------------------------------------------------


def test_v1_needs_no_header() -> None:
    app = OracleCloud(OracleModel(document()))
    assert get(app, "/opc/v1/instance/id", {}) == (200, "ocid1.instance.oc1.iad.test")


def test_v1_can_be_disabled() -> None:
    app = OracleCloud(OracleModel(document(), legacy_v1=False))
    assert get(app, "/opc/v1/instance/id", {})[0] == 404
    assert get(app, "/opc/v2/instance/id")[0] == 200


# --- over the wire -----------------------------------------------------------------------


def test_header_checked_through_requests_in_process() -> None:
    app = OracleCloud(OracleModel(document()))
    with InProcessTransport(Gateway([app], Trace())).serving():
        refused = requests.get("http://169.254.169.254/opc/v2/instance/id")
        served = requests.get("http://169.254.169.254/opc/v2/instance/id", headers=AUTH)
    assert refused.status_code == 401
    assert (served.status_code, served.text) == (200, "ocid1.instance.oc1.iad.test")


def test_header_checked_on_a_loopback_socket() -> None:
    with LoopbackServer(OracleCloud(OracleModel(document()))) as server:
        refused = requests.get(f"{server.url}opc/v2/instance/hostname", timeout=5)
        served = requests.get(f"{server.url}opc/v2/instance/hostname", headers=AUTH, timeout=5)
    assert refused.status_code == 401
    assert served.text == "oci-host"


# --- building and the scenario schema ----------------------------------------------------


def test_build_serves_the_bundled_document_by_default() -> None:
    (app,) = build_clouds(DocumentSource("oracle", {}))
    assert isinstance(app, OracleCloud)
    assert app.base_url == DEFAULT_BASE_URL == "http://169.254.169.254/"
    bundled_doc = json.loads((FIXTURES / "clouds/oracle/instance.json").read_text())
    assert app.model.instance == bundled_doc
    assert app.model.instance["metadata"]["ssh_authorized_keys"] == public_key()
    user_data = base64.b64decode(get(app, "/opc/v2/instance/metadata/user_data")[1])
    assert user_data.startswith(b"#ps1_sysnative")


def test_plain_user_data_setting_is_stored_base64_encoded() -> None:
    (app,) = build(DocumentSource("oracle", {"instance": document(), "user_data": "#ps1\r\nabc"}))
    assert isinstance(app, OracleCloud)
    status, body = get(app, "/opc/v2/instance/metadata/user_data")
    assert status == 200 and base64.b64decode(body) == b"#ps1\r\nabc"
    # The rest of metadata is kept.
    assert get(app, "/opc/v2/instance/metadata/ssh_authorized_keys")[1] == public_key()


def test_null_user_data_setting_removes_it() -> None:
    (app,) = build(DocumentSource("oracle", {"instance": document(), "user_data": None}))
    assert isinstance(app, OracleCloud)
    assert get(app, "/opc/v2/instance/metadata/user_data")[0] == 404
    assert get(app, "/opc/v2/instance/metadata/ssh_authorized_keys")[0] == 200


def test_build_settings() -> None:
    (app,) = build(
        DocumentSource("oracle", {"base_url": "http://imds.sim.test/", "legacy_v1": False})
    )
    assert isinstance(app, OracleCloud)
    assert app.base_url == "http://imds.sim.test/" and app.model.legacy_v1 is False


def test_the_schema_accepts_the_documented_keys() -> None:
    schema = cloud_schema("oracle")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(
        {
            "type": "oracle",
            "base_url": "http://169.254.169.254/",
            "instance": document(),
            "user_data": "#ps1",
            "legacy_v1": False,
        },
        schema,
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "oracle", "metadata": {}},
        {"type": "oracle", "legacy_v1": "no"},
        {"type": "oracle", "instance": {}, "instance_file": "i.json"},
        {"type": "oracle", "user_data": 5},
    ],
)
def test_the_schema_rejects_unknown_or_conflicting_keys(spec: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, cloud_schema("oracle"))


# --- the bundled scenario ----------------------------------------------------------------


def test_happy_path_passes_with_the_same_trace_on_loopback() -> None:
    scenario = load_scenario(SCENARIO)
    in_process = run_scenario(scenario)
    loopback = run_scenario(scenario, transport="loopback")
    assert in_process.failures == [] and loopback.failures == []
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()
    (app,) = in_process.result.clouds
    # Only the route checks' plain GETs of the root get a 404, which is no answer: three a
    # boot (the scenario's machine has no default gateway, so no route is added).
    assert {r.status for r in app.requests if r.path != "/"} == {200}
    assert [r.status for r in app.requests if r.path == "/"] == [404] * 6
