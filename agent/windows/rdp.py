"""Remote Desktop: the RDP listener certificate (Win32_TSGeneralSetting)."""

from __future__ import annotations

from typing import Protocol


class RemoteDesktop(Protocol):
    """Remote Desktop: the RDP listener certificate (Win32_TSGeneralSetting)."""

    def get_rdp_certificate_thumbprint(self) -> str:
        """SHA-1 thumbprint (upper-case hex) of the certificate the RDP listener presents
        (``Win32_TSGeneralSetting.SSLCertificateSHA1Hash``)."""
        ...
