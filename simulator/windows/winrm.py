"""The fake Windows: the WinRM service configuration: auth, listeners, certificate mappings.

Also the UAC remote-restriction switch (``LocalAccountTokenFilterPolicy``) the WinRM
plugins lift on Windows 6.0/6.1; it lives in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guestsim.agent.windows.winrm import (
    WINRM_ADDRESS_ANY,
    WINRM_PROTOCOL_HTTP,
    WINRM_URI_ANY,
)
from guestsim.simulator.windows.certificates import normalise_thumbprint

UAC_POLICY_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
UAC_REMOTE_VALUE = "LocalAccountTokenFilterPolicy"


@dataclass
class WinRMAuth:
    """``winrm/config/service/auth``, as a fresh Windows Server 2019 has it."""

    basic: bool = False
    kerberos: bool = True
    negotiate: bool = True
    certificate: bool = False
    credssp: bool = False
    cbt_hardening_level: str = "Relaxed"


@dataclass
class WinRMListener:
    address: str
    transport: str  # HTTP or HTTPS
    port: int
    certificate_thumbprint: str | None = None
    enabled: bool = True
    hostname: str = ""
    url_prefix: str = "wsman"


@dataclass
class WinRMCertMapping:
    """A ``winrm/config/service/certmapping`` entry: client certificates to an account."""

    issuer: str  # thumbprint of the issuing (here: the imported) certificate
    subject: str  # the UPN the client certificate carries
    uri: str
    username: str
    password: str
    enabled: bool = True


def _default_listeners() -> list[WinRMListener]:
    # Windows Server 2012 and later ship with WinRM enabled: one HTTP listener on every
    # address.
    return [WinRMListener(WINRM_ADDRESS_ANY, WINRM_PROTOCOL_HTTP, 5985)]


@dataclass
class WinRMState:
    """What this feature keeps on the machine (persists across reboots)."""

    auth: WinRMAuth = field(default_factory=WinRMAuth)
    listeners: list[WinRMListener] = field(default_factory=_default_listeners)
    cert_mappings: list[WinRMCertMapping] = field(default_factory=list)

    def find_listener(
        self, transport: str, address: str = WINRM_ADDRESS_ANY
    ) -> WinRMListener | None:
        return next(
            (
                listener
                for listener in self.listeners
                if listener.transport == transport.upper()
                and listener.address.lower() == address.lower()
            ),
            None,
        )

    def find_cert_mapping(
        self, issuer: str, subject: str, uri: str = WINRM_URI_ANY
    ) -> WinRMCertMapping | None:
        return next(
            (
                mapping
                for mapping in self.cert_mappings
                if mapping.issuer == normalise_thumbprint(issuer)
                and mapping.subject.lower() == subject.lower()
                and mapping.uri == uri
            ),
            None,
        )
