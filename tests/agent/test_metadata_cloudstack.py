"""The CloudStack metadata service against the simulated virtual router.

The agent's service talks through ``requests`` to the simulated metadata and password
servers (served in-process by the gateway, or over a real socket where the point is a
socket timeout). Assertions are on what the service returns, what the router saw and
what the trace recorded; whole-machine tests check the guest's final state.
"""

from __future__ import annotations

import gzip
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata import cloudstack as agent_cloudstack
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.cloudstack import CloudStack, PasswordServerError
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, text
from guestsim.simulator.clouds.cloudstack import (
    CloudStackMetadata,
    CloudStackModel,
    CloudStackPasswordServer,
    password_server_url,
)
from guestsim.simulator.faults import Fault, FaultPlan
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import NetworkAdapter, WindowsState
from tests.builders import PLUGIN, public_key

SERVICE_PATH = "cloudbaseinit.metadata.services.cloudstack.CloudStack"
BASE_URL = "http://10.1.1.1/"
PASSWORD_URL = "http://10.1.1.1:8080/"
INSTANCE_ID = "0c6f2a9e-3b71-4d58-a2e4-7f1b9d0c5e83"
PASSWORD = "Cs-pending-9qT4wZ"
SEND = "send_my_password"
SAVED = "saved_password"


def documents(**overrides: str) -> dict[str, str]:
    meta: dict[str, str] = {
        "service-offering": "Small Instance",
        "availability-zone": "zone-1",
        "instance-id": INSTANCE_ID,
        "vm-id": INSTANCE_ID,
        "local-hostname": "win-db-02",
        "local-ipv4": "10.1.1.42",
        "public-keys": public_key(),
    }
    meta.update(overrides)
    return meta


def router(
    meta: dict[str, str] | None = None,
    *,
    user_data: bytes | None = b"#ps1\nWrite-Host hi\n",
    password: str | None = PASSWORD,
    password_saved: bool = False,
    base_url: str = BASE_URL,
    port: int = 8080,
) -> tuple[CloudStackModel, list[CloudApp]]:
    model = CloudStackModel(
        meta_data=documents() if meta is None else meta,
        user_data=user_data,
        password=password,
        password_saved=password_saved,
    )
    apps: list[CloudApp] = [
        CloudStackMetadata(model, base_url),
        CloudStackPasswordServer(model, password_server_url(base_url, port)),
    ]
    return model, apps


@dataclass
class Guest:
    """An agent-side context on a fake Windows, plus what the network saw."""

    context: AgentContext
    trace: Trace
    sleeps: list[float] = field(default_factory=list)

    def service(self) -> CloudStack:
        return CloudStack(self.context)

    def urls(self) -> list[tuple[str, Any]]:
        return [(e.get("url"), e.get("status")) for e in self.trace.of_kind("http")]


def guest(
    options: dict[str, dict[str, Any]] | None = None, state: WindowsState | None = None
) -> Guest:
    trace = Trace()
    sleeps: list[float] = []

    def refuse(*_: Any) -> Any:
        raise AssertionError("not expected from a metadata service")

    hooks = MachineHooks(
        sleep=sleeps.append, reboot=refuse, service_stopped=refuse, run_as_user=refuse
    )
    osutils = FakeOSUtils(state or default_windows_state(), trace, random.Random(0), hooks)
    conf = config_from_options(options or {}, "test")
    return Guest(AgentContext(conf=conf, osutils=osutils), trace, sleeps)


@contextmanager
def serving(g: Guest, apps: Sequence[CloudApp], faults: Sequence[Fault] = ()) -> Iterator[None]:
    with InProcessTransport(Gateway(apps, g.trace, FaultPlan(faults))).serving():
        yield


def loaded(g: Guest, apps: Sequence[CloudApp]) -> CloudStack:
    service = g.service()
    with serving(g, apps):
        assert service.load() is True
    return service


class ScriptedPasswordServer(CloudApp):
    """A password server that answers a fixed script of (status, body), then 'bad_request'."""

    name = "scripted-password"

    def __init__(self, script: Sequence[tuple[int, str]], base_url: str = PASSWORD_URL) -> None:
        super().__init__(base_url)
        self.script = list(script)
        self.seen: list[str | None] = []
        self.route("GET", "/", self._answer)

    def _answer(self, request: SimRequest) -> SimResponse:
        self.seen.append(request.header("DomU_Request"))
        status, body = self.script.pop(0) if self.script else (200, "bad_request")
        return text(body, status)


def with_scripted(
    script: Sequence[tuple[int, str]],
) -> tuple[list[CloudApp], ScriptedPasswordServer]:
    _, apps = router()
    scripted = ScriptedPasswordServer(script)
    return [apps[0], scripted], scripted


# --- identity and discovery --------------------------------------------------------------------


def test_name_is_the_upstream_class_name() -> None:
    assert guest().service().get_name() == "CloudStack"


def test_upstream_defaults_for_urls_and_capabilities() -> None:
    service = guest().service()
    assert service.base_url == BASE_URL
    assert service.password_server_url == PASSWORD_URL
    assert service.retries_enabled is False
    assert service.can_update_password is True
    # Everything CloudStack does not serve keeps the base-service answer.
    assert service.can_post_password is False
    assert service.is_password_set is False
    assert service.get_admin_username() is None
    assert service.get_client_auth_certs() is None
    assert service.get_kms_host() is None


def test_load_probes_service_offering_at_the_base_url() -> None:
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    assert g.urls() == [(f"{BASE_URL}latest/meta-data/service-offering", 200)]
    assert service.base_url == BASE_URL
    assert service.password_server_url == PASSWORD_URL
    assert g.sleeps == []


def test_the_factory_selects_cloudstack() -> None:
    g = guest({"DEFAULT": {"metadata_services": [SERVICE_PATH]}})
    _, apps = router()
    with serving(g, apps):
        service = get_metadata_service(g.context)
    assert isinstance(service, CloudStack)


def test_configured_base_url_and_password_port() -> None:
    g = guest(
        {
            "cloudstack": {
                "metadata_base_url": "http://192.0.2.1/",
                "password_server_port": 8081,
            }
        }
    )
    model, apps = router(base_url="http://192.0.2.1/", port=8081)
    service = loaded(g, apps)
    assert service.password_server_url == "http://192.0.2.1:8081/"
    with serving(g, apps):
        assert service.get_admin_password() == PASSWORD
    assert [kind for kind, _ in model.password_requests] == [SEND, SAVED]


def test_deprecated_default_group_option_sets_the_base_url() -> None:
    g = guest({"DEFAULT": {"cloudstack_metadata_ip": "http://192.0.2.9/"}})
    _, apps = router(base_url="http://192.0.2.9/")
    service = loaded(g, apps)
    assert service.password_server_url == "http://192.0.2.9:8080/"


def two_dhcp_adapters() -> WindowsState:
    state = default_windows_state()
    state.adapters = [
        NetworkAdapter("Ethernet", "52:54:00:00:00:01", "10.0.0.15", dhcp_server="10.0.0.1"),
        NetworkAdapter("Static", "52:54:00:00:00:02", "192.168.9.5", dhcp_enabled=False),
        NetworkAdapter(
            "Off", "52:54:00:00:00:03", "10.9.0.5", dhcp_server="10.9.0.1", enabled=False
        ),
        NetworkAdapter("Guest", "52:54:00:00:00:04", "10.20.0.15", dhcp_server="10.20.0.1"),
    ]
    return state


def test_load_falls_back_to_each_dhcp_server_and_the_password_host_follows() -> None:
    g = guest(state=two_dhcp_adapters())
    model, apps = router(base_url="http://10.20.0.1/")
    service = loaded(g, apps)
    assert g.urls() == [
        ("http://10.1.1.1/latest/meta-data/service-offering", None),
        ("http://10.0.0.1/latest/meta-data/service-offering", None),
        ("http://10.20.0.1/latest/meta-data/service-offering", 200),
    ]
    assert service.base_url == "http://10.20.0.1/"
    assert service.password_server_url == "http://10.20.0.1:8080/"
    with serving(g, apps):
        assert service.get_instance_id() == INSTANCE_ID
        assert service.get_admin_password() == PASSWORD
    assert [url for url, _ in g.urls()[3:]] == [
        "http://10.20.0.1/latest/meta-data/instance-id",
        "http://10.20.0.1:8080/",
        "http://10.20.0.1:8080/",
    ]
    assert [kind for kind, _ in model.password_requests] == [SEND, SAVED]


@pytest.mark.parametrize("status", [404, 500, 403])
def test_any_probe_failure_means_try_the_next_address(status: int) -> None:
    g = guest()  # the default adapter's DHCP server is 10.0.0.1
    _, apps = router(base_url="http://10.0.0.1/")
    apps.append(CloudStackMetadata(CloudStackModel(meta_data=documents()), BASE_URL))
    fault = Fault(path="/latest/meta-data/service-offering", host="10.1.1.1", status=status)
    service = g.service()
    with serving(g, apps, [fault]):
        assert service.load() is True
    assert g.urls() == [
        ("http://10.1.1.1/latest/meta-data/service-offering", status),
        ("http://10.0.0.1/latest/meta-data/service-offering", 200),
    ]
    assert service.password_server_url == "http://10.0.0.1:8080/"
    assert g.sleeps == []


def test_load_fails_without_retrying_when_nothing_answers() -> None:
    g = guest(state=two_dhcp_adapters())
    service = g.service()
    with serving(g, []):
        assert service.load() is False
    assert [url for url, _ in g.urls()] == [
        "http://10.1.1.1/latest/meta-data/service-offering",
        "http://10.0.0.1/latest/meta-data/service-offering",
        "http://10.20.0.1/latest/meta-data/service-offering",
    ]
    assert g.sleeps == []


def test_the_factory_moves_on_when_cloudstack_does_not_load() -> None:
    g = guest(
        {
            "DEFAULT": {
                "metadata_services": [
                    SERVICE_PATH,
                    "cloudbaseinit.metadata.services.base.EmptyMetadataService",
                ]
            }
        }
    )
    with serving(g, []):
        service = get_metadata_service(g.context)
    assert not isinstance(service, CloudStack)


# --- metadata getters --------------------------------------------------------------------------


def test_getters_field_by_field() -> None:
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_instance_id() == INSTANCE_ID
        assert service.get_host_name() == "win-db-02"
        assert service.get_public_keys() == [public_key()]
        assert service.get_user_pwd_encryption_key() == public_key()
        assert service.get_user_data() == b"#ps1\nWrite-Host hi\n"
        assert service.get_decoded_user_data() == b"#ps1\nWrite-Host hi\n"
    paths = [url.removeprefix(BASE_URL) for url, _ in g.urls()]
    assert paths == [
        "latest/meta-data/service-offering",
        "latest/meta-data/instance-id",
        "latest/meta-data/local-hostname",
        "latest/meta-data/public-keys",
        "latest/user-data",
    ]


def test_metadata_reads_are_cached_per_run() -> None:
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    with serving(g, apps):
        for _ in range(3):
            assert service.get_host_name() == "win-db-02"
            assert service.get_instance_id() == INSTANCE_ID
    assert len(g.urls()) == 3


def test_text_is_returned_as_served_not_stripped() -> None:
    # Upstream does not strip instance-id or local-hostname.
    g = guest()
    _, apps = router(documents(**{"instance-id": "i-2-14-VM\n", "local-hostname": " web \n"}))
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_instance_id() == "i-2-14-VM\n"
        assert service.get_host_name() == " web \n"


def test_undecodable_text_becomes_none() -> None:
    # The router serves text documents; invalid UTF-8 comes from a mangling fault.
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    fault = Fault(path="/latest/meta-data/local-hostname", body="malformed")
    with serving(g, apps, [fault]):
        assert service.get_host_name() is None


def test_public_keys_are_lines_stripped_without_blanks() -> None:
    second = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 second@host"
    g = guest()
    _, apps = router(documents(**{"public-keys": f"  {public_key()}  \r\n\n   \n{second}\n"}))
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_public_keys() == [public_key(), second]


def test_empty_public_keys_means_no_keys() -> None:
    g = guest()
    _, apps = router(documents(**{"public-keys": ""}))
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_public_keys() == []
        assert service.get_user_pwd_encryption_key() is None


def test_missing_public_keys_propagates_as_not_existing() -> None:
    meta = documents()
    del meta["public-keys"]
    g = guest()
    _, apps = router(meta)
    service = loaded(g, apps)
    with serving(g, apps), pytest.raises(NotExistingMetadataException):
        service.get_public_keys()


def test_missing_user_data_is_not_existing() -> None:
    g = guest()
    _, apps = router(user_data=None)
    service = loaded(g, apps)
    with serving(g, apps), pytest.raises(NotExistingMetadataException):
        service.get_user_data()
    assert g.urls()[-1] == (f"{BASE_URL}latest/user-data", 404)


def test_user_data_is_raw_bytes_and_gzip_is_opened_once() -> None:
    payload = b"#cloud-config\nhostname: gz\n\xff\x00"
    g = guest()
    _, apps = router(user_data=gzip.compress(payload))
    service = loaded(g, apps)
    with serving(g, apps):
        raw = service.get_user_data()
        assert raw is not None and raw[:2] == b"\x1f\x8b"
        assert service.get_decoded_user_data() == payload


def test_metadata_errors_are_not_retried() -> None:
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    fault = Fault(path="/latest/meta-data/instance-id", status=500)
    with serving(g, apps, [fault]), pytest.raises(requests.HTTPError):
        service.get_instance_id()
    assert g.urls()[1:] == [(f"{BASE_URL}latest/meta-data/instance-id", 500)]
    assert g.sleeps == []


# --- password server ---------------------------------------------------------------------------


def test_pending_password_is_sent_twice_then_acknowledged() -> None:
    g = guest()
    model, apps = router()
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.is_password_changed() is True
        assert service.get_admin_password() == PASSWORD
    assert model.password_requests == [(SEND, PASSWORD), (SEND, PASSWORD), (SAVED, SAVED)]
    assert model.password is None and model.password_saved is True
    assert [url for url, _ in g.urls()[1:]] == [PASSWORD_URL] * 3


def test_after_the_acknowledgement_one_send_answers_saved_password() -> None:
    g = guest()
    model, apps = router(password=None, password_saved=True)
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.is_password_changed() is False
        assert service.get_admin_password() is None
    # One request each: "saved_password" stops the loop; nothing to acknowledge.
    assert model.password_requests == [(SEND, SAVED), (SEND, SAVED)]


def test_no_pending_password_costs_retry_count_quick_sends() -> None:
    g = guest()
    model, apps = router(password=None)
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.is_password_changed() is False
    assert model.password_requests == [(SEND, "")] * 5
    assert g.sleeps == []


def test_retry_count_bounds_the_send_loop() -> None:
    g = guest({"DEFAULT": {"retry_count": 2}})
    model, apps = router(password=None)
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_admin_password() is None
    assert model.password_requests == [(SEND, "")] * 2


def test_empty_answers_are_asked_again_until_a_password_comes() -> None:
    g = guest()
    apps, scripted = with_scripted(
        [(200, ""), (200, "  \n"), (200, f"  {PASSWORD}\r\n"), (200, "ok")]
    )
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_admin_password() == PASSWORD
    assert scripted.seen == [SEND, SEND, SEND, SAVED]
    assert g.sleeps == []


@pytest.mark.parametrize("answer", ["bad_request", "saved_password", " saved_password\n"])
def test_bad_request_or_saved_password_stops_the_send_loop(answer: str) -> None:
    g = guest()
    apps, scripted = with_scripted([(200, answer)])
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.is_password_changed() is False
    assert scripted.seen == [SEND]


def test_a_non_200_answer_raises_at_once() -> None:
    g = guest()
    apps, scripted = with_scripted([(503, "busy"), (200, PASSWORD)])
    service = loaded(g, apps)
    with serving(g, apps), pytest.raises(PasswordServerError, match="503"):
        service.is_password_changed()
    assert scripted.seen == [SEND]


def test_a_redirect_is_not_followed_but_raises() -> None:
    g = guest()
    _, apps = router()
    scripted = ScriptedPasswordServer([(302, "")])
    service = loaded(g, [apps[0], scripted])
    with serving(g, [apps[0], scripted]), pytest.raises(PasswordServerError, match="302"):
        service.get_admin_password()


def test_a_refused_connection_is_tried_again_without_sleeping() -> None:
    g = guest()
    model, apps = router()
    service = loaded(g, apps)
    refused = Fault(path="/", host="10.1.1.1:8080", error="refused", first=2)
    with serving(g, apps, [refused]):
        assert service.get_admin_password() == PASSWORD
    errors = [e.get("error") for e in g.trace.of_kind("http")[1:]]
    assert errors == ["refused", "refused", None, None]
    assert model.password_requests == [(SEND, PASSWORD), (SAVED, SAVED)]
    assert g.sleeps == []


def test_a_password_server_that_never_accepts_means_no_password() -> None:
    g = guest()
    _, metadata_only = router()
    service = loaded(g, metadata_only[:1])
    with serving(g, metadata_only[:1]):
        assert service.is_password_changed() is False
    assert [e.get("error") for e in g.trace.of_kind("http")[1:]] == ["refused"] * 5
    assert g.sleeps == []


def test_acknowledgement_retries_bad_request_then_only_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = guest()
    apps, scripted = with_scripted([(200, PASSWORD)] + [(200, "bad_request")] * 5)
    service = loaded(g, apps)
    with serving(g, apps), caplog.at_level("WARNING", logger="guestsim.agent.metadata.cloudstack"):
        assert service.get_admin_password() == PASSWORD
    assert scripted.seen == [SEND] + [SAVED] * 5
    assert "did not acknowledge" in caplog.text


def test_acknowledgement_stops_at_the_first_answer_that_is_not_bad_request() -> None:
    g = guest()
    apps, scripted = with_scripted([(200, PASSWORD), (200, "bad_request"), (200, "")])
    service = loaded(g, apps)
    with serving(g, apps):
        assert service.get_admin_password() == PASSWORD
    assert scripted.seen == [SEND, SAVED, SAVED]


def test_password_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    g = guest()
    _, apps = router()
    service = loaded(g, apps)
    with serving(g, apps), caplog.at_level("DEBUG"):
        service.is_password_changed()
        service.get_admin_password()
    assert PASSWORD not in caplog.text


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[int]]]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    accepted: list[int] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)
            accepted.append(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_password_requests_time_out_and_a_timeout_is_not_retried(
    silent_server: tuple[int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert agent_cloudstack.PASSWORD_SERVER_TIMEOUT_S == 10
    # The same code path with a shorter fuse, against a real silent socket.
    monkeypatch.setattr(agent_cloudstack, "PASSWORD_SERVER_TIMEOUT_S", 0.3)
    port, accepted = silent_server
    service = guest().service()
    service.password_server_url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        service.is_password_changed()
    assert time.monotonic() - started < 5
    time.sleep(0.1)
    assert accepted == [1]


# --- whole machine: SetUserPasswordPlugin on CloudStack ------------------------------------


def cloudstack_machine(
    apps: Sequence[CloudApp],
    plugins: Sequence[str] = ("createuser", "password"),
    options: dict[str, Any] | None = None,
    state: WindowsState | None = None,
) -> Machine:
    defaults: dict[str, Any] = {
        "metadata_services": [SERVICE_PATH],
        "plugins": [PLUGIN[name] for name in plugins],
    }
    defaults.update(options or {})
    return Machine(config_from_options({"DEFAULT": defaults}, "test"), state=state, clouds=apps)


def admin_password(result: RunResult) -> str | None:
    admin = result.state.find_user("Admin")
    assert admin is not None
    return admin.password


def plugin_statuses(result: RunResult, plugin: str) -> list[Any]:
    return [
        e.get("status") for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin
    ]


def test_password_once_scenario_keeps_the_first_password() -> None:
    path = bundled("scenarios") / "clouds" / "cloudstack-password-once.yaml"
    scenario = load_scenario(path)
    original = scenario.data["cloud"]["password"]
    outcome = run_scenario(scenario)
    assert outcome.failures == []
    result = outcome.result
    assert admin_password(result) == original
    _, password_server = result.clouds
    assert isinstance(password_server, CloudStackPasswordServer)
    assert password_server.model.password_requests == [
        (SEND, original),
        (SEND, original),
        (SAVED, SAVED),
        (SEND, SAVED),
    ]
    # The password was set once, on boot 1, and never again.
    sets = [e for e in result.trace.of_kind("os") if e.get("call") == "set_user_password"]
    assert [e.boot for e in sets] == [1]
    assert plugin_statuses(result, "SetUserPasswordPlugin") == [2, 2]


def test_happy_path_admin_gets_the_fixture_password(fixtures_dir: Path) -> None:
    outcome = run_scenario(
        load_scenario(bundled("scenarios") / "clouds" / "cloudstack-happy-path.yaml")
    )
    assert outcome.failures == []
    pending = (fixtures_dir / "clouds" / "cloudstack" / "password").read_text().strip()
    assert admin_password(outcome.result) == pending


def test_dhcp_fallback_scenario_reaches_the_router_at_the_second_dhcp_server() -> None:
    outcome = run_scenario(
        load_scenario(bundled("scenarios") / "clouds" / "cloudstack-dhcp-fallback.yaml")
    )
    assert outcome.failures == []
    http = [(e.get("url"), e.get("status")) for e in outcome.result.trace.of_kind("http")]
    assert http[:3] == [
        ("http://10.1.1.1/latest/meta-data/service-offering", None),
        ("http://10.0.0.1/latest/meta-data/service-offering", None),
        ("http://10.20.0.1/latest/meta-data/service-offering", 200),
    ]
    assert {url for url, _ in http[3:]} == {
        "http://10.20.0.1/latest/meta-data/instance-id",
        "http://10.20.0.1/latest/meta-data/local-hostname",
        "http://10.20.0.1:8080/",
    }


def test_without_a_pending_password_admin_keeps_the_created_password() -> None:
    model, apps = router(password=None)
    result = cloudstack_machine(apps).run()
    created = [
        e
        for e in result.trace.of_kind("os")
        if e.get("call") in ("create_user", "set_user_password")
    ]
    assert [e.get("call") for e in created] == ["create_user"]
    assert admin_password(result)
    assert model.password_requests == [(SEND, "")] * 5
    assert plugin_statuses(result, "SetUserPasswordPlugin") == [2]


def test_a_password_set_later_is_picked_up_on_the_next_boot() -> None:
    # "Reset password" in CloudStack while the VM is off: the next power-on applies it.
    model, apps = router(password=None)
    first = cloudstack_machine(apps).run()
    created = admin_password(first)
    model.password = "Reset-By-Operator-1"
    second = cloudstack_machine(apps, state=first.state).run()
    assert admin_password(second) == "Reset-By-Operator-1" != created
    assert model.password is None and model.password_saved is True
    assert plugin_statuses(second, "CreateUserPlugin") == []


def test_without_injection_the_password_is_fetched_once_per_boot_and_never_acknowledged() -> None:
    # Upstream quirk: with inject_user_password False, is_password_changed still sees
    # the pending password, so every boot sets a fresh (non-injected) password and the
    # router is never told the password was saved.
    model, apps = router(documents(**{"local-hostname": "win-other"}))
    result = cloudstack_machine(
        apps,
        plugins=("createuser", "password", "hostname"),
        options={"inject_user_password": False, "allow_reboot": True},
    ).run()
    assert result.boot_count == 2
    assert model.password_requests == [(SEND, PASSWORD), (SEND, PASSWORD)]
    assert model.password == PASSWORD
    sets = [e for e in result.trace.of_kind("os") if e.get("call") == "set_user_password"]
    assert [e.boot for e in sets] == [1, 2]
    assert admin_password(result) != PASSWORD
    admin = result.state.find_user("Admin")
    assert admin is not None and admin.password_expired is False
