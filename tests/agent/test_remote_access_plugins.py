"""Remote-access plugins on a simulated guest: SSH keys, WinRM listener and certificate
authentication, server certificates, RDP settings and the RDP certificate thumbprint.

Every test boots a whole :class:`guestsim.simulator.machine.Machine` and asserts what a user of the
guest would observe: files, WinRM configuration, certificate stores, firewall rules,
registry values, what the cloud received, and the ``plugin_end`` event (status stored in
the registry, reboot flag, success).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.osutils import (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_DISABLED,
    SERVICE_START_MODE_MANUAL,
    SERVICE_STATUS_RUNNING,
)
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    Plugin,
    PluginResult,
    SharedData,
)
from guestsim.agent.plugins.rdp import TERMINAL_SERVICES_POLICY_KEY
from guestsim.simulator.clouds.azure import AzureWireServer
from guestsim.simulator.machine import RunResult
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.certificates import thumbprint_of
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from guestsim.simulator.windows.version import WindowsVersion
from guestsim.simulator.windows.winrm import UAC_POLICY_KEY, UAC_REMOTE_VALUE, WinRMCertMapping
from tests.builders import (
    FIXTURES,
    INSTANCE_ID,
    meta_data,
    openstack_machine,
    public_key,
    register_metadata_service,
    register_plugin,
)

REPO = Path(__file__).resolve().parents[2]
PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
SSH = "cloudbaseinit.plugins.common.sshpublickeys.SetUserSSHPublicKeysPlugin"
LISTENER = "cloudbaseinit.plugins.windows.winrmlistener.ConfigWinRMListenerPlugin"
CERT_AUTH = "cloudbaseinit.plugins.windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin"
SERVER_CERTS = "cloudbaseinit.plugins.windows.certificates.ServerCertificatesPlugin"
RDP_SETTINGS = "cloudbaseinit.plugins.windows.rdp.RDPSettingsPlugin"
RDP_THUMBPRINT = "cloudbaseinit.plugins.windows.rdp.RDPPostCertificateThumbprintPlugin"
CLIENT_PEM = (FIXTURES / "certs" / "winrm-client-admin.pem").read_text()
CLIENT_THUMBPRINT = "ACA6A0D5D9B75B0C1C69BA1433FA890E41B04F9D"
CLIENT_UPN = "Admin@localhost"
AZURE_PFX = (FIXTURES / "clouds" / "azure" / "certificates.pfx").read_bytes()
AZURE_PFX_THUMBPRINT = "A150E824439961862A4277D45178C466D5C99C3A"
ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl d@h"
SELF_SIGNED_SUBJECT = "CN=Cloudbase-Init WinRM"


# --- helpers -----------------------------------------------------------------------------------


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


def ends(result: RunResult, plugin: str) -> list[Event]:
    return [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]


def outcome(result: RunResult, plugin: str) -> tuple[Any, Any]:
    """(status, reboot) the only run of the plugin returned; it must have succeeded."""
    found = ends(result, plugin)
    assert len(found) == 1, found
    assert found[0].get("success") is True, found[0]
    return found[0].get("status"), found[0].get("reboot")


def failure(result: RunResult, plugin: str) -> str:
    found = ends(result, plugin)
    assert len(found) == 1, found
    assert found[0].get("success") is False, found[0]
    return str(found[0].get("error"))


def stored_status(state: WindowsState, plugin: str) -> object:
    registry = state.registry
    if not registry.key_exists(PLUGINS_KEY):
        return None
    names = {name.lower(): value.data for name, value in registry.values(PLUGINS_KEY)}
    return names.get(plugin.lower())


def os_calls(result: RunResult, *calls: str) -> list[Event]:
    return [e for e in result.trace.of_kind("os") if e.get("call") in calls]


def registry_value(state: WindowsState, key: str, name: str) -> Any:
    return state.registry.get_value(key, name).data if state.registry.key_exists(key) else None


def has_value(state: WindowsState, key: str, name: str) -> bool:
    return state.registry.key_exists(key) and any(
        n.lower() == name.lower() for n, _ in state.registry.values(key)
    )


def state_with(version: tuple[int, int, int] | None = None, **service_modes: str) -> WindowsState:
    state = default_windows_state()
    if version is not None:
        state.version = WindowsVersion(*version)
    for name, mode in service_modes.items():
        service = state.find_service(name)
        assert service is not None
        service.start_mode = mode
    return state


def client_cert(common_name: str, upn: str | None) -> str:
    """A PEM client certificate signed with the test key; deterministic bytes."""
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
    )
    if upn is not None:
        value = upn.encode()
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.OtherName(
                        x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"),
                        bytes([0x0C, len(value)]) + value,
                    )
                ]
            ),
            critical=False,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("someone@example.test")]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def pem_thumbprint(pem: str) -> str:
    return thumbprint_of(x509.load_pem_x509_certificate(pem.encode()))


class ConfigurableService(OpenStackHttpService):
    """HttpService whose WinRM listeners / server certificates a test decides."""

    listeners: ClassVar[list[dict[str, Any]] | None] = None
    server_certs: ClassVar[list[dict[str, Any]] | None] = None

    def get_winrm_listeners_configuration(self) -> list[dict[str, Any]] | None:
        return None if self.listeners is None else [dict(item) for item in self.listeners]

    def get_server_certs(self) -> list[dict[str, Any]] | None:
        return None if self.server_certs is None else [dict(item) for item in self.server_certs]


@pytest.fixture
def configurable(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Options naming ConfigurableService; reset its answers after the test."""
    path = register_metadata_service(monkeypatch, ConfigurableService)
    monkeypatch.setattr(ConfigurableService, "listeners", None)
    monkeypatch.setattr(ConfigurableService, "server_certs", None)
    yield {"metadata_services": [path]}


SEEN_PASSWORDS: list[object] = []


class PasswordProbeBefore(Plugin):
    """Records what a plugin of the stage sees as ``shared_data['admin_password']``."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        SEEN_PASSWORDS.append(shared_data.get("admin_password", "<missing>"))
        return PLUGIN_EXECUTION_DONE, False


class PasswordProbeAfter(PasswordProbeBefore):
    """The same probe under another name (statuses are stored per class name)."""


# --- SetUserSSHPublicKeysPlugin ----------------------------------------------------------------


def test_ssh_keys_are_written_for_the_metadata_admin_with_crlf_line_ends() -> None:
    document = meta_data(
        meta={"admin_username": "cloudadmin"},
        keys=[{"name": "deploy", "type": "ssh", "data": ED25519_KEY}],
    )
    result = run(("createuser", SSH), document=document)

    assert outcome(result, "SetUserSSHPublicKeysPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "SetUserSSHPublicKeysPlugin") == PLUGIN_EXECUTION_DONE
    path = "C:\\Users\\cloudadmin\\.ssh\\authorized_keys"
    # Text mode on Windows: "\n" reaches the disk as "\r\n".
    assert result.state.files.read(path) == (f"{public_key()}\r\n{ED25519_KEY}\r\n".encode())
    assert [e.get("path") for e in os_calls(result, "make_dirs")] == ["C:\\Users\\cloudadmin\\.ssh"]


def test_ssh_keys_go_to_the_username_option_without_a_metadata_admin() -> None:
    result = run(("createuser", SSH), {"username": "ops"})

    assert outcome(result, "SetUserSSHPublicKeysPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.files.read("C:\\Users\\ops\\.ssh\\authorized_keys") == (
        f"{public_key()}\r\n".encode()
    )


def test_ssh_keys_overwrite_the_file_and_reuse_an_existing_ssh_folder() -> None:
    state = default_windows_state()
    # A first run (CreateUser makes the profile), then a stale file in place.
    first = run(("createuser",), state=state)
    assert first.findings == []
    state.files.make_dirs("C:\\Users\\Admin\\.ssh")
    state.files.write("C:\\Users\\Admin\\.ssh\\authorized_keys", b"ssh-rsa OLD old@key\r\n")
    state.registry.delete_key(PLUGINS_KEY, recursive=True)

    result = run((SSH,), state=state)

    assert outcome(result, "SetUserSSHPublicKeysPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "make_dirs") == []
    assert result.state.files.read("C:\\Users\\Admin\\.ssh\\authorized_keys") == (
        f"{public_key()}\r\n".encode()
    )


def test_ssh_keys_file_uses_the_ansi_code_page() -> None:
    # Text mode writes with the ANSI code page: "é" is one cp1252 byte, and a character
    # cp1252 lacks fails the plugin.
    latin = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl josé@host"
    )
    result = run(("createuser", SSH), document=meta_data(public_keys={"k": latin}))
    assert result.state.files.read("C:\\Users\\Admin\\.ssh\\authorized_keys").endswith(
        b"jos\xe9@host\r\n"
    )

    snowman = latin.replace("josé", "snow\u2603")
    result = run(("createuser", SSH), document=meta_data(public_keys={"k": snowman}))
    assert failure(result, "SetUserSSHPublicKeysPlugin").startswith("UnicodeEncodeError")


def test_ssh_keys_without_keys_in_metadata_do_nothing() -> None:
    result = run(("createuser", SSH), document=meta_data(public_keys={}))

    assert outcome(result, "SetUserSSHPublicKeysPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert not result.state.files.exists("C:\\Users\\Admin\\.ssh")


def test_ssh_keys_fail_when_the_user_has_no_profile_yet() -> None:
    # Without CreateUserPlugin nobody ever logged on as Admin: no profile, no home.
    result = run((SSH,))

    assert failure(result, "SetUserSSHPublicKeysPlugin") == (
        "UserProfileNotFound: User profile not found!"
    )
    assert stored_status(result.state, "SetUserSSHPublicKeysPlugin") is None
    assert os_calls(result, "write_file") == []


def test_ssh_keys_failure_is_retried_at_the_next_start() -> None:
    # allow_reboot: SSH fails (no profile) before SetHostName reboots; it runs again.
    machine, _ = openstack_machine((SSH, "hostname"))
    result = machine.run()

    assert [e.get("success") for e in ends(result, "SetUserSSHPublicKeysPlugin")] == [
        False,
        False,
    ]
    assert stored_status(result.state, "SetUserSSHPublicKeysPlugin") is None


# --- ConfigWinRMListenerPlugin -----------------------------------------------------------------


def test_winrm_listener_defaults_make_an_https_listener_with_a_self_signed_certificate() -> None:
    result = run((LISTENER,))

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "ConfigWinRMListenerPlugin") == PLUGIN_EXECUTION_DONE
    winrm = result.state.winrm
    assert winrm.auth.basic is True
    https = winrm.find_listener("HTTPS")
    assert https is not None
    assert (https.address, https.port, https.enabled) == ("*", 5986, True)
    assert https.certificate_thumbprint is not None
    cert = result.state.certificates.find("LocalMachine", "My", https.certificate_thumbprint)
    assert cert is not None
    assert (cert.subject, cert.issuer, cert.has_private_key) == (
        SELF_SIGNED_SUBJECT,
        SELF_SIGNED_SUBJECT,
        True,
    )
    assert thumbprint_of(cert.certificate) == https.certificate_thumbprint
    # WinRM's own HTTP listener is neither removed nor touched.
    assert winrm.find_listener("HTTP") is not None
    assert os_calls(result, "delete_winrm_listener") == []
    rule = result.state.firewall.find_rule("WinRM HTTPS")
    assert rule is not None
    assert (rule.port, rule.protocol) == (5986, "TCP")
    assert [r.name for r in result.state.firewall.rules] == ["WinRM HTTPS"]


def test_winrm_self_signed_certificate_is_the_same_on_every_run() -> None:
    first, second = run((LISTENER,)), run((LISTENER,))
    thumbprints = [
        (r.state.winrm.find_listener("HTTPS") or pytest.fail("no listener")).certificate_thumbprint
        for r in (first, second)
    ]
    assert thumbprints[0] == thumbprints[1]
    assert first.trace.to_jsonl() == second.trace.to_jsonl()
    # The trace says what was made, not the certificate's bytes.
    created = os_calls(first, "create_self_signed_cert")
    assert [dict(e.fields) for e in created] == [
        {
            "call": "create_self_signed_cert",
            "subject": SELF_SIGNED_SUBJECT,
            "store": "LocalMachine\\My",
        }
    ]


def test_winrm_http_option_replaces_the_existing_http_listener() -> None:
    result = run(
        (LISTENER,),
        {"winrm_configure_http_listener": True, "winrm_configure_https_listener": False},
    )

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    calls = [
        (e.get("call"), e.get("protocol"))
        for e in os_calls(result, "delete_winrm_listener", "create_winrm_listener")
    ]
    assert calls == [("delete_winrm_listener", "HTTP"), ("create_winrm_listener", "HTTP")]
    assert result.state.winrm.find_listener("HTTPS") is None
    assert os_calls(result, "create_self_signed_cert") == []
    rule = result.state.firewall.find_rule("WinRM HTTP")
    assert rule is not None and (rule.port, rule.protocol) == (5985, "TCP")


def test_winrm_both_listeners_in_option_order() -> None:
    result = run((LISTENER,), {"winrm_configure_http_listener": True})

    assert [r.name for r in result.state.firewall.rules] == ["WinRM HTTP", "WinRM HTTPS"]
    assert [(x.transport, x.port) for x in result.state.winrm.listeners] == [
        ("HTTP", 5985),
        ("HTTPS", 5986),
    ]


def test_winrm_basic_auth_option_off_turns_basic_auth_off() -> None:
    state = default_windows_state()
    state.winrm.auth.basic = True
    result = run((LISTENER,), {"winrm_enable_basic_auth": False}, state=state)

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.winrm.auth.basic is False


def test_winrm_no_listener_configured_changes_nothing() -> None:
    result = run((LISTENER,), {"winrm_configure_https_listener": False})

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert (
        os_calls(result, "set_winrm_auth_config", "create_winrm_listener", "firewall_create_rule")
        == []
    )
    assert result.state.winrm.auth.basic is False


@pytest.mark.parametrize("mode", [SERVICE_START_MODE_MANUAL, SERVICE_START_MODE_DISABLED])
def test_winrm_service_set_to_automatic_and_started(mode: str) -> None:
    result = run((LISTENER,), state=state_with(WinRM=mode))

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    service = result.state.find_service("WinRM")
    assert service is not None
    assert (service.start_mode, service.status) == (
        SERVICE_START_MODE_AUTOMATIC,
        SERVICE_STATUS_RUNNING,
    )
    assert [e.get("call") for e in os_calls(result, "set_service_start_mode", "start_service")] == [
        "set_service_start_mode",
        "start_service",
    ]


def test_winrm_service_already_automatic_and_running_is_left_alone() -> None:
    result = run((LISTENER,))
    assert os_calls(result, "set_service_start_mode", "start_service") == []


def test_winrm_missing_service_defers_the_plugin_to_the_next_boot() -> None:
    state = default_windows_state()
    state.services = [s for s in state.services if s.name != "WinRM"]
    # The listener plugin first, then a host name change that reboots once.
    machine, _ = openstack_machine((LISTENER, "hostname"), state=state)
    result = machine.run()

    runs = ends(result, "ConfigWinRMListenerPlugin")
    assert [(e.get("success"), e.get("status"), e.get("reboot")) for e in runs] == [
        (True, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
        (True, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
    ]
    assert stored_status(result.state, "ConfigWinRMListenerPlugin") == PLUGIN_EXECUTE_ON_NEXT_BOOT
    assert os_calls(result, "set_winrm_auth_config", "create_winrm_listener") == []


def test_winrm_listeners_from_the_service_win_over_the_options(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.listeners = [{"protocol": "Http"}]
    result = run((LISTENER,), configurable)

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    # Upper-cased; the HTTPS option (on by default) is not consulted.
    assert [x.transport for x in result.state.winrm.listeners] == ["HTTP"]
    assert [r.name for r in result.state.firewall.rules] == ["WinRM HTTP"]


def test_winrm_empty_listener_list_from_the_service_configures_nothing(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.listeners = []
    result = run((LISTENER,), configurable)

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_winrm_auth_config", "create_winrm_listener") == []


def test_winrm_https_listener_uses_the_thumbprint_the_service_gives(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.listeners = [
        {"protocol": "https", "certificate_thumbprint": AZURE_PFX_THUMBPRINT.lower()}
    ]
    ConfigurableService.server_certs = [
        {"name": "c", "store_location": "LocalMachine", "store_name": "My", "pfx_data": AZURE_PFX}
    ]
    result = run((SERVER_CERTS, LISTENER), configurable)

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    https = result.state.winrm.find_listener("HTTPS")
    assert https is not None and https.certificate_thumbprint == AZURE_PFX_THUMBPRINT
    assert os_calls(result, "create_self_signed_cert") == []


def test_winrm_https_listener_with_an_unknown_thumbprint_fails(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.listeners = [
        {"protocol": "HTTPS", "certificate_thumbprint": AZURE_PFX_THUMBPRINT}
    ]
    result = run((LISTENER,), configurable)

    assert "is not in the LocalMachine\\My store" in failure(result, "ConfigWinRMListenerPlugin")
    assert stored_status(result.state, "ConfigWinRMListenerPlugin") is None
    assert result.state.winrm.find_listener("HTTPS") is None


def test_uac_restrictions_lifted_and_restored_on_windows_2008_r2() -> None:
    result = run((LISTENER,), state=state_with((6, 1, 7601)))

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    sequence = [
        (e.get("call"), e.get("data"))
        for e in os_calls(
            result, "set_registry_value", "set_winrm_auth_config", "firewall_create_rule"
        )
        if e.get("call") != "set_registry_value" or e.get("name") == UAC_REMOTE_VALUE
    ]
    assert sequence == [
        ("set_registry_value", 1),
        ("set_winrm_auth_config", None),
        ("firewall_create_rule", None),
        ("set_registry_value", 0),
    ]
    # Put back as 0 ("restricted"), not removed.
    value = result.state.registry.get_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE)
    assert (value.data, value.type) == (0, RegType.REG_DWORD)


@pytest.mark.parametrize("version", [(5, 2, 3790), (6, 2, 9200), (10, 0, 17763)])
def test_uac_restrictions_untouched_outside_6_0_to_6_1(version: tuple[int, int, int]) -> None:
    result = run((LISTENER,), state=state_with(version))

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert not has_value(result.state, UAC_POLICY_KEY, UAC_REMOTE_VALUE)


def test_uac_restrictions_already_lifted_are_left_alone() -> None:
    state = state_with((6, 0, 6002))
    state.registry.create_key(UAC_POLICY_KEY)
    state.registry.set_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE, 1, RegType.REG_DWORD)
    result = run((LISTENER,), state=state)

    assert outcome(result, "ConfigWinRMListenerPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert [
        e for e in os_calls(result, "set_registry_value") if e.get("name") == UAC_REMOTE_VALUE
    ] == []
    assert registry_value(result.state, UAC_POLICY_KEY, UAC_REMOTE_VALUE) == 1


def test_uac_restrictions_restored_when_the_listener_fails(configurable: dict[str, Any]) -> None:
    ConfigurableService.listeners = [{"protocol": "HTTPS", "certificate_thumbprint": "00"}]
    result = run((LISTENER,), configurable, state=state_with((6, 1, 7601)))

    failure(result, "ConfigWinRMListenerPlugin")
    assert [
        e.get("data")
        for e in os_calls(result, "set_registry_value")
        if e.get("name") == UAC_REMOTE_VALUE
    ] == [1, 0]


# --- ConfigWinRMCertificateAuthPlugin ----------------------------------------------------------


def x509_keys(*pems: str) -> list[dict[str, str]]:
    return [{"name": f"cert{i}", "type": "x509", "data": pem} for i, pem in enumerate(pems)]


def test_cert_auth_maps_the_client_certificate_upn_to_the_admin() -> None:
    result = run(
        ("createuser", "password", CERT_AUTH), document=meta_data(keys=x509_keys(CLIENT_PEM))
    )

    assert outcome(result, "ConfigWinRMCertificateAuthPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "ConfigWinRMCertificateAuthPlugin") == PLUGIN_EXECUTION_DONE
    assert result.state.winrm.auth.certificate is True
    root = result.state.certificates.find("LocalMachine", "Root", CLIENT_THUMBPRINT)
    assert root is not None
    assert (root.subject, root.upn, root.has_private_key) == ("CN=Admin", CLIENT_UPN, False)
    admin = result.state.find_user("Admin")
    assert admin is not None and admin.password
    assert result.state.winrm.cert_mappings == [
        WinRMCertMapping(CLIENT_THUMBPRINT, CLIENT_UPN, "*", "Admin", admin.password, True)
    ]
    # The password never reaches the trace.
    assert admin.password not in result.trace.to_jsonl()


def test_cert_auth_reads_chunked_admin_cert_metadata() -> None:
    chunks = [CLIENT_PEM[i : i + 255] for i in range(0, len(CLIENT_PEM), 255)]
    meta = {f"admin_cert{i}": chunk for i, chunk in enumerate(chunks)}
    result = run(("createuser", "password", CERT_AUTH), document=meta_data(meta=meta))

    assert outcome(result, "ConfigWinRMCertificateAuthPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert [(m.issuer, m.subject) for m in result.state.winrm.cert_mappings] == [
        (CLIENT_THUMBPRINT, CLIENT_UPN)
    ]


def test_cert_auth_uses_the_metadata_admin_and_its_injected_password() -> None:
    document = meta_data(
        meta={"admin_username": "simadmin", "admin_pass": "Injected-Passw0rd"},
        keys=x509_keys(CLIENT_PEM),
    )
    result = run(("createuser", "password", CERT_AUTH), document=document)

    assert [(m.username, m.password) for m in result.state.winrm.cert_mappings] == [
        ("simadmin", "Injected-Passw0rd")
    ]


def test_cert_auth_without_certificates_changes_nothing() -> None:
    result = run(("createuser", "password", CERT_AUTH))

    assert outcome(result, "ConfigWinRMCertificateAuthPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "set_winrm_auth_config", "import_cert") == []
    assert result.state.winrm.auth.certificate is False


def test_cert_auth_without_a_password_fails() -> None:
    # No plugin of this stage set a password and the metadata has no admin_pass.
    result = run((CERT_AUTH,), document=meta_data(keys=x509_keys(CLIENT_PEM)))

    assert "the user name or the password is missing" in failure(
        result, "ConfigWinRMCertificateAuthPlugin"
    )
    assert stored_status(result.state, "ConfigWinRMCertificateAuthPlugin") is None
    assert os_calls(result, "import_cert", "set_winrm_auth_config") == []


def test_cert_auth_skips_a_certificate_without_upn() -> None:
    no_upn = client_cert("nobody", None)
    result = run(
        ("createuser", "password", CERT_AUTH),
        document=meta_data(keys=x509_keys(no_upn, CLIENT_PEM)),
    )

    assert outcome(result, "ConfigWinRMCertificateAuthPlugin") == (PLUGIN_EXECUTION_DONE, False)
    # Trusted anyway, but not mapped.
    assert result.state.certificates.find("LocalMachine", "Root", pem_thumbprint(no_upn))
    assert [m.subject for m in result.state.winrm.cert_mappings] == [CLIENT_UPN]
    assert any("has no subject alternative name with a UPN" in line for line in result.log)


def test_cert_auth_replaces_an_existing_mapping() -> None:
    state = default_windows_state()
    state.winrm.cert_mappings.append(
        WinRMCertMapping(CLIENT_THUMBPRINT, CLIENT_UPN, "*", "Old", "old-password")
    )
    result = run(
        ("createuser", "password", CERT_AUTH),
        document=meta_data(keys=x509_keys(CLIENT_PEM)),
        state=state,
    )

    calls = [
        e.get("call")
        for e in os_calls(result, "delete_winrm_cert_mapping", "create_winrm_cert_mapping")
    ]
    assert calls == ["delete_winrm_cert_mapping", "create_winrm_cert_mapping"]
    assert [m.username for m in result.state.winrm.cert_mappings] == ["Admin"]


def test_cert_auth_clears_the_shared_password_for_later_plugins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = register_plugin(monkeypatch, PasswordProbeBefore)
    after = register_plugin(monkeypatch, PasswordProbeAfter)
    SEEN_PASSWORDS.clear()
    result = run(("createuser", "password", before, CERT_AUTH, after))

    # Before: the password SetUserPasswordPlugin stored; after: None (the key stays).
    admin = result.state.find_user("Admin")
    assert admin is not None
    assert [admin.password, None] == SEEN_PASSWORDS


def test_cert_auth_after_a_mid_main_reboot_falls_back_to_the_username_option() -> None:
    # Boot 1: simadmin is created with the injected password, then the host name change
    # reboots. Boot 2: shared data is gone, so the mapping names the option's user
    # ("Admin", which does not even exist) with the metadata password.
    document = meta_data(
        meta={"admin_username": "simadmin", "admin_pass": "Injected-Passw0rd"},
        keys=x509_keys(CLIENT_PEM),
    )
    machine, _ = openstack_machine(
        ("createuser", "password", "hostname", CERT_AUTH), document=document
    )
    result = machine.run()

    assert result.boot_count == 2
    run_end = ends(result, "ConfigWinRMCertificateAuthPlugin")
    assert [(e.boot, e.get("status")) for e in run_end] == [(2, PLUGIN_EXECUTION_DONE)]
    assert [(m.username, m.password) for m in result.state.winrm.cert_mappings] == [
        ("Admin", "Injected-Passw0rd")
    ]
    assert result.state.find_user("Admin") is None


def test_cert_auth_after_a_mid_main_reboot_without_metadata_password_fails() -> None:
    machine, _ = openstack_machine(
        ("createuser", "password", "hostname", CERT_AUTH),
        document=meta_data(keys=x509_keys(CLIENT_PEM)),
    )
    result = machine.run()

    assert "password is missing" in failure(result, "ConfigWinRMCertificateAuthPlugin")
    assert result.state.winrm.cert_mappings == []


def test_cert_auth_lifts_uac_restrictions_on_windows_2008() -> None:
    result = run(
        ("createuser", "password", CERT_AUTH),
        document=meta_data(keys=x509_keys(CLIENT_PEM)),
        state=state_with((6, 0, 6002)),
    )

    assert outcome(result, "ConfigWinRMCertificateAuthPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert [
        e.get("data")
        for e in os_calls(result, "set_registry_value")
        if e.get("name") == UAC_REMOTE_VALUE
    ] == [1, 0]


# --- ServerCertificatesPlugin ------------------------------------------------------------------


def pfx_entry(location: str, store: str = "My") -> dict[str, Any]:
    return {"name": "web", "store_location": location, "store_name": store, "pfx_data": AZURE_PFX}


def test_server_certificates_go_to_the_machine_and_user_stores(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.server_certs = [
        pfx_entry("LocalMachine"),
        pfx_entry("CurrentUser", "TrustedPeople"),
    ]
    result = run((SERVER_CERTS,), configurable)

    assert outcome(result, "ServerCertificatesPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "ServerCertificatesPlugin") == PLUGIN_EXECUTION_DONE
    machine_cert = result.state.certificates.find("LocalMachine", "My", AZURE_PFX_THUMBPRINT)
    assert machine_cert is not None
    assert (machine_cert.has_private_key, machine_cert.subject, machine_cert.user) == (
        True,
        "CN=az-sim-01",
        None,
    )
    user_cert = result.state.certificates.find("CurrentUser", "TrustedPeople", AZURE_PFX_THUMBPRINT)
    # The agent's own account (SYSTEM here) owns the CurrentUser store.
    assert user_cert is not None and user_cert.user == "SYSTEM"


def test_server_certificates_unknown_store_location_fails_after_earlier_imports(
    configurable: dict[str, Any],
) -> None:
    ConfigurableService.server_certs = [pfx_entry("LocalMachine"), pfx_entry("Elsewhere")]
    result = run((SERVER_CERTS,), configurable)

    assert failure(result, "ServerCertificatesPlugin") == (
        "UnsupportedStoreLocation: Unsupported certificate store location: Elsewhere"
    )
    assert stored_status(result.state, "ServerCertificatesPlugin") is None
    assert len(result.state.certificates.certificates) == 1


def test_server_certificates_none_from_the_service_is_done(configurable: dict[str, Any]) -> None:
    result = run((SERVER_CERTS,), configurable)

    assert outcome(result, "ServerCertificatesPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.certificates.certificates == []


def test_server_certificates_need_windows_server_2003(configurable: dict[str, Any]) -> None:
    ConfigurableService.server_certs = [pfx_entry("LocalMachine")]
    result = run((SERVER_CERTS,), configurable, state=state_with((5, 1, 2600)))

    assert ends(result, "ServerCertificatesPlugin") == []
    assert [e.get("plugin") for e in result.trace.of_kind("plugin_skipped")] == [
        "ServerCertificatesPlugin"
    ]
    assert result.state.certificates.certificates == []


def test_azure_certificates_listeners_and_rdp_thumbprint_end_to_end() -> None:
    scenario = load_scenario(REPO / "scenarios" / "plugins" / "server-certificates.yaml")
    outcome_ = run_scenario(scenario)
    assert outcome_.failures == []
    state = outcome_.result.state

    cert = state.certificates.find("LocalMachine", "My", AZURE_PFX_THUMBPRINT)
    assert cert is not None and cert.has_private_key
    https = state.winrm.find_listener("HTTPS")
    http = state.winrm.find_listener("HTTP")
    assert https is not None and https.certificate_thumbprint == AZURE_PFX_THUMBPRINT
    assert http is not None and http.certificate_thumbprint is None
    assert [(r.name, r.port) for r in state.firewall.rules] == [
        ("WinRM HTTP", 5985),
        ("WinRM HTTPS", 5986),
    ]
    # The ovf-env.xml listeners replace the options: no self-signed certificate.
    assert state.certificates.with_subject(SELF_SIGNED_SUBJECT) == []
    clouds = [c for c in outcome_.result.clouds if isinstance(c, AzureWireServer)]
    assert len(clouds) == 1
    rdp = state.certificates.in_store("LocalMachine", "Remote Desktop")
    assert [c.subject for c in rdp] == ["CN=WIN-AZ7Q2L0K1AB"]
    assert clouds[0].model.rdp_thumbprints == [rdp[0].thumbprint]
    assert state.rdp.certificate_thumbprint == rdp[0].thumbprint


# --- RDPSettingsPlugin -------------------------------------------------------------------------


def state_with_ts_policy_key() -> WindowsState:
    state = default_windows_state()
    state.registry.create_key(TERMINAL_SERVICES_POLICY_KEY)
    return state


@pytest.mark.parametrize(("keepalive", "expected"), [(True, 1), (False, 0)])
def test_rdp_settings_write_keepalive_policy(keepalive: bool, expected: int) -> None:
    result = run(
        (RDP_SETTINGS,), {"rdp_set_keepalive": keepalive}, state=state_with_ts_policy_key()
    )

    assert outcome(result, "RDPSettingsPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result.state, "RDPSettingsPlugin") == PLUGIN_EXECUTION_DONE
    registry = result.state.registry
    enable = registry.get_value(TERMINAL_SERVICES_POLICY_KEY, "KeepAliveEnable")
    interval = registry.get_value(TERMINAL_SERVICES_POLICY_KEY, "keepAliveInterval")
    assert (enable.data, enable.type) == (expected, RegType.REG_DWORD)
    # One minute, also when keep-alive is turned off.
    assert (interval.data, interval.type) == (1, RegType.REG_DWORD)


def test_rdp_settings_keepalive_defaults_to_on() -> None:
    result = run((RDP_SETTINGS,), state=state_with_ts_policy_key())
    assert registry_value(result.state, TERMINAL_SERVICES_POLICY_KEY, "KeepAliveEnable") == 1


def test_rdp_settings_fail_without_the_policy_key() -> None:
    state = default_windows_state()
    if state.registry.key_exists(TERMINAL_SERVICES_POLICY_KEY):
        state.registry.delete_key(TERMINAL_SERVICES_POLICY_KEY, recursive=True)
    result = run((RDP_SETTINGS,), state=state)

    failure(result, "RDPSettingsPlugin")
    assert stored_status(result.state, "RDPSettingsPlugin") is None
    # The key is opened, never created.
    assert not result.state.registry.key_exists(TERMINAL_SERVICES_POLICY_KEY)


def test_rdp_settings_need_windows_server_2003() -> None:
    state = state_with_ts_policy_key()
    state.version = WindowsVersion(5, 1, 2600)
    result = run((RDP_SETTINGS, RDP_THUMBPRINT), state=state)

    assert ends(result, "RDPSettingsPlugin") == []
    assert sorted(e.get("plugin") for e in result.trace.of_kind("plugin_skipped")) == [
        "RDPPostCertificateThumbprintPlugin",
        "RDPSettingsPlugin",
    ]


# --- RDPPostCertificateThumbprintPlugin --------------------------------------------------------


def test_rdp_thumbprint_not_posted_where_the_service_cannot_take_it() -> None:
    result = run((RDP_THUMBPRINT,))

    assert outcome(result, "RDPPostCertificateThumbprintPlugin") == (PLUGIN_EXECUTION_DONE, False)
    # Never even read: Remote Desktop's certificate was not asked for.
    assert result.state.rdp.certificate_thumbprint is None
    assert any("does not support posting the RDP certificate" in line for line in result.log)


def test_rdp_thumbprint_posted_to_azure_is_the_listener_certificate() -> None:
    scenario = load_scenario(REPO / "scenarios" / "plugins" / "server-certificates.yaml")
    result = run_scenario(scenario).result

    assert outcome(result, "RDPPostCertificateThumbprintPlugin") == (PLUGIN_EXECUTION_DONE, False)
    thumbprint = result.state.rdp.certificate_thumbprint
    assert thumbprint is not None and len(thumbprint) == 40
    cloud = next(c for c in result.clouds if isinstance(c, AzureWireServer))
    assert cloud.model.rdp_thumbprints == [thumbprint]


def test_every_upstream_path_of_these_plugins_loads() -> None:
    result = run((SSH, LISTENER, CERT_AUTH, SERVER_CERTS, RDP_SETTINGS, RDP_THUMBPRINT))
    assert result.trace.of_kind("plugin_unavailable") == []
    assert sorted({str(e.get("plugin")) for e in result.trace.of_kind("plugin_start")}) == [
        "ConfigWinRMCertificateAuthPlugin",
        "ConfigWinRMListenerPlugin",
        "RDPPostCertificateThumbprintPlugin",
        "RDPSettingsPlugin",
        "ServerCertificatesPlugin",
        "SetUserSSHPublicKeysPlugin",
    ]
