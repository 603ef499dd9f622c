"""The fake Windows' remote-access features: certificate stores, WinRM configuration, UAC
remote restrictions, the firewall's opened ports and the RDP listener certificate.

Each test calls the fake directly and asserts the resulting state and trace.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.clock import DEFAULT_EPOCH, VirtualClock
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.certificates import machine_key, thumbprint_of
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.winrm import UAC_POLICY_KEY, UAC_REMOTE_VALUE, WinRMListener
from tests.builders import FIXTURES

CLIENT_PEM = (FIXTURES / "certs" / "winrm-client-admin.pem").read_text()
CLIENT_THUMBPRINT = "ACA6A0D5D9B75B0C1C69BA1433FA890E41B04F9D"
AZURE_PFX = (FIXTURES / "clouds" / "azure" / "certificates.pfx").read_bytes()
AZURE_PFX_THUMBPRINT = "A150E824439961862A4277D45178C466D5C99C3A"
SUBJECT = "CN=Cloudbase-Init WinRM"


@dataclass
class Guest:
    state: WindowsState
    trace: Trace
    os: FakeOSUtils

    def os_events(self, *calls: str) -> list[dict[str, Any]]:
        return [
            dict(e.fields) for e in self.trace.of_kind("os") if not calls or e.get("call") in calls
        ]


def refuse(*_: object) -> Any:
    raise AssertionError("not expected")


def make_guest(
    seed: int = 0, state: WindowsState | None = None, clock: VirtualClock | None = None
) -> Guest:
    state = default_windows_state() if state is None else state
    trace = Trace()
    hooks = MachineHooks(
        sleep=refuse,
        reboot=refuse,
        service_stopped=refuse,
        run_as_user=refuse,
        now=(clock or VirtualClock()).now,
    )
    return Guest(state, trace, FakeOSUtils(state, trace, random.Random(seed), hooks))


@pytest.fixture
def guest() -> Guest:
    return make_guest()


# --- self-signed certificates ------------------------------------------------------------------


def test_self_signed_certificate_lands_in_the_store_with_its_key(guest: Guest) -> None:
    thumbprint = guest.os.create_self_signed_cert(SUBJECT)

    [stored] = guest.state.certificates.certificates
    assert (stored.location, stored.store, stored.thumbprint) == ("LocalMachine", "My", thumbprint)
    assert (stored.subject, stored.issuer, stored.has_private_key) == (SUBJECT, SUBJECT, True)
    assert stored.origin == "self-signed"
    certificate = stored.certificate
    assert thumbprint == thumbprint_of(certificate)
    assert thumbprint == certificate.fingerprint(hashes.SHA1()).hex().upper()
    assert certificate.not_valid_before_utc == DEFAULT_EPOCH
    assert certificate.not_valid_after_utc == DEFAULT_EPOCH.replace(year=2036)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # Really signed by the key the store says it holds.
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.public_numbers() == machine_key().public_key().public_numbers()
    certificate.verify_directly_issued_by(certificate)


def test_self_signed_certificate_is_traced_without_its_thumbprint(guest: Guest) -> None:
    guest.os.create_self_signed_cert(SUBJECT, "My", "LocalMachine", 1)

    assert guest.os_events() == [
        {"call": "create_self_signed_cert", "subject": SUBJECT, "store": "LocalMachine\\My"}
    ]


def test_self_signed_certificates_are_deterministic_per_seed() -> None:
    def thumbprints(seed: int) -> list[str]:
        osu = make_guest(seed).os
        return [osu.create_self_signed_cert(SUBJECT) for _ in range(2)]

    first = thumbprints(1)
    assert first == thumbprints(1)
    assert first[0] != first[1]  # a new serial for each
    assert thumbprints(2) != first


@pytest.mark.parametrize("subject", ["Cloudbase-Init WinRM", "XX=foo", "CN=", ""])
def test_self_signed_certificate_with_an_unreadable_subject_fails(
    guest: Guest, subject: str
) -> None:
    with pytest.raises(OSUtilsError, match="Invalid certificate subject"):
        guest.os.create_self_signed_cert(subject)
    assert guest.state.certificates.certificates == []


def test_self_signed_certificate_multi_part_subject(guest: Guest) -> None:
    guest.os.create_self_signed_cert("CN=host, O=Example, C=US")
    assert guest.state.certificates.certificates[0].subject == "C=US,O=Example,CN=host"


def test_certificate_store_location_must_be_known(guest: Guest) -> None:
    with pytest.raises(OSUtilsError, match="Unsupported certificate store location"):
        guest.os.create_self_signed_cert(SUBJECT, "My", "Everywhere")
    with pytest.raises(OSUtilsError, match="store name is required"):
        guest.os.import_cert(CLIENT_PEM, "LocalMachine", "")


# --- importing certificates --------------------------------------------------------------------


def test_import_cert_reads_thumbprint_and_upn(guest: Guest) -> None:
    assert guest.os.import_cert(CLIENT_PEM, "LocalMachine", "Root") == (
        CLIENT_THUMBPRINT,
        "Admin@localhost",
    )
    found = guest.state.certificates.find("localmachine", "ROOT", CLIENT_THUMBPRINT.lower())
    assert found is not None
    assert (found.subject, found.has_private_key, found.origin) == ("CN=Admin", False, "imported")
    assert guest.os_events() == [
        {
            "call": "import_cert",
            "store": "LocalMachine\\Root",
            "thumbprint": CLIENT_THUMBPRINT,
            "subject": "CN=Admin",
            "upn": "Admin@localhost",
        }
    ]


def test_import_cert_accepts_base64_without_armour_and_replaces_a_duplicate(
    guest: Guest,
) -> None:
    der = x509.load_pem_x509_certificate(CLIENT_PEM.encode()).public_bytes(
        serialization.Encoding.DER
    )
    guest.os.import_cert(CLIENT_PEM, "LocalMachine", "Root")
    guest.os.import_cert(base64.b64encode(der).decode(), "LocalMachine", "Root")

    assert [c.thumbprint for c in guest.state.certificates.certificates] == [CLIENT_THUMBPRINT]


def test_import_cert_without_upn_returns_none(guest: Guest) -> None:
    guest.os.create_self_signed_cert(SUBJECT)
    der = guest.state.certificates.certificates[0].der
    text = base64.b64encode(der).decode()
    assert guest.os.import_cert(text, "LocalMachine", "Root")[1] is None


def test_import_cert_rejects_garbage(guest: Guest) -> None:
    with pytest.raises(OSUtilsError, match="Cannot decode the certificate"):
        guest.os.import_cert("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----")
    with pytest.raises(OSUtilsError, match="Cannot decode the certificate"):
        guest.os.import_cert(base64.b64encode(b"not a certificate").decode())
    assert guest.state.certificates.certificates == []


def test_import_of_concatenated_pem_certificates_is_not_modelled(guest: Guest) -> None:
    with pytest.raises(NotModelled, match="several concatenated PEM"):
        guest.os.import_cert(CLIENT_PEM + CLIENT_PEM, "LocalMachine", "Root")


def test_import_pfx_keeps_the_private_key(guest: Guest) -> None:
    guest.os.import_pfx_certificate(AZURE_PFX, "LocalMachine", "My")

    found = guest.state.certificates.find("LocalMachine", "My", AZURE_PFX_THUMBPRINT)
    assert found is not None
    assert (found.has_private_key, found.origin, found.user) == (True, "pfx", None)
    assert guest.os_events() == [
        {
            "call": "import_pfx_certificate",
            "store": "LocalMachine\\My",
            "thumbprints": [AZURE_PFX_THUMBPRINT],
        }
    ]


def test_import_pfx_into_the_current_user_store_belongs_to_the_agent_account(
    guest: Guest,
) -> None:
    guest.os.import_pfx_certificate(AZURE_PFX, "CurrentUser", "My")
    assert [c.user for c in guest.state.certificates.certificates] == ["SYSTEM"]


def test_import_pfx_rejects_garbage_and_unknown_locations(guest: Guest) -> None:
    with pytest.raises(OSUtilsError, match="Cannot import the PFX"):
        guest.os.import_pfx_certificate(b"\x30\x03\x02\x01\x03")
    with pytest.raises(OSUtilsError, match="Unsupported certificate store location"):
        guest.os.import_pfx_certificate(AZURE_PFX, "Machine", "My")
    assert guest.state.certificates.certificates == []


# --- WinRM -------------------------------------------------------------------------------------


def test_winrm_defaults_of_a_fresh_server_2019(guest: Guest) -> None:
    assert guest.os.get_winrm_auth_config() == {
        "Basic": False,
        "Kerberos": True,
        "Negotiate": True,
        "Certificate": False,
        "CredSSP": False,
        "CbtHardeningLevel": "Relaxed",
    }
    assert guest.os.get_winrm_listener("http") == {
        "Address": "*",
        "Transport": "HTTP",
        "Port": 5985,
        "Hostname": "",
        "Enabled": True,
        "URLPrefix": "wsman",
        "CertificateThumbprint": "",
    }
    assert guest.os.get_winrm_listener("HTTPS") is None


def test_winrm_auth_changes_only_what_is_given(guest: Guest) -> None:
    guest.os.set_winrm_auth_config(basic=True)
    guest.os.set_winrm_auth_config(certificate=True, kerberos=False)

    auth = guest.state.winrm.auth
    assert (auth.basic, auth.certificate, auth.kerberos, auth.negotiate) == (
        True,
        True,
        False,
        True,
    )
    assert guest.os_events() == [
        {"call": "set_winrm_auth_config", "basic": True},
        {"call": "set_winrm_auth_config", "certificate": True, "kerberos": False},
    ]


def test_winrm_https_listener_needs_a_machine_certificate_with_its_key(guest: Guest) -> None:
    osu = guest.os
    with pytest.raises(OSUtilsError, match="needs a certificate thumbprint"):
        osu.create_winrm_listener("HTTPS")
    with pytest.raises(OSUtilsError, match="not in the LocalMachine\\\\My store"):
        osu.create_winrm_listener("HTTPS", CLIENT_THUMBPRINT)
    osu.import_cert(CLIENT_PEM, "LocalMachine", "My")  # no private key
    with pytest.raises(OSUtilsError, match="has no private key"):
        osu.create_winrm_listener("HTTPS", CLIENT_THUMBPRINT)
    assert guest.state.winrm.find_listener("HTTPS") is None

    thumbprint = osu.create_self_signed_cert(SUBJECT)
    osu.create_winrm_listener("https", thumbprint.lower())
    listener = osu.get_winrm_listener("HTTPS")
    assert listener is not None
    assert (listener["Port"], listener["CertificateThumbprint"]) == (5986, thumbprint)
    assert guest.os_events("create_winrm_listener") == [
        {
            "call": "create_winrm_listener",
            "protocol": "HTTPS",
            "address": "*",
            "port": 5986,
            "certificate_thumbprint": thumbprint,
            "enabled": True,
        }
    ]


def test_winrm_listener_create_and_delete_are_strict(guest: Guest) -> None:
    osu = guest.os
    with pytest.raises(OSUtilsError, match="already exists"):
        osu.create_winrm_listener("HTTP")
    with pytest.raises(OSUtilsError, match="Invalid WinRM listener transport"):
        osu.create_winrm_listener("FTP")
    with pytest.raises(OSUtilsError, match="cannot find the listener"):
        osu.delete_winrm_listener("HTTPS")
    osu.delete_winrm_listener("http")
    assert guest.state.winrm.listeners == []
    osu.create_winrm_listener("HTTP")
    assert guest.state.winrm.listeners == [WinRMListener("*", "HTTP", 5985)]
    assert [e["call"] for e in guest.os_events()] == [
        "delete_winrm_listener",
        "create_winrm_listener",
    ]


def test_winrm_http_listener_with_a_certificate_is_not_modelled(guest: Guest) -> None:
    guest.os.delete_winrm_listener("HTTP")
    with pytest.raises(NotModelled, match="HTTP listener with a certificate"):
        guest.os.create_winrm_listener("HTTP", CLIENT_THUMBPRINT)


def test_winrm_cert_mappings(guest: Guest) -> None:
    osu = guest.os
    assert osu.get_winrm_cert_mapping(CLIENT_THUMBPRINT, "Admin@localhost") is None
    osu.create_winrm_cert_mapping(CLIENT_THUMBPRINT.lower(), "Admin@localhost", "Admin", "S3cret!")

    assert osu.get_winrm_cert_mapping(CLIENT_THUMBPRINT, "admin@LOCALHOST") == {
        "Issuer": CLIENT_THUMBPRINT,
        "Subject": "Admin@localhost",
        "URI": "*",
        "UserName": "Admin",
        "Enabled": True,
    }
    with pytest.raises(OSUtilsError, match="already exists"):
        osu.create_winrm_cert_mapping(CLIENT_THUMBPRINT, "Admin@localhost", "Admin", "x")
    assert osu.get_winrm_cert_mapping(CLIENT_THUMBPRINT, "Admin@localhost", "wsman/*") is None
    osu.delete_winrm_cert_mapping(CLIENT_THUMBPRINT, "Admin@localhost")
    assert guest.state.winrm.cert_mappings == []
    with pytest.raises(OSUtilsError, match="cannot find the certificate mapping"):
        osu.delete_winrm_cert_mapping(CLIENT_THUMBPRINT, "Admin@localhost")
    # The password is redacted in the trace.
    created = guest.os_events("create_winrm_cert_mapping")
    assert created[0]["password"] == "<redacted:7>"
    assert "S3cret!" not in guest.trace.to_jsonl()


# --- UAC remote restrictions -------------------------------------------------------------------


def test_uac_remote_restrictions_follow_local_account_token_filter_policy(guest: Guest) -> None:
    osu = guest.os
    assert osu.get_uac_remote_restrictions() is True  # value absent

    osu.set_uac_remote_restrictions(False)
    value = guest.state.registry.get_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE)
    assert (value.data, value.type) == (1, RegType.REG_DWORD)
    assert osu.get_uac_remote_restrictions() is False

    osu.set_uac_remote_restrictions(True)
    assert guest.state.registry.get_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE).data == 0
    assert osu.get_uac_remote_restrictions() is True
    assert [(e["name"], e["data"]) for e in guest.os_events("set_registry_value")] == [
        (UAC_REMOTE_VALUE, 1),
        (UAC_REMOTE_VALUE, 0),
    ]


# --- firewall ----------------------------------------------------------------------------------


def test_firewall_rules_open_ports_by_port_and_protocol(guest: Guest) -> None:
    osu = guest.os
    osu.firewall_create_rule("WinRM HTTPS", 5986, "TCP")
    osu.firewall_create_rule("DNS", 53, "UDP")
    osu.firewall_create_rule("WinRM HTTPS again", 5986, "TCP")

    rules = guest.state.firewall.rules
    assert [(r.name, r.port, r.protocol, r.scope) for r in rules] == [
        ("DNS", 53, "UDP", "All"),
        ("WinRM HTTPS again", 5986, "TCP", "All"),
    ]
    assert guest.state.firewall.find_rule("WinRM HTTPS") is None
    osu.firewall_remove_rule("DNS", 53, "UDP")
    assert [r.name for r in guest.state.firewall.rules] == ["WinRM HTTPS again"]
    assert [(e["call"], e["port"]) for e in guest.os_events()] == [
        ("firewall_create_rule", 5986),
        ("firewall_create_rule", 53),
        ("firewall_create_rule", 5986),
        ("firewall_remove_rule", 53),
    ]


@pytest.mark.parametrize(
    ("port", "protocol", "allow", "error"),
    [
        (5986, "TCP", False, NotImplementedError),
        (5986, "ICMP", True, NotImplementedError),
        (5986, "tcp", True, NotImplementedError),
        (0, "TCP", True, OSUtilsError),
        (70000, "TCP", True, OSUtilsError),
        (None, "TCP", True, OSUtilsError),
    ],
)
def test_firewall_refuses_what_windows_does_not_do(
    guest: Guest, port: Any, protocol: str, allow: bool, error: type[Exception]
) -> None:
    with pytest.raises(error):
        guest.os.firewall_create_rule("x", port, protocol, allow)
    assert guest.state.firewall.rules == []
    assert guest.os_events() == []


def test_removing_a_port_that_is_not_open_is_not_modelled(guest: Guest) -> None:
    with pytest.raises(NotModelled, match="firewall_remove_rule"):
        guest.os.firewall_remove_rule("WinRM HTTP", 5985, "TCP")


# --- RDP ---------------------------------------------------------------------------------------


def test_rdp_certificate_is_made_once_for_the_computer_name(guest: Guest) -> None:
    before = random.Random(0).randbytes(8)
    thumbprint = guest.os.get_rdp_certificate_thumbprint()

    assert guest.os.get_rdp_certificate_thumbprint() == thumbprint
    [stored] = guest.state.certificates.in_store("LocalMachine", "Remote Desktop")
    assert (stored.thumbprint, stored.subject, stored.has_private_key) == (
        thumbprint,
        "CN=WIN-GUESTSIM01",
        True,
    )
    assert guest.state.rdp.certificate_thumbprint == thumbprint
    # Windows' own doing: not an agent change in the trace, no draw on the random stream.
    assert guest.os_events() == []
    assert guest.os.random_bytes(8) == before


def test_rdp_certificate_already_set_is_returned_as_is() -> None:
    state = default_windows_state()
    state.rdp.certificate_thumbprint = "00112233445566778899AABBCCDDEEFF00112233"
    guest = make_guest(state=state)
    assert guest.os.get_rdp_certificate_thumbprint() == state.rdp.certificate_thumbprint
    assert guest.state.certificates.certificates == []


def test_rdp_certificate_dates_come_from_guest_time() -> None:
    start = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
    guest = make_guest(clock=VirtualClock(start))
    guest.os.get_rdp_certificate_thumbprint()
    [stored] = guest.state.certificates.certificates
    assert stored.certificate.not_valid_before_utc == start
