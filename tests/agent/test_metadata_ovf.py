"""The agent's OvfService against ``ovf-env.xml`` on simulated drives (§3.10, edge case 18)."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.ovf import OvfEnvironmentError, OvfService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.machine import Machine
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from guestsim.simulator.windows.storage import attach_cdrom
from tests.agent.test_metadata_opennebula import build_iso
from tests.builders import PLUGIN, public_key, standalone_osutils

OVF = "cloudbaseinit.metadata.services.ovfservice.OvfService"
USER_DATA = b"#cloud-config\nwrite_files: []\n"
ENV_NS = "http://schemas.dmtf.org/ovf/environment/1"


def environment(
    properties: list[tuple[str, str]] | None = None,
    *,
    prefix: str = "oe",
    root: str = "Environment",
    section: str = "PropertySection",
) -> bytes:
    """An ovf-env.xml document; ``properties`` None gives the six usual ones."""
    if properties is None:
        properties = [
            ("instance-id", "iid-ovf-sim-01"),
            ("hostname", "ovf-sim-01"),
            ("public-keys", public_key()),
            ("username", "simadmin"),
            ("password", "Sim-Passw0rd!"),
            ("user-data", base64.b64encode(USER_DATA).decode()),
        ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<{root} xmlns="{ENV_NS}" xmlns:{prefix}="{ENV_NS}"',
        '     xmlns:ovfenv="http://example.invalid/other">',
        "  <PlatformSection><Kind>VMware ESXi</Kind></PlatformSection>",
        f"  <{section}>",
        *(
            f'    <Property {prefix}:key="{key}" {prefix}:value="{value}"/>'
            for key, value in properties
        ),
        f"  </{section}>",
        f"</{root}>",
    ]
    return "\n".join(lines).encode()


def ovf_state(document: bytes | None = None, label: str = "OVF ENV") -> WindowsState:
    state = default_windows_state()
    attach_cdrom(state, build_iso({"ovf-env.xml": document or environment()}, label))
    return state


def service_for(
    state: WindowsState, ovf_options: dict[str, Any] | None = None
) -> tuple[OvfService, FakeOSUtils]:
    osutils = standalone_osutils([], state)
    options: dict[str, Any] = {"DEFAULT": {"metadata_services": [OVF]}}
    if ovf_options:
        options["ovf"] = ovf_options
    conf = config_from_options(options, "test")
    return OvfService(AgentContext(conf=conf, osutils=osutils)), osutils


def loaded(document: bytes, **options: Any) -> OvfService:
    service, _ = service_for(ovf_state(document), options)
    assert service.load() is True
    return service


# --- discovery ------------------------------------------------------------------------------


def test_name_is_the_upstream_class_name() -> None:
    service, _ = service_for(default_windows_state())
    assert service.get_name() == "OvfService"


def test_load_reads_the_environment_from_the_drive_labelled_ovf_env() -> None:
    service, osutils = service_for(ovf_state())
    assert osutils.get_volume_label("D:\\") == "OVF ENV"
    assert service.load() is True
    assert service.get_instance_id() == "iid-ovf-sim-01"
    assert osutils.trace.of_kind("os") == []


def test_the_label_is_matched_case_insensitively() -> None:
    service, _ = service_for(ovf_state(label="ovf env"))
    assert service.load() is True


def test_any_logical_drive_can_carry_the_environment() -> None:
    state = default_windows_state()
    state.attach_drive(Drive("E", "OVF ENV", "fixed"), {"ovf-env.xml": environment()})
    service, _ = service_for(state)
    assert service.load() is True
    assert service.get_host_name() == "ovf-sim-01"


def test_the_last_matching_drive_wins() -> None:
    state = default_windows_state()
    first = environment([("instance-id", "from-d")])
    attach_cdrom(state, build_iso({"ovf-env.xml": first}, "OVF ENV"))
    state.attach_drive(Drive("E", "ovf env", "fixed"), {"ovf-env.xml": environment()})
    service, _ = service_for(state)
    assert service.load() is True
    assert service.get_instance_id() == "iid-ovf-sim-01"


def test_the_last_matching_drive_wins_even_without_the_file() -> None:
    state = ovf_state()
    state.attach_drive(Drive("E", "OVF ENV", "fixed"), {"other.xml": b"<x/>"})
    service, _ = service_for(state)
    assert service.load() is False


def test_drive_label_and_file_name_options_are_honoured() -> None:
    state = default_windows_state()
    attach_cdrom(state, build_iso({"env.xml": environment()}, "VAPP"))
    service, _ = service_for(state)
    assert service.load() is False
    service, _ = service_for(state, {"drive_label": "vapp", "config_file_name": "env.xml"})
    assert service.load() is True
    assert service.get_host_name() == "ovf-sim-01"


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(default_windows_state(), id="no drive"),
        pytest.param(ovf_state(label="OVF_ENV"), id="other label"),
        pytest.param(ovf_state(b"<Environment><PropertySection>"), id="not well-formed"),
        pytest.param(ovf_state(b"<oe:Environment/>"), id="unbound prefix"),
    ],
)
def test_load_is_false_without_a_readable_environment(state: WindowsState) -> None:
    service, _ = service_for(state)
    assert service.load() is False


def test_a_label_only_drive_without_the_file_does_not_load() -> None:
    state = default_windows_state()
    attach_cdrom(state, build_iso({"readme.txt": b"x"}, "OVF ENV"))
    service, _ = service_for(state)
    assert service.load() is False


# --- getters ----------------------------------------------------------------------------------


def test_getters_read_their_properties() -> None:
    service = loaded(environment())
    assert service.get_instance_id() == "iid-ovf-sim-01"
    assert service.get_host_name() == "ovf-sim-01"
    assert service.get_public_keys() == [public_key()]
    assert service.get_admin_username() == "simadmin"
    assert service.get_admin_password() == "Sim-Passw0rd!"
    assert service.get_user_data() == base64.b64encode(USER_DATA)
    assert service.get_decoded_user_data() == USER_DATA


def test_upstream_defaults_for_what_ovf_does_not_provide() -> None:
    service = loaded(environment())
    assert service.get_network_details() is None
    assert service.get_network_details_v2() is None
    assert service.can_post_password is False
    assert service.get_client_auth_certs() is None


def test_missing_properties_give_none_and_the_default_instance_id() -> None:
    service = loaded(environment([("unrelated", "x")]))
    assert service.get_instance_id() == "iid-ovf"
    assert service.get_host_name() is None
    assert service.get_public_keys() == []
    assert service.get_admin_username() is None
    assert service.get_admin_password() is None
    assert service.get_user_data() is None
    assert service.get_decoded_user_data() is None


def test_values_are_stripped_and_empty_ones_dropped() -> None:
    service = loaded(
        environment([("hostname", "  "), ("hostname", "  spaced-name  "), ("public-keys", "")])
    )
    assert service.get_host_name() == "spaced-name"
    assert service.get_public_keys() == []


def test_repeated_properties_all_count_for_keys_and_the_first_for_the_rest() -> None:
    service = loaded(
        environment(
            [
                ("public-keys", "ssh-rsa AAAA one"),
                ("hostname", "first"),
                ("public-keys", "ssh-rsa BBBB two"),
                ("hostname", "second"),
            ]
        )
    )
    assert service.get_public_keys() == ["ssh-rsa AAAA one", "ssh-rsa BBBB two"]
    assert service.get_host_name() == "first"


def test_gzip_user_data_is_base64_decoded_but_not_expanded() -> None:
    packed = gzip.compress(USER_DATA, mtime=0)
    service = loaded(environment([("user-data", base64.b64encode(packed).decode())]))
    assert service.get_decoded_user_data() == packed


# --- quirks (edge case 18) --------------------------------------------------------------------


def test_attribute_prefixes_are_literal_whatever_namespace_they_are_bound_to() -> None:
    # Same namespace URI as "oe", but another prefix: nothing is matched.
    document = environment(prefix="ovfenv2")
    service = loaded(document)
    assert service.get_instance_id() == "iid-ovf"
    assert service.get_host_name() is None
    # Telling the agent the prefix makes it readable.
    assert loaded(document, ns="ovfenv2").get_host_name() == "ovf-sim-01"


def test_a_prefixed_environment_or_section_holds_no_properties() -> None:
    for document in (
        environment(root="ovfenv:Environment"),
        environment(section="ovfenv:PropertySection"),
    ):
        service = loaded(document)
        with pytest.raises(OvfEnvironmentError):
            service.get_instance_id()


def test_without_any_property_the_single_value_getters_crash() -> None:
    service = loaded(environment([]))
    for getter in (
        service.get_instance_id,
        service.get_host_name,
        service.get_admin_username,
        service.get_admin_password,
        service.get_user_data,
        service.get_decoded_user_data,
    ):
        with pytest.raises(OvfEnvironmentError, match="no Property"):
            getter()
    assert service.get_public_keys() is None


def test_without_any_property_the_run_aborts_at_the_instance_id() -> None:
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [OVF], "plugins": [PLUGIN["hostname"]]}}, "test"
    )
    result = Machine(conf, state=ovf_state(environment([]))).run()
    assert result.boot_count == 1
    assert result.boots[0].outcome == "crashed"
    assert result.trace.of_kind("plugin_start") == []


# --- a whole boot -----------------------------------------------------------------------------


def test_a_guest_with_an_ovf_environment_is_named_and_gets_the_admin_account() -> None:
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [OVF],
                "plugins": [PLUGIN["hostname"], PLUGIN["createuser"], PLUGIN["password"]],
            }
        },
        "test",
    )
    result = Machine(conf, state=ovf_state()).run()
    assert result.boot_count == 2
    assert result.state.computer_name == "ovf-sim-01"
    admin = result.state.find_user("simadmin")
    assert admin is not None
    assert admin.password == "Sim-Passw0rd!"
    # A clear-text injected password must be changed at first logon (the default).
    assert admin.password_expired is True
    key = f"{AGENT_KEY}\\iid-ovf-sim-01\\Plugins"
    for plugin in ("SetHostNamePlugin", "CreateUserPlugin", "SetUserPasswordPlugin"):
        assert result.state.registry.get_value(key, plugin).data == 1
