"""What the guest-settings plugins tell an operator, line by line.

Automatic updates, display idle timeout, RDP settings and thumbprint, server
certificates, SSH keys and user data each log what they set or why they did nothing;
these tests pin every log line of the plugin's module on the paths a user meets, next to
the effect on the guest.
"""

from __future__ import annotations

from pathlib import Path

from guestsim.simulator.scenario import load_scenario, run_scenario
from tests.agent.test_platform_plugins import DISPLAY, UPDATES, failed, windows
from tests.agent.test_platform_plugins import run as run_one
from tests.agent.test_remote_access_plugins import (
    AZURE_PFX_THUMBPRINT,
    RDP_SETTINGS,
    RDP_THUMBPRINT,
    SERVER_CERTS,
    SSH,
    state_with_ts_policy_key,
)
from tests.builders import meta_data, module_log, openstack_machine

REPO = Path(__file__).resolve().parents[2]
USER_DATA = "cloudbaseinit.plugins.common.userdata.UserDataPlugin"


def test_automatic_updates_log_the_choice_and_the_install_hour_drawn() -> None:
    result = run_one(UPDATES, {"enable_automatic_updates": True}, state=windows("6.1.7601"))

    hours = [
        e.get("value")
        for e in result.trace.of_kind("os")
        if e.get("call") == "set_automatic_updates_setting" and e.get("name") != "NotificationLevel"
    ]
    assert module_log(result, "updates") == [
        "INFO Configuring automatic updates: True",
        f"DEBUG Setting the automatic updates install hour: {hours[0]}",
    ]


def test_display_idle_timeout_logs_the_value_set() -> None:
    result = run_one(DISPLAY, {"display_idle_timeout": 300})

    assert module_log(result, "displayidletimeout") == ["INFO Setting display idle timeout: 300"]


def test_display_idle_timeout_failure_carries_powercfg_output() -> None:
    result = run_one(DISPLAY, {"display_idle_timeout": -5})

    assert failed(result, DISPLAY) == (
        "DisplayIdleTimeoutError: powercfg.exe failed with exit code 1.\n"
        'Output: Invalid Parameters -- try "/?" for help\r\n\nError: '
    )


def test_rdp_ssh_and_certificate_plugins_log_what_they_did_on_openstack() -> None:
    machine, _ = openstack_machine(
        (RDP_SETTINGS, RDP_THUMBPRINT, "createuser", SSH, SERVER_CERTS),
        {"allow_reboot": False},
        state=state_with_ts_policy_key(),
    )
    result = machine.run()

    assert module_log(result, "rdp") == [
        "INFO Setting RDP keep-alive: True",
        "DEBUG Setting RDP KeepAliveEnable: True",
        "DEBUG Setting RDP keepAliveInterval (minutes): 1",
        "INFO The metadata service does not support posting the RDP certificate thumbprint",
    ]
    assert module_log(result, "sshpublickeys") == [
        "INFO Writing SSH public keys in: C:\\Users\\Admin\\.ssh\\authorized_keys"
    ]
    assert module_log(result, "certificates") == [
        "INFO No server certificates found in the metadata"
    ]


def test_azure_certificate_import_and_rdp_thumbprint_post_are_logged() -> None:
    scenario = load_scenario(REPO / "scenarios" / "plugins" / "server-certificates.yaml")
    result = run_scenario(scenario).result

    assert module_log(result, "certificates") == [
        f'INFO Importing certificate "WinRM_{AZURE_PFX_THUMBPRINT}" in store "LocalMachine\\My"'
    ]
    assert module_log(result, "rdp") == [
        f"INFO Posting the RDP certificate thumbprint: {result.state.rdp.certificate_thumbprint}"
    ]


def test_ssh_keys_and_user_data_log_their_absence_and_size() -> None:
    machine, _ = openstack_machine(
        (SSH, USER_DATA),
        {"allow_reboot": False},
        meta_data(public_keys={}),
        user_data=b"#ps1\necho hi\n",
    )
    result = machine.run()

    assert module_log(result, "sshpublickeys") == ["DEBUG Public keys not found in metadata"]
    assert module_log(result, "userdata") == ["DEBUG User data content length: 13"]
