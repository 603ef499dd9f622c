"""Windows licensing: KMS/AVMA product keys, KMS host, activation, slmgr output."""

from __future__ import annotations

from typing import Protocol


class LicensingManager(Protocol):
    """Windows licensing through WMI (SoftwareLicensingService / SoftwareLicensingProduct).

    Activation and the license report go through ``slmgr.vbs`` (run with
    ``execute_system32_process``), as do these calls on Windows older than 6.1.
    """

    def get_kms_product(self) -> tuple[str, str, bool]:
        """``(description, license family, is current)`` of the Windows KMS client product."""
        ...

    def set_product_key(self, product_key: str) -> None:
        """Install a Windows product key (InstallProductKey); a refused key raises."""
        ...

    def set_kms_host(self, host: str, port: str | int | None = None) -> None:
        """Set the KMS host name, and its port when given; an invalid port raises."""
        ...

    def refresh_license_status(self) -> None:
        """Have the Software Licensing Service re-evaluate the license (RefreshLicenseStatus)."""
        ...
