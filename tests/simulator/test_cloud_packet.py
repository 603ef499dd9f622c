"""The simulated Packet metadata service and phone-home endpoint: their own contract."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from guestsim.simulator.clouds import build_clouds, cloud_schema
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.packet import (
    DEFAULT_BASE_URL,
    PacketMetadataCloud,
    PacketModel,
    PacketPhoneHomeCloud,
    build,
)
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport, LoopbackServer
from tests.builders import FIXTURES, public_key

SCENARIO = bundled("scenarios") / "clouds" / "packet-happy-path.yaml"
PHONE_HOME = "http://tinkerbell.sim.test/phone-home"


def model(**overrides: Any) -> PacketModel:
    values: dict[str, Any] = {
        "metadata": {"id": "dev-1", "hostname": "metal-01", "phone_home_url": PHONE_HOME},
        "userdata": b"#ps1_sysnative\r\nhostname\r\n",
        "phone_home_key": public_key(),
    }
    values.update(overrides)
    return PacketModel(**values)


def call(app: CloudApp, method: str, path: str, body: bytes = b"") -> SimResponse:
    return app.handle(SimRequest(method, f"{app.base_url.rstrip('/')}{path}", path, {}, body))


def decrypt(ciphertext_b64: str) -> str:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.decrypt(base64.b64decode(ciphertext_b64, validate=True), padding.PKCS1v15()).decode()


# --- metadata service --------------------------------------------------------------------


def test_metadata_is_the_json_document() -> None:
    m = model()
    response = call(PacketMetadataCloud(m), "GET", "/metadata")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == m.metadata


def test_userdata_is_raw_bytes_or_404() -> None:
    response = call(PacketMetadataCloud(model()), "GET", "/userdata")
    assert (response.status, response.body) == (200, b"#ps1_sysnative\r\nhostname\r\n")
    assert call(PacketMetadataCloud(model(userdata=None)), "GET", "/userdata").status == 404


@pytest.mark.parametrize("path", ["/", "/metadata/id", "/user-data", "/phone-home", "/2009-04-04/"])
def test_other_paths_on_the_metadata_host_are_404(path: str) -> None:
    assert call(PacketMetadataCloud(model()), "GET", path).status == 404


def test_metadata_is_read_only() -> None:
    assert call(PacketMetadataCloud(model()), "POST", "/metadata", b"{}").status == 405


# --- phone-home --------------------------------------------------------------------------


def test_phone_home_lives_on_its_own_host() -> None:
    app = PacketPhoneHomeCloud(model(), PHONE_HOME)
    assert app.base_url == "http://tinkerbell.sim.test/"


def test_key_is_served_below_the_phone_home_url() -> None:
    app = PacketPhoneHomeCloud(model(), PHONE_HOME)
    response = call(app, "GET", "/phone-home/key")
    assert (response.status, response.body.decode()) == (200, public_key())
    no_key = PacketPhoneHomeCloud(model(phone_home_key=None), PHONE_HOME)
    assert call(no_key, "GET", "/phone-home/key").status == 404


def test_a_post_with_a_password_body_records_the_password() -> None:
    m = model()
    app = PacketPhoneHomeCloud(m, PHONE_HOME)
    response = call(app, "POST", "/phone-home", b'{"password": "c2VjcmV0"}')
    assert response.status == 200
    assert (m.posted_password, m.password_posts) == ("c2VjcmV0", 1)
    assert m.provisioning_completed is False


def test_a_post_without_a_body_reports_provisioning_completed() -> None:
    m = model()
    app = PacketPhoneHomeCloud(m, PHONE_HOME)
    assert call(app, "POST", "/phone-home").status == 200
    assert (m.provisioning_completed, m.completion_reports) == (True, 1)
    assert m.posted_password is None


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"pass": "x"}', b'{"password": 5}', b'{"password": ""}']
)
def test_a_post_with_a_body_that_is_not_a_password_is_refused(body: bytes) -> None:
    m = model()
    app = PacketPhoneHomeCloud(m, PHONE_HOME)
    assert call(app, "POST", "/phone-home", body).status == 400
    assert m.posted_password is None and m.provisioning_completed is False
    assert m.rejected_posts == [body]


def test_phone_home_methods_and_paths() -> None:
    app = PacketPhoneHomeCloud(model(), PHONE_HOME)
    assert call(app, "GET", "/phone-home").status == 405
    assert call(app, "POST", "/phone-home/key").status == 405
    assert call(app, "GET", "/elsewhere").status == 404
    # The trailing-slash spelling of the URL is the same endpoint.
    assert call(app, "POST", "/phone-home/").status == 200


def test_both_posts_are_recorded_with_their_bodies() -> None:
    app = PacketPhoneHomeCloud(model(), PHONE_HOME)
    call(app, "POST", "/phone-home", b'{"password": "YQ=="}')
    call(app, "POST", "/phone-home")
    assert [(r.method, r.path, r.status, r.body) for r in app.requests] == [
        ("POST", "/phone-home", 200, b'{"password": "YQ=="}'),
        ("POST", "/phone-home", 200, b""),
    ]


def test_https_metadata_and_http_phone_home_through_the_transport() -> None:
    m = model()
    apps: list[CloudApp] = [PacketMetadataCloud(m), PacketPhoneHomeCloud(m, PHONE_HOME)]
    with InProcessTransport(Gateway(apps, Trace())).serving():
        document = requests.get("https://metadata.packet.net/metadata").json()
        key = requests.get(f"{PHONE_HOME}/key").text
        posted = requests.post(PHONE_HOME, data=json.dumps({"password": "cA=="}))
        done = requests.post(PHONE_HOME)
    assert document["id"] == "dev-1" and key == public_key()
    assert (posted.status_code, done.status_code) == (200, 200)
    assert (m.posted_password, m.provisioning_completed) == ("cA==", True)


def test_loopback_serves_plain_http() -> None:
    with LoopbackServer(PacketMetadataCloud(model())) as server:
        response = requests.get(f"{server.url}metadata", timeout=5)
    assert response.json()["hostname"] == "metal-01"


# --- building and the scenario schema ----------------------------------------------------


def test_build_serves_the_bundled_documents_on_two_hosts() -> None:
    metadata_app, phone_home = build_clouds(DocumentSource("packet", {}))
    assert isinstance(metadata_app, PacketMetadataCloud)
    assert isinstance(phone_home, PacketPhoneHomeCloud)
    assert metadata_app.base_url == DEFAULT_BASE_URL == "https://metadata.packet.net/"
    assert phone_home.base_url == "http://tinkerbell.sim.test/"
    assert metadata_app.model is phone_home.model
    bundled_doc = json.loads((FIXTURES / "clouds/packet/metadata.json").read_text())
    assert metadata_app.model.metadata == bundled_doc
    assert metadata_app.model.metadata["ssh_keys"] == [public_key()]
    assert metadata_app.model.phone_home_key == public_key()


def test_build_without_phone_home_url_has_only_the_metadata_service() -> None:
    apps = build(DocumentSource("packet", {"metadata": {"id": "x"}}))
    assert [type(app) for app in apps] == [PacketMetadataCloud]


def test_build_takes_inline_key_userdata_and_base_url() -> None:
    apps = build(
        DocumentSource(
            "packet",
            {
                "base_url": "http://10.0.0.2/",
                "metadata": {"id": "x", "phone_home_url": "http://10.0.0.3:8080/ph"},
                "userdata": None,
                "phone_home_key": "ssh-rsa AAAAinline inline@example\n",
            },
        )
    )
    metadata_app, phone_home = apps
    assert isinstance(metadata_app, PacketMetadataCloud)
    assert metadata_app.base_url == "http://10.0.0.2/"
    assert phone_home.base_url == "http://10.0.0.3:8080/"
    assert metadata_app.model.userdata is None
    assert call(phone_home, "GET", "/ph/key").body == b"ssh-rsa AAAAinline inline@example"


def test_the_schema_accepts_the_documented_keys() -> None:
    schema = cloud_schema("packet")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(
        {
            "type": "packet",
            "base_url": "https://metadata.packet.net/",
            "metadata": {"id": "x", "ssh_keys": [public_key()], "phone_home_url": PHONE_HOME},
            "userdata": "#ps1",
            "phone_home_key": public_key(),
        },
        schema,
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "packet", "password": "x"},
        {"type": "packet", "metadata": {"ssh_keys": "ssh-rsa AAAA"}},
        {"type": "packet", "metadata": {"phone_home_url": "tinkerbell/phone-home"}},
        {"type": "packet", "userdata": "x", "userdata_file": "u"},
    ],
)
def test_the_schema_rejects_unknown_or_conflicting_keys(spec: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, cloud_schema("packet"))


# --- the bundled scenario ----------------------------------------------------------------


def test_happy_path_posts_the_admin_password_encrypted_with_the_phone_home_key() -> None:
    outcome = run_scenario(load_scenario(SCENARIO))
    assert outcome.failures == []
    metadata_app = outcome.result.clouds[0]
    assert isinstance(metadata_app, PacketMetadataCloud)
    m = metadata_app.model
    assert m.posted_password is not None
    admin = outcome.result.state.find_user("Admin")
    assert admin is not None and admin.password
    assert decrypt(m.posted_password) == admin.password
    assert (m.password_posts, m.provisioning_completed, m.completion_reports) == (1, True, 1)
    # The password is posted on the boot after the host name reboot, before completion.
    posts = [e for e in outcome.result.trace.of_kind("http") if e.get("method") == "POST"]
    assert [e.boot for e in posts] == [2, 2]


def test_happy_path_gives_the_same_trace_on_loopback() -> None:
    scenario = load_scenario(SCENARIO)
    in_process = run_scenario(scenario)
    loopback = run_scenario(scenario, transport="loopback")
    assert loopback.failures == []
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()
    metadata_app = loopback.result.clouds[0]
    assert isinstance(metadata_app, PacketMetadataCloud)
    posted = metadata_app.model.posted_password
    admin = loopback.result.state.find_user("Admin")
    assert posted is not None and admin is not None
    assert decrypt(posted) == admin.password
