"""The agent's VMwareGuestInfoService against a simulated VMware Tools ``rpctool.exe`` (§3.12)."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
import yaml

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.metadata.vmware import (
    UnsupportedEncodingError,
    VMwareGuestInfoService,
    decode_guestinfo,
)
from guestsim.agent.network import (
    Link,
    NameServerService,
    Network,
    NetworkDataError,
    NetworkDetailsV2,
    Route,
)
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.machine import Machine
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.processes import VMWARE_RPCTOOL, install_vmware_tools
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from tests.builders import PLUGIN, public_key, standalone_osutils

VMWARE = "cloudbaseinit.metadata.services.vmwareguestinfoservice.VMwareGuestInfoService"
USER_DATA = b"#cloud-config\nwrite_files: []\n"

METADATA_YAML = f"""instance-id: vmw-sim-01
local-hostname: vmw-sim-01
admin-username: simadmin
admin-password: Sim-Passw0rd!
public-keys-data: |
  {public_key()}
  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIVmwsim second@example
    {public_key()}
network:
  version: 2
  ethernets:
    nic0:
      match: {{macaddress: "00:50:56:00:50:01"}}
      set-name: Ethernet0
      addresses: [172.16.5.20/24]
      gateway4: 172.16.5.1
      nameservers: {{addresses: [172.16.5.53]}}
"""


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def gz_b64(data: bytes) -> bytes:
    return base64.b64encode(gzip.compress(data, mtime=0))


def vmware_state(guestinfo: dict[str, bytes] | None = None) -> WindowsState:
    state = default_windows_state()
    if guestinfo is None:
        guestinfo = {"guestinfo.metadata": METADATA_YAML.encode(), "guestinfo.userdata": USER_DATA}
    install_vmware_tools(state, guestinfo)
    return state


def service_for(
    state: WindowsState, rpctool_path: str | None = None
) -> tuple[VMwareGuestInfoService, FakeOSUtils]:
    osutils = standalone_osutils([], state)
    options: dict[str, Any] = {"DEFAULT": {"metadata_services": [VMWARE]}}
    if rpctool_path is not None:
        options["vmwareguestinfo"] = {"vmware_rpctool_path": rpctool_path}
    conf = config_from_options(options, "test")
    return VMwareGuestInfoService(AgentContext(conf=conf, osutils=osutils)), osutils


def loaded(guestinfo: dict[str, bytes]) -> VMwareGuestInfoService:
    service, _ = service_for(vmware_state(guestinfo))
    assert service.load() is True
    return service


def rpctool_calls(osutils: FakeOSUtils) -> list[list[str]]:
    return [
        e.get("args") for e in osutils.trace.of_kind("os") if e.get("call") == "execute_process"
    ]


# --- discovery ------------------------------------------------------------------------------


def test_name_is_the_upstream_class_name() -> None:
    service, _ = service_for(default_windows_state())
    assert service.get_name() == "VMwareGuestInfoService"


def test_load_asks_rpctool_for_each_key_and_its_encoding() -> None:
    service, osutils = service_for(vmware_state())
    assert service.load() is True
    tool = "C:\\Program Files\\VMware\\VMware Tools\\rpctool.exe"
    assert tool == VMWARE_RPCTOOL
    assert rpctool_calls(osutils) == [
        [tool, "info-get guestinfo.metadata"],
        [tool, "info-get guestinfo.metadata.encoding"],
        [tool, "info-get guestinfo.userdata"],
        [tool, "info-get guestinfo.userdata.encoding"],
    ]


def test_load_is_false_without_vmware_tools_and_nothing_is_run() -> None:
    service, osutils = service_for(default_windows_state())
    assert service.load() is False
    assert rpctool_calls(osutils) == []


def test_an_empty_rpctool_option_disables_the_service() -> None:
    service, osutils = service_for(vmware_state(), rpctool_path="")
    assert service.load() is False
    assert rpctool_calls(osutils) == []


@pytest.mark.parametrize(
    "configured",
    [
        "%ProgramFiles%/VMware/VMware Tools/rpctool.exe",
        "%programfiles%\\VMware\\.\\VMware Tools\\..\\VMware Tools\\rpctool.exe",
        "C:/Program Files/VMware/VMware Tools/rpctool.exe",
    ],
)
def test_the_tool_path_is_expanded_and_made_absolute(configured: str) -> None:
    service, osutils = service_for(vmware_state(), rpctool_path=configured)
    assert service.load() is True
    assert {call[0] for call in rpctool_calls(osutils)} == {VMWARE_RPCTOOL}


def test_a_relative_tool_path_is_taken_from_the_system_folder() -> None:
    state = vmware_state()
    state.files.write("C:\\Windows\\system32\\rpctool.exe", b"MZ")
    service, osutils = service_for(state, rpctool_path="rpctool.exe")
    assert service.load() is True
    assert {call[0] for call in rpctool_calls(osutils)} == {"C:\\Windows\\system32\\rpctool.exe"}


def test_load_is_falsy_when_neither_metadata_nor_user_data_is_set() -> None:
    service, osutils = service_for(vmware_state({}))
    assert not service.load()
    assert len(rpctool_calls(osutils)) == 4


def test_off_vmware_the_tool_answers_nothing_and_load_is_falsy() -> None:
    state = vmware_state()
    state.guestinfo = None
    service, _ = service_for(state)
    assert not service.load()


def test_user_data_alone_or_metadata_alone_is_enough() -> None:
    assert loaded({"guestinfo.userdata": b"#ps1\n"}).get_instance_id() is None
    service = loaded({"guestinfo.metadata": b'{"instance-id": "i-1"}'})
    assert service.get_instance_id() == "i-1"
    assert service.get_user_data() is None


def test_discovery_picks_vmware() -> None:
    osutils = standalone_osutils([], vmware_state())
    conf = config_from_options({"DEFAULT": {"metadata_services": [VMWARE]}}, "test")
    service = get_metadata_service(AgentContext(conf=conf, osutils=osutils))
    assert isinstance(service, VMwareGuestInfoService)


# --- getters ----------------------------------------------------------------------------------


def test_getters_read_the_metadata() -> None:
    service = loaded(
        {"guestinfo.metadata": METADATA_YAML.encode(), "guestinfo.userdata": USER_DATA}
    )
    assert service.get_instance_id() == "vmw-sim-01"
    assert service.get_host_name() == "vmw-sim-01"
    assert service.get_admin_username() == "simadmin"
    assert service.get_admin_password() == "Sim-Passw0rd!"
    # Stripped and de-duplicated.
    assert service.get_public_keys() == [
        public_key(),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIVmwsim second@example",
    ]
    assert service.get_user_data() == USER_DATA
    assert service.get_decoded_user_data() == USER_DATA


def test_upstream_defaults_for_what_the_metadata_lacks() -> None:
    service = loaded({"guestinfo.metadata": b"{}", "guestinfo.userdata": b"x"})
    assert service.get_instance_id() is None
    assert service.get_host_name() is None
    assert service.get_admin_username() is None
    assert service.get_admin_password() is None
    assert service.get_public_keys() == []
    assert service.get_network_details_v2() is None
    assert service.get_network_details() is None
    assert service.can_post_password is False


def test_metadata_json_is_read_as_json() -> None:
    document = {"instance-id": "json-1", "local-hostname": "json-host"}
    service = loaded({"guestinfo.metadata": json.dumps(document).encode()})
    assert (service.get_instance_id(), service.get_host_name()) == ("json-1", "json-host")


def test_metadata_that_is_not_a_mapping_is_ignored() -> None:
    service = loaded({"guestinfo.metadata": b"- a\n- list\n", "guestinfo.userdata": b"x"})
    assert service.get_instance_id() is None
    service, _ = service_for(vmware_state({"guestinfo.metadata": b"just text"}))
    assert not service.load()


def test_yaml_metadata_cannot_build_python_objects() -> None:
    service, _ = service_for(
        vmware_state({"guestinfo.metadata": b"a: !!python/object/apply:os.getcwd []\n"})
    )
    with pytest.raises(yaml.YAMLError):
        service.load()


def test_the_tool_output_is_not_stripped() -> None:
    service = loaded({"guestinfo.userdata": b"  #ps1\r\nhostname\r\n\r\n"})
    assert service.get_user_data() == b"  #ps1\r\nhostname\r\n\r\n"


# --- encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, lambda data: data),
        (b"", lambda data: data),
        (b"plaintext", lambda data: data),
        (b"base64", b64),
        (b"b64\n", b64),
        (b"gzip+base64", gz_b64),
        (b" gz+b64 ", gz_b64),
    ],
)
def test_each_encoding_is_decoded(encoding: bytes | None, encode: Any) -> None:
    metadata = b"instance-id: enc-1\n"
    guestinfo = {
        "guestinfo.metadata": encode(metadata),
        "guestinfo.userdata": encode(USER_DATA),
    }
    if encoding is not None:
        guestinfo["guestinfo.metadata.encoding"] = encoding
        guestinfo["guestinfo.userdata.encoding"] = encoding
    service = loaded(guestinfo)
    assert service.get_instance_id() == "enc-1"
    assert service.get_user_data() == USER_DATA


@pytest.mark.parametrize("key", ["metadata", "userdata"])
def test_an_unknown_encoding_fails_the_load(key: str) -> None:
    service, osutils = service_for(
        vmware_state(
            {
                "guestinfo.metadata": b"instance-id: x\n",
                f"guestinfo.{key}.encoding": b"rot13",
            }
        )
    )
    with pytest.raises(UnsupportedEncodingError, match="rot13"):
        service.load()
    # As upstream: the value is fetched first, then its encoding, which is then refused;
    # nothing is asked after that.
    assert [args[1] for args in rpctool_calls(osutils)][-2:] == [
        f"info-get guestinfo.{key}",
        f"info-get guestinfo.{key}.encoding",
    ]


def test_a_load_error_makes_discovery_move_on() -> None:
    state = vmware_state({"guestinfo.userdata.encoding": b"zip"})
    osutils = standalone_osutils([], state)
    events: list[tuple[str, dict[str, Any]]] = []
    conf = config_from_options({"DEFAULT": {"metadata_services": [VMWARE]}}, "test")

    def record(kind: str, /, **fields: Any) -> None:
        events.append((kind, fields))

    context = AgentContext(conf=conf, osutils=osutils, events=record)
    with pytest.raises(Exception, match="No available service found"):
        get_metadata_service(context)
    assert events[0][1]["result"] == "error"
    assert events[0][1]["error"] == "UnsupportedEncodingError"


def test_gzip_user_data_in_plaintext_is_expanded_by_the_decoded_getter() -> None:
    packed = gzip.compress(USER_DATA, mtime=0)
    service = loaded({"guestinfo.userdata": b64(packed), "guestinfo.userdata.encoding": b"b64"})
    assert service.get_user_data() == packed
    assert service.get_decoded_user_data() == USER_DATA
    # Twice gzipped: the encoding removes one layer, the decoded getter the other.
    twice = gz_b64(packed)
    service = loaded({"guestinfo.userdata": twice, "guestinfo.userdata.encoding": b"gz+b64"})
    assert service.get_decoded_user_data() == USER_DATA


def test_decode_guestinfo_of_nothing_is_empty() -> None:
    assert decode_guestinfo(None, "base64") == b""
    assert decode_guestinfo("", "gzip+base64") == b""
    assert decode_guestinfo("aGk=", "b64") == b"hi"


# --- network --------------------------------------------------------------------------------

EXPECTED_NETWORK = NetworkDetailsV2(
    links=[Link("nic0", "Ethernet0", "physical", True, "00:50:56:00:50:01")],
    networks=[
        Network("Ethernet0", "172.16.5.20/24", ["172.16.5.53"], [Route("0.0.0.0/0", "172.16.5.1")])
    ],
    services=[NameServerService(["172.16.5.53"], [])],
)


def test_network_mapping_is_parsed_as_network_config() -> None:
    service = loaded({"guestinfo.metadata": METADATA_YAML.encode()})
    assert service.get_network_details_v2() == EXPECTED_NETWORK


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [(None, lambda data: data), ("base64", b64), ("gzip+base64", gz_b64)],
)
def test_an_encoded_network_string_is_decoded_first(encoding: str | None, encode: Any) -> None:
    network = yaml.safe_load(METADATA_YAML)["network"]
    metadata: dict[str, Any] = {
        "instance-id": "n-1",
        "network": encode(json.dumps(network).encode()).decode(),
    }
    if encoding is not None:
        metadata["network.encoding"] = encoding
    service = loaded({"guestinfo.metadata": json.dumps(metadata).encode()})
    assert service.get_network_details_v2() == EXPECTED_NETWORK


def test_network_v1_and_an_outer_network_key_are_understood() -> None:
    metadata = {
        "network": {
            "network": {
                "version": 1,
                "config": [
                    {
                        "type": "physical",
                        "name": "Ethernet0",
                        "mac_address": "00:50:56:00:50:01",
                        "subnets": [{"type": "static", "address": "172.16.5.20/24"}],
                    }
                ],
            }
        }
    }
    details = loaded({"guestinfo.metadata": json.dumps(metadata).encode()}).get_network_details_v2()
    assert details is not None
    assert [n.address_cidr for n in details.networks] == ["172.16.5.20/24"]


def test_an_unsupported_network_version_raises() -> None:
    metadata = {"network": {"version": 3}}
    service = loaded({"guestinfo.metadata": json.dumps(metadata).encode()})
    with pytest.raises(NetworkDataError, match="version"):
        service.get_network_details_v2()


def test_an_unknown_network_encoding_raises() -> None:
    metadata = {"network": "e30=", "network.encoding": "base32"}
    service = loaded({"guestinfo.metadata": json.dumps(metadata).encode()})
    with pytest.raises(UnsupportedEncodingError):
        service.get_network_details_v2()


# --- the simulated rpctool ------------------------------------------------------------------


def test_rpctool_answers_info_get_from_the_guestinfo() -> None:
    osutils = standalone_osutils([], vmware_state({"guestinfo.Metadata": b"value\n"}))
    assert osutils.execute_process([VMWARE_RPCTOOL, "info-get guestinfo.metadata"]) == (
        b"value\n",
        b"",
        0,
    )
    out, err, code = osutils.execute_process([VMWARE_RPCTOOL, "info-get guestinfo.absent"])
    assert (out, code) == (b"", 1)
    assert b"No value found" in err


def test_rpctool_that_is_not_installed_cannot_be_started() -> None:
    osutils = standalone_osutils([], default_windows_state())
    with pytest.raises(FileNotFoundError):
        osutils.execute_process([VMWARE_RPCTOOL, "info-get guestinfo.metadata"])
    assert osutils.trace.of_kind("os") == []


@pytest.mark.parametrize(
    "args", [["info-set guestinfo.x 1"], ["info-get", "guestinfo.metadata"], []]
)
def test_other_rpctool_commands_are_not_modelled(args: list[str]) -> None:
    osutils = standalone_osutils([], vmware_state())
    with pytest.raises(NotModelled, match="execute_process"):
        osutils.execute_process([VMWARE_RPCTOOL, *args])


# --- a whole boot -----------------------------------------------------------------------------


def test_a_guest_on_vmware_is_named_and_gets_the_admin_account() -> None:
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [VMWARE],
                "plugins": [PLUGIN["hostname"], PLUGIN["createuser"], PLUGIN["password"]],
            }
        },
        "test",
    )
    result = Machine(conf, state=vmware_state()).run()
    assert result.boot_count == 2
    assert result.state.computer_name == "vmw-sim-01"
    admin = result.state.find_user("simadmin")
    assert admin is not None and admin.password == "Sim-Passw0rd!"
    assert admin.password_expired is True
    key = f"{AGENT_KEY}\\vmw-sim-01\\Plugins"
    for plugin in ("SetHostNamePlugin", "CreateUserPlugin", "SetUserPasswordPlugin"):
        assert result.state.registry.get_value(key, plugin).data == 1
