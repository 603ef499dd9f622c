"""The simulated CloudStack virtual router's own contract: every route, every refusal."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from guestsim.simulator.clouds import DocumentSource, build_clouds, cloud_schema
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.cloudstack import (
    DEFAULT_BASE_URL,
    CloudStackMetadata,
    CloudStackPasswordServer,
    build,
)
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.scenario import load_scenario
from guestsim.simulator.transport import LoopbackServer

SEND = "send_my_password"
SAVED = "saved_password"


def get(app: CloudApp, path: str, headers: dict[str, str] | None = None) -> SimResponse:
    return call(app, "GET", path, headers)


def call(
    app: CloudApp, method: str, path: str, headers: dict[str, str] | None = None
) -> SimResponse:
    url = app.base_url.rstrip("/") + path
    return app.handle(SimRequest(method, url, path, headers or {}))


def domu(app: CloudApp, request_type: str | None) -> tuple[int, str]:
    headers = {} if request_type is None else {"DomU_Request": request_type}
    response = get(app, "/", headers)
    return response.status, response.body.decode()


def apps_for(spec: dict[str, Any]) -> tuple[CloudStackMetadata, CloudStackPasswordServer]:
    metadata, password = build(DocumentSource("cloudstack", spec))
    assert isinstance(metadata, CloudStackMetadata)
    assert isinstance(password, CloudStackPasswordServer)
    return metadata, password


# --- build and bundled documents ---------------------------------------------------------------


def test_build_serves_two_apps_on_the_same_host(fixtures_dir: Path) -> None:
    metadata, password = apps_for({})
    assert DEFAULT_BASE_URL == "http://10.1.1.1/"
    assert (metadata.base_url, password.base_url) == ("http://10.1.1.1/", "http://10.1.1.1:8080/")
    assert (metadata.name, password.name) == ("cloudstack", "cloudstack-password")
    assert metadata.model is password.model
    bundled = fixtures_dir / "clouds" / "cloudstack"
    assert metadata.model.meta_data == json.loads((bundled / "meta-data.json").read_text())
    assert metadata.model.user_data == (bundled / "user-data").read_bytes()
    assert metadata.model.password == (bundled / "password").read_text().strip()


def test_the_registry_builds_cloudstack() -> None:
    apps = build_clouds(DocumentSource("cloudstack", {}))
    assert [type(app) for app in apps] == [CloudStackMetadata, CloudStackPasswordServer]


def test_bundled_public_key_is_the_test_key(fixtures_dir: Path) -> None:
    metadata, _ = apps_for({})
    key = (fixtures_dir / "keys" / "test-rsa-2048.pub").read_text().strip()
    assert get(metadata, "/latest/meta-data/public-keys").body.decode() == key


def test_settings_move_both_servers() -> None:
    metadata, password = apps_for({"base_url": "http://192.0.2.1/", "password_server_port": 8081})
    assert (metadata.base_url, password.base_url) == ("http://192.0.2.1/", "http://192.0.2.1:8081/")


def test_dhcp_server_setting_serves_only_at_that_address() -> None:
    metadata, password = apps_for({"dhcp_server": "10.20.0.1"})
    assert (metadata.base_url, password.base_url) == ("http://10.20.0.1/", "http://10.20.0.1:8080/")


def test_inline_documents_and_no_pending_password() -> None:
    metadata, password = apps_for(
        {"meta_data": {"instance-id": "i-1"}, "user_data": None, "password": None}
    )
    assert metadata.model.meta_data == {"instance-id": "i-1"}
    assert get(metadata, "/latest/user-data").status == 404
    assert domu(password, SEND) == (200, "")


def test_documents_from_files_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text('{"instance-id": "from-file"}')
    (tmp_path / "ud.bin").write_bytes(b"\x00\x01raw")
    (tmp_path / "pw.txt").write_text("  file-password \n")
    source = DocumentSource(
        "cloudstack",
        {"meta_data_file": "meta.json", "user_data_file": "ud.bin", "password_file": "pw.txt"},
        origin=tmp_path / "scenario.yaml",
    )
    metadata, password = build(source)
    assert get(metadata, "/latest/meta-data/instance-id").body == b"from-file"
    assert get(metadata, "/latest/user-data").body == b"\x00\x01raw"
    assert domu(password, SEND) == (200, "file-password")


def test_a_meta_data_value_that_is_not_text_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError) as caught:
        build(DocumentSource("cloudstack", {"meta_data": {"instance-id": 5}}))
    assert caught.value.field == "cloud.meta_data"


# --- metadata server ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("service-offering", "Medium Instance"),
        ("availability-zone", "zone-ams-1"),
        ("instance-id", "5b2e8f14-9c3d-4a67-8e01-d4c7a9b2f356"),
        ("vm-id", "5b2e8f14-9c3d-4a67-8e01-d4c7a9b2f356"),
        ("local-hostname", "win-app-01"),
        ("local-ipv4", "10.1.1.23"),
        ("public-ipv4", "198.51.100.23"),
        ("public-hostname", "198.51.100.23"),
        ("hypervisor-host-name", "kvm-host-07"),
    ],
)
def test_every_bundled_resource_is_served_as_text(resource: str, expected: str) -> None:
    metadata, _ = apps_for({})
    response = get(metadata, f"/latest/meta-data/{resource}")
    assert (response.status, response.body.decode()) == (200, expected)
    assert response.headers["Content-Type"] == "text/plain"


def test_meta_data_listing_is_sorted() -> None:
    metadata, _ = apps_for({"meta_data": {"b": "2", "a": "1", "c-d": "3"}})
    for path in ("/latest/meta-data/", "/latest/meta-data"):
        assert get(metadata, path).body == b"a\nb\nc-d"


def test_unknown_resource_and_unknown_paths_are_404() -> None:
    metadata, _ = apps_for({})
    assert get(metadata, "/latest/meta-data/no-such-thing").status == 404
    assert get(metadata, "/openstack/latest/meta_data.json").status == 404
    assert get(metadata, "/2009-04-04/meta-data/instance-id").status == 404


def test_user_data_is_served_raw() -> None:
    metadata, _ = apps_for({"user_data": "#ps1\nWrite-Host 1\n"})
    response = get(metadata, "/latest/user-data")
    assert (response.status, response.body) == (200, b"#ps1\nWrite-Host 1\n")
    assert response.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_metadata_is_read_only(method: str) -> None:
    metadata, _ = apps_for({})
    assert call(metadata, method, "/latest/meta-data/instance-id").status == 405
    assert call(metadata, method, "/latest/user-data").status == 405


def test_metadata_requests_are_recorded() -> None:
    metadata, _ = apps_for({})
    get(metadata, "/latest/meta-data/instance-id")
    get(metadata, "/latest/meta-data/nope")
    assert [(r.method, r.path, r.status) for r in metadata.requests] == [
        ("GET", "/latest/meta-data/instance-id", 200),
        ("GET", "/latest/meta-data/nope", 404),
    ]


# --- password server ---------------------------------------------------------------------------


def test_pending_password_is_sent_until_acknowledged_then_saved_password() -> None:
    _, password = apps_for({"password": "Pw-1"})
    assert domu(password, SEND) == (200, "Pw-1")
    assert domu(password, SEND) == (200, "Pw-1")
    assert domu(password, SAVED) == (200, SAVED)
    assert domu(password, SEND) == (200, SAVED)
    assert domu(password, SEND) == (200, SAVED)
    assert password.model.password is None and password.model.password_saved is True
    assert password.model.password_requests == [
        (SEND, "Pw-1"),
        (SEND, "Pw-1"),
        (SAVED, SAVED),
        (SEND, SAVED),
        (SEND, SAVED),
    ]


def test_nothing_pending_answers_empty() -> None:
    _, password = apps_for({"password": None})
    assert domu(password, SEND) == (200, "")
    # An acknowledgement with nothing pending changes nothing.
    assert domu(password, SAVED) == (200, SAVED)
    assert domu(password, SEND) == (200, "")


def test_password_saved_setting_answers_saved_password() -> None:
    _, password = apps_for({"password": None, "password_saved": True})
    assert domu(password, SEND) == (200, SAVED)


def test_a_new_password_after_the_acknowledgement_is_pending_again() -> None:
    _, password = apps_for({"password": "first"})
    domu(password, SAVED)
    password.model.password = "second"
    assert domu(password, SEND) == (200, "second")


@pytest.mark.parametrize("request_type", [None, "", "SEND_MY_PASSWORD", "send_my_password ", "x"])
def test_missing_or_unknown_domu_request_is_a_bad_request(request_type: str | None) -> None:
    _, password = apps_for({"password": "Pw-1"})
    assert domu(password, request_type) == (200, "bad_request")
    # Nothing was handed out or consumed.
    assert password.model.password == "Pw-1"
    assert password.model.password_requests == [(request_type, "bad_request")]


def test_header_name_is_case_insensitive_as_in_http() -> None:
    _, password = apps_for({"password": "Pw-1"})
    response = get(password, "/", {"domu_request": SEND})
    assert response.body == b"Pw-1"


def test_the_password_server_ignores_the_path() -> None:
    _, password = apps_for({"password": "Pw-1"})
    assert get(password, "/anything/at/all", {"DomU_Request": SEND}).body == b"Pw-1"


def test_a_guest_may_not_post_a_password() -> None:
    _, password = apps_for({"password": "Pw-1"})
    assert call(password, "POST", "/", {"DomU_Request": SAVED}).status == 403
    assert password.model.password == "Pw-1"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD"])
def test_other_methods_are_unsupported(method: str) -> None:
    _, password = apps_for({"password": "Pw-1"})
    assert call(password, method, "/", {"DomU_Request": SEND}).status == 501


def test_password_server_over_a_real_socket() -> None:
    _, password = apps_for({"password": "Pw-socket"})
    with LoopbackServer(password) as server:
        request = urllib.request.Request(server.url, headers={"DomU_Request": SEND})
        with urllib.request.urlopen(request) as reply:
            assert reply.read() == b"Pw-socket"
        with urllib.request.urlopen(server.url) as reply:
            assert reply.read() == b"bad_request"
    assert password.model.password_requests == [(SEND, "Pw-socket"), (None, "bad_request")]


# --- schema ------------------------------------------------------------------------------------


def write_scenario(tmp_path: Path, cloud: dict[str, Any]) -> Path:
    scenario = {
        "description": "schema check",
        "cloud": cloud,
        "agent": {"options": {"DEFAULT": {"plugins": []}}},
        "expect": {"boots": 1, "metadata_service": "CloudStack"},
    }
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(scenario))
    return path


def test_schema_is_draft_2020_12_and_closed() -> None:
    schema = cloud_schema("cloudstack")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False


def test_schema_accepts_every_documented_key(tmp_path: Path) -> None:
    load_scenario(
        write_scenario(
            tmp_path,
            {
                "type": "cloudstack",
                "base_url": "http://10.1.1.1/",
                "password_server_port": 8080,
                "meta_data": {"instance-id": "i-1"},
                "user_data": None,
                "password": None,
                "password_saved": True,
            },
        )
    )


@pytest.mark.parametrize(
    ("cloud", "field"),
    [
        ({"type": "cloudstack", "metadata": {}}, "cloud"),
        ({"type": "cloudstack", "base_url": "http://10.1.1.1"}, "cloud.base_url"),
        ({"type": "cloudstack", "dhcp_server": "router"}, "cloud.dhcp_server"),
        ({"type": "cloudstack", "meta_data": {"instance-id": 1}}, "cloud.meta_data.instance-id"),
        ({"type": "cloudstack", "password_server_port": 0}, "cloud.password_server_port"),
        ({"type": "cloudstack", "base_url": "http://a/", "dhcp_server": "10.0.0.1"}, "cloud"),
        ({"type": "cloudstack", "password": "x", "password_file": "p"}, "cloud"),
    ],
)
def test_schema_refuses_bad_keys(tmp_path: Path, cloud: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(tmp_path, cloud))
    assert caught.value.field == field
