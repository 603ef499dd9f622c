"""The WinRM service configuration: authentication, listeners, certificate mappings.

Also the UAC remote-restriction switch (``LocalAccountTokenFilterPolicy``) the WinRM
plugins lift while they configure WinRM on Windows Vista / Server 2008 (R2).
"""

from __future__ import annotations

from typing import Any, Protocol

WINRM_ADDRESS_ANY = "*"
WINRM_URI_ANY = "*"
WINRM_PROTOCOL_HTTP = "HTTP"
WINRM_PROTOCOL_HTTPS = "HTTPS"


class WinRMConfig(Protocol):
    """The WinRM service configuration: authentication, listeners, certificate mappings."""

    def get_winrm_auth_config(self) -> dict[str, Any]:
        """``winrm/config/service/auth``: ``Basic``, ``Kerberos``, ``Negotiate``, ``Certificate``,
        ``CredSSP`` (bools) and ``CbtHardeningLevel``."""
        ...

    def set_winrm_auth_config(
        self,
        basic: bool | None = None,
        kerberos: bool | None = None,
        negotiate: bool | None = None,
        certificate: bool | None = None,
        credssp: bool | None = None,
        cbt_hardening_level: str | None = None,
    ) -> None:
        """Change the service authentication settings given (None leaves one unchanged)."""
        ...

    def get_winrm_listener(
        self, protocol: str, address: str = WINRM_ADDRESS_ANY
    ) -> dict[str, Any] | None:
        """The listener resource (``Address``, ``Transport``, ``Port`` int, ``Enabled``,
        ``CertificateThumbprint`` ...) for that address and transport, or None if absent."""
        ...

    def delete_winrm_listener(self, protocol: str, address: str = WINRM_ADDRESS_ANY) -> None:
        """Delete the listener for that address and transport; an absent one raises."""
        ...

    def create_winrm_listener(
        self,
        protocol: str,
        cert_thumbprint: str | None = None,
        address: str = WINRM_ADDRESS_ANY,
        enabled: bool = True,
    ) -> None:
        """Create a listener (default port of its transport); HTTPS needs a LocalMachine\\My
        certificate's thumbprint; an existing listener or unknown transport raises."""
        ...

    def get_winrm_cert_mapping(
        self, issuer: str, subject: str, uri: str = WINRM_URI_ANY
    ) -> dict[str, Any] | None:
        """The client certificate mapping (``Issuer``, ``Subject``, ``URI``, ``UserName``,
        ``Enabled``) for that issuer thumbprint, subject (UPN) and URI, or None."""
        ...

    def delete_winrm_cert_mapping(
        self, issuer: str, subject: str, uri: str = WINRM_URI_ANY
    ) -> None:
        """Delete that client certificate mapping; an absent one raises."""
        ...

    def create_winrm_cert_mapping(
        self,
        issuer: str,
        subject: str,
        username: str,
        password: str,
        uri: str = WINRM_URI_ANY,
        enabled: bool = True,
    ) -> None:
        """Map client certificates of that issuer thumbprint and subject UPN to a local
        account's credentials; an existing mapping raises."""
        ...

    def get_uac_remote_restrictions(self) -> bool:
        """True while UAC filters remote local-account tokens (LocalAccountTokenFilterPolicy
        absent or 0)."""
        ...

    def set_uac_remote_restrictions(self, enable: bool) -> None:
        """Write LocalAccountTokenFilterPolicy (DWORD) as 0 to enable the restrictions, 1 to
        lift them."""
        ...
