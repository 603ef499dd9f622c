"""What the WinRM plugins tell an operator and do, line by line and call by call.

ConfigWinRMListenerPlugin and ConfigWinRMCertificateAuthPlugin log every step upstream
logs (service repair, UAC guard, listeners, firewall rules, certificate mappings); these
tests pin the agent's log lines of each plugin module in full, and the OS calls in the
order they were made, so a changed message, argument or step shows.
"""

from __future__ import annotations

from typing import Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.version import WindowsVersion
from guestsim.simulator.windows.winrm import WinRMCertMapping
from tests.agent.test_remote_access_plugins import (
    CERT_AUTH,
    CLIENT_PEM,
    CLIENT_THUMBPRINT,
    CLIENT_UPN,
    LISTENER,
    client_cert,
    pem_thumbprint,
    x509_keys,
)
from tests.builders import meta_data, module_log, openstack_machine

SELF_SIGNED_SUBJECT = "CN=Cloudbase-Init WinRM"


def run(
    plugins: tuple[str, ...],
    options: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    state: WindowsState | None = None,
) -> RunResult:
    machine, _ = openstack_machine(
        plugins, {"allow_reboot": False, **(options or {})}, document, state=state
    )
    return machine.run()


def plugin_end(result: RunResult, plugin: str) -> dict[str, Any]:
    (end,) = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]
    return dict(end.fields)


def os_events(result: RunResult, *calls: str) -> list[dict[str, Any]]:
    return [dict(e.fields) for e in result.trace.of_kind("os") if e.get("call") in calls]


def windows_2008_r2(winrm_start_mode: str | None = None) -> WindowsState:
    state = default_windows_state()
    state.version = WindowsVersion(6, 1, 7601)
    for service in state.services:
        if service.name == "WinRM" and winrm_start_mode is not None:
            service.start_mode = winrm_start_mode
    return state


# --- ConfigWinRMListenerPlugin -----------------------------------------------------------------


def test_listener_plugin_logs_each_step_of_a_full_configuration() -> None:
    # A stopped, manual WinRM on 2008 R2 (UAC guard active), both listeners, Basic off.
    result = run(
        (LISTENER,),
        {"winrm_configure_http_listener": True, "winrm_enable_basic_auth": False},
        state=windows_2008_r2("Manual"),
    )

    assert plugin_end(result, "ConfigWinRMListenerPlugin")["status"] == PLUGIN_EXECUTION_DONE
    assert module_log(result, "winrmlistener") == [
        "DEBUG Setting the WinRM service start mode to automatic",
        "DEBUG Starting the WinRM service",
        "DEBUG Disabling UAC remote restrictions",
        "INFO Setting WinRM Basic authentication: False",
        "INFO Removing the existing WinRM HTTP listener",
        "INFO Creating the WinRM HTTP listener",
        'INFO Opening port 5985/TCP in the firewall: "WinRM HTTP"',
        f"INFO Creating a self-signed certificate: {SELF_SIGNED_SUBJECT}",
        "INFO Creating the WinRM HTTPS listener",
        'INFO Opening port 5986/TCP in the firewall: "WinRM HTTPS"',
        "DEBUG Enabling UAC remote restrictions",
    ]


def test_listener_plugin_calls_on_windows_in_order() -> None:
    result = run((LISTENER,), {"winrm_configure_http_listener": True})
    https = result.state.winrm.find_listener("HTTPS")
    assert https is not None

    assert os_events(
        result,
        "set_winrm_auth_config",
        "delete_winrm_listener",
        "create_winrm_listener",
        "firewall_create_rule",
        "create_self_signed_cert",
    ) == [
        {"call": "set_winrm_auth_config", "basic": True},
        {"call": "delete_winrm_listener", "protocol": "HTTP", "address": "*"},
        {
            "call": "create_winrm_listener",
            "protocol": "HTTP",
            "address": "*",
            "port": 5985,
            "certificate_thumbprint": None,
            "enabled": True,
        },
        {"call": "firewall_create_rule", "name": "WinRM HTTP", "port": 5985, "protocol": "TCP"},
        {
            "call": "create_self_signed_cert",
            "subject": SELF_SIGNED_SUBJECT,
            "store": "LocalMachine\\My",
        },
        {
            "call": "create_winrm_listener",
            "protocol": "HTTPS",
            "address": "*",
            "port": 5986,
            "certificate_thumbprint": https.certificate_thumbprint,
            "enabled": True,
        },
        {"call": "firewall_create_rule", "name": "WinRM HTTPS", "port": 5986, "protocol": "TCP"},
    ]


def test_listener_plugin_warns_when_the_winrm_service_is_missing() -> None:
    state = default_windows_state()
    state.services = [s for s in state.services if s.name != "WinRM"]
    result = run((LISTENER,), state=state)

    assert plugin_end(result, "ConfigWinRMListenerPlugin")["status"] == (
        PLUGIN_EXECUTE_ON_NEXT_BOOT
    )
    assert module_log(result, "winrmlistener") == [
        "WARNING Cannot configure the WinRM listener as the service is not available"
    ]


def test_listener_plugin_says_when_no_listener_is_configured() -> None:
    result = run((LISTENER,), {"winrm_configure_https_listener": False})

    assert module_log(result, "winrmlistener") == ["INFO No WinRM listener configuration provided"]


# --- ConfigWinRMCertificateAuthPlugin ----------------------------------------------------------


def test_cert_auth_logs_the_skipped_certificate_and_the_replaced_mapping() -> None:
    state = windows_2008_r2()
    state.winrm.cert_mappings.append(
        WinRMCertMapping(CLIENT_THUMBPRINT, CLIENT_UPN, "*", "Old", "old-password")
    )
    no_upn = client_cert("nobody", None)
    result = run(
        ("createuser", "password", CERT_AUTH),
        document=meta_data(keys=x509_keys(no_upn, CLIENT_PEM)),
        state=state,
    )

    assert plugin_end(result, "ConfigWinRMCertificateAuthPlugin")["status"] == (
        PLUGIN_EXECUTION_DONE
    )
    assert module_log(result, "winrmcertificateauth") == [
        "INFO Enabling WinRM certificate authentication",
        "ERROR WinRM certificate authentication cannot be configured: the certificate "
        f"{pem_thumbprint(no_upn)} has no subject alternative name with a UPN "
        "(OID 1.3.6.1.4.1.311.20.2.3)",
        f"INFO Removing the existing WinRM certificate mapping for UPN {CLIENT_UPN}",
        f"INFO Creating the WinRM certificate mapping of UPN {CLIENT_UPN} to user Admin",
    ]
    # The UAC guard wraps the whole configuration.
    assert module_log(result, "winrmlistener") == [
        "DEBUG Disabling UAC remote restrictions",
        "DEBUG Enabling UAC remote restrictions",
    ]


def test_cert_auth_imports_into_the_machine_root_store_and_maps_each_upn() -> None:
    result = run(
        ("createuser", "password", CERT_AUTH), document=meta_data(keys=x509_keys(CLIENT_PEM))
    )

    assert os_events(
        result,
        "set_winrm_auth_config",
        "import_cert",
        "delete_winrm_cert_mapping",
        "create_winrm_cert_mapping",
    ) == [
        {"call": "set_winrm_auth_config", "certificate": True},
        {
            "call": "import_cert",
            "store": "LocalMachine\\Root",
            "thumbprint": CLIENT_THUMBPRINT,
            "subject": "CN=Admin",
            "upn": CLIENT_UPN,
        },
        {
            "call": "create_winrm_cert_mapping",
            "issuer": CLIENT_THUMBPRINT,
            "subject": CLIENT_UPN,
            "uri": "*",
            "username": "Admin",
            "password": "<redacted:20>",
            "enabled": True,
        },
    ]


def test_cert_auth_without_client_certificates_says_so() -> None:
    result = run(("createuser", "password", CERT_AUTH))

    assert module_log(result, "winrmcertificateauth") == [
        "INFO WinRM certificate authentication cannot be configured: the metadata has no "
        "client certificate"
    ]


def test_cert_auth_without_credentials_fails_with_the_whole_reason() -> None:
    result = run((CERT_AUTH,), document=meta_data(keys=x509_keys(CLIENT_PEM)))

    end = plugin_end(result, "ConfigWinRMCertificateAuthPlugin")
    assert (end["success"], end["error"]) == (
        False,
        "MissingCredentials: Cannot configure WinRM certificate authentication: "
        "the user name or the password is missing",
    )
