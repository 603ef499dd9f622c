"""Metadata formats and network configuration: only each module's documented errors escape.

Services are fed through ``_get_data``: every path they ask for answers with the example's
bytes (valid documents of the format, mutated, or raw bytes), then every getter a plugin
calls is called. The network parsers get parsed documents with fields of wrong types.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import strategies as st

from guestsim.agent import network, network_config
from guestsim.agent.metadata import (
    azure,
    base,
    cloudstack,
    configdrive,
    documents,
    ec2,
    gce,
    maas,
    nocloud,
    opennebula,
    openstack,
    openstack_network,
    oracle,
    ovf,
    packet,
    vmware,
)
from tests.fuzz.harness import (
    FUZZ_EXAMPLES,
    Target,
    agent_context,
    blob,
    budget_errors,
    document_bytes,
    module_errors,
    mutated_document,
    run_target,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GETTERS = (
    "get_instance_id",
    "get_host_name",
    "get_public_keys",
    "get_user_pwd_encryption_key",
    "get_admin_username",
    "get_admin_password",
    "get_user_data",
    "get_decoded_user_data",
    "get_client_auth_certs",
    "get_kms_host",
    "get_network_details",
    "get_network_details_v2",
    "get_server_certs",
    "get_winrm_listeners_configuration",
    "get_instance_data",
)
BASE_ERRORS: tuple[type[BaseException], ...] = (
    base.NotExistingMetadataException,
    network.NetworkDataError,
    *budget_errors(),
)


def _fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def _tree(cloud: str) -> list[bytes]:
    return [
        path.read_bytes()
        for path in sorted((FIXTURES / "trees" / cloud).rglob("*"))
        if path.is_file()
    ]


def service_call(
    cls: type[base.MetadataService],
    typed: tuple[type[BaseException], ...],
    absent: tuple[str, ...] = (),
) -> Any:
    """Every getter of a ``cls`` whose every data path answers with the example's bytes
    (paths ending in one of ``absent`` are missing); a documented error ends one getter,
    the first is raised once all have run."""

    class Fed(cls):  # type: ignore[valid-type,misc]
        data = b""

        def _get_data(self, path: str) -> Any:
            if path.endswith(absent):
                raise base.NotExistingMetadataException(path)
            return self.data

    context = agent_context()

    def call(data: bytes) -> None:
        service = Fed(context)
        service.data = data
        first: BaseException | None = None
        for getter in GETTERS:
            try:
                getattr(service, getter)()
            except typed as ex:
                first = first or ex
        if first is not None:
            raise first

    return call


def _service(
    name: str,
    cls: type[base.MetadataService],
    module: Any,
    seeds: list[bytes],
    *extra: type[BaseException],
) -> Target:
    typed = (*module_errors(module, *extra), *BASE_ERRORS)
    return Target(name, service_call(cls, typed), typed, blob(seeds))


def _cloudstack(typed: tuple[type[BaseException], ...]) -> Any:
    """The CloudStack getters; the password server answers each request with the bytes."""
    call = service_call(cloudstack.CloudStack, typed)

    def with_password_server(data: bytes) -> None:
        answer = SimpleNamespace(status_code=200, content=data)
        with mock.patch("requests.get", lambda *args, **kwargs: answer):
            call(data)

    return with_password_server


def _vmware(value: tuple[bytes, str]) -> None:
    data, encoding = value
    documents.parse_json_or_yaml(vmware.decode_guestinfo(data, encoding))


def _ovf(data: bytes) -> None:
    class Fed(ovf.OvfService):
        def _env_path(self) -> str:
            return "E:\\ovf-env.xml"

    context = agent_context()
    context.osutils.read_file = lambda path: data
    service = Fed(context)
    # As the agent does: a document that does not parse fails load(), no getter runs.
    if not service.load():
        return
    for getter in (
        "get_instance_id",
        "get_host_name",
        "get_public_keys",
        "get_admin_username",
        "get_admin_password",
        "get_user_data",
    ):
        getattr(service, getter)()


def _json(data: bytes) -> Any:
    return json.loads(data)


OPENSTACK_NETWORK = {
    "links": [
        {"id": "tap0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1500},
        {
            "id": "bond0",
            "type": "bond",
            "bond_links": ["tap0"],
            "bond_mode": "802.3ad",
            "ethernet_mac_address": "fa:16:3e:00:00:02",
        },
        {
            "id": "vlan0",
            "type": "vlan",
            "vlan_link": "bond0",
            "vlan_id": 10,
            "vlan_mac_address": "fa:16:3e:00:00:03",
        },
    ],
    "networks": [
        {
            "id": "n0",
            "type": "ipv4",
            "link": "tap0",
            "ip_address": "10.0.0.5",
            "netmask": "255.255.255.0",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}],
        },
        {"id": "n1", "type": "ipv6", "link": "vlan0", "ip_address": "2001:db8::5/64"},
        {"id": "n2", "type": "ipv4_dhcp", "link": "bond0"},
    ],
    "services": [{"type": "dns", "address": "8.8.8.8"}],
}
NETWORK_V1 = {
    "version": 1,
    "config": [
        {
            "type": "physical",
            "name": "eth0",
            "mac_address": "00:11:22:33:44:55",
            "mtu": 1500,
            "subnets": [
                {
                    "type": "static",
                    "address": "10.0.0.5/24",
                    "gateway": "10.0.0.1",
                    "dns_nameservers": ["8.8.8.8"],
                    "routes": [
                        {"network": "10.1.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"}
                    ],
                }
            ],
        },
        {
            "type": "bond",
            "name": "bond0",
            "bond_interfaces": ["eth0"],
            "params": {"bond-mode": "active-backup"},
            "subnets": [{"type": "dhcp"}],
        },
        {"type": "vlan", "name": "vlan5", "vlan_link": "bond0", "vlan_id": 5},
        {"type": "nameserver", "address": ["1.1.1.1"], "search": ["example.com"]},
    ],
}
NETWORK_V2 = {
    "version": 2,
    "ethernets": {
        "eth0": {
            "match": {"macaddress": "00:11:22:33:44:55"},
            "set-name": "eth0",
            "addresses": ["10.0.0.5/24"],
            "gateway4": "10.0.0.1",
            "mtu": 1500,
            "nameservers": {"addresses": ["8.8.8.8"], "search": ["a"]},
            "routes": [{"to": "0.0.0.0/0", "via": "10.0.0.1"}],
        },
    },
    "bonds": {"bond0": {"interfaces": ["eth0"], "parameters": {"mode": "802.3ad"}, "dhcp4": True}},
    "vlans": {"vlan5": {"id": 5, "link": "bond0", "addresses": ["192.168.5.2/24"]}},
}
NETWORK_ERRORS = (network.NetworkDataError,)


def _documents(seeds: list[Any]) -> st.SearchStrategy[Any]:
    def decoded(data: bytes) -> Any:
        try:
            return yaml.safe_load(data)
        except (yaml.YAMLError, ValueError):
            return None

    return st.one_of(
        mutated_document(seeds), mutated_document(seeds), document_bytes(seeds).map(decoded)
    )


def targets() -> list[Target]:
    gce_seeds = [*_tree("gce"), _fixture("clouds/gce/metadata.json")]
    opennebula_seed = (
        b"# Context variables generated by OpenNebula\n"
        b"DISK_ID='1'\nETH0_IP='10.0.0.5'\nETH0_MAC='02:00:0a:00:00:05'\nETH0_MASK='255.255.255.0'\n"
        b"ETH0_GATEWAY='10.0.0.1'\nETH0_DNS='8.8.8.8 8.8.4.4'\nSET_HOSTNAME='win'\n"
        b"SSH_PUBLIC_KEY='ssh-rsa AAAA k'\nUSER_DATA='I3BzMQ=='\nUSERDATA_ENCODING='base64'\n"
        b'VAR="multi\nline"\nNUM=42\n'
    )
    ovf_seed = _fixture("clouds/azure/ovf-env.xml")
    oe_seed = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Environment xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">'
        b'<PropertySection><Property oe:key="instance-id" oe:value="i-1"/>'
        b'<Property oe:key="hostname" oe:value="win"/><Property oe:key="public-keys" oe:value="k"/>'
        b'<Property oe:key="user-data" oe:value="I3BzMQ=="/></PropertySection></Environment>'
    )
    openstack_meta = _fixture("clouds/openstack/meta_data.json")
    return [
        Target(
            "openstack-meta_data",
            # network_data.json has its own target.
            service_call(
                configdrive.ConfigDriveService,
                (*module_errors(openstack), *module_errors(configdrive), *BASE_ERRORS),
                absent=("network_data.json",),
            ),
            (*module_errors(openstack), *module_errors(configdrive), *BASE_ERRORS),
            document_bytes([json.loads(openstack_meta)]),
        ),
        Target(
            "openstack-network_data",
            openstack_network.parse_network_data,
            module_errors(openstack_network, *NETWORK_ERRORS),
            _documents([OPENSTACK_NETWORK]),
        ),
        _service(
            "ec2", ec2.EC2Service, ec2, [*_tree("ec2"), _fixture("clouds/ec2/meta-data.json")]
        ),
        _service("gce", gce.GCEService, gce, gce_seeds),
        Target(
            "azure-xml",
            azure.parse_xml,
            module_errors(azure),
            blob([ovf_seed, b'<?xml version="1.0" encoding="utf-16"?><a/>']),
        ),
        Target("ovf-xml", _ovf, module_errors(ovf, *BASE_ERRORS), blob([oe_seed])),
        _service(
            "maas",
            maas.MaaSHttpService,
            maas,
            [*_tree("maas"), _fixture("clouds/maas/meta-data.json")],
        ),
        Target(
            "maas-network",
            maas.parse_network_data,
            module_errors(maas, *NETWORK_ERRORS),
            _documents([NETWORK_V1]),
        ),
        Target(
            "cloudstack",
            _cloudstack((*module_errors(cloudstack), *BASE_ERRORS)),
            (*module_errors(cloudstack), *BASE_ERRORS),
            blob([*_tree("cloudstack"), b"saved_password", b"Pa55w0rd!"]),
        ),
        Target(
            "opennebula-context",
            opennebula.parse_context,
            module_errors(opennebula),
            blob([opennebula_seed]),
        ),
        _service(
            "packet",
            packet.PacketService,
            packet,
            [_fixture("clouds/packet/metadata.json")],
            ValueError,
        ),
        Target(
            "vmware-guestinfo",
            _vmware,
            module_errors(
                vmware,
                *module_errors(documents),
                *budget_errors(),
                UnicodeDecodeError,
                yaml.YAMLError,
            ),
            st.tuples(
                blob(
                    [
                        b"instance-id: i-1\nlocal-hostname: win\n",
                        b"aW5zdGFuY2UtaWQ6IGktMQo=",
                        b"H4sIAAAAAAAAA8vMK0nNKwEAxz0UdwcAAAA=",
                    ]
                ),
                st.sampled_from(["", "plaintext", "base64", "b64", "gzip+base64", "gz+b64", "x"]),
            ),
        ),
        _service(
            "nocloud",
            nocloud.NoCloudConfigDriveService,
            nocloud,
            [b"instance-id: i-1\nlocal-hostname: win\npublic-keys:\n  - k\n"],
        ),
        _service(
            "oracle",
            oracle.OracleCloudService,
            oracle,
            [_fixture("clouds/oracle/instance.json"), _fixture("clouds/oracle/vnics.json")],
        ),
        Target(
            "network-config-v1",
            network_config.parse_network_config,
            module_errors(network_config, *NETWORK_ERRORS),
            _documents([NETWORK_V1, {"network": NETWORK_V1}]),
        ),
        Target(
            "network-config-v2",
            network_config.parse_network_config,
            module_errors(network_config, *NETWORK_ERRORS),
            _documents([NETWORK_V2, {"network": NETWORK_V2}]),
        ),
    ]


# Untyped errors another change of issue 15 owns (reproducers in test_reproducers.py).
OWNED_ELSEWHERE: dict[str, str] = {}
NAMES = [
    "openstack-meta_data",
    "openstack-network_data",
    "ec2",
    "gce",
    "azure-xml",
    "ovf-xml",
    "maas",
    "maas-network",
    "cloudstack",
    "opennebula-context",
    "packet",
    "vmware-guestinfo",
    "nocloud",
    "oracle",
    "network-config-v1",
    "network-config-v2",
]
PARAMS = [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=OWNED_ELSEWHERE[name]))
    if name in OWNED_ELSEWHERE
    else name
    for name in NAMES
]


@pytest.mark.parametrize("name", PARAMS)
def test_metadata_parser_fails_only_with_documented_errors(name: str) -> None:
    target = next(target for target in targets() if target.name == name)
    run_target(target, FUZZ_EXAMPLES)
