"""The agent's MaaSHttpService against the simulated MAAS metadata API.

The cloud is a real ``MaasCloud`` served through the in-process transport: it checks every
request's OAuth PLAINTEXT signature against its node credentials, so a test passing here
means the agent signed correctly. Network data comes from curtin's ``network.json`` on the
fake Windows disk, read through the OS boundary.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from oauthlib import oauth1

from guestsim.agent import network
from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.metadata.maas import MaaSHttpService, oauth_plaintext_header, parse_network_data
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clock import DEFAULT_EPOCH
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.maas import MaasCloud, MaasCredentials, MaasModel, parse_oauth_header
from guestsim.simulator.faults import Fault
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import WindowsState
from tests.builders import FIXTURES, public_key, standalone_osutils
from tests.builders import serving as serve_apps

MAAS_SERVICE = "cloudbaseinit.metadata.services.maasservice.MaaSHttpService"
EMPTY_SERVICE = "cloudbaseinit.metadata.services.base.EmptyMetadataService"
BASE_URL = "http://10.20.0.2:5240/MAAS/metadata/"
V = "/MAAS/metadata/2012-03-01"
CREDENTIALS = MaasCredentials(
    consumer_key="Qm8cZ4vLr2TfWx9HbA",
    token_key="Jd3nPq7YsK2vRt6MeU",
    token_secret="c9Fh2WqL7xNb4TzPm8VsR3dKy6GjA5Ue",
)
GOOD_OPTIONS = {
    "metadata_base_url": BASE_URL,
    "oauth_consumer_key": CREDENTIALS.consumer_key,
    "oauth_token_key": CREDENTIALS.token_key,
    "oauth_token_secret": CREDENTIALS.token_secret,
}
CERT = (FIXTURES / "clouds" / "maas" / "x509.pem").read_text()
CURTIN_FILE = "C:\\curtin\\network.json"
ROOT_FILE = "C:\\network.json"
NETWORK_JSON = {
    "version": 1,
    "config": [
        {
            "type": "physical",
            "id": "eth0",
            "name": "eth0",
            "mac_address": "52:54:00:00:30:01",
            "mtu": 1500,
            "subnets": [
                {
                    "type": "static",
                    "address": "10.20.0.15/24",
                    "gateway": "10.20.0.1",
                    "dns_nameservers": ["10.20.0.2"],
                }
            ],
        },
        {
            "type": "physical",
            "id": "eth1",
            "name": "eth1",
            "mac_address": "52:54:00:00:30:02",
            "subnets": [{"type": "manual"}],
        },
        {"type": "nameserver", "address": ["10.20.0.2"], "search": ["maas.sim"]},
    ],
}


class RecordingMaas(MaasCloud):
    """The MAAS fake, also keeping each request's headers."""

    def __init__(self, model: MaasModel, base_url: str = BASE_URL) -> None:
        super().__init__(model, base_url)
        self.headers: list[Mapping[str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.headers.append(request.headers)
        return super().handle(request)


def cloud(**overrides: Any) -> RecordingMaas:
    fields: dict[str, Any] = {
        "credentials": CREDENTIALS,
        "instance_id": "x7kq3m",
        "local_hostname": "win-maas-01.maas",
        "public_keys": [public_key()],
        "x509": CERT,
        "user_data": b"#ps1_sysnative\nWrite-Output hello\n",
    }
    fields.update(overrides)
    return RecordingMaas(MaasModel(**fields))


@dataclass
class Agent:
    service: MaaSHttpService
    state: WindowsState
    sleeps: list[float] = field(default_factory=list)


def agent(
    maas: Mapping[str, Any] | None = None,
    default: Mapping[str, Any] | None = None,
    state: WindowsState | None = None,
    seed: int = 0,
) -> Agent:
    sleeps: list[float] = []

    state = state or default_windows_state()
    osutils = standalone_osutils(sleeps, state, seed)
    options = {"DEFAULT": dict(default or {}), "maas": dict(GOOD_OPTIONS if maas is None else maas)}
    context = AgentContext(conf=config_from_options(options, "test"), osutils=osutils)
    return Agent(MaaSHttpService(context), state, sleeps)


@contextmanager
def serving(*clouds: MaasCloud, faults: Sequence[Fault] = ()) -> Iterator[Trace]:
    with serve_apps(clouds, faults) as trace:
        yield trace


def paths(maas: MaasCloud) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in maas.requests]


# --- load -------------------------------------------------------------------------------------


def test_name_is_the_upstream_class_name() -> None:
    assert agent().service.get_name() == "MaaSHttpService"


def test_load_without_a_base_url_is_false_and_sends_nothing() -> None:
    maas = cloud()
    subject = agent(maas={})
    with serving(maas) as trace:
        assert subject.service.load() is False
    assert maas.requests == []
    assert trace.of_kind("http") == []


def test_load_probes_the_meta_data_index_with_its_trailing_slash() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas):
        assert subject.service.load() is True
    assert paths(maas) == [(f"{V}/meta-data/", 200)]


def test_deprecated_default_group_option_names_still_configure_the_service() -> None:
    maas = cloud()
    subject = agent(
        maas={},
        default={
            "maas_metadata_url": BASE_URL,
            "maas_oauth_consumer_key": CREDENTIALS.consumer_key,
            "maas_oauth_token_key": CREDENTIALS.token_key,
            "maas_oauth_token_secret": CREDENTIALS.token_secret,
        },
    )
    with serving(maas):
        assert subject.service.load() is True


def test_wrong_token_secret_costs_six_401s_and_20_seconds_then_load_is_false(
    caplog: pytest.LogCaptureFixture,
) -> None:
    maas = cloud()
    subject = agent(maas={**GOOD_OPTIONS, "oauth_token_secret": "wrong"})
    with serving(maas):
        assert subject.service.load() is False
    assert paths(maas) == [(f"{V}/meta-data/", 401)] * 6
    assert subject.sleeps == [4.0] * 5
    assert maas.authorizations == []
    assert any(
        r.levelname == "ERROR"
        and "401" in r.getMessage()
        and "oauth_token_secret" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "wrong",
    [
        {"oauth_consumer_key": "someone-else"},
        {"oauth_token_key": "another-token"},
        {"oauth_consumer_secret": "not-empty"},
        {"oauth_consumer_key": "", "oauth_token_key": "", "oauth_token_secret": ""},
    ],
)
def test_any_wrong_credential_is_refused(wrong: dict[str, str]) -> None:
    maas = cloud()
    subject = agent(maas={**GOOD_OPTIONS, **wrong})
    with serving(maas):
        assert subject.service.load() is False
    assert {status for _, status in paths(maas)} == {401}


def test_server_errors_are_retried_and_the_service_loads_once_maas_recovers() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas, faults=[Fault(path=f"{V}/meta-data/", status=503, first=2)]):
        assert subject.service.load() is True
    assert subject.sleeps == [4.0, 4.0]
    assert paths(maas) == [(f"{V}/meta-data/", 200)]


def test_discovery_skips_maas_without_a_url_at_no_cost() -> None:
    maas = cloud()
    events: list[tuple[str, dict[str, Any]]] = []
    subject = agent(maas={}, default={"metadata_services": [MAAS_SERVICE, EMPTY_SERVICE]})
    context = subject.service.context
    context.events = lambda kind, /, **fields: events.append((kind, fields))
    with serving(maas):
        service = get_metadata_service(context)
    assert service.get_name() == "EmptyMetadataService"
    assert events[0] == (
        "metadata_service_probe",
        {"service": MAAS_SERVICE, "result": "not_loaded"},
    )
    assert maas.requests == [] and subject.sleeps == []


# --- OAuth ------------------------------------------------------------------------------------


def test_every_request_carries_a_plaintext_oauth_header_with_an_empty_realm() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas):
        subject.service.load()
        subject.service.get_instance_id()
        subject.service.get_user_data()
    assert len(maas.headers) == 3
    timestamp = str(int(DEFAULT_EPOCH.timestamp()))
    nonces = []
    for headers in maas.headers:
        value = headers["Authorization"]
        assert value.startswith('OAuth realm="", oauth_nonce="')
        names = [part.split("=", 1)[0] for part in value[len("OAuth ") :].split(", ")]
        assert names == [
            "realm",
            "oauth_nonce",
            "oauth_timestamp",
            "oauth_version",
            "oauth_signature_method",
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature",
        ]
        params = parse_oauth_header(value)
        assert params is not None
        assert params["oauth_timestamp"] == timestamp
        assert params["oauth_version"] == "1.0"
        assert params["oauth_signature_method"] == "PLAINTEXT"
        assert params["oauth_consumer_key"] == CREDENTIALS.consumer_key
        assert params["oauth_token"] == CREDENTIALS.token_key
        assert params["oauth_signature"] == f"&{CREDENTIALS.token_secret}"
        assert f'oauth_signature="%26{CREDENTIALS.token_secret}"' in value
        nonces.append(params["oauth_nonce"])
    assert len(set(nonces)) == 3
    assert all(nonce.isdigit() and nonce.endswith(timestamp) for nonce in nonces)


def test_nonces_come_from_the_seeded_guest_random_generator() -> None:
    def nonces(seed: int) -> list[str]:
        maas = cloud()
        subject = agent(seed=seed)
        with serving(maas):
            subject.service.load()
            subject.service.get_host_name()
        return [a["oauth_nonce"] for a in maas.authorizations]

    assert nonces(1) == nonces(1)
    assert nonces(1) != nonces(2)


class FlakyMaas(RecordingMaas):
    """Answers 500 to the first request, after checking and recording it."""

    def _dispatch(self, request: SimRequest) -> SimResponse:
        response = super()._dispatch(request)
        return SimResponse(500, b"busy") if len(self.headers) == 1 else response


def test_each_retry_is_signed_afresh() -> None:
    maas = FlakyMaas(cloud().model)
    subject = agent()
    with serving(maas):
        assert subject.service.get_instance_id() == "x7kq3m"
    assert paths(maas) == [(f"{V}/meta-data/instance-id", 500), (f"{V}/meta-data/instance-id", 200)]
    first, second = (parse_oauth_header(h["Authorization"]) for h in maas.headers)
    assert first is not None and second is not None
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert subject.sleeps == [4.0]


def test_secrets_are_percent_encoded_inside_the_signature_and_again_in_the_header() -> None:
    header = oauth_plaintext_header(BASE_URL, "ck", "a b", "tk", "c&d/é", "n1", "1700000000")
    assert 'oauth_signature="a%2520b%26c%2526d%252F%25C3%25A9"' in header
    params = parse_oauth_header(header)
    assert params is not None and params["oauth_signature"] == "a%20b&c%26d%2F%C3%A9"


def test_secrets_with_reserved_characters_are_accepted_by_maas() -> None:
    credentials = MaasCredentials("ck", "tk", "t&k=e n/ü", consumer_secret="c s")
    maas = cloud(credentials=credentials)
    subject = agent(
        maas={
            "metadata_base_url": BASE_URL,
            "oauth_consumer_key": "ck",
            "oauth_consumer_secret": "c s",
            "oauth_token_key": "tk",
            "oauth_token_secret": "t&k=e n/ü",
        }
    )
    with serving(maas):
        assert subject.service.load() is True


def test_an_empty_token_key_leaves_oauth_token_out_and_maas_accepts_it() -> None:
    # oauthlib, which upstream signs with, leaves an empty token out of the header; a
    # MAAS node without a token key then takes the request.
    credentials = MaasCredentials(CREDENTIALS.consumer_key, "", CREDENTIALS.token_secret)
    maas = cloud(credentials=credentials)
    subject = agent(maas={**GOOD_OPTIONS, "oauth_token_key": ""})
    with serving(maas):
        assert subject.service.load() is True
        assert subject.service.get_instance_id() == "x7kq3m"
    assert {status for _, status in paths(maas)} == {200}
    for headers in maas.headers:
        assert "oauth_token" not in headers["Authorization"]
        params = parse_oauth_header(headers["Authorization"])
        assert params is not None and "oauth_token" not in params
        assert params["oauth_signature"] == f"&{CREDENTIALS.token_secret}"


def test_the_header_is_the_one_oauthlib_signs_plus_an_empty_realm() -> None:
    header = oauth_plaintext_header(BASE_URL, "ck", "", "tk", "ts", "123", "1700000000")
    client = oauth1.Client(
        "ck",
        resource_owner_key="tk",
        resource_owner_secret="ts",
        signature_method=oauth1.SIGNATURE_PLAINTEXT,
        nonce="123",
        timestamp="1700000000",
    )
    expected = client.sign(BASE_URL)[1]["Authorization"]
    assert header == expected.replace("OAuth ", 'OAuth realm="", ', 1)


def test_each_request_is_signed_for_its_own_url(monkeypatch: pytest.MonkeyPatch) -> None:
    signed: list[str] = []
    real_sign = oauth1.Client.sign

    def spy(self: Any, uri: str, *args: Any, **kwargs: Any) -> Any:
        signed.append(uri)
        return real_sign(self, uri, *args, **kwargs)

    monkeypatch.setattr(oauth1.Client, "sign", spy)
    maas = cloud()
    subject = agent()
    with serving(maas):
        subject.service.load()
        subject.service.get_host_name()
    assert signed == [
        f"{BASE_URL}2012-03-01/meta-data/",
        f"{BASE_URL}2012-03-01/meta-data/local-hostname",
    ]


# --- getters ----------------------------------------------------------------------------------


def test_fields_of_the_node() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas):
        assert subject.service.load()
        assert subject.service.get_instance_id() == "x7kq3m"
        assert subject.service.get_host_name() == "win-maas-01.maas"
        assert subject.service.get_public_keys() == [public_key()]
        assert subject.service.get_client_auth_certs() == [CERT.strip()]
        assert subject.service.get_user_data() == b"#ps1_sysnative\nWrite-Output hello\n"
        assert subject.service.get_decoded_user_data() == b"#ps1_sysnative\nWrite-Output hello\n"
    assert [path for path, _ in paths(maas)] == [
        f"{V}/meta-data/",
        f"{V}/meta-data/instance-id",
        f"{V}/meta-data/local-hostname",
        f"{V}/meta-data/public-keys",
        f"{V}/meta-data/x509",
        f"{V}/user-data",
    ]


def test_reads_are_cached_per_load() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas):
        subject.service.load()
        for _ in range(3):
            subject.service.get_instance_id()
        subject.service.load()
        subject.service.get_instance_id()
    assert [p for p, _ in paths(maas)].count(f"{V}/meta-data/instance-id") == 2


def test_upstream_defaults_for_what_maas_does_not_provide() -> None:
    subject = agent()
    assert subject.service.get_admin_username() is None
    assert subject.service.get_admin_password() is None
    assert subject.service.get_kms_host() is None
    assert subject.service.can_post_password is False


def test_public_keys_are_lines_not_stripped_and_empty_means_none() -> None:
    maas = cloud(public_keys=["ssh-rsa AAAA one  ", "", "ssh-ed25519 BBBB two"])
    subject = agent()
    with serving(maas):
        assert subject.service.get_public_keys() == [
            "ssh-rsa AAAA one  ",
            "",
            "ssh-ed25519 BBBB two",
        ]
    empty = cloud(public_keys=[])
    subject = agent()
    with serving(empty):
        assert subject.service.get_public_keys() == []


def test_every_pem_block_of_x509_is_a_certificate_and_text_around_them_is_dropped() -> None:
    body = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    other = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"
    maas = cloud(x509=f"preamble\n{body}\nbetween\n{other}\ntrailer\n")
    subject = agent()
    with serving(maas):
        assert subject.service.get_client_auth_certs() == [body, other]


def test_empty_x509_means_no_certificates() -> None:
    maas = cloud(x509="")
    subject = agent()
    with serving(maas):
        assert subject.service.get_client_auth_certs() == []


def test_x509_404_propagates_instead_of_meaning_no_certificates() -> None:
    maas = cloud(x509=None)
    subject = agent()
    with serving(maas), pytest.raises(NotExistingMetadataException):
        subject.service.get_client_auth_certs()
    assert paths(maas) == [(f"{V}/meta-data/x509", 404)]
    assert subject.sleeps == []


def test_user_data_404_is_not_existing_and_costs_one_request() -> None:
    maas = cloud(user_data=None)
    subject = agent()
    with serving(maas), pytest.raises(NotExistingMetadataException):
        subject.service.get_user_data()
    assert paths(maas) == [(f"{V}/user-data", 404)]


def test_user_data_stays_bytes_and_gzip_is_undone_by_the_decoded_getter() -> None:
    import gzip

    raw = bytes(range(256))
    maas = cloud(user_data=gzip.compress(b"#cloud-config\n", mtime=0))
    subject = agent()
    with serving(maas):
        assert subject.service.get_decoded_user_data() == b"#cloud-config\n"
    binary = cloud(user_data=raw)
    subject = agent()
    with serving(binary):
        assert subject.service.get_user_data() == raw


def test_an_absolute_url_is_signed_and_fetched_as_is() -> None:
    maas = cloud()
    subject = agent()
    with serving(maas):
        data = subject.service._get_cache_data(f"{BASE_URL}latest/meta-data/instance-id", True)
    assert data == "x7kq3m"
    assert paths(maas) == [("/MAAS/metadata/latest/meta-data/instance-id", 200)]


def test_a_base_url_without_trailing_slash_loses_its_last_segment() -> None:
    maas = cloud()
    subject = agent(maas={**GOOD_OPTIONS, "metadata_base_url": BASE_URL.rstrip("/")})
    with serving(maas):
        assert subject.service.load() is False
    # urljoin drops "metadata": the requests never reach the API's mount point.
    assert maas.requests == []


# --- network data (curtin's network.json on the guest disk) ---------------------------------


def with_file(path: str, document: Any) -> WindowsState:
    state = default_windows_state()
    folder = path.rsplit("\\", 1)[0]
    state.files.make_dirs(folder + "\\")
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    state.files.write(path, data)
    return state


def test_network_details_from_the_curtin_file_of_the_reference_example() -> None:
    maas = cloud()
    subject = agent(state=with_file(CURTIN_FILE, NETWORK_JSON))
    with serving(maas):
        details = subject.service.get_network_details_v2()
    assert maas.requests == []  # no HTTP: a local file
    assert details == network.NetworkDetailsV2(
        links=[
            network.Link("eth0", "eth0", "physical", True, "52:54:00:00:30:01", 1500),
            network.Link("eth1", "eth1", "physical", False, "52:54:00:00:30:02", None),
        ],
        networks=[
            network.Network(
                link="eth0",
                address_cidr="10.20.0.15/24",
                dns_nameservers=["10.20.0.2"],
                routes=[network.Route("0.0.0.0/0", "10.20.0.1")],
            )
        ],
        services=[network.NameServerService(["10.20.0.2"], ["maas.sim"])],
    )


def test_network_file_at_the_system_drive_root_is_the_fallback() -> None:
    subject = agent(state=with_file(ROOT_FILE, NETWORK_JSON))
    details = subject.service.get_network_details_v2()
    assert details is not None and [link.id for link in details.links] == ["eth0", "eth1"]


def test_the_curtin_file_wins_over_the_root_file() -> None:
    state = with_file(CURTIN_FILE, NETWORK_JSON)
    state.files.write(ROOT_FILE, b'{"version": 2, "config": []}')
    details = agent(state=state).service.get_network_details_v2()
    assert details is not None and len(details.links) == 2


def test_no_network_file_means_no_network_details() -> None:
    assert agent().service.get_network_details_v2() is None


def test_network_data_with_another_version_is_rejected() -> None:
    subject = agent(state=with_file(CURTIN_FILE, {"version": 2, "ethernets": {}}))
    with pytest.raises(network.NetworkDataError, match="version"):
        subject.service.get_network_details_v2()


def test_unknown_config_item_type_is_rejected() -> None:
    document = {"version": 1, "config": [{"type": "bridge", "id": "br0", "name": "br0"}]}
    with pytest.raises(network.NetworkDataError, match="bridge"):
        parse_network_data(document)


def test_bond_with_vlan_ipv6_and_members_reenabled() -> None:
    document = {
        "version": 1,
        "config": [
            {
                "type": "physical",
                "id": "nic0",
                "name": "nic0",
                "mac_address": "52:54:00:00:40:01",
                "subnets": [{"type": "manual"}],
            },
            {
                "type": "physical",
                "id": "nic1",
                "name": "nic1",
                "mac_address": "52:54:00:00:40:02",
                "subnets": [{"type": "manual"}],
            },
            {
                "type": "physical",
                "id": "nic2",
                "name": "nic2",
                "mac_address": "52:54:00:00:40:03",
                "subnets": [{"type": "manual"}],
            },
            {
                "type": "bond",
                "id": "bond0",
                "name": "bond0",
                "mac_address": "52:54:00:00:40:01",
                "mtu": 9000,
                "bond_interfaces": ["nic0", "nic1"],
                "params": {
                    "bond-mode": "802.3ad",
                    "bond-xmit-hash-policy": "layer3+4",
                    "bond-lacp-rate": "fast",
                },
                "subnets": [{"type": "dhcp4"}],
            },
            {
                "type": "vlan",
                "id": "bond0.101",
                "name": "bond0.101",
                "vlan_link": "bond0",
                "vlan_id": 101,
                "mtu": 1500,
                "subnets": [
                    {
                        "type": "static",
                        "address": "2001:db8:30::15/64",
                        "gateway": "2001:db8:30::1",
                    },
                    {"type": "static", "address": "10.30.0.15/24"},
                ],
            },
        ],
    }
    details = parse_network_data(document)
    assert [(link.id, link.type, link.enabled) for link in details.links] == [
        ("nic0", "physical", True),
        ("nic1", "physical", True),
        ("nic2", "physical", False),
        ("bond0", "bond", True),
        ("bond0.101", "vlan", True),
    ]
    bond = details.links[3]
    assert bond.bond == network.Bond(["nic0", "nic1"], "802.3ad", "layer3+4", "fast")
    assert (bond.mtu, bond.mac_address) == (9000, "52:54:00:00:40:01")
    vlan = details.links[4]
    assert (vlan.vlan_link, vlan.vlan_id, vlan.bond) == ("bond0", 101, None)
    assert details.networks == [
        network.Network(
            "bond0.101", "2001:db8:30::15/64", [], [network.Route("::/0", "2001:db8:30::1")]
        ),
        network.Network("bond0.101", "10.30.0.15/24", [], []),
    ]
    assert details.services == []


def test_network_link_is_the_item_id_even_when_the_name_differs() -> None:
    # Upstream quirk: links are applied by name but networks point at ids.
    document = {
        "version": 1,
        "config": [
            {
                "type": "physical",
                "id": "interface-1",
                "name": "Ethernet 2",
                "subnets": [{"type": "static", "address": "10.0.0.5/24"}],
            }
        ],
    }
    details = parse_network_data(document)
    assert details.links[0].name == "Ethernet 2"
    assert details.networks[0].link == "interface-1"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bond-mode": "round-robin"}, "bond type"),
        ({}, "bond type"),
        ({"bond-mode": "balance-xor", "bond-xmit-hash-policy": "layer4"}, "hash policy"),
    ],
)
def test_invalid_bond_settings_fail_the_parse(params: dict[str, str], message: str) -> None:
    document = {
        "version": 1,
        "config": [
            {"type": "bond", "id": "b", "name": "b", "bond_interfaces": [], "params": params}
        ],
    }
    with pytest.raises(network.NetworkDataError, match=message):
        parse_network_data(document)


@pytest.mark.parametrize(("rate", "parsed"), [("slow", "slow"), ("fast", "fast"), ("1", None)])
def test_unknown_lacp_rates_are_dropped_by_the_maas_parser(rate: str, parsed: str | None) -> None:
    document = {
        "version": 1,
        "config": [
            {
                "type": "bond",
                "id": "b",
                "name": "b",
                "bond_interfaces": [],
                "params": {"bond-mode": "802.3ad", "bond-lacp-rate": rate},
            }
        ],
    }
    bond = parse_network_data(document).links[0].bond
    assert bond is not None and bond.lacp_rate == parsed


def test_invalid_json_in_the_network_file_raises() -> None:
    subject = agent(state=with_file(CURTIN_FILE, b"{not json"))
    with pytest.raises(ValueError):
        subject.service.get_network_details_v2()


# --- the shared network data model -------------------------------------------------------------


@pytest.mark.parametrize("mode", network.AVAILABLE_BOND_TYPES)
def test_every_allowed_bond_mode_builds(mode: str) -> None:
    assert network.Bond(["a"], mode).type == mode


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "802.3AD"},
        {"type": "802.3ad", "lb_algorithm": "layer3"},
        {"type": "802.3ad", "lacp_rate": "medium"},
    ],
)
def test_the_model_rejects_unknown_bond_settings(kwargs: dict[str, str]) -> None:
    with pytest.raises(network.NetworkDataError):
        network.Bond(members=[], **kwargs)


def test_the_model_rejects_unknown_link_types() -> None:
    with pytest.raises(network.NetworkDataError):
        network.Link("x", "x", "bridge")


# --- the bundled scenarios ----------------------------------------------------------------------

SCENARIOS = bundled("scenarios") / "clouds"


@pytest.mark.parametrize("name", ["maas-happy-path", "maas-bad-oauth", "maas-empty-token-key"])
def test_scenarios_pass_with_the_same_trace_on_both_transports(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    in_process = run_scenario(scenario, transport="inprocess")
    loopback = run_scenario(scenario, transport="loopback")
    assert in_process.failures == [] and loopback.failures == []
    assert loopback.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()


def test_bad_oauth_scenario_says_why_maas_was_not_used() -> None:
    outcome = run_scenario(load_scenario(SCENARIOS / "maas-bad-oauth.yaml"))
    errors = [line for line in outcome.result.log if " ERROR agent.metadata.maas:" in line]
    assert len(errors) == 1
    assert "HTTP 401 Unauthorized" in errors[0] and "[maas] oauth_" in errors[0]
    probes = outcome.result.trace.of_kind("metadata_service_probe")
    assert [(e.get("service"), e.get("result")) for e in probes] == [(MAAS_SERVICE, "not_loaded")]


def test_happy_path_scenario_signs_every_request_with_the_fixture_credentials() -> None:
    outcome = run_scenario(load_scenario(SCENARIOS / "maas-happy-path.yaml"))
    (maas,) = outcome.result.clouds
    assert isinstance(maas, MaasCloud)
    assert len(maas.authorizations) == len(maas.requests) == 5
    assert {a["oauth_token"] for a in maas.authorizations} == {maas.model.credentials.token_key}


@pytest.mark.parametrize("agent_name", ["guestsim", "upstream"])
def test_an_empty_token_key_scenario_passes_with_either_agent_and_sends_no_token(
    agent_name: str,
) -> None:
    if agent_name == "upstream" and importlib.util.find_spec("cloudbaseinit") is None:
        pytest.skip("the published cloudbase-init is not installed (pip install -e '.[upstream]')")
    scenario = load_scenario(SCENARIOS / "maas-empty-token-key.yaml")
    outcome = run_scenario(scenario.with_agent(agent_name, None))
    assert outcome.failures == []
    (maas,) = outcome.result.clouds
    assert isinstance(maas, MaasCloud)
    assert maas.model.credentials.token_key == ""
    assert len(maas.authorizations) == len(maas.requests) > 0
    assert all("oauth_token" not in a for a in maas.authorizations)
