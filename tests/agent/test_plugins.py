"""Plugin behaviour on a simulated OpenStack guest: final machine state, trace, what the cloud got.

Every test boots a whole :class:`guestsim.simulator.machine.Machine` and asserts what a user of the
guest would observe: the computer name, accounts and groups, services, registry values, the
DHCP and HTTP traffic, and the ``plugin_end`` event the agent records (status stored in the
registry, reboot flag, success).
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import example, given
from hypothesis import strategies as st

from guestsim.agent.hostname import NETBIOS_HOST_NAME_MAX_LEN, normalise_host_name
from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.clouds.openstack import OpenStackCloud
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.trace import Event, Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import (
    AGENT_KEY,
    BUILTIN_ADMIN_RID,
    TIME_ZONE_KEY,
    UserAccount,
    WindowsState,
)
from guestsim.simulator.windows.version import WindowsVersion
from tests.builders import FIXTURES, INSTANCE_ID, meta_data, openstack_machine

ORIGINAL_NAME = "WIN-GUESTSIM01"
DHCP_SERVER = "10.0.0.1"  # the DHCP server of the default state's only adapter
PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@host"
)


# --- helpers -----------------------------------------------------------------------------------


def plugin_ends(result: RunResult, plugin: str) -> list[Event]:
    return [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]


def only_end(result: RunResult, plugin: str) -> Event:
    ends = plugin_ends(result, plugin)
    assert len(ends) == 1, ends
    return ends[0]


def outcome(event: Event) -> tuple[Any, Any]:
    """(status, reboot) of a plugin_end event, as the plugin returned them."""
    assert event.get("success") is True, event
    return event.get("status"), event.get("reboot")


def os_calls(result: RunResult, call: str, boot: int | None = None) -> list[Event]:
    return [
        e
        for e in result.trace.of_kind("os")
        if e.get("call") == call and (boot is None or e.boot == boot)
    ]


def stored_status(state: WindowsState, plugin: str) -> object:
    registry = state.registry
    if not registry.key_exists(PLUGINS_KEY):
        return None
    names = {name.lower(): value.data for name, value in registry.values(PLUGINS_KEY)}
    return names.get(plugin.lower())


def decrypt_posted(cloud: OpenStackCloud) -> str:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    ciphertext = base64.b64decode(cloud.model.password, validate=True)
    return key.decrypt(ciphertext, padding.PKCS1v15()).decode("utf-8")


def post_requests(cloud: OpenStackCloud) -> list[str]:
    return [r.path for r in cloud.requests if r.method == "POST"]


def fake_os_over(state: WindowsState) -> FakeOSUtils:
    """A FakeOSUtils over a finished run's state, for read-only queries."""

    def refuse(*_: Any) -> Any:
        raise AssertionError("read-only use")

    hooks = MachineHooks(sleep=refuse, reboot=refuse, service_stopped=refuse, run_as_user=refuse)
    return FakeOSUtils(state, Trace(), random.Random(0), hooks)


def run(
    plugins: tuple[str, ...],
    options: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[RunResult, OpenStackCloud, Machine]:
    machine, cloud = openstack_machine(plugins, options, document, **kwargs)
    return machine.run(), cloud, machine


# --- SetHostNamePlugin -------------------------------------------------------------------------


def test_sethostname_uses_short_name_of_fqdn_and_reboots_once() -> None:
    result, _, _ = run(("hostname",), document=meta_data(hostname="web-01.novalocal"))

    end = only_end(result, "SetHostNamePlugin")
    assert outcome(end) == (PLUGIN_EXECUTION_DONE, True)
    assert [e.get("name") for e in os_calls(result, "set_host_name")] == ["web-01"]
    assert result.boot_count == 2
    assert result.boots[0].outcome == "reboot"
    assert result.boots[0].reboot_requested_by == "SetHostNamePlugin"
    # The new name is only active once Windows restarted.
    assert [e.get("computer_name") for e in result.trace.of_kind("boot")] == [
        ORIGINAL_NAME,
        "web-01",
    ]
    assert result.state.computer_name == "web-01"
    assert stored_status(result.state, "SetHostNamePlugin") == PLUGIN_EXECUTION_DONE
    skipped = result.trace.of_kind("plugin_skipped")
    assert [(e.boot, e.get("plugin"), e.get("reason")) for e in skipped] == [
        (2, "SetHostNamePlugin", "done")
    ]


def test_sethostname_truncates_to_15_chars_with_netbios_compatibility() -> None:
    result, _, _ = run(
        ("hostname",), document=meta_data(hostname="averylonghostname01.example.org")
    )

    assert outcome(only_end(result, "SetHostNamePlugin")) == (PLUGIN_EXECUTION_DONE, True)
    assert result.state.computer_name == "averylonghostna"
    assert len(result.state.computer_name) == NETBIOS_HOST_NAME_MAX_LEN


def test_sethostname_keeps_long_name_without_netbios_compatibility() -> None:
    result, _, _ = run(
        ("hostname",),
        {"netbios_host_name_compatibility": False},
        meta_data(hostname="averylonghostname01.example.org"),
    )

    assert outcome(only_end(result, "SetHostNamePlugin")) == (PLUGIN_EXECUTION_DONE, True)
    assert result.state.computer_name == "averylonghostname01"


def test_sethostname_replaces_a_single_trailing_hyphen_with_zero() -> None:
    result, _, _ = run(("hostname",), document=meta_data(hostname="node-.example.org"))

    assert result.state.computer_name == "node0"


def test_sethostname_trailing_hyphen_after_truncation_becomes_zero() -> None:
    # Truncation happens first, so a '-' landing at position 15 is replaced too.
    result, _, _ = run(("hostname",), document=meta_data(hostname="abcdefghijklmn-xyz"))

    assert result.state.computer_name == "abcdefghijklmn0"


def test_sethostname_same_name_case_insensitively_needs_no_reboot() -> None:
    result, _, _ = run(("hostname",), document=meta_data(hostname="win-guestsim01.novalocal"))

    assert outcome(only_end(result, "SetHostNamePlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_host_name") == []
    assert result.boot_count == 1
    assert result.state.computer_name == ORIGINAL_NAME
    assert result.state.pending_computer_name is None


def test_sethostname_without_hostname_in_metadata_changes_nothing() -> None:
    document = meta_data()
    del document["hostname"]
    result, _, _ = run(("hostname",), document=document)

    assert outcome(only_end(result, "SetHostNamePlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_host_name") == []
    assert result.boot_count == 1
    assert result.state.computer_name == ORIGINAL_NAME
    assert stored_status(result.state, "SetHostNamePlugin") == PLUGIN_EXECUTION_DONE
    assert any("Hostname not found in metadata" in line for line in result.log)


def test_sethostname_without_allow_reboot_sets_name_for_next_boot_only() -> None:
    result, _, _ = run(
        ("hostname",), {"allow_reboot": False}, meta_data(hostname="web-01.novalocal")
    )

    assert outcome(only_end(result, "SetHostNamePlugin")) == (PLUGIN_EXECUTION_DONE, True)
    assert result.boot_count == 1
    assert result.state.computer_name == ORIGINAL_NAME
    assert result.state.pending_computer_name == "web-01"


_LABEL = st.text(alphabet="abcXYZ019-", max_size=24)
_HOST_NAMES = st.builds(
    lambda label, domain: label + domain,
    _LABEL,
    st.sampled_from(["", ".", ".example.org", ".a-.b", "..x"]),
)


@pytest.mark.parametrize(
    ("name", "compatible", "expected"),
    [
        ("web-01.novalocal", True, "web-01"),
        ("abcdefghijklmno", True, "abcdefghijklmno"),  # exactly 15: kept
        ("abcdefghijklmnop", True, "abcdefghijklmno"),  # 16: cut
        ("abcdefghijklmnop", False, "abcdefghijklmnop"),
        ("node-", True, "node0"),
        ("node--", True, "node-0"),  # only the last hyphen
        ("-", True, "0"),
        ("", True, ""),
        (".example.org", True, ""),
    ],
)
def test_normalise_host_name_examples(name: str, compatible: bool, expected: str) -> None:
    assert normalise_host_name(name, compatible) == expected


@given(name=_HOST_NAMES, compatible=st.booleans())
@example(name="abcdefghijklmnop", compatible=True)
@example(name="abcdefghijklmn-x.y", compatible=True)
def test_normalise_host_name_properties(name: str, compatible: bool) -> None:
    result = normalise_host_name(name, compatible)

    assert "." not in result
    assert not result.endswith("-")
    if compatible:
        assert len(result) <= NETBIOS_HOST_NAME_MAX_LEN
    short = name.split(".", 1)[0]
    expected_prefix = short[:NETBIOS_HOST_NAME_MAX_LEN] if compatible else short
    # Only the last character may differ (a '-' turned into '0').
    assert len(result) == len(expected_prefix)
    assert result[:-1] == expected_prefix[:-1]
    # Applying the rules again changes nothing.
    assert normalise_host_name(result, compatible) == result


# --- CreateUserPlugin --------------------------------------------------------------------------


def test_createuser_creates_admin_with_password_groups_and_profile() -> None:
    result, _, _ = run(("createuser",))

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    state = result.state
    user = state.find_user("Admin")
    assert user is not None
    assert user.rid >= 1000
    assert user.password is not None
    assert len(user.password) == 20
    assert user.password_never_expires is True
    administrators = state.find_group("Administrators")
    assert administrators is not None
    assert "Admin" in administrators.members
    # Logging on once created the profile, as Windows does.
    assert state.files.is_dir("C:\\Users\\Admin")
    assert fake_os_over(state).get_user_home("admin") == "C:\\Users\\Admin"
    assert [e.get("username") for e in os_calls(result, "create_user")] == ["Admin"]
    assert stored_status(state, "CreateUserPlugin") == PLUGIN_EXECUTION_DONE


def test_createuser_uses_metadata_admin_username() -> None:
    document = meta_data(meta={"admin_username": "cloudadmin"})
    result, _, _ = run(("createuser",), document=document)

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.find_user("cloudadmin") is not None
    assert result.state.find_user("Admin") is None
    administrators = result.state.find_group("administrators")
    assert administrators is not None
    assert "cloudadmin" in administrators.members
    assert result.state.files.is_dir("C:\\Users\\cloudadmin")


def test_createuser_existing_user_gets_new_password_and_is_not_recreated() -> None:
    state = default_windows_state()
    state.users.append(UserAccount("admin", 1000, password="old-Passw0rd"))
    result, _, _ = run(("createuser",), state=state)

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "create_user") == []
    assert [e.get("username") for e in os_calls(result, "set_user_password")] == ["Admin"]
    users = [u for u in result.state.users if u.name.lower() == "admin"]
    assert len(users) == 1
    assert users[0].rid == 1000
    assert users[0].password not in (None, "old-Passw0rd")
    administrators = result.state.find_group("Administrators")
    assert administrators is not None
    assert "admin" in administrators.members


def test_createuser_rename_admin_user_renames_builtin_administrator() -> None:
    result, _, _ = run(("createuser",), {"rename_admin_user": True})

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    state = result.state
    assert state.find_user("Administrator") is None
    renamed = state.find_user("Admin")
    assert renamed is not None
    assert renamed.rid == BUILTIN_ADMIN_RID
    assert renamed.sid.endswith("-500")
    assert renamed.password is not None
    assert os_calls(result, "create_user") == []
    assert [
        (e.get("username"), e.get("new_username")) for e in os_calls(result, "rename_user")
    ] == [("Administrator", "Admin")]
    administrators = state.find_group("Administrators")
    assert administrators is not None
    assert administrators.members.count("Admin") == 1
    assert "Administrator" not in administrators.members
    assert [u.rid for u in state.users if u.rid == BUILTIN_ADMIN_RID] == [BUILTIN_ADMIN_RID]


def test_createuser_rename_skipped_when_builtin_admin_already_has_the_name() -> None:
    result, _, _ = run(("createuser",), {"rename_admin_user": True, "username": "administrator"})

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "rename_user") == []
    assert os_calls(result, "create_user") == []
    admin = result.state.find_user("Administrator")
    assert admin is not None
    assert admin.rid == BUILTIN_ADMIN_RID


def test_createuser_missing_group_is_logged_and_plugin_still_done() -> None:
    result, _, _ = run(("createuser",), {"groups": ["NoSuchGroup", "Administrators"]})

    assert outcome(only_end(result, "CreateUserPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "CreateUserPlugin") == PLUGIN_EXECUTION_DONE
    assert any('Cannot add user to group "NoSuchGroup"' in line for line in result.log)
    administrators = result.state.find_group("Administrators")
    assert administrators is not None
    assert "Admin" in administrators.members
    assert result.state.find_group("NoSuchGroup") is None


# --- SetUserPasswordPlugin ---------------------------------------------------------------------


def test_setuserpassword_posted_password_decrypts_to_the_admin_password() -> None:
    result, cloud, _ = run(("hostname", "createuser", "password"))

    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    admin = result.state.find_user("Admin")
    assert admin is not None
    assert admin.password is not None
    assert decrypt_posted(cloud) == admin.password
    assert len(cloud.model.password) == 344  # 256-byte ciphertext, standard base64
    assert post_requests(cloud) == ["/openstack/2013-04-04/password"]
    # The random, non-injected password is not forced to change at first logon.
    assert admin.password_expired is False
    assert stored_status(result.state, "SetUserPasswordPlugin") == PLUGIN_EXECUTION_DONE


def test_setuserpassword_injected_admin_pass_is_used_and_expires_by_default() -> None:
    document = meta_data(meta={"admin_pass": "Inj3cted-Secret"})
    result, cloud, _ = run(("createuser", "password"), document=document)

    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    admin = result.state.find_user("Admin")
    assert admin is not None
    assert admin.password == "Inj3cted-Secret"
    assert admin.password_expired is True
    assert admin.password_never_expires is False
    assert decrypt_posted(cloud) == "Inj3cted-Secret"


def test_setuserpassword_first_logon_behaviour_no_never_expires_injected() -> None:
    document = meta_data(meta={"admin_pass": "Inj3cted-Secret"})
    result, _, _ = run(
        ("createuser", "password"), {"first_logon_behaviour": "no"}, document=document
    )

    admin = result.state.find_user("Admin")
    assert admin is not None
    assert admin.password == "Inj3cted-Secret"
    assert admin.password_expired is False
    assert os_calls(result, "change_password_next_logon") == []


def test_setuserpassword_first_logon_behaviour_always_expires_generated_password() -> None:
    result, cloud, _ = run(("createuser", "password"), {"first_logon_behaviour": "always"})

    admin = result.state.find_user("Admin")
    assert admin is not None
    assert admin.password_expired is True
    assert [e.get("username") for e in os_calls(result, "change_password_next_logon")] == ["Admin"]
    assert decrypt_posted(cloud) == admin.password


def test_setuserpassword_ignores_admin_pass_when_injection_disabled() -> None:
    document = meta_data(meta={"admin_pass": "Inj3cted-Secret"})
    result, cloud, _ = run(
        ("createuser", "password"), {"inject_user_password": False}, document=document
    )

    admin = result.state.find_user("Admin")
    assert admin is not None
    assert admin.password != "Inj3cted-Secret"
    assert admin.password_expired is False
    assert decrypt_posted(cloud) == admin.password


def test_setuserpassword_does_not_post_when_cloud_already_has_a_password() -> None:
    result, cloud, _ = run(("createuser", "password"), password="x")

    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert post_requests(cloud) == []
    assert {r.method for r in cloud.requests} == {"GET"}
    assert cloud.model.password == "x"
    # The OS password is still set.
    assert len(os_calls(result, "set_user_password")) == 1


def test_setuserpassword_without_public_keys_posts_nothing() -> None:
    result, cloud, _ = run(("createuser", "password"), document=meta_data(public_keys={}))

    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert post_requests(cloud) == []
    assert cloud.model.password == ""
    assert any("No SSH public key available" in line for line in result.log)


def test_setuserpassword_non_rsa_key_fails_and_reruns_next_boot() -> None:
    document = meta_data(public_keys={"ed": ED25519_KEY})
    result, cloud, machine = run(("createuser", "password"), document=document)

    end = only_end(result, "SetUserPasswordPlugin")
    assert end.get("success") is False
    assert end.get("status") is None
    assert "ssh-rsa" in str(end.get("error"))
    assert stored_status(result.state, "SetUserPasswordPlugin") is None
    assert stored_status(result.state, "CreateUserPlugin") == PLUGIN_EXECUTION_DONE
    assert post_requests(cloud) == []
    assert result.boot_count == 1

    # The service starts again at the next boot: the failed plugin runs again, the done one not.
    machine.boot(2)
    second = [e for e in plugin_ends(result, "SetUserPasswordPlugin") if e.boot == 2]
    assert [e.get("success") for e in second] == [False]
    assert [(e.get("plugin"), e.get("reason")) for e in result.trace.of_kind("plugin_skipped")] == [
        ("CreateUserPlugin", "done")
    ]


def test_setuserpassword_user_missing_sets_and_posts_nothing() -> None:
    result, cloud, _ = run(("password",))

    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_user_password") == []
    assert post_requests(cloud) == []
    assert result.state.find_user("Admin") is None


def test_setuserpassword_after_mid_stage_reboot_generates_and_posts_a_new_password() -> None:
    # CreateUser runs, SetHostName reboots, SetUserPassword runs in the next process without
    # CreateUser's password (shared data is not persisted).
    result, cloud, _ = run(("createuser", "hostname", "password"))

    assert result.boot_count == 2
    assert [e.boot for e in os_calls(result, "create_user")] == [1]
    assert [e.boot for e in os_calls(result, "set_user_password")] == [2]
    admin = result.state.find_user("Admin")
    assert admin is not None
    assert decrypt_posted(cloud) == admin.password


def test_setuserpassword_after_mid_stage_reboot_falls_back_to_configured_username() -> None:
    # Upstream quirk (reference section 9): after the reboot the metadata admin name is
    # forgotten, so SetUserPassword looks for CONF.username ("Admin") which does not exist.
    document = meta_data(meta={"admin_username": "cloudadmin"})
    result, cloud, _ = run(("createuser", "hostname", "password"), document=document)

    assert result.boot_count == 2
    assert outcome(only_end(result, "SetUserPasswordPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.find_user("cloudadmin") is not None
    assert result.state.find_user("Admin") is None
    assert os_calls(result, "set_user_password") == []
    assert post_requests(cloud) == []


# --- NTPClientPlugin (windows) ----------------------------------------------------------------


def test_ntpclient_makes_w32time_automatic_running_with_network_triggers() -> None:
    result, _, _ = run(("ntp",))

    end = only_end(result, "NTPClientPlugin")
    assert end.get("stage") == "PRE_NETWORKING"
    assert outcome(end) == (PLUGIN_EXECUTION_DONE, False)
    w32time = result.state.find_service("w32time")
    assert w32time is not None
    assert w32time.start_mode == "Automatic"
    assert w32time.status == "Running"
    assert w32time.triggers == ["start/networkon", "stop/networkoff"]
    assert [e.get("args") for e in os_calls(result, "execute_system32_process")] == [
        ["sc.exe", "triggerinfo", "w32time", "delete"],
        ["sc.exe", "triggerinfo", "w32time", "start/networkon", "stop/networkoff"],
    ]
    # PRE_NETWORKING plugins never store a status.
    assert stored_status(result.state, "NTPClientPlugin") is None


def test_ntpclient_dhcp_option_42_configures_ntp_peers() -> None:
    server = DhcpServer.with_ntp(DHCP_SERVER, ["10.0.0.123", "192.0.2.7"])
    result, _, _ = run(("ntp",), {"ntp_use_dhcp_config": True}, dhcp_servers=[server])

    assert outcome(only_end(result, "NTPClientPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.ntp_peers == ["10.0.0.123", "192.0.2.7"]
    exchanges = result.trace.of_kind("dhcp")
    assert [(e.get("server"), e.get("answered")) for e in exchanges] == [(DHCP_SERVER, [42])]
    assert 42 in exchanges[0].get("requested")


def test_ntpclient_dhcp_without_option_42_asks_for_next_boot() -> None:
    server = DhcpServer.with_mtu(DHCP_SERVER, 1400)
    result, _, _ = run(("ntp",), {"ntp_use_dhcp_config": True}, dhcp_servers=[server])

    assert outcome(only_end(result, "NTPClientPlugin")) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    assert result.state.ntp_peers is None
    assert os_calls(result, "set_ntp_client_config") == []
    assert [e.get("answered") for e in result.trace.of_kind("dhcp")] == [[]]


def test_ntpclient_sets_rtc_to_utc_and_requests_reboot() -> None:
    result, _, _ = run(("ntp",), {"real_time_clock_utc": True})

    ends = plugin_ends(result, "NTPClientPlugin")
    # First boot changes the RTC and reboots; PRE_NETWORKING runs again, nothing to change.
    assert [(e.boot, e.get("status"), e.get("reboot")) for e in ends] == [
        (1, PLUGIN_EXECUTION_DONE, True),
        (2, PLUGIN_EXECUTION_DONE, False),
    ]
    assert result.boots[0].outcome == "reboot"
    assert result.boot_count == 2
    value = result.state.registry.get_value(TIME_ZONE_KEY, "RealTimeIsUniversal")
    assert value.data == 1
    assert value.type is RegType.REG_DWORD
    # A reboot in PRE_NETWORKING skips metadata discovery for that boot.
    assert [e.boot for e in result.trace.of_kind("metadata_service")] == [2]


def test_ntpclient_on_windows_6_0_does_not_touch_service_triggers() -> None:
    state = default_windows_state()
    state.version = WindowsVersion(major=6, minor=0, build=6002)
    result, _, _ = run(("ntp",), state=state)

    assert outcome(only_end(result, "NTPClientPlugin")) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "execute_system32_process") == []
    w32time = result.state.find_service("w32time")
    assert w32time is not None
    assert w32time.triggers == []
    assert w32time.start_mode == "Automatic"
    assert w32time.status == "Running"


def test_ntpclient_fails_without_w32time_service() -> None:
    state = default_windows_state()
    state.services = [s for s in state.services if s.name != "w32time"]
    result, _, _ = run(("ntp",), state=state)

    end = only_end(result, "NTPClientPlugin")
    assert end.get("success") is False
    assert end.get("status") is None
    assert "w32time" in str(end.get("error"))
    # A failed PRE_NETWORKING plugin does not stop the boot.
    assert [e.get("plugin") for e in result.trace.of_kind("plugin_end")] == ["NTPClientPlugin"]
    assert result.trace.of_kind("metadata_service")[0].get("name") == "HttpService"


# --- MTUPlugin --------------------------------------------------------------------------------


def test_mtu_from_dhcp_option_26_is_applied_to_the_adapter() -> None:
    result, _, _ = run(("mtu",), dhcp_servers=[DhcpServer.with_mtu(DHCP_SERVER, 1400)])

    end = only_end(result, "MTUPlugin")
    assert end.get("stage") == "PRE_METADATA_DISCOVERY"
    assert outcome(end) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    adapter = result.state.find_adapter("Ethernet")
    assert adapter is not None
    assert adapter.mtu == 1400
    (exchange,) = result.trace.of_kind("dhcp")
    assert exchange.get("server") == DHCP_SERVER
    assert exchange.get("client_mac") == "52:54:00:12:34:56"
    assert 26 in exchange.get("requested")
    assert exchange.get("answered") == [26]


def test_mtu_unanswered_dhcp_leaves_mtu_and_costs_the_timeout() -> None:
    server = DhcpServer.with_mtu(DHCP_SERVER, 1400, responds=False)
    result, _, _ = run(("mtu",), dhcp_servers=[server])

    assert outcome(only_end(result, "MTUPlugin")) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    adapter = result.state.find_adapter("Ethernet")
    assert adapter is not None
    assert adapter.mtu == 1500
    assert os_calls(result, "set_network_adapter_mtu") == []
    (exchange,) = result.trace.of_kind("dhcp")
    assert exchange.get("answered") is None
    (start,) = [e for e in result.trace.of_kind("plugin_start") if e.get("plugin") == "MTUPlugin"]
    assert only_end(result, "MTUPlugin").t_ms - start.t_ms == 5000


def test_mtu_disabled_sends_no_dhcp_request() -> None:
    result, _, _ = run(
        ("mtu",),
        {"mtu_use_dhcp_config": False},
        dhcp_servers=[DhcpServer.with_mtu(DHCP_SERVER, 1400)],
    )

    assert outcome(only_end(result, "MTUPlugin")) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    assert result.trace.of_kind("dhcp") == []
    adapter = result.state.find_adapter("Ethernet")
    assert adapter is not None
    assert adapter.mtu == 1500


def test_mtu_runs_again_on_every_boot() -> None:
    result, _, _ = run(("mtu", "hostname"), dhcp_servers=[DhcpServer.with_mtu(DHCP_SERVER, 9000)])

    assert result.boot_count == 2
    assert [(e.boot, e.get("status")) for e in plugin_ends(result, "MTUPlugin")] == [
        (1, PLUGIN_EXECUTE_ON_NEXT_BOOT),
        (2, PLUGIN_EXECUTE_ON_NEXT_BOOT),
    ]
    assert [e.boot for e in result.trace.of_kind("dhcp")] == [1, 2]


def test_mtu_fails_on_windows_older_than_6_0() -> None:
    state = default_windows_state()
    state.version = WindowsVersion(major=5, minor=2, build=3790)
    result, _, _ = run(("mtu",), state=state, dhcp_servers=[DhcpServer.with_mtu(DHCP_SERVER, 1400)])

    end = only_end(result, "MTUPlugin")
    assert end.get("success") is False
    assert end.get("status") is None
    adapter = result.state.find_adapter("Ethernet")
    assert adapter is not None
    assert adapter.mtu == 1500


def test_create_user_rename_admin_fails_without_a_builtin_administrator() -> None:
    from guestsim.simulator.windows.defaults import default_windows_state

    state = default_windows_state()
    state.users = [u for u in state.users if u.rid != 500]
    for group in state.groups:
        group.members = [m for m in group.members if m != "Administrator"]
    machine, _ = openstack_machine(
        plugins=("createuser",), options={"rename_admin_user": True}, state=state
    )
    result = machine.run()
    (end,) = result.trace.of_kind("plugin_end")
    assert end.get("success") is False
    assert "RID 500" in str(end.get("error"))
    assert result.state.find_user("Admin") is None
