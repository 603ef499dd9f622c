"""CertificatesOS: the OS boundary's certificate store calls over ``CertificatesState``."""

from __future__ import annotations

import base64
import binascii
import functools
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.agent.windows.x509 import (
    STORE_LOCATION_CURRENT_USER,
    STORE_LOCATION_LOCAL_MACHINE,
    STORE_LOCATIONS,
)
from guestsim.simulator.windows.certificates import (
    StoredCertificate,
    build_self_signed,
    machine_key,
    stored,
)
from guestsim.simulator.windows.osutils.base import FakeOSBase

PEM_BLOCK = re.compile(r"-----(BEGIN|END) CERTIFICATE-----")


@functools.lru_cache(maxsize=16)
def _load_pfx(pfx_data: bytes) -> pkcs12.PKCS12KeyAndCertificates:
    # A scenario's PFX is the same bytes on every run; parsing it costs milliseconds.
    try:
        return pkcs12.load_pkcs12(pfx_data, None)
    except ValueError:
        return pkcs12.load_pkcs12(pfx_data, b"")


class CertificatesOS(FakeOSBase):
    def _store_owner(self, store_location: str, store_name: str | None) -> str | None:
        if store_location not in STORE_LOCATIONS:
            raise OSUtilsError(f"Unsupported certificate store location: {store_location!r}")
        if not store_name:
            raise OSUtilsError("A certificate store name is required")
        # A CurrentUser store belongs to the account the agent runs as.
        return self.process_user[1] if store_location == STORE_LOCATION_CURRENT_USER else None

    def create_self_signed_cert(
        self,
        subject: str,
        store_name: str = "My",
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        validity_years: int = 10,
    ) -> str:
        user = self._store_owner(store_location, store_name)
        serial = (int.from_bytes(self.random_bytes(16), "big") >> 1) | 1
        certificate = build_self_signed(subject, serial, self.guest_now(), validity_years)
        entry = stored(certificate, store_location, store_name, "self-signed", True, user)
        # Subject and store only: the trace names what was made, not its bytes.
        self._mutation(
            "create_self_signed_cert", subject=subject, store=f"{store_location}\\{store_name}"
        )
        self.state.certificates.add(entry)
        return entry.thumbprint

    def import_cert(
        self,
        cert_data: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = "My",
    ) -> tuple[str, str | None]:
        user = self._store_owner(store_location, store_name)
        if cert_data.count("-----BEGIN CERTIFICATE-----") > 1:
            self._not_modelled("import_cert of several concatenated PEM certificates")
        # The base64 between the PEM armour lines is what gets decoded; the armour itself
        # is optional, as with CryptStringToBinary.
        body = "".join(PEM_BLOCK.sub("", cert_data).split())
        try:
            certificate = x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
        except (ValueError, binascii.Error) as ex:
            raise OSUtilsError(f"Cannot decode the certificate: {ex}") from ex
        entry = stored(certificate, store_location, store_name, "imported", False, user)
        self._mutation(
            "import_cert",
            store=f"{store_location}\\{store_name}",
            thumbprint=entry.thumbprint,
            subject=entry.subject,
            upn=entry.upn,
        )
        self.state.certificates.add(entry)
        return entry.thumbprint, entry.upn

    def import_pfx_certificate(
        self,
        pfx_data: bytes,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = "My",
    ) -> None:
        user = self._store_owner(store_location, store_name)
        try:
            bundle = _load_pfx(pfx_data)
        except ValueError as ex:
            raise OSUtilsError(f"Cannot import the PFX certificate: {ex}") from ex
        entries = []
        if bundle.cert is not None:
            entries.append(
                stored(
                    bundle.cert.certificate,
                    store_location,
                    store_name,
                    "pfx",
                    bundle.key is not None,
                    user,
                )
            )
        entries += [
            stored(extra.certificate, store_location, store_name, "pfx", False, user)
            for extra in bundle.additional_certs
        ]
        if not entries:
            raise OSUtilsError("The PFX holds no certificate")
        self._mutation(
            "import_pfx_certificate",
            store=f"{store_location}\\{store_name}",
            thumbprints=[entry.thumbprint for entry in entries],
        )
        for entry in entries:
            self.state.certificates.add(entry)

    def _stored(self, thumbprint: str, store_location: str, store_name: str) -> StoredCertificate:
        self._store_owner(store_location, store_name)
        found = self.state.certificates.find(store_location, store_name, thumbprint)
        if found is None:
            raise ItemNotFound(f"No certificate {thumbprint} in {store_location}\\{store_name}")
        return found

    def export_certificate(
        self,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = "My",
    ) -> bytes:
        return self._stored(thumbprint, store_location, store_name).der

    def delete_certificate_from_store(
        self,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = "My",
    ) -> None:
        found = self._stored(thumbprint, store_location, store_name)
        self._mutation(
            "delete_certificate_from_store",
            store=f"{found.location}\\{found.store}",
            thumbprint=found.thumbprint,
        )
        self.state.certificates.certificates.remove(found)

    def decrypt_enveloped_data(
        self,
        data: bytes,
        thumbprint: str,
        store_location: str = STORE_LOCATION_LOCAL_MACHINE,
        store_name: str = "My",
    ) -> bytes:
        found = self._stored(thumbprint, store_location, store_name)
        if not found.has_private_key:
            raise OSUtilsError(f"Certificate {found.thumbprint} has no private key")
        certificate = found.certificate
        key = machine_key()
        if certificate.public_key() != key.public_key():
            # The store keeps the machine's own key pair only (see certificates.py); an
            # imported PFX's key is not kept.
            self._not_modelled(f"decrypting with the private key of a {found.origin} certificate")
        try:
            return bytes(pkcs7.pkcs7_decrypt_der(data, certificate, key, []))
        except ValueError as ex:
            raise OSUtilsError(f"Cannot decrypt the message: {ex}") from ex
