"""The agent's PacketService against the simulated Packet metadata and phone-home endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.packet import PacketService
from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.plugins.setuserpassword import encrypt_password
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.clouds.packet import (
    PacketMetadataCloud,
    PacketModel,
    PacketPhoneHomeCloud,
    build,
)
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import Machine
from guestsim.simulator.trace import Trace
from tests.builders import FIXTURES, PLUGIN, public_key, serving, standalone_osutils

PACKET_SERVICE = "cloudbaseinit.metadata.services.packet.PacketService"
INSTANCE_ID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
PHONE_HOME = "http://tinkerbell.sim.test/phone-home"


def metadata(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": INSTANCE_ID,
        "hostname": "metal-07",
        "ssh_keys": [public_key()],
        "phone_home_url": PHONE_HOME,
        "facility": "sim1",
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


class RecordingPhoneHome(PacketPhoneHomeCloud):
    """The phone-home fake, also keeping each request's headers."""

    def __init__(self, model: PacketModel, phone_home_url: str) -> None:
        super().__init__(model, phone_home_url)
        self.headers: list[Mapping[str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.headers.append(request.headers)
        return super().handle(request)


@dataclass
class Packet:
    model: PacketModel
    metadata_app: PacketMetadataCloud
    phone_home: RecordingPhoneHome

    @property
    def apps(self) -> list[CloudApp]:
        return [self.metadata_app, self.phone_home]


def packet(
    document: dict[str, Any] | None = None,
    userdata: bytes | None = b"#ps1_sysnative\r\nhostname\r\n",
    key: str | None = None,
) -> Packet:
    model = PacketModel(
        metadata=metadata() if document is None else document,
        userdata=userdata,
        phone_home_key=public_key() if key is None else key,
    )
    return Packet(model, PacketMetadataCloud(model), RecordingPhoneHome(model, PHONE_HOME))


@dataclass
class Agent:
    service: PacketService
    sleeps: list[float] = field(default_factory=list)


def agent(options: Mapping[str, Mapping[str, Any]] | None = None) -> Agent:
    sleeps: list[float] = []

    osutils = standalone_osutils(sleeps)
    conf = config_from_options(options or {}, "test")
    return Agent(PacketService(AgentContext(conf=conf, osutils=osutils)), sleeps)


def calls(trace: Trace) -> list[tuple[str, str, Any]]:
    return [(e.get("method"), e.get("url"), e.get("status")) for e in trace.of_kind("http")]


def decrypt(ciphertext_b64: str) -> str:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.decrypt(base64.b64decode(ciphertext_b64, validate=True), padding.PKCS1v15()).decode()


# --- loading and the metadata getters ----------------------------------------------------


def test_loads_from_the_metadata_document_over_https() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load() is True
    assert calls(trace) == [("GET", "https://metadata.packet.net/metadata", 200)]
    assert a.service.get_name() == "PacketService"
    assert a.sleeps == []


def test_getters_read_id_hostname_keys_and_userdata() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load()
        assert a.service.get_instance_id() == INSTANCE_ID
        assert a.service.get_host_name() == "metal-07"
        assert a.service.get_public_keys() == [public_key()]
        assert a.service.get_user_data() == b"#ps1_sysnative\r\nhostname\r\n"
    # One metadata read (cached) plus the user data.
    assert calls(trace) == [
        ("GET", "https://metadata.packet.net/metadata", 200),
        ("GET", "https://metadata.packet.net/userdata", 200),
    ]


def test_defaults_for_what_packet_does_not_provide() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.get_admin_username() is None
        assert a.service.get_admin_password() is None
        assert a.service.get_client_auth_certs() is None
        assert a.service.can_update_password is False


def test_bundled_documents_load_by_default() -> None:
    apps = build(DocumentSource("packet", {}))
    a = agent()
    with serving(apps):
        assert a.service.load()
        assert a.service.get_instance_id() == "3f7c2a1e-5b8d-4c6e-9a0f-1d2e3c4b5a69"
        assert a.service.get_host_name() == "sim-metal-01"
        assert a.service.get_public_keys() == [public_key()]
        assert a.service.get_user_data() == (FIXTURES / "clouds/packet/userdata").read_bytes()
        assert a.service.get_user_pwd_encryption_key() == public_key()


def test_public_keys_are_stripped_and_deduplicated_in_first_seen_order() -> None:
    keys = [" ssh-rsa AAAAb b@x\n", "ssh-rsa AAAAa a@x", "ssh-rsa AAAAb b@x", "ssh-rsa AAAAa a@x "]
    cloud, a = packet(metadata(ssh_keys=keys)), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.get_public_keys() == ["ssh-rsa AAAAb b@x", "ssh-rsa AAAAa a@x"]


@pytest.mark.parametrize("keys", [None, []])
def test_missing_or_empty_ssh_keys_mean_no_keys(keys: list[str] | None) -> None:
    document = metadata(ssh_keys=None)
    if keys is not None:
        document["ssh_keys"] = keys
    cloud, a = packet(document), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.get_public_keys() == []


def test_missing_id_and_hostname_are_none() -> None:
    cloud, a = packet(metadata(id=None, hostname=None)), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.get_instance_id() is None
        assert a.service.get_host_name() is None


def test_missing_userdata_is_not_existing() -> None:
    cloud, a = packet(userdata=None), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_user_data()
    assert calls(trace)[-1] == ("GET", "https://metadata.packet.net/userdata", 404)
    assert a.sleeps == []


# --- failures and quirks of load() -------------------------------------------------------


def test_nothing_listening_at_the_metadata_host_costs_six_attempts() -> None:
    a = agent()
    with serving([]) as trace:
        assert a.service.load() is False
    assert calls(trace) == [("GET", "https://metadata.packet.net/metadata", None)] * 6
    assert {e.get("error") for e in trace.of_kind("http")} == {"refused"}
    assert a.sleeps == [4.0] * 5


def test_server_errors_are_retried_then_load_fails() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps, [Fault(path="/metadata", status=502)]) as trace:
        assert a.service.load() is False
    assert [status for _, _, status in calls(trace)] == [502] * 6
    assert a.sleeps == [4.0] * 5


def test_not_found_metadata_is_not_retried() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps, [Fault(path="/metadata", status=404)]) as trace:
        assert a.service.load() is False
    assert len(calls(trace)) == 1
    assert a.sleeps == []


def test_an_empty_document_loads_but_every_getter_then_fails() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps, [Fault(path="/metadata", body="empty")]):
        assert a.service.load() is True
        with pytest.raises(ValueError):
            a.service.get_instance_id()
        with pytest.raises(ValueError):
            a.service.get_host_name()


def test_a_truncated_json_document_does_not_load() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps, [Fault(path="/metadata", body="truncated")]) as trace:
        assert a.service.load() is False
    # A parse error is not retried: the fetch itself succeeded (and was cached).
    assert len(calls(trace)) == 1


def test_an_undecodable_document_loads_like_an_empty_one() -> None:
    # Quirk: non-UTF-8 bytes decode to None, which load() takes for an empty document.
    cloud, a = packet(), agent()
    with serving(cloud.apps, [Fault(path="/metadata", body="malformed")]):
        assert a.service.load() is True
        with pytest.raises(ValueError):
            a.service.get_instance_id()


def test_metadata_base_url_comes_from_the_packet_group() -> None:
    model = PacketModel(metadata=metadata())
    app = PacketMetadataCloud(model, "http://10.0.0.2/packet/")
    a = agent({"packet": {"metadata_base_url": "http://10.0.0.2/packet/"}})
    with serving([app]) as trace:
        assert a.service.load()
        assert a.service.get_instance_id() == INSTANCE_ID
    assert calls(trace) == [("GET", "http://10.0.0.2/packet/metadata", 200)]


def test_tls_verification_is_inverted_by_default_as_upstream() -> None:
    # Quirk: https_allow_insecure=False (the default) is handed over as verify=False.
    assert agent().service._verify() is False
    assert agent({"packet": {"https_allow_insecure": True}}).service._verify() is True
    bundle = agent({"packet": {"https_ca_bundle": "C:\\certs\\ca.pem"}}).service._verify()
    assert bundle == "C:\\certs\\ca.pem"


# --- phone-home: key, password, provisioning ---------------------------------------------


def test_the_encryption_key_comes_from_the_phone_home_key_url() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load()
        assert a.service.get_user_pwd_encryption_key() == public_key()
        assert a.service.get_user_pwd_encryption_key() == public_key()
    assert calls(trace)[1:] == [("GET", f"{PHONE_HOME}/key", 200)]


def test_the_key_is_fetched_even_when_the_instance_has_other_ssh_keys() -> None:
    other = "ssh-rsa AAAAother other@example"
    cloud, a = packet(metadata(ssh_keys=[other])), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.get_public_keys() == [other]
        assert a.service.get_user_pwd_encryption_key() == public_key()


def test_password_posting_is_always_possible_and_never_already_set() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps):
        assert a.service.load()
        assert a.service.can_post_password is True
        assert a.service.is_password_set is False


def test_post_password_sends_json_without_content_type_to_phone_home() -> None:
    cloud, a = packet(), agent()
    encrypted = encrypt_password(public_key(), "Sim-Passw0rd!")
    with serving(cloud.apps) as trace:
        assert a.service.load()
        assert a.service.post_password(encrypted) is True
    assert calls(trace)[-1] == ("POST", PHONE_HOME, 200)
    (request,) = [r for r in cloud.phone_home.requests if r.method == "POST"]
    assert json.loads(request.body) == {"password": encrypted.decode()}
    (headers,) = [h for h in cloud.phone_home.headers if "Content-Length" in h]
    assert not any(name.lower() == "content-type" for name in headers)
    assert cloud.model.posted_password == encrypted.decode()
    assert decrypt(cloud.model.posted_password) == "Sim-Passw0rd!"
    assert cloud.model.provisioning_completed is False


def test_provisioning_completed_posts_no_body_to_phone_home() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load()
        a.service.provisioning_completed()
    assert calls(trace)[-1] == ("POST", PHONE_HOME, 200)
    assert [(r.method, r.body) for r in cloud.phone_home.requests] == [("POST", b"")]
    assert cloud.model.provisioning_completed is True
    assert cloud.model.posted_password is None


def test_provisioning_started_and_failed_report_nothing() -> None:
    cloud, a = packet(), agent()
    with serving(cloud.apps):
        assert a.service.load()
        a.service.provisioning_started()
        a.service.provisioning_failed()
    assert cloud.phone_home.requests == []


def test_a_failing_password_post_is_retried_then_raises_the_raw_http_error() -> None:
    cloud, a = packet(), agent()
    encrypted = encrypt_password(public_key(), "x")
    with serving(cloud.apps, [Fault(path="/phone-home", method="POST", status=500)]) as trace:
        assert a.service.load()
        with pytest.raises(requests.HTTPError):
            a.service.post_password(encrypted)
    assert [c for c in calls(trace) if c[0] == "POST"] == [("POST", PHONE_HOME, 500)] * 6
    assert a.sleeps == [4.0] * 5


def test_a_404_on_the_phone_home_post_is_retried_too() -> None:
    # Unlike reads, posts do not treat 404 as "absent": it is an error like any other.
    cloud, a = packet(), agent({"DEFAULT": {"retry_count": 1}})
    with serving(cloud.apps, [Fault(path="/phone-home", method="POST", status=404)]):
        assert a.service.load()
        with pytest.raises(requests.HTTPError):
            a.service.provisioning_completed()
    assert a.sleeps == [4.0]


def test_phone_home_on_the_metadata_host_is_served_by_one_app() -> None:
    document = metadata(phone_home_url="https://metadata.packet.net/phone-home")
    apps = build(DocumentSource("packet", {"metadata": document}))
    assert len(apps) == 1
    a = agent()
    with serving(apps) as trace:
        assert a.service.load()
        a.service.post_password(
            encrypt_password(a.service.get_user_pwd_encryption_key() or "", "p")
        )
        a.service.provisioning_completed()
    assert calls(trace)[1:] == [
        ("GET", "https://metadata.packet.net/phone-home/key", 200),
        ("POST", "https://metadata.packet.net/phone-home", 200),
        ("POST", "https://metadata.packet.net/phone-home", 200),
    ]


def test_without_phone_home_url_the_key_url_resolves_under_the_base_url() -> None:
    # Quirk: the missing URL becomes the text "None", joined to the metadata base URL.
    cloud, a = packet(metadata(phone_home_url=None)), agent()
    with serving(cloud.apps) as trace:
        assert a.service.load()
        with pytest.raises(NotExistingMetadataException):
            a.service.get_user_pwd_encryption_key()
    assert calls(trace)[-1] == ("GET", "https://metadata.packet.net/None/key", 404)


# --- a whole guest -----------------------------------------------------------------------


def _machine(options: dict[str, Any]) -> tuple[Machine, PacketModel]:
    apps = build(DocumentSource("packet", {}))
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [PACKET_SERVICE],
                "plugins": [PLUGIN["createuser"], PLUGIN["password"]],
                **options,
            }
        },
        "test",
    )
    model = apps[0].model  # type: ignore[attr-defined]
    assert isinstance(model, PacketModel)
    return Machine(conf, clouds=apps), model


def test_guest_posts_the_admin_password_and_reports_completion() -> None:
    machine, model = _machine({"metadata_report_provisioning_completed": True})
    result = machine.run()

    admin = result.state.find_user("Admin")
    assert admin is not None and admin.password
    assert model.posted_password is not None
    assert decrypt(model.posted_password) == admin.password
    assert (model.password_posts, model.completion_reports) == (1, 1)
    kinds = [e.kind for e in result.trace.of_kind("plugin_end", "provisioning_report")]
    assert kinds == ["plugin_end", "plugin_end", "provisioning_report"]


def test_guest_without_the_completion_option_reports_nothing() -> None:
    machine, model = _machine({})
    machine.run()
    assert model.password_posts == 1
    assert model.provisioning_completed is False


def test_an_injected_metadata_password_is_not_a_packet_feature() -> None:
    # Packet has no admin password in metadata: the CreateUser password is posted.
    machine, model = _machine({"inject_user_password": True})
    result = machine.run()
    admin = result.state.find_user("Admin")
    assert admin is not None and model.posted_password is not None
    assert decrypt(model.posted_password) == admin.password
    assert admin.password_expired is False
