"""RDPOS: the OS boundary's Remote Desktop calls over ``RDPState``."""

from __future__ import annotations

import hashlib

from guestsim.agent.windows.x509 import STORE_LOCATION_LOCAL_MACHINE
from guestsim.simulator.windows.certificates import build_self_signed, stored
from guestsim.simulator.windows.osutils.base import FakeOSBase

RDP_CERT_STORE = "Remote Desktop"
RDP_CERT_VALIDITY_YEARS = 1


class RDPOS(FakeOSBase):
    def _rdp_self_signed_certificate(self) -> str:
        subject = f"CN={self.state.computer_name}"
        # A serial derived from the subject: the certificate is Windows' own doing, so it
        # must not draw from the random stream the agent's calls use.
        serial = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:16], "big") >> 1
        certificate = build_self_signed(
            subject, serial | 1, self.guest_now(), RDP_CERT_VALIDITY_YEARS
        )
        entry = stored(certificate, STORE_LOCATION_LOCAL_MACHINE, RDP_CERT_STORE, "system", True)
        self.state.certificates.add(entry)
        return entry.thumbprint

    def get_rdp_certificate_thumbprint(self) -> str:
        rdp = self.state.rdp
        if rdp.certificate_thumbprint is None:
            rdp.certificate_thumbprint = self._rdp_self_signed_certificate()
        return rdp.certificate_thumbprint
