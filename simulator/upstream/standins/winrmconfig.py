"""``cloudbaseinit.utils.windows.winrmconfig``: the WinRM service configuration, on the fake.

Upstream talks WS-Management (``WSMan.Automation``) to read and change the service's
authentication settings, listeners and client certificate mappings; the fake Windows models
the same resources, and guestsim's agent uses the same calls. Resources are handed back in
the shape upstream parses them into: a dict per resource, ``Enabled`` a bool, a listener's
``Port`` an int, every other field text and an empty element None; an absent resource is
None.
"""

from __future__ import annotations

from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

CBT_HARDENING_LEVEL_NONE = "none"
CBT_HARDENING_LEVEL_RELAXED = "relaxed"
CBT_HARDENING_LEVEL_STRICT = "strict"

LISTENER_PROTOCOL_HTTP = "HTTP"
LISTENER_PROTOCOL_HTTPS = "HTTPS"

ANY = "*"


def _as_parsed(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    """An empty text element reads back as None in upstream's parsing, not ""."""
    if resource is None:
        return None
    return {name: (None if value == "" else value) for name, value in resource.items()}


class WinRMConfig:
    """Upstream's WinRM configuration helper over the fake's WinRM service."""

    def __init__(self) -> None:
        self._os = guest.current().osutils

    # --- authentication ----------------------------------------------------------------------

    def set_auth_config(
        self,
        basic: bool | None = None,
        kerberos: bool | None = None,
        negotiate: bool | None = None,
        certificate: bool | None = None,
        credSSP: bool | None = None,  # upstream's keyword spelling
        cbt_hardening_level: str | None = None,
    ) -> None:
        """Change the settings given (None leaves one alone).

        The settings are read first and each one that differs is written on its own, so an
        unchanged setting costs no write, and every change is a separate point a power cut
        can fall between.
        """
        if cbt_hardening_level is not None:
            # Upstream writes every setting as an XML boolean, which WinRM refuses for the
            # hardening level; no plugin passes it.
            raise NotModelled("WinRMConfig.set_auth_config(cbt_hardening_level=...)")
        wanted = {
            "basic": (basic, "Basic"),
            "kerberos": (kerberos, "Kerberos"),
            "negotiate": (negotiate, "Negotiate"),
            "certificate": (certificate, "Certificate"),
            "credssp": (credSSP, "CredSSP"),
        }
        current = self._os.get_winrm_auth_config()
        for argument, (value, setting) in wanted.items():
            if value is not None and bool(current[setting]) != bool(value):
                self._os.set_winrm_auth_config(**{argument: bool(value)})

    # --- listeners ---------------------------------------------------------------------------

    def get_listener(
        self, protocol: str = LISTENER_PROTOCOL_HTTPS, address: str = ANY
    ) -> dict[str, Any] | None:
        """The listener (``Address``, ``Transport``, ``Port``, ``Enabled``,
        ``CertificateThumbprint`` ...) for that transport and address, or None."""
        return _as_parsed(self._os.get_winrm_listener(protocol, address))

    def delete_listener(self, protocol: str = LISTENER_PROTOCOL_HTTPS, address: str = ANY) -> None:
        """Delete that listener; an absent one fails as WinRM does."""
        self._os.delete_winrm_listener(protocol, address)

    def create_listener(
        self,
        protocol: str = LISTENER_PROTOCOL_HTTPS,
        cert_thumbprint: str | None = None,
        address: str = ANY,
        enabled: bool = True,
    ) -> None:
        """Create a listener on its transport's default port; HTTPS needs the thumbprint of
        a LocalMachine\\My certificate with its private key."""
        self._os.create_winrm_listener(protocol, cert_thumbprint or None, address, enabled)

    # --- client certificate mappings ---------------------------------------------------------

    def get_cert_mapping(self, issuer: str, subject: str, uri: str = ANY) -> dict[str, Any] | None:
        """The mapping (``Issuer``, ``Subject``, ``URI``, ``UserName``, ``Enabled``) of that
        issuer thumbprint and subject UPN, or None."""
        return _as_parsed(self._os.get_winrm_cert_mapping(issuer, subject, uri))

    def delete_cert_mapping(self, issuer: str, subject: str, uri: str = ANY) -> None:
        """Delete that mapping; an absent one fails as WinRM does."""
        self._os.delete_winrm_cert_mapping(issuer, subject, uri)

    def create_cert_mapping(
        self,
        issuer: str,
        subject: str,
        username: str,
        password: str,
        uri: str = ANY,
        enabled: bool = True,
    ) -> None:
        """Map client certificates of that issuer and UPN to a local account's credentials."""
        self._os.create_winrm_cert_mapping(issuer, subject, username, password, uri, enabled)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses winrmconfig.{name}")
