"""Wrongly typed guest input fails each parser with its own, specific error (issue 15).

Network config v1/v2, ``network_data.json``, MAAS network data, GCE ``google-ssh`` key
details and XML declaring an unusable encoding (Azure, OVF) used to fail with whatever
Python raised first (a bare ``KeyError``, ``TypeError``, ``AttributeError``, ``ValueError``
or ``LookupError``). The outcome is kept (the document is refused, so the plugin reading it
fails, as upstream's does), but the error is the module's documented one and names the field.

Each reproducer is a test; a property test per parser replaces values of valid documents,
at any depth, by values of any JSON type and asserts that only the documented error escapes.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestsim.agent import network
from guestsim.agent.metadata import azure, gce, maas, openstack_network, ovf
from guestsim.agent.network_config import parse_network_config

V1: dict[str, Any] = {
    "version": 1,
    "config": [
        {
            "type": "physical",
            "name": "eth0",
            "mac_address": "aa:bb:cc:dd:ee:ff",
            "mtu": 1500,
            "subnets": [
                {
                    "type": "static",
                    "address": "10.0.0.2",
                    "netmask": "255.255.255.0",
                    "gateway": "10.0.0.1",
                    "dns_nameservers": ["8.8.8.8"],
                    "routes": [
                        {"network": "10.1.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.1"}
                    ],
                },
                {"type": "dhcp"},
            ],
        },
        {
            "type": "bond",
            "name": "bond0",
            "bond_interfaces": ["eth0"],
            "params": {"bond-mode": "802.3ad", "bond-lacp-rate": "fast"},
            "subnets": [{"type": "static", "address": "10.2.0.2/24"}],
        },
        {"type": "vlan", "name": "vlan5", "vlan_link": "bond0", "vlan_id": 5},
        {"type": "nameserver", "address": ["1.1.1.1"], "search": ["example.com"]},
    ],
}
V2: dict[str, Any] = {
    "network": {
        "version": 2,
        "ethernets": {
            "eth0": {
                "match": {"macaddress": "aa:bb:cc:dd:ee:ff"},
                "set-name": "lan",
                "mtu": 1500,
                "addresses": ["10.0.0.2/24"],
                "gateway4": "10.0.0.1",
                "nameservers": {"addresses": ["8.8.8.8"], "search": ["example.com"]},
                "routes": [{"to": "default", "via": "10.0.0.1"}],
            }
        },
        "bonds": {
            "bond0": {
                "interfaces": ["eth0"],
                "parameters": {"mode": "802.3ad", "lacp-rate": "fast"},
                "addresses": ["10.2.0.2/24"],
            }
        },
        "vlans": {"vlan5": {"id": 5, "link": "bond0", "addresses": ["10.3.0.2/24"]}},
    }
}
NETWORK_DATA: dict[str, Any] = {
    "links": [
        {"id": "tap0", "type": "phy", "ethernet_mac_address": "aa:bb:cc:dd:ee:ff", "mtu": 1500},
        {"id": "bond0", "type": "bond", "bond_links": ["tap0"], "bond_mode": "802.3ad"},
        {"id": "vlan0", "type": "vlan", "vlan_link": "bond0", "vlan_id": 5},
    ],
    "networks": [
        {
            "id": "n0",
            "type": "ipv4",
            "link": "tap0",
            "ip_address": "10.0.0.2",
            "netmask": "255.255.255.0",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}],
            "services": [{"type": "dns", "address": "8.8.8.8"}],
        }
    ],
    "services": [{"type": "dns", "address": "1.1.1.1"}],
}
MAAS: dict[str, Any] = {
    "version": 1,
    "config": [
        {
            "type": "physical",
            "id": "eth0",
            "name": "eth0",
            "mac_address": "aa:bb:cc:dd:ee:ff",
            "subnets": [
                {
                    "type": "static",
                    "address": "10.0.0.2/24",
                    "gateway": "10.0.0.1",
                    "dns_nameservers": ["8.8.8.8"],
                }
            ],
        },
        {
            "type": "bond",
            "id": "bond0",
            "name": "bond0",
            "bond_interfaces": ["eth0"],
            "params": {"bond-mode": "802.3ad"},
        },
        {"type": "nameserver", "address": ["1.1.1.1"], "search": ["example.com"]},
    ],
}


def _with(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def _without(document: dict[str, Any], path: tuple[Any, ...]) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return changed


# --- the reproducers ---------------------------------------------------------------------------

REPRODUCERS = [
    pytest.param(
        parse_network_config,
        _with(V1, ("config", 0, "mtu"), []),
        "network config v1: config[0]: 'mtu' is not an integer: []",
        id="v1 mtu: []",
    ),
    pytest.param(
        parse_network_config,
        _with(V1, ("config", 1, "params"), [{}]),
        "network config v1: config[1]: 'params' must be a mapping, not a list",
        id="v1 bond params: [{}]",
    ),
    pytest.param(
        parse_network_config,
        _with(V1, ("config", 0, "subnets", 0, "routes"), ["10.1.0.0/16"]),
        "network config v1: config[0]: subnets[0]: routes[0] must be a mapping, not a string",
        id="v1 routes: [string]",
    ),
    pytest.param(
        parse_network_config,
        _with(V1, ("config", 0, "subnets", 0, "gateway"), True),
        "network config v1: config[0]: subnets[0]: invalid gateway address 'True'",
        id="v1 gateway: true",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "ethernets", "eth0", "mtu"), []),
        "network config v2: ethernets['eth0']: 'mtu' is not an integer: []",
        id="v2 mtu: []",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "ethernets", "eth0", "addresses"), True),
        "network config v2: ethernets['eth0']: 'addresses' must be a list or a string, "
        "not a boolean",
        id="v2 addresses: true",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "bonds", "bond0", "parameters"), [{}]),
        "network config v2: bonds['bond0']: 'parameters' must be a mapping, not a list",
        id="v2 bond parameters: [{}]",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "ethernets", "eth0", "routes"), [None]),
        "network config v2: ethernets['eth0']: routes[0] must be a mapping, not null",
        id="v2 routes: [null]",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "ethernets", "eth0", "nameservers"), ["8.8.8.8"]),
        "network config v2: ethernets['eth0']: 'nameservers' must be a mapping, not a list",
        id="v2 nameservers: [...]",
    ),
    pytest.param(
        parse_network_config,
        _with(V2, ("network", "ethernets", "eth0", "match"), True),
        "network config v2: ethernets['eth0']: 'match' must be a mapping, not a boolean",
        id="v2 match: true",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _without(NETWORK_DATA, ("links", 0, "id")),
        "network_data.json: links[0]: missing 'id'",
        id="network_data link without id",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _without(NETWORK_DATA, ("networks", 0, "routes", 0, "network")),
        "network_data.json: networks[0]: routes[0]: missing 'network'",
        id="network_data route without network",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _without(NETWORK_DATA, ("networks", 0, "routes", 0, "gateway")),
        "network_data.json: networks[0]: routes[0]: missing 'gateway'",
        id="network_data route without gateway",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _with(NETWORK_DATA, ("networks", 0, "services"), [[]]),
        "network_data.json: networks[0]: 'services' is not a list of objects",
        id="network_data network services: [[]]",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _without(NETWORK_DATA, ("services", 0, "address")),
        "network_data.json: services[0]: missing 'address'",
        id="network_data dns service without address",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _with(NETWORK_DATA, ("links", 0, "mtu"), []),
        "network_data.json: links[0]: 'mtu' is not an integer: []",
        id="network_data mtu: []",
    ),
    pytest.param(
        openstack_network.parse_network_data,
        _with(NETWORK_DATA, ("links", 1, "bond_links"), True),
        "network_data.json: links[1]: 'bond_links' is not a list: True",
        id="network_data bond_links: true",
    ),
    pytest.param(
        maas.parse_network_data,
        _with(MAAS, ("config",), 1),
        "MAAS network data: document: 'config' is not a list: 1",
        id="maas config: 1",
    ),
    pytest.param(
        maas.parse_network_data,
        _with(MAAS, ("config", 0, "subnets"), [None]),
        "MAAS network data: config[0]: subnets[0] is not an object: None",
        id="maas subnets: [null]",
    ),
    pytest.param(
        maas.parse_network_data,
        _with(MAAS, ("config", 1, "params"), True),
        "MAAS network data: config[1]: 'params' is not an object: True",
        id="maas params: true",
    ),
    pytest.param(
        maas.parse_network_data,
        _with(MAAS, ("config", 0, "subnets", 0, "gateway"), "gw"),
        "MAAS network data: config[0]: subnets[0]: invalid gateway address 'gw'",
        id="maas gateway: not an address",
    ),
    pytest.param(
        maas.parse_network_data,
        _with(MAAS, ("config", 2, "address"), True),
        "MAAS network data: config[2]: 'address' is not a list: True",
        id="maas nameserver address: true",
    ),
    pytest.param(
        maas.parse_network_data,
        None,
        "MAAS network data is not a JSON object: NoneType",
        id="maas document: null",
    ),
]


@pytest.mark.parametrize(("parse", "document", "message"), REPRODUCERS)
def test_wrongly_typed_network_documents_get_a_network_data_error(
    parse: Callable[[Any], network.NetworkDetailsV2], document: Any, message: str
) -> None:
    with pytest.raises(network.NetworkDataError) as raised:
        parse(document)
    assert str(raised.value) == message
    # Not merely a ValueError subclass: the message is the module's, not Python's.
    assert type(raised.value) is network.NetworkDataError


def test_v1_subnets_that_are_not_a_list_are_skipped_as_upstream_skips_them() -> None:
    details = parse_network_config(_with(V1, ("config", 0, "subnets"), True))
    assert [n.link for n in details.networks] == ["bond0"]


@pytest.mark.parametrize(
    "declaration",
    [b"bogus", b"rot13", b"idna"],
    ids=["unknown", "not a text encoding", "cannot decode"],
)
def test_xml_declaring_an_unusable_encoding_is_the_services_error(declaration: bytes) -> None:
    document = b'<?xml version="1.0" encoding="' + declaration + b'"?><Environment/>'
    with pytest.raises(azure.AzureMetadataError, match=r"^unusable XML encoding: "):
        azure.parse_xml(document)
    with pytest.raises(ovf.OvfEnvironmentError, match=r"^E:\\ovf-env\.xml: unusable XML encoding"):
        ovf._parse_xml("E:\\ovf-env.xml", document)


def test_certificate_data_that_is_not_base64_is_an_azure_metadata_error() -> None:
    from tests.agent.test_metadata_azure import loaded

    bad = (
        b"<CertificateFile><Format>" + azure.CERTIFICATES_FORMAT.encode() + b"</Format>"
        b"<Data>abc</Data></CertificateFile>"
    )
    with loaded() as guest:
        real = guest.service._wire_request

        def wire_request(
            path: str, body: bytes | None = None, headers: dict[str, str] | None = None
        ) -> bytes:
            if headers and azure.HEADER_TRANSPORT_CERT in headers:
                return bad
            return real(path, body, headers)

        guest.service._wire_request = wire_request  # type: ignore[method-assign]
        with pytest.raises(
            azure.AzureMetadataError, match=r"^CertificateFile <Data> is not base64"
        ):
            guest.service.get_server_certs()


def test_malformed_ovf_environment_is_an_ovf_environment_error() -> None:
    with pytest.raises(ovf.OvfEnvironmentError, match="not well-formed XML"):
        ovf._parse_xml("E:\\ovf-env.xml", b"<Environment><PropertySection>")


def _gce_service() -> gce.GCEService:
    service = gce.GCEService.__new__(gce.GCEService)

    class Clock:
        def utc_now(self) -> dt.datetime:
            return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    service.osutils = Clock()  # type: ignore[assignment]
    return service


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ('{"expireOn":"2031-01-01T00:00:00+0000"}', "missing 'userName'"),
        ('{"userName":"Admin"}', "missing 'expireOn'"),
        ("[]", "not a JSON object: list"),
        ("{not json", "not JSON"),
    ],
)
def test_gce_google_ssh_details_without_user_name_are_a_gce_metadata_error(
    details: str, message: str
) -> None:
    line = f"Admin:ssh-rsa AAAA google-ssh {details}"
    with pytest.raises(gce.GCEMetadataError, match=re.escape(message)):
        _gce_service()._parse_ssh_key(line, "Admin")


def test_gce_user_data_declared_base64_that_does_not_decode_is_a_gce_metadata_error() -> None:
    service = _gce_service()
    answers = {
        f"{gce.INSTANCE_ATTRIBUTES}/user-data": b"abc",
        f"{gce.INSTANCE_ATTRIBUTES}/user-data-encoding": "base64",
    }
    service._get_cache_data = lambda path, decode=False: answers[path]  # type: ignore[method-assign]
    with pytest.raises(gce.GCEMetadataError, match="declared base64 but does not decode"):
        service.get_user_data()


@pytest.mark.parametrize(
    ("getter", "name"), [("get_public_keys", "public-keys"), ("get_client_auth_certs", "x509")]
)
def test_maas_documents_that_are_not_utf8_are_a_maas_metadata_error(getter: str, name: str) -> None:
    # The base service turns undecodable text into None, as upstream; upstream then fails
    # on None (AttributeError / TypeError). Same outcome, typed.
    service = maas.MaaSHttpService.__new__(maas.MaaSHttpService)
    service._meta_data = lambda name: None  # type: ignore[method-assign]
    with pytest.raises(maas.MaaSMetadataError, match=f"meta-data/{name} is not UTF-8 text"):
        getattr(service, getter)()


# --- property tests: only the documented error escapes ------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["10.0.0.1", "::1", "24", "255.0.255.0", "default", "dns", "static"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


@st.composite
def _mutated(draw: st.DrawFn, seed: dict[str, Any]) -> Any:
    document: Any = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(document, dict):
            break
        paths = list(_paths(document))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()) and isinstance(path[-1], str):
            document = _without(document, path)
        else:
            document = _with(document, path, draw(JSON))
    return document


PARSERS = [
    pytest.param(parse_network_config, V1, id="network config v1"),
    pytest.param(parse_network_config, V2, id="network config v2"),
    pytest.param(openstack_network.parse_network_data, NETWORK_DATA, id="network_data.json"),
    pytest.param(maas.parse_network_data, MAAS, id="MAAS network data"),
]


@pytest.mark.parametrize(("parse", "seed"), PARSERS)
def test_only_network_data_errors_escape_the_network_parsers(
    parse: Callable[[Any], network.NetworkDetailsV2], seed: dict[str, Any]
) -> None:
    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
    @given(document=_mutated(seed) | JSON)
    def check(document: Any) -> None:
        with contextlib.suppress(network.NetworkDataError):
            parse(document)

    check()


@settings(max_examples=60)
@given(details=JSON.map(lambda value: __import__("json").dumps(value)) | st.text(max_size=20))
def test_only_gce_metadata_errors_escape_the_google_ssh_details(details: str) -> None:
    line = f"Admin:ssh-rsa AAAA google-ssh {details}"
    with contextlib.suppress(gce.GCEMetadataError):
        _gce_service()._parse_ssh_key(line, "Admin")


ENCODINGS = st.sampled_from(["utf-8", "UTF-16", "latin-1", "bogus", "rot13", "idna", "base64", ""])


@settings(max_examples=60)
@given(
    encoding=ENCODINGS | st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", max_size=10),
    body=st.binary(max_size=40) | st.just(b"<Environment/>"),
)
def test_only_the_services_errors_escape_the_xml_readers(encoding: str, body: bytes) -> None:
    document = b'<?xml version="1.0" encoding="' + encoding.encode() + b'"?>' + body
    with contextlib.suppress(azure.AzureMetadataError):
        azure.parse_xml(document)
    with contextlib.suppress(ovf.OvfEnvironmentError):
        ovf._parse_xml("E:\\ovf-env.xml", document)
