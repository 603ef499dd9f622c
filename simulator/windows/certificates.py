"""The fake Windows: certificate stores (LocalMachine/CurrentUser).

Certificates are real X.509 objects (built and parsed with ``cryptography``); a store
holds their DER bytes with what Windows shows of them (thumbprint, subject, UPN, whether
the private key is there).

Key pairs the fake Windows "generates" (self-signed certificates) all use one committed,
test-only RSA key (``fixtures/certs/machine-key.pem``). A certificate's bytes then depend
only on its fields (subject, serial from the seeded random stream, validity from guest
time) because RSA PKCS#1 v1.5 signatures are deterministic, so thumbprints are identical
on every run of a scenario. Nothing in the guest can tell two certificates share a key.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.windows.x509 import (
    UPN_OID,
)
from guestsim.simulator.paths import bundled

MACHINE_KEY_FILE = "certs/machine-key.pem"
# X.500 attribute keys CertStrToName understands that the fake models.
_NAME_ATTRIBUTES = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
}


@dataclass
class StoredCertificate:
    """One certificate in one store, as the certificate manager lists it."""

    location: str  # LocalMachine or CurrentUser
    store: str  # My, Root, Remote Desktop ...
    thumbprint: str  # SHA-1 of the DER bytes, upper-case hex
    subject: str  # RFC 4514, e.g. "CN=Cloudbase-Init WinRM"
    issuer: str
    upn: str | None
    has_private_key: bool
    der: bytes
    # How it got there: "self-signed" (made on the machine), "imported", "pfx".
    origin: str
    # The account whose CurrentUser store holds it; None for LocalMachine.
    user: str | None = None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


@dataclass
class CertificatesState:
    """What this feature keeps on the machine (persists across reboots).

    A fresh Windows Server 2019 has Microsoft's root and intermediate certificates in its
    stores; they are not modelled (no agent behaviour depends on them), so stores start
    empty.
    """

    certificates: list[StoredCertificate] = field(default_factory=list)

    def in_store(self, location: str, store: str) -> list[StoredCertificate]:
        return [
            c
            for c in self.certificates
            if c.location.lower() == location.lower() and c.store.lower() == store.lower()
        ]

    def find(self, location: str, store: str, thumbprint: str) -> StoredCertificate | None:
        wanted = normalise_thumbprint(thumbprint)
        return next(
            (c for c in self.in_store(location, store) if c.thumbprint == wanted),
            None,
        )

    def with_subject(self, subject: str) -> list[StoredCertificate]:
        return [c for c in self.certificates if c.subject == subject]

    def add(self, certificate: StoredCertificate) -> None:
        """Add to its store; a certificate with the same thumbprint there is replaced."""
        self.certificates = [
            c
            for c in self.certificates
            if not (
                c.location.lower() == certificate.location.lower()
                and c.store.lower() == certificate.store.lower()
                and c.thumbprint == certificate.thumbprint
                and c.user == certificate.user
            )
        ]
        self.certificates.append(certificate)


# --- certificates as Windows reads them ---------------------------------------------------------


def normalise_thumbprint(thumbprint: str) -> str:
    return re.sub(r"\s", "", thumbprint).upper()


def thumbprint_of(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def _der_utf8_string(value: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0C), or None for anything else."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    body = value[offset : offset + length]
    if len(body) != length:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def upn_of(certificate: x509.Certificate) -> str | None:
    """The first UPN "other name" of the subject alternative names, or None."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for other in san.value.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == UPN_OID:
            upn = _der_utf8_string(other.value)
            if upn:
                return upn
    return None


def parse_x500_name(subject: str) -> x509.Name:
    """``CN=a, O=b`` as CertStrToName reads it (no quoting or escapes modelled)."""
    attributes = []
    for part in subject.split(","):
        key, sep, value = part.strip().partition("=")
        oid = _NAME_ATTRIBUTES.get(key.strip().upper())
        if not sep or oid is None or not value.strip():
            raise OSUtilsError(f"Invalid certificate subject: {subject!r}")
        attributes.append(x509.NameAttribute(oid, value.strip()))
    return x509.Name(attributes)


@functools.cache
def machine_key() -> rsa.RSAPrivateKey:
    """The one key pair the fake Windows hands out (see the module docstring)."""
    key = serialization.load_pem_private_key(
        (bundled("fixtures") / MACHINE_KEY_FILE).read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _years_later(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def build_self_signed(
    subject: str,
    serial: int,
    not_before: dt.datetime,
    validity_years: int,
    server_auth: bool = True,
) -> x509.Certificate:
    name = parse_x500_name(subject)
    key = machine_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(_years_later(not_before, validity_years))
    )
    if server_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def stored(
    certificate: x509.Certificate,
    location: str,
    store: str,
    origin: str,
    has_private_key: bool,
    user: str | None = None,
) -> StoredCertificate:
    return StoredCertificate(
        location=location,
        store=store,
        thumbprint=thumbprint_of(certificate),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        upn=upn_of(certificate),
        has_private_key=has_private_key,
        der=certificate.public_bytes(serialization.Encoding.DER),
        origin=origin,
        user=user,
    )
