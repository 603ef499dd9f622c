"""``cloudbaseinit.utils.windows.x509``: CryptoAPI certificate stores, on the fake Windows.

Upstream's certificate manager makes self-signed certificates, imports PEM certificates and
PFX files, and (for Azure) decrypts the PKCS#7 envelope the WireServer wraps its
certificates in with a transport certificate it creates and deletes again. Creating and
importing go to the fake Windows' certificate calls, as guestsim's agent's do; deleting
and decrypting, which the fake has no call for, work on its certificate stores directly.

What CryptoAPI shows is kept: thumbprints come back in lower-case hex, a new certificate's
encoding as base64 in 64-character CRLF lines, ``machine_keyset`` picks LocalMachine
(True) or CurrentUser (False), and every failure is a ``CryptoAPIException``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from cryptography.hazmat.primitives.serialization import pkcs12

from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.windows.x509 import STORE_LOCATION_CURRENT_USER, STORE_LOCATION_LOCAL_MACHINE
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest
from guestsim.simulator.windows.certificates import StoredCertificate

STORE_NAME_MY = "My"
STORE_NAME_ROOT = "Root"
STORE_NAME_TRUSTED_PEOPLE = "TrustedPeople"

# A new certificate's validity around "now", in FILETIME units (100 ns): from a day before
# (clock skew between the guest and its clients) to ten 365-day years after.
_FILETIME_PER_SECOND = 10_000_000
X509_START_DATE_INTERVAL = -24 * 3600 * _FILETIME_PER_SECOND
X509_END_DATE_INTERVAL = 10 * 365 * 24 * 3600 * _FILETIME_PER_SECOND

# CryptoAPI's HRESULTs for the failures modelled here.
CRYPT_E_NOT_FOUND = 0x80092004
CRYPT_E_NO_DECRYPT_CERT = 0x8009200C
CRYPT_E_ASN1_BADTAG = 0x8009310B
CRYPT_E_INVALID_X500_STRING = 0x80092023

_BASE64_LINE = 64


class CryptoAPIException(Exception):
    """A CryptoAPI call failed; the message names the error code (and what failed)."""

    def __init__(self, code: int, detail: str = "") -> None:
        message = f"CryptoAPI error: 0x{code:x}"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.code = code


def _location(machine_keyset: bool) -> str:
    return STORE_LOCATION_LOCAL_MACHINE if machine_keyset else STORE_LOCATION_CURRENT_USER


def _crypt_base64(der: bytes) -> str:
    """``CryptBinaryToString(CRYPT_STRING_BASE64)``: 64-character lines, each ending CRLF."""
    encoded = base64.b64encode(der).decode("ascii")
    lines = [encoded[at : at + _BASE64_LINE] for at in range(0, len(encoded), _BASE64_LINE)]
    return "".join(f"{line}\r\n" for line in lines)


@functools.lru_cache(maxsize=16)
def _pfx_certificate_count(pfx_data: bytes) -> int | None:
    """How many certificates a password-less PFX holds; None if it does not decode."""
    for password in (None, b""):
        try:
            bundle = pkcs12.load_pkcs12(pfx_data, password)
        except ValueError:
            continue
        return (bundle.cert is not None) + len(bundle.additional_certs)
    return None


class CryptoAPICertManager:
    """Upstream's certificate manager, over the fake Windows' certificate stores."""

    def __init__(self) -> None:
        self._os = guest.current().osutils

    def _find(self, thumbprint: str, machine_keyset: bool, store_name: str) -> StoredCertificate:
        found: StoredCertificate | None = self._os.state.certificates.find(
            _location(machine_keyset), str(store_name), thumbprint
        )
        if found is None:
            raise CryptoAPIException(
                CRYPT_E_NOT_FOUND,
                f"no certificate {thumbprint} in {_location(machine_keyset)}\\{store_name}",
            )
        return found

    def create_self_signed_cert(
        self,
        subject: str,
        validity_years: int = 10,
        machine_keyset: bool = True,
        store_name: str = STORE_NAME_MY,
    ) -> tuple[str, str]:
        """A new key pair and server-authentication certificate for the X.500 ``subject``,
        added to the store; ``(thumbprint, base64 of its DER encoding)``."""
        location = _location(machine_keyset)
        try:
            thumbprint = self._os.create_self_signed_cert(
                subject, str(store_name), location, validity_years
            )
        except OSUtilsError as ex:
            raise CryptoAPIException(CRYPT_E_INVALID_X500_STRING, str(ex)) from ex
        created = self._find(thumbprint, machine_keyset, store_name)
        return created.thumbprint.lower(), _crypt_base64(created.der)

    def import_cert(
        self, cert_data: str, machine_keyset: bool = True, store_name: str = STORE_NAME_MY
    ) -> tuple[str, str | None]:
        """Add a PEM (or bare base64) certificate to the store; ``(thumbprint, UPN of its
        subject alternative name or None)``."""
        try:
            thumbprint, upn = self._os.import_cert(
                cert_data, _location(machine_keyset), str(store_name)
            )
        except OSUtilsError as ex:
            raise CryptoAPIException(CRYPT_E_ASN1_BADTAG, str(ex)) from ex
        return str(thumbprint).lower(), upn

    def import_pfx_certificate(
        self,
        pfx_data: bytes,
        pfx_password: str | None = None,
        machine_keyset: bool = True,
        store_name: str = STORE_NAME_MY,
    ) -> None:
        """Add the certificate of a password-less PFX, with its private key, to the store."""
        if pfx_password:
            raise NotModelled("importing a password-protected PFX")
        count = _pfx_certificate_count(bytes(pfx_data))
        if count is not None and count > 1:
            # Upstream adds only the first certificate CryptoAPI enumerates from the PFX;
            # which of several that is is not modelled.
            raise NotModelled(f"importing a PFX of {count} certificates")
        try:
            self._os.import_pfx_certificate(
                bytes(pfx_data), _location(machine_keyset), str(store_name)
            )
        except OSUtilsError as ex:
            raise CryptoAPIException(CRYPT_E_ASN1_BADTAG, str(ex)) from ex

    def delete_certificate_from_store(
        self, thumbprint_str: str, machine_keyset: bool = True, store_name: str = STORE_NAME_MY
    ) -> None:
        """Remove a certificate from the store; an absent one fails."""
        found = self._find(thumbprint_str, machine_keyset, store_name)
        self._os.delete_certificate_from_store(found.thumbprint, found.location, found.store)

    def decode_pkcs7_base64_blob(
        self,
        data: str,
        thumbprint_str: str,
        machine_keyset: bool = True,
        store_name: str = STORE_NAME_MY,
    ) -> bytes:
        """The content of a base64 PKCS#7 enveloped message, decrypted with the private key
        of that certificate in the store."""
        found = self._find(thumbprint_str, machine_keyset, store_name)
        try:
            enveloped = base64.b64decode(data.replace("\r", "").replace("\n", ""))
            return bytes(
                self._os.decrypt_enveloped_data(
                    enveloped, found.thumbprint, found.location, found.store
                )
            )
        except (OSUtilsError, binascii.Error) as ex:
            raise CryptoAPIException(CRYPT_E_NO_DECRYPT_CERT, str(ex)) from ex


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses x509.{name}")
