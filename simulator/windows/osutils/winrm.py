"""WinRMOS: the OS boundary's WinRM configuration and UAC remote-restriction calls."""

from __future__ import annotations

from typing import Any

from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.windows.winrm import (
    WINRM_ADDRESS_ANY,
    WINRM_PROTOCOL_HTTP,
    WINRM_PROTOCOL_HTTPS,
    WINRM_URI_ANY,
)
from guestsim.agent.windows.x509 import STORE_LOCATION_LOCAL_MACHINE, STORE_NAME_MY
from guestsim.simulator.windows.certificates import normalise_thumbprint
from guestsim.simulator.windows.osutils.base import FakeOSBase, redact
from guestsim.simulator.windows.registry import RegistryError, RegType
from guestsim.simulator.windows.winrm import (
    UAC_POLICY_KEY,
    UAC_REMOTE_VALUE,
    WinRMCertMapping,
    WinRMListener,
)

# WinRM 2.0 and later: the default port of each transport.
DEFAULT_PORTS = {WINRM_PROTOCOL_HTTP: 5985, WINRM_PROTOCOL_HTTPS: 5986}


class WinRMOS(FakeOSBase):
    # --- service authentication ------------------------------------------------------------

    def get_winrm_auth_config(self) -> dict[str, Any]:
        auth = self.state.winrm.auth
        return {
            "Basic": auth.basic,
            "Kerberos": auth.kerberos,
            "Negotiate": auth.negotiate,
            "Certificate": auth.certificate,
            "CredSSP": auth.credssp,
            "CbtHardeningLevel": auth.cbt_hardening_level,
        }

    def set_winrm_auth_config(
        self,
        basic: bool | None = None,
        kerberos: bool | None = None,
        negotiate: bool | None = None,
        certificate: bool | None = None,
        credssp: bool | None = None,
        cbt_hardening_level: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("basic", basic),
                ("kerberos", kerberos),
                ("negotiate", negotiate),
                ("certificate", certificate),
                ("credssp", credssp),
                ("cbt_hardening_level", cbt_hardening_level),
            )
            if value is not None
        }
        self._mutation("set_winrm_auth_config", **changes)
        for name, value in changes.items():
            setattr(self.state.winrm.auth, name, value)

    # --- listeners -------------------------------------------------------------------------

    def get_winrm_listener(
        self, protocol: str, address: str = WINRM_ADDRESS_ANY
    ) -> dict[str, Any] | None:
        listener = self.state.winrm.find_listener(protocol, address)
        if listener is None:
            return None
        return {
            "Address": listener.address,
            "Transport": listener.transport,
            "Port": listener.port,
            "Hostname": listener.hostname,
            "Enabled": listener.enabled,
            "URLPrefix": listener.url_prefix,
            "CertificateThumbprint": listener.certificate_thumbprint or "",
        }

    def delete_winrm_listener(self, protocol: str, address: str = WINRM_ADDRESS_ANY) -> None:
        winrm = self.state.winrm
        listener = winrm.find_listener(protocol, address)
        if listener is None:
            raise OSUtilsError(
                f"The WS-Management service cannot find the listener "
                f"Address={address}+Transport={protocol}"
            )
        self._mutation("delete_winrm_listener", protocol=listener.transport, address=address)
        winrm.listeners.remove(listener)

    def create_winrm_listener(
        self,
        protocol: str,
        cert_thumbprint: str | None = None,
        address: str = WINRM_ADDRESS_ANY,
        enabled: bool = True,
    ) -> None:
        transport = protocol.upper()
        if transport not in DEFAULT_PORTS:
            raise OSUtilsError(f"Invalid WinRM listener transport: {protocol!r}")
        winrm = self.state.winrm
        if winrm.find_listener(transport, address) is not None:
            raise OSUtilsError(
                f"The WS-Management service cannot create the listener "
                f"Address={address}+Transport={transport}: it already exists"
            )
        thumbprint: str | None = None
        if transport == WINRM_PROTOCOL_HTTPS:
            thumbprint = self._listener_certificate(cert_thumbprint)
        elif cert_thumbprint:
            self._not_modelled("create_winrm_listener of an HTTP listener with a certificate")
        port = DEFAULT_PORTS[transport]
        self._mutation(
            "create_winrm_listener",
            protocol=transport,
            address=address,
            port=port,
            certificate_thumbprint=thumbprint,
            enabled=enabled,
        )
        winrm.listeners.append(WinRMListener(address, transport, port, thumbprint, enabled))

    def _listener_certificate(self, cert_thumbprint: str | None) -> str:
        """The thumbprint of a usable server certificate; WinRM refuses anything else."""
        if not cert_thumbprint:
            raise OSUtilsError("An HTTPS listener needs a certificate thumbprint")
        found = self.state.certificates.find(
            STORE_LOCATION_LOCAL_MACHINE, STORE_NAME_MY, cert_thumbprint
        )
        if found is None:
            raise OSUtilsError(
                f"The certificate {cert_thumbprint} is not in the LocalMachine\\My store"
            )
        if not found.has_private_key:
            raise OSUtilsError(f"The certificate {found.thumbprint} has no private key")
        return found.thumbprint

    # --- client certificate mappings -------------------------------------------------------

    def get_winrm_cert_mapping(
        self, issuer: str, subject: str, uri: str = WINRM_URI_ANY
    ) -> dict[str, Any] | None:
        mapping = self.state.winrm.find_cert_mapping(issuer, subject, uri)
        if mapping is None:
            return None
        return {
            "Issuer": mapping.issuer,
            "Subject": mapping.subject,
            "URI": mapping.uri,
            "UserName": mapping.username,
            "Enabled": mapping.enabled,
        }

    def delete_winrm_cert_mapping(
        self, issuer: str, subject: str, uri: str = WINRM_URI_ANY
    ) -> None:
        winrm = self.state.winrm
        mapping = winrm.find_cert_mapping(issuer, subject, uri)
        if mapping is None:
            raise OSUtilsError(
                f"The WS-Management service cannot find the certificate mapping "
                f"Issuer={issuer}+Subject={subject}+URI={uri}"
            )
        self._mutation(
            "delete_winrm_cert_mapping", issuer=mapping.issuer, subject=mapping.subject, uri=uri
        )
        winrm.cert_mappings.remove(mapping)

    def create_winrm_cert_mapping(
        self,
        issuer: str,
        subject: str,
        username: str,
        password: str,
        uri: str = WINRM_URI_ANY,
        enabled: bool = True,
    ) -> None:
        winrm = self.state.winrm
        if winrm.find_cert_mapping(issuer, subject, uri) is not None:
            raise OSUtilsError(
                f"The WS-Management service cannot create the certificate mapping "
                f"Issuer={issuer}+Subject={subject}+URI={uri}: it already exists"
            )
        # The credentials are stored as given; whether they still log the account on is
        # only found out when a client connects (see WinRMCertMapping / the tests).
        self._mutation(
            "create_winrm_cert_mapping",
            issuer=normalise_thumbprint(issuer),
            subject=subject,
            uri=uri,
            username=username,
            password=redact(password),
            enabled=enabled,
        )
        winrm.cert_mappings.append(
            WinRMCertMapping(
                normalise_thumbprint(issuer), subject, uri, username, password, enabled
            )
        )

    # --- UAC remote restrictions -----------------------------------------------------------

    def get_uac_remote_restrictions(self) -> bool:
        try:
            value = self.state.registry.get_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE).data
        except RegistryError:
            return True
        return not value

    def set_uac_remote_restrictions(self, enable: bool) -> None:
        # The policy key is part of every Windows installation; the fake's registry may not
        # list it yet, so it is created rather than reported missing.
        registry = self.state.registry
        registry.create_key(UAC_POLICY_KEY)
        data = 0 if enable else 1
        self._mutation(
            "set_registry_value",
            key=UAC_POLICY_KEY,
            name=UAC_REMOTE_VALUE,
            type=RegType.REG_DWORD.value,
            data=data,
        )
        registry.set_value(UAC_POLICY_KEY, UAC_REMOTE_VALUE, data, RegType.REG_DWORD)
