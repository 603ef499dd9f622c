"""The agent's GCEService against the simulated GCE metadata server.

The cloud is a real ``GceCloud`` served through the in-process transport; it refuses
requests without ``Metadata-Flavor: Google`` as GCE does, so every passing read shows the
header was sent. Guest time is the simulator's virtual clock (SSH key expiry is judged
against it).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.metadata.gce import GCEMetadataError, GCEService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clock import DEFAULT_EPOCH
from guestsim.simulator.clouds import DocumentSource, build_clouds
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.gce import GceCloud, GceModel
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import Machine
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from tests.builders import PLUGIN, public_key, standalone_osutils
from tests.builders import serving as serve_apps

GCE_SERVICE = "cloudbaseinit.metadata.services.gceservice.GCEService"
EMPTY_SERVICE = "cloudbaseinit.metadata.services.base.EmptyMetadataService"
V = "/computeMetadata/v1"
KEY_TYPE, KEY_BODY = public_key().split()[:2]
OTHER_BODY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
FUTURE = "2031-01-01T00:00:00+0000"
PAST = "2020-01-01T00:00:00+0000"
USER_DATA = b"#ps1_sysnative\nWrite-Output 'hello from gce'\n"


def key_line(user: str, comment: str, body: str = KEY_BODY, key_type: str = KEY_TYPE) -> str:
    return f"{user}:{key_type} {body} {comment}"


def google_ssh(user: str, expire_on: str, json_user: str | None = None) -> str:
    return f'google-ssh {{"userName":"{json_user or user}","expireOn":"{expire_on}"}}'


class RecordingGce(GceCloud):
    """The GCE fake, also keeping each request's headers."""

    def __init__(self, model: GceModel) -> None:
        super().__init__(model)
        self.headers: list[Mapping[str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.headers.append(request.headers)
        return super().handle(request)


def cloud(
    attributes: dict[str, Any] | None = None,
    project_attributes: dict[str, Any] | None = None,
    **instance: Any,
) -> RecordingGce:
    tree: dict[str, Any] = {
        "id": "4520031799277581759",
        "name": "win-gce-01",
        "hostname": "win-gce-01.us-central1-a.c.guestsim-demo.internal",
        "attributes": {} if attributes is None else attributes,
    }
    tree.update(instance)
    metadata = {
        "instance": {k: v for k, v in tree.items() if v is not None},
        "project": {
            "project-id": "guestsim-demo",
            "attributes": {} if project_attributes is None else project_attributes,
        },
    }
    return RecordingGce(GceModel(metadata))


@dataclass
class Agent:
    service: GCEService
    sleeps: list[float] = field(default_factory=list)


def agent(
    gce: Mapping[str, Any] | None = None,
    default: Mapping[str, Any] | None = None,
    now: dt.datetime = DEFAULT_EPOCH,
) -> Agent:
    sleeps: list[float] = []

    osutils = standalone_osutils(sleeps, now=now)
    options = {"DEFAULT": dict(default or {}), "gce": dict(gce or {})}
    context = AgentContext(conf=config_from_options(options, "test"), osutils=osutils)
    return Agent(GCEService(context), sleeps)


@contextmanager
def serving(*clouds: GceCloud, faults: Sequence[Fault] = ()) -> Iterator[Trace]:
    with serve_apps(clouds, faults) as trace:
        yield trace


def paths(gce: GceCloud) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in gce.requests]


def keys(gce: GceCloud, now: dt.datetime = DEFAULT_EPOCH, **default: Any) -> list[str] | None:
    subject = agent(default=default, now=now)
    with serving(gce):
        return subject.service.get_public_keys()


# --- load and the plain getters ---------------------------------------------------------------


def test_name_is_the_upstream_class_name() -> None:
    assert agent().service.get_name() == "GCEService"


def test_load_reads_the_instance_name_and_the_getters_read_their_paths() -> None:
    gce = cloud()
    subject = agent()
    with serving(gce):
        assert subject.service.load() is True
        assert subject.service.get_host_name() == "win-gce-01"
        assert subject.service.get_instance_id() == "4520031799277581759"
    assert paths(gce) == [(f"{V}/instance/name", 200), (f"{V}/instance/id", 200)]


def test_every_request_carries_the_metadata_flavor_header() -> None:
    gce = cloud(attributes={"user-data": "x", "ssh-keys": ""})
    subject = agent()
    with serving(gce):
        subject.service.load()
        subject.service.get_instance_id()
        subject.service.get_user_data()
        subject.service.get_public_keys()
    assert len(gce.headers) == 7
    assert all(headers.get("Metadata-Flavor") == "Google" for headers in gce.headers)
    assert 403 not in {status for _, status in paths(gce)}


def test_numeric_instance_id_is_served_and_read_as_text() -> None:
    gce = cloud(id=4520031799277581759)
    subject = agent()
    with serving(gce):
        assert subject.service.get_instance_id() == "4520031799277581759"


def test_host_name_is_the_short_instance_name_not_the_fqdn() -> None:
    gce = cloud(name="web-7")
    subject = agent()
    with serving(gce):
        assert subject.service.get_host_name() == "web-7"
    assert (f"{V}/instance/hostname", 200) not in paths(gce)


def test_missing_instance_name_makes_load_falsy_after_one_request() -> None:
    gce = cloud(name=None)
    subject = agent()
    with serving(gce):
        assert not subject.service.load()
    assert paths(gce) == [(f"{V}/instance/name", 404)]
    assert subject.sleeps == []


def test_server_errors_are_retried_then_raise_out_of_load() -> None:
    gce = cloud()
    subject = agent()
    with (
        serving(gce, faults=[Fault(path=f"{V}/instance/name", status=500)]) as trace,
        pytest.raises(requests.HTTPError),
    ):
        subject.service.load()
    assert len(trace.of_kind("http")) == 6
    assert subject.sleeps == [4.0] * 5


def test_discovery_counts_a_raising_load_as_an_error_and_moves_on() -> None:
    gce = cloud()
    subject = agent(default={"metadata_services": [GCE_SERVICE, EMPTY_SERVICE]})
    events: list[tuple[str, dict[str, Any]]] = []
    context = subject.service.context
    context.events = lambda kind, /, **fields: events.append((kind, fields))
    with serving(gce, faults=[Fault(path=f"{V}/instance/name", error="refused")]):
        service = get_metadata_service(context)
    assert service.get_name() == "EmptyMetadataService"
    assert events[0] == (
        "metadata_service_probe",
        {"service": GCE_SERVICE, "result": "error", "error": "ConnectionError"},
    )


def test_load_recovers_from_transient_errors() -> None:
    gce = cloud()
    subject = agent()
    with serving(gce, faults=[Fault(path=f"{V}/instance/name", status=503, first=3)]):
        assert subject.service.load() is True
    assert subject.sleeps == [4.0] * 3


def test_base_url_option_is_honoured() -> None:
    gce = GceCloud(cloud().model, "http://10.0.0.9/computeMetadata/v1/")
    subject = agent(gce={"metadata_base_url": "http://10.0.0.9/computeMetadata/v1/"})
    with serving(gce):
        assert subject.service.load() is True


def test_base_url_without_trailing_slash_loses_v1_and_never_reaches_the_server() -> None:
    gce = cloud()
    subject = agent(gce={"metadata_base_url": "http://metadata.google.internal/computeMetadata/v1"})
    with serving(gce) as trace, pytest.raises(requests.ConnectionError):
        subject.service.load()
    urls = {e.get("url") for e in trace.of_kind("http")}
    assert urls == {"http://metadata.google.internal/computeMetadata/instance/name"}


def test_upstream_defaults_for_what_gce_does_not_provide() -> None:
    service = agent().service
    assert service.get_admin_username() is None
    assert service.get_admin_password() is None
    assert service.get_client_auth_certs() is None
    assert service.can_post_password is False


# --- user data --------------------------------------------------------------------------------


def test_base64_user_data_is_decoded() -> None:
    gce = cloud(
        attributes={
            "user-data": base64.b64encode(USER_DATA).decode(),
            "user-data-encoding": "base64",
        }
    )
    subject = agent()
    with serving(gce):
        assert subject.service.get_user_data() == USER_DATA
        assert subject.service.get_decoded_user_data() == USER_DATA
    assert [p for p, _ in paths(gce)] == [
        f"{V}/instance/attributes/user-data",
        f"{V}/instance/attributes/user-data-encoding",
    ]


def test_user_data_without_an_encoding_attribute_is_raw_bytes() -> None:
    gce = cloud(attributes={"user-data": "#cloud-config\nhostname: x\n"})
    subject = agent()
    with serving(gce):
        data = subject.service.get_user_data()
    assert data == b"#cloud-config\nhostname: x\n"
    assert paths(gce)[-1] == (f"{V}/instance/attributes/user-data-encoding", 404)


def test_unknown_encoding_is_a_warning_and_the_data_stays_raw(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encoded = base64.b64encode(USER_DATA).decode()
    gce = cloud(attributes={"user-data": encoded, "user-data-encoding": "base32"})
    subject = agent()
    with serving(gce):
        assert subject.service.get_user_data() == encoded.encode()
    assert any(r.levelname == "WARNING" and "base32" in r.getMessage() for r in caplog.records)


def test_empty_encoding_leaves_the_data_raw() -> None:
    gce = cloud(attributes={"user-data": "plain", "user-data-encoding": ""})
    subject = agent()
    with serving(gce):
        assert subject.service.get_user_data() == b"plain"


def test_missing_user_data_propagates_as_not_existing() -> None:
    gce = cloud()
    subject = agent()
    with serving(gce), pytest.raises(NotExistingMetadataException):
        subject.service.get_user_data()
    assert paths(gce) == [(f"{V}/instance/attributes/user-data", 404)]


def test_gzipped_base64_user_data_is_unzipped_by_the_decoded_getter() -> None:
    import gzip

    packed = gzip.compress(USER_DATA, mtime=0)
    gce = cloud(
        attributes={
            "user-data": base64.b64encode(packed).decode(),
            "user-data-encoding": "base64",
        }
    )
    subject = agent()
    with serving(gce):
        assert subject.service.get_user_data() == packed
        assert subject.service.get_decoded_user_data() == USER_DATA


# --- SSH keys ---------------------------------------------------------------------------------


def test_keys_for_the_configured_user_from_instance_then_project() -> None:
    gce = cloud(
        attributes={
            "ssh-keys": "\n".join(
                [key_line("Admin", "Admin"), key_line("operator", "operator", OTHER_BODY)]
            )
        },
        project_attributes={"ssh-keys": key_line("Admin", "Admin", OTHER_BODY)},
    )
    assert keys(gce) == [
        f"{KEY_TYPE} {KEY_BODY} Admin",
        f"{KEY_TYPE} {OTHER_BODY} Admin",
    ]
    assert [p for p, _ in paths(gce)] == [
        f"{V}/instance/attributes/block-project-ssh-keys",
        f"{V}/instance/attributes/ssh-keys",
        f"{V}/project/attributes/ssh-keys",
    ]


def test_the_configured_username_selects_the_keys_case_sensitively() -> None:
    gce = cloud(
        attributes={
            "ssh-keys": "\n".join(
                [key_line("Admin", "Admin"), key_line("operator", "operator", OTHER_BODY)]
            )
        }
    )
    assert keys(gce, username="operator") == [f"{KEY_TYPE} {OTHER_BODY} operator"]
    assert keys(cloud(attributes={"ssh-keys": key_line("Admin", "Admin")}), username="admin") == []


def test_prefix_user_and_comment_user_must_agree() -> None:
    gce = cloud(
        attributes={
            "ssh-keys": "\n".join([key_line("Admin", "operator"), key_line("operator", "Admin")])
        }
    )
    assert keys(gce) == []


@pytest.mark.parametrize(
    "line",
    [
        f"{KEY_TYPE} {KEY_BODY} Admin",  # no "<user>:" prefix
        f"Admin:{KEY_TYPE} {KEY_BODY}",  # fewer than 3 parts
        f"Admin:{KEY_TYPE}  {KEY_BODY} Admin",  # a double space makes 4 parts, no google-ssh
        f"Admin:{KEY_TYPE} {KEY_BODY} Admin extra words",
        "",
    ],
)
def test_malformed_lines_are_skipped(line: str) -> None:
    gce = cloud(attributes={"ssh-keys": f"{line}\n{key_line('Admin', 'Admin', OTHER_BODY)}"})
    assert keys(gce) == [f"{KEY_TYPE} {OTHER_BODY} Admin"]


def test_google_ssh_keys_are_rewritten_with_the_json_user_until_they_expire() -> None:
    gce = cloud(
        attributes={
            "ssh-keys": "\n".join(
                [
                    f"Admin:{KEY_TYPE} {KEY_BODY} {google_ssh('Admin', FUTURE)}",
                    f"Admin:{KEY_TYPE} {OTHER_BODY} {google_ssh('Admin', PAST)}",
                ]
            )
        }
    )
    assert keys(gce) == [f"{KEY_TYPE} {KEY_BODY} Admin"]


def test_expiry_is_judged_against_the_virtual_guest_clock() -> None:
    line = f"Admin:{KEY_TYPE} {KEY_BODY} {google_ssh('Admin', '2026-03-01T12:00:00+0000')}"
    gce = cloud(attributes={"ssh-keys": line})
    before = dt.datetime(2026, 3, 1, 11, 59, 59, tzinfo=dt.UTC)
    after = dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=dt.UTC)
    assert keys(gce, now=before) == [f"{KEY_TYPE} {KEY_BODY} Admin"]
    assert keys(gce, now=after) == []


@pytest.mark.parametrize("expire_on", ["2031-01-01", "2031-01-01T00:00:00Z", "soon"])
def test_an_unparsable_expiry_date_keeps_the_key(expire_on: str) -> None:
    gce = cloud(
        attributes={"ssh-keys": f"Admin:{KEY_TYPE} {KEY_BODY} {google_ssh('Admin', expire_on)}"}
    )
    assert keys(gce) == [f"{KEY_TYPE} {KEY_BODY} Admin"]


def test_google_ssh_json_user_must_match_the_prefix() -> None:
    line = f"Admin:{KEY_TYPE} {KEY_BODY} {google_ssh('Admin', '2031-01-01T00:00:00+0000', 'bob')}"
    assert keys(cloud(attributes={"ssh-keys": line})) == []


def test_google_ssh_marker_must_appear_exactly_once() -> None:
    line = f"Admin:{KEY_TYPE} {KEY_BODY} google-ssh google-ssh {{}}"
    assert keys(cloud(attributes={"ssh-keys": line})) == []


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ('google-ssh {"userName":"Admin"}', "missing 'expireOn'"),
        ('google-ssh {"expireOn":"2031-01-01T00:00:00+0000"}', "missing 'userName'"),
        ("google-ssh {not json}", "not JSON"),
        ('google-ssh ["Admin"]', "not a JSON object: list"),
    ],
)
def test_quirk_broken_google_ssh_json_fails_the_whole_read(comment: str, message: str) -> None:
    # As upstream the whole read fails (and with it the SSH keys plugin), but with a typed
    # error naming the field, not a bare KeyError/ValueError/TypeError (issue 15).
    gce = cloud(
        attributes={
            "ssh-keys": f"{key_line('Admin', 'Admin')}\nAdmin:{KEY_TYPE} {KEY_BODY} {comment}"
        }
    )
    subject = agent()
    with serving(gce), pytest.raises(GCEMetadataError, match=re.escape(message)):
        subject.service.get_public_keys()


@pytest.mark.parametrize(
    ("value", "project_read"), [("true", False), ("True", True), ("false", True), ("TRUE", True)]
)
def test_only_the_exact_text_true_blocks_project_keys(value: str, project_read: bool) -> None:
    gce = cloud(
        attributes={"block-project-ssh-keys": value, "ssh-keys": key_line("Admin", "Admin")},
        project_attributes={"ssh-keys": key_line("Admin", "Admin", OTHER_BODY)},
    )
    found = keys(gce)
    assert (f"{V}/project/attributes/ssh-keys" in [p for p, _ in paths(gce)]) is project_read
    assert (f"{KEY_TYPE} {OTHER_BODY} Admin" in (found or [])) is project_read


def test_missing_key_attributes_are_warnings_not_errors(caplog: pytest.LogCaptureFixture) -> None:
    gce = cloud(project_attributes={"ssh-keys": key_line("Admin", "Admin")})
    with caplog.at_level("DEBUG"):
        assert keys(gce) == [f"{KEY_TYPE} {KEY_BODY} Admin"]
    assert paths(gce)[:2] == [
        (f"{V}/instance/attributes/block-project-ssh-keys", 404),
        (f"{V}/instance/attributes/ssh-keys", 404),
    ]
    # A missing key list is a warning; the block flag is usually absent: debug only.
    missing = [
        (r.levelname, r.getMessage().rsplit("/", 1)[-1])
        for r in caplog.records
        if "Metadata attribute not found" in r.getMessage()
    ]
    assert missing == [("DEBUG", "block-project-ssh-keys"), ("WARNING", "ssh-keys")]
    assert keys(cloud()) == []


def test_legacy_sshkeys_attribute_is_not_read() -> None:
    gce = cloud(attributes={"sshKeys": key_line("Admin", "Admin")})
    assert keys(gce) == []
    assert f"{V}/instance/attributes/sshKeys" not in [p for p, _ in paths(gce)]


def test_key_attribute_server_errors_propagate_after_retries() -> None:
    gce = cloud(attributes={"ssh-keys": key_line("Admin", "Admin")})
    subject = agent()
    with (
        serving(gce, faults=[Fault(path=f"{V}/instance/attributes/ssh-keys", status=500)]),
        pytest.raises(requests.HTTPError),
    ):
        subject.service.get_public_keys()
    assert subject.sleeps == [4.0] * 5


# --- a whole guest ------------------------------------------------------------------------------


def test_a_guest_on_gce_takes_the_instance_name_and_keys_plugin_state_by_instance_id() -> None:
    gce = cloud(name="gce-node-17", id="1234567890123")
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [GCE_SERVICE],
                "plugins": [PLUGIN["hostname"], PLUGIN["createuser"]],
            }
        },
        "test",
    )
    result = Machine(conf, clouds=[gce]).run()
    assert result.boot_count == 2
    assert result.state.computer_name == "gce-node-17"
    services = result.trace.of_kind("metadata_service")
    assert [(e.get("name"), e.get("instance_id")) for e in services] == [
        ("GCEService", "1234567890123"),
        ("GCEService", "1234567890123"),
    ]
    assert result.state.find_user("Admin") is not None


# --- the bundled scenario -----------------------------------------------------------------------

HAPPY_PATH = bundled("scenarios") / "clouds" / "gce-happy-path.yaml"


def test_happy_path_scenario_documents_give_decoded_user_data_and_the_admin_key() -> None:
    # No UserData or SSH keys plugin exists yet: read the scenario's cloud directly.
    scenario = load_scenario(HAPPY_PATH)
    (gce,) = build_clouds(DocumentSource("gce", scenario.data["cloud"], HAPPY_PATH))
    assert isinstance(gce, GceCloud)
    subject = agent()
    with serving(gce):
        assert subject.service.load() is True
        assert subject.service.get_instance_id() == "7261548309182736450"
        assert subject.service.get_host_name() == "win-gce-web1"
        assert subject.service.get_decoded_user_data() == (
            b"#ps1_sysnative\nWrite-Output 'configured by guestsim'\n"
        )
        assert subject.service.get_public_keys() == [f"{KEY_TYPE} {KEY_BODY} Admin"]


def test_happy_path_scenario_passes_with_the_same_trace_on_both_transports() -> None:
    scenario = load_scenario(HAPPY_PATH)
    in_process = run_scenario(scenario, transport="inprocess")
    loopback = run_scenario(scenario, transport="loopback")
    assert in_process.failures == [] and loopback.failures == []
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()
