"""LicensingOS: the Software Licensing Service's WMI side over ``LicensingState``."""

from __future__ import annotations

from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.simulator.windows.licensing import (
    KMS_CLIENT,
    configure_kms_host,
    hresult_error,
    install_product_key,
    products,
)
from guestsim.simulator.windows.osutils.base import FakeOSBase


class LicensingOS(FakeOSBase):
    """The WMI side: SoftwareLicensingService and SoftwareLicensingProduct."""

    def get_kms_product(self) -> tuple[str, str, bool]:
        current = self.state.licensing.installed_channel
        for product in products(self.state.licensing, self.state.version):
            if product.channel == KMS_CLIENT:
                return product.description, product.license_family, current == KMS_CLIENT
        raise ItemNotFound("KMS client product not found")

    def set_product_key(self, product_key: str) -> None:
        self._mutation("set_product_key", product_key=product_key)
        error = install_product_key(self.state.licensing, self.state.version, product_key)
        if error:
            raise OSUtilsError(f"InstallProductKey failed: {hresult_error(error)}")

    def set_kms_host(self, host: str, port: str | int | None = None) -> None:
        self._mutation("set_kms_host", host=host, port=port)
        error = configure_kms_host(self.state.licensing, self.state.registry, host, port)
        if error:
            raise OSUtilsError(f"Setting the KMS host failed: {hresult_error(error)}")

    def refresh_license_status(self) -> None:
        self._mutation("refresh_license_status")
