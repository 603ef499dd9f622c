"""The published agent's WinRM, certificate, RDP, security and registry helpers, answered
by guestsim's stand-ins: what the machine looks like after upstream's plugins ran.

Each test runs a library scenario with the published agent and reads the final machine
(and cloud) state, so what is checked is what a user of the guest would see.
"""

from __future__ import annotations

import functools
import importlib.util

import pytest

from guestsim.simulator.clouds.azure import AzureWireServer
from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.upstream import UpstreamAgent
from guestsim.simulator.windows.registry import RegistryError, RegType
from guestsim.simulator.windows.state import WindowsState

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cloudbaseinit") is None,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)

LIBRARY = bundled("scenarios")
UAC_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
UAC_VALUE = "LocalAccountTokenFilterPolicy"
TERMINAL_SERVICES_KEY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services"
# The client certificate the winrm-cert-auth scenarios put in the metadata.
CLIENT_UPN = "Admin@localhost"


@functools.cache
def _upstream(relative: str) -> ScenarioOutcome:
    """One upstream run of a library scenario per test process (tests only read it)."""
    return run_scenario(load_scenario(LIBRARY / relative), agent=UpstreamAgent())


def _value(state: WindowsState, key: str, name: str) -> object:
    """A registry value's data, None when the key or the value is absent."""
    try:
        return state.registry.get_value(key, name).data
    except RegistryError:
        return None


def _plugin_errors(result: RunResult) -> dict[str, str]:
    """The error of each plugin that failed, by plugin name."""
    return {
        event.fields["plugin"]: event.fields["error"]
        for event in result.trace.of_kind("plugin_end")
        if not event.fields["success"]
    }


@pytest.mark.parametrize(
    "relative",
    [
        *sorted(str(p.relative_to(LIBRARY)) for p in (LIBRARY / "clouds").glob("azure-*.yaml")),
        "plugins/winrm-cert-auth.yaml",
        "plugins/winrm-https-listener.yaml",
        "plugins/rdp-settings.yaml",
        "plugins/ephemeral-disk.yaml",
        "power-loss/winrm-certificate-auth-after-a-cut.yaml",
    ],
)
def test_the_scenario_holds_with_the_published_agent(relative: str) -> None:
    assert _upstream(relative).failures == []


# --- WinRM ----------------------------------------------------------------------------------


def test_the_https_listener_presents_a_new_self_signed_machine_certificate() -> None:
    state = _upstream("plugins/winrm-https-listener.yaml").result.state

    https = state.winrm.find_listener("HTTPS")
    assert https is not None
    assert https.port == 5986
    assert https.certificate_thumbprint is not None
    certificate = state.certificates.find("LocalMachine", "My", https.certificate_thumbprint)
    assert certificate is not None
    assert certificate.subject == "CN=Cloudbase-Init WinRM"
    assert certificate.has_private_key
    # WinRM's own HTTP listener stays; Basic auth is on; the port is open.
    assert state.winrm.find_listener("HTTP") is not None
    assert state.winrm.auth.basic is True
    rule = state.firewall.find_rule("WinRM HTTPS")
    assert rule is not None
    assert (rule.port, rule.protocol) == (5986, "TCP")
    # Server 2019: the UAC remote restrictions are not touched.
    assert _value(state, UAC_KEY, UAC_VALUE) is None


def test_the_client_certificate_is_trusted_and_mapped_to_the_account() -> None:
    state = _upstream("plugins/winrm-cert-auth.yaml").result.state

    trusted = [c for c in state.certificates.in_store("LocalMachine", "Root") if c.upn]
    assert [c.upn for c in trusted] == [CLIENT_UPN]
    assert not trusted[0].has_private_key
    assert state.winrm.auth.certificate is True
    [mapping] = state.winrm.cert_mappings
    assert (mapping.issuer, mapping.subject, mapping.uri) == (
        trusted[0].thumbprint,
        CLIENT_UPN,
        "*",
    )
    assert mapping.username == "Admin"
    assert mapping.password  # the password CreateUserPlugin set, not an empty one
    # Server 2008 R2: restrictions lifted around each WinRM plugin, written back as 0.
    assert _value(state, UAC_KEY, UAC_VALUE) == 0


# --- Remote Desktop -------------------------------------------------------------------------


def test_the_rdp_keepalive_policy_is_written_into_the_policy_key() -> None:
    state = _upstream("plugins/rdp-settings.yaml").result.state

    keepalive = state.registry.get_value(TERMINAL_SERVICES_KEY, "KeepAliveEnable")
    assert (keepalive.data, keepalive.type) == (1, RegType.REG_DWORD)
    assert _value(state, TERMINAL_SERVICES_KEY, "keepAliveInterval") == 1


def test_without_the_policy_key_the_rdp_plugin_fails_and_creates_nothing() -> None:
    # Upstream opens the Terminal Services policy key, it never creates it.
    machine = load_scenario(LIBRARY / "plugins/rdp-settings.yaml").build_machine(
        agent=UpstreamAgent()
    )
    machine.state.registry.delete_key(TERMINAL_SERVICES_KEY)

    result = machine.run()

    assert _plugin_errors(result)["RDPSettingsPlugin"].startswith("FileNotFoundError")
    assert not result.state.registry.key_exists(TERMINAL_SERVICES_KEY)


# --- Azure ----------------------------------------------------------------------------------


def test_azure_certificates_land_in_the_store_and_the_transport_certificate_is_gone() -> None:
    outcome = _upstream("plugins/server-certificates.yaml")
    state = outcome.result.state
    [wireserver] = outcome.result.clouds
    assert isinstance(wireserver, AzureWireServer)

    imported = [c for c in state.certificates.in_store("LocalMachine", "My") if c.origin == "pfx"]
    assert [c.subject for c in imported] == ["CN=az-sim-01"]
    assert imported[0].has_private_key
    # The ovf-env.xml HTTPS listener presents the imported certificate.
    https = state.winrm.find_listener("HTTPS")
    assert https is not None
    assert https.certificate_thumbprint == imported[0].thumbprint
    # The transport certificate lived in the Azure store only while it was needed.
    assert state.certificates.with_subject("CN=Cloudbase-Init AzureService Transport") == []
    assert state.certificates.in_store("LocalMachine", "Windows Azure Environment") == []
    # The RDP listener's own certificate is what was posted.
    assert wireserver.model.rdp_thumbprints == [state.rdp.certificate_thumbprint]
    # Upstream's ServerCertificatesPlugin asks the service for the certificates twice
    # (once to test for None, once to loop), and each time they are fetched again.
    assert wireserver.model.certificate_downloads == 2
    assert _plugin_errors(outcome.result) == {}


def test_the_azure_guest_agent_is_installed_and_registered() -> None:
    outcome = _upstream("plugins/azure-guest-agent.yaml")
    state = outcome.result.state

    rdagent = state.find_service("RdAgent")
    assert rdagent is not None
    assert (rdagent.start_mode, rdagent.status) == ("Automatic", "Running")
    assert rdagent.binary_path.lower() == "c:\\windowsazure\\packages\\waappagent.exe"
    assert sorted(state.files.list_dir("C:\\WindowsAzure\\Packages")) == [
        "TransparentInstaller.dll",
        "WaAppAgent.exe",
        "WaAppAgent.exe.config",
    ]
    assert _value(state, "HKLM\\SOFTWARE\\Microsoft\\Windows Azure", "VMType") == "IAAS"
    assert _value(state, "HKLM\\SOFTWARE\\Microsoft\\GuestAgent", "Incarnation") == (
        "2.7.41491.1102"
    )
    # The guest's clock at install time: Azure's DHCP hands out the WireServer address
    # (option 245) unasked, so upstream, which requests no option, finds it at once.
    assert _value(state, "HKLM\\SOFTWARE\\Microsoft\\GuestAgent", "VmProvisionedAt") == (
        "01/01/2026 12:00:00 AM"
    )
    assert _plugin_errors(outcome.result) == {}


def test_the_ephemeral_disk_warning_comes_from_the_provisioning_drive() -> None:
    outcome = _upstream("plugins/ephemeral-disk.yaml")
    files = outcome.result.state.files

    warning = files.read("E:\\$$\\OEM\\DATALOSS_WARNING_README.txt")
    assert warning
    assert files.read("D:\\DATALOSS_WARNING_README.txt") == warning
    assert _plugin_errors(outcome.result) == {}
