"""What the account, host name, time and MTU plugins tell an operator, line by line.

Upstream's log text is what image builders grep for in ``cloudbase-init.log``; these
tests pin every log line of one plugin module for the paths a user meets (a fresh admin
account, an existing one, the built-in administrator renamed, an injected password, a
cloud that cannot take the password, DHCP with and without the wanted options), with the
plugin's outcome next to it.
"""

from __future__ import annotations

from typing import Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import UserAccount, WindowsState
from tests.agent.test_metadata_cloudstack import cloudstack_machine, router
from tests.builders import meta_data, module_log, openstack_machine

DHCP_SERVER = "10.0.0.1"  # the DHCP server of the default state's only adapter
ADAPTER_MAC = "52:54:00:12:34:56"


def run(
    plugins: tuple[str, ...],
    options: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    machine, _ = openstack_machine(
        plugins, {"allow_reboot": False, **(options or {})}, document, **kwargs
    )
    return machine.run()


def outcomes(result: RunResult, plugin: str) -> list[tuple[Any, Any, Any]]:
    return [
        (e.get("success"), e.get("status"), e.get("reboot"))
        for e in result.trace.of_kind("plugin_end")
        if e.get("plugin") == plugin
    ]


def os_events(result: RunResult, *calls: str) -> list[dict[str, Any]]:
    return [dict(e.fields) for e in result.trace.of_kind("os") if e.get("call") in calls]


# --- NTPClientPlugin ---------------------------------------------------------------------------


def test_ntp_logs_the_rtc_change_the_service_and_the_dhcp_servers() -> None:
    server = DhcpServer.with_ntp(DHCP_SERVER, ["10.0.0.123", "192.0.2.7"])
    result = run(
        ("ntp",),
        {"ntp_use_dhcp_config": True, "real_time_clock_utc": True},
        dhcp_servers=[server],
    )

    assert outcomes(result, "NTPClientPlugin") == [(True, PLUGIN_EXECUTION_DONE, True)]
    assert module_log(result, "ntpclient") == [
        "INFO RTC set to UTC: True",
        "INFO NTP client service enabled",
        "INFO NTP client configured. Server(s): ['10.0.0.123', '192.0.2.7']",
    ]
    assert os_events(result, "set_ntp_client_config") == [
        {"call": "set_ntp_client_config", "hosts": ["10.0.0.123", "192.0.2.7"]}
    ]


def test_ntp_without_dhcp_option_42_logs_why_it_runs_again() -> None:
    server = DhcpServer.with_mtu(DHCP_SERVER, 1400)
    result = run(("ntp",), {"ntp_use_dhcp_config": True}, dhcp_servers=[server])

    assert outcomes(result, "NTPClientPlugin") == [(True, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert module_log(result, "ntpclient") == [
        "INFO NTP client service enabled",
        "DEBUG Could not obtain the NTP configuration via DHCP",
    ]


# --- MTUPlugin ---------------------------------------------------------------------------------


def test_mtu_names_the_interface_dhcp_did_not_answer_for() -> None:
    server = DhcpServer.with_mtu(DHCP_SERVER, 1400, responds=False)
    result = run(("mtu",), dhcp_servers=[server])

    assert module_log(result, "mtu") == [
        f'DEBUG Could not obtain the MTU configuration via DHCP for interface "{ADAPTER_MAC}"'
    ]


# --- SetHostNamePlugin -------------------------------------------------------------------------


def test_sethostname_without_a_host_name_says_so() -> None:
    result = run(("hostname",), document=meta_data(hostname=None))

    assert outcomes(result, "SetHostNamePlugin") == [(True, PLUGIN_EXECUTION_DONE, False)]
    assert module_log(result, "sethostname") == ["DEBUG Hostname not found in metadata"]


# --- CreateUserPlugin --------------------------------------------------------------------------


def test_createuser_logs_the_new_user_and_each_group_it_could_not_join() -> None:
    result = run(("createuser",), {"groups": ["NoSuchGroup", "Administrators"]})

    assert module_log(result, "createuser") == [
        'INFO Creating user "Admin" and setting password',
        'ERROR Cannot add user to group "NoSuchGroup" (OSUtilsError: Group not found: NoSuchGroup)',
    ]


def test_createuser_logs_the_password_reset_of_an_existing_user() -> None:
    state = default_windows_state()
    state.users.append(UserAccount("admin", 1000, password="old-Passw0rd"))
    result = run(("createuser",), state=state)

    assert module_log(result, "createuser") == ['INFO Setting password for existing user "Admin"']


def test_createuser_logs_the_rename_and_the_failed_logon_of_the_disabled_admin() -> None:
    # The built-in administrator is disabled on the image: renaming it does not enable
    # it, so the logon that would create its profile fails and is only logged.
    result = run(("createuser",), {"rename_admin_user": True})

    assert outcomes(result, "CreateUserPlugin") == [(True, PLUGIN_EXECUTION_DONE, False)]
    assert module_log(result, "createuser") == [
        'INFO Renaming builtin admin user "Administrator" to "Admin"',
        'ERROR Cannot create a user logon session for user: "Admin" (OSUtilsError: User '
        "logon failed for Admin: bad password or disabled)",
    ]


def test_createuser_logs_when_the_builtin_admin_already_has_the_name() -> None:
    result = run(("createuser",), {"rename_admin_user": True, "username": "administrator"})

    assert module_log(result, "createuser")[0] == (
        'INFO "administrator" is already the name of the builtin admin user'
    )
    assert os_events(result, "rename_user", "set_user_password", "create_user") == []


def test_createuser_fails_naming_the_missing_builtin_administrator() -> None:
    state: WindowsState = default_windows_state()
    state.users = [u for u in state.users if u.rid != 500]
    for group in state.groups:
        group.members = [m for m in group.members if m != "Administrator"]
    machine, _ = openstack_machine(("createuser",), {"rename_admin_user": True}, state=state)
    result = machine.run()

    (end,) = result.trace.of_kind("plugin_end")
    assert end.get("error") == (
        "LookupError: No built-in administrator account (RID 500) to rename"
    )


# --- SetUserPasswordPlugin ---------------------------------------------------------------------


def test_setuserpassword_warns_about_the_injected_password_and_posts_it() -> None:
    result = run(("createuser", "password"), document=meta_data(meta={"admin_pass": "Inj-3cted"}))

    assert module_log(result, "setuserpassword") == [
        "WARNING Using admin_pass metadata user password. Consider changing it as soon as possible",
        "INFO Password succesfully updated for user Admin",
        "INFO Posting the encrypted password to the metadata service",
    ]


def test_setuserpassword_logs_a_generated_password_for_an_existing_user() -> None:
    result = run(("password",), {"username": "Administrator"})

    assert outcomes(result, "SetUserPasswordPlugin") == [(True, PLUGIN_EXECUTION_DONE, False)]
    assert module_log(result, "setuserpassword") == [
        "DEBUG Generating a random user password",
        "INFO Password succesfully updated for user Administrator",
        "INFO Posting the encrypted password to the metadata service",
    ]


def test_setuserpassword_says_why_nothing_is_posted() -> None:
    no_key = run(("createuser", "password"), document=meta_data(public_keys={}))
    already_set = run(("createuser", "password"), password="x")

    assert module_log(no_key, "setuserpassword") == [
        "INFO Password succesfully updated for user Admin",
        "INFO No SSH public key available for password encryption",
    ]
    assert module_log(already_set, "setuserpassword") == [
        "INFO Password succesfully updated for user Admin",
        "DEBUG User's password already set in the instance metadata",
    ]


def test_setuserpassword_on_cloudstack_logs_when_no_update_or_post_is_possible() -> None:
    _, idle = router(password=None)
    unchanged = cloudstack_machine(idle, options={"allow_reboot": False}).run()
    _, pending = router(password="Pending-Passw0rd")
    updated = cloudstack_machine(pending, options={"allow_reboot": False}).run()

    # CloudStack can update the password: the plugin runs again at every boot.
    assert outcomes(unchanged, "SetUserPasswordPlugin") == [
        (True, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    ]
    assert module_log(unchanged, "setuserpassword") == ["INFO Updating password is not required."]
    assert module_log(updated, "setuserpassword") == [
        "WARNING Using admin_pass metadata user password. Consider changing it as soon as possible",
        "INFO Password succesfully updated for user Admin",
        "INFO Posting the password is not supported by the metadata service",
    ]
    assert outcomes(updated, "SetUserPasswordPlugin") == [
        (True, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    ]


# --- the password encryption key ---------------------------------------------------------------

ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl d@h"


def password_error(public_key: str) -> Any:
    result = run(("createuser", "password"), document=meta_data(public_keys={"k": public_key}))
    (end,) = [
        e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == "SetUserPasswordPlugin"
    ]
    assert end.get("success") is False
    return end.get("error")


def test_a_non_rsa_key_fails_the_password_post_naming_its_key_type() -> None:
    assert password_error(ED25519_KEY) == (
        "PasswordEncryptionError: Only ssh-rsa public keys can encrypt the password; "
        "got 'ssh-ed25519'"
    )


def test_the_key_type_named_is_everything_before_the_first_space() -> None:
    # A tab is not the separator the type is cut at: the whole first word is named.
    tabbed = ED25519_KEY.replace(" ", "\t", 1)
    assert password_error(tabbed) == (
        "PasswordEncryptionError: Only ssh-rsa public keys can encrypt the password; "
        "got 'ssh-ed25519\\tAAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'"
    )
