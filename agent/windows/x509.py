"""Certificate stores: self-signed certificates, importing certificates and PFX files."""

from __future__ import annotations

from typing import Protocol

STORE_LOCATION_LOCAL_MACHINE = "LocalMachine"
STORE_LOCATION_CURRENT_USER = "CurrentUser"
STORE_LOCATIONS = (STORE_LOCATION_LOCAL_MACHINE, STORE_LOCATION_CURRENT_USER)
STORE_NAME_MY = "My"
STORE_NAME_ROOT = "Root"
# Subject Alternative Name "other name" carrying a user principal name (UPN).
UPN_OID = "1.3.6.1.4.1.311.20.2.3"


class CertificateStore(Protocol):
    """Certificate stores: self-signed certificates, importing certificates and PFX files."""

    def create_self_signed_cert(
        self,
        subject: str,
        store_name: str = STORE_NAME_MY,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        validity_years: int = 10,
    ) -> str:
        """Make a key pair and a self-signed certificate for the X.500 ``subject``
        (``CN=...``) in that store; returns its SHA-1 thumbprint (upper-case hex)."""
        ...

    def import_cert(
        self,
        cert_data: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = STORE_NAME_MY,
    ) -> tuple[str, str | None]:
        """Add a PEM certificate to the store; ``(SHA-1 thumbprint, UPN of its subject
        alternative name or None)``; undecodable data raises."""
        ...

    def import_pfx_certificate(
        self,
        pfx_data: bytes,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = STORE_NAME_MY,
    ) -> None:
        """Add the certificates (with their private key) of a password-less PKCS#12 to the
        store; an unknown location or undecodable data raises."""
        ...

    def export_certificate(
        self,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = STORE_NAME_MY,
    ) -> bytes:
        """The DER encoding of the certificate with that thumbprint in the store; an absent
        one raises ``ItemNotFound``."""
        ...

    def delete_certificate_from_store(
        self,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = STORE_NAME_MY,
    ) -> None:
        """Remove the certificate with that thumbprint from the store; an absent one raises
        ``ItemNotFound``."""
        ...

    def decrypt_enveloped_data(
        self,
        data: bytes,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = STORE_NAME_MY,
    ) -> bytes:
        """The content of a DER PKCS#7 enveloped message, decrypted with the private key of
        that certificate in the store (as CryptDecodeMessage with the store); no such
        certificate raises ``ItemNotFound``, no key or undecryptable data raises."""
        ...
