"""``cloudbaseinit.utils.windows.licensing``: Windows licensing, over the fake Windows.

Upstream has two managers. From Windows 7 / Server 2008 R2 (6.1) on it reaches the
Software Licensing Service through WMI for the product key, the KMS host, the status refresh
and the list of products; those calls go to the fake's licensing methods. Activation and
the license report, and everything on older Windows, go through ``slmgr.vbs`` run by
``cscript.exe`` from the native system folder: a program the fake Windows runs.
"""

from __future__ import annotations

import importlib
import ntpath
from typing import Any

from guestsim.agent.osutils import ItemNotFound
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

# The Windows application id in SoftwareLicensingProduct, and the port upstream sets when
# the KMS host is given without one.
WINDOWS_APP_ID = "55c92734-d682-4d71-983e-d6ec3f16059f"
DEFAULT_KMS_PORT = 1688

# upstream's constant.VOL_ACT_KMS: the default kind of generic key asked for.
VOL_ACT_KMS = "KMS"


def _exceptions() -> Any:
    # The session's own exception module: the class upstream code would catch is the one
    # imported for this run, not one left over from an earlier session.
    return importlib.import_module("cloudbaseinit.exception")


def get_licensing_manager() -> LicensingManager:
    """The WMI manager from Windows 6.1 on, the slmgr-only one before."""
    if guest.current().osutils.check_os_version(6, 1):
        return LicensingManagerV2()
    return LicensingManager()


class LicensingManager:
    """Everything through ``slmgr.vbs`` (Windows older than 6.1)."""

    @staticmethod
    def _run_slmgr(args: list[str]) -> str:
        """slmgr's output; a non-zero exit raises upstream's exception with it.

        Upstream runs cscript.exe from sysnative when that alias exists (a 32-bit agent on
        64-bit Windows) and from system32 otherwise, and names the script in system32 as a
        64-bit process sees it: what ``execute_system32_process`` does with the program.
        The fake Windows has no program files on its disk, so the program is named to it
        as that call names it.
        """
        osutils = guest.current().osutils
        slmgr = ntpath.join(osutils.get_system32_dir(), "slmgr.vbs")
        out, err, exit_code = osutils.execute_system32_process(
            ["cscript.exe", slmgr, *args], shell=False, decode_output=True
        )
        if exit_code:
            raise _exceptions().CloudbaseInitException(
                f"slmgr.vbs failed with error code {exit_code}.\nOutput: {out}\nError: {err}"
            )
        return bytes(out).decode(errors="replace")

    def get_licensing_info(self) -> str:
        return self._run_slmgr(["/dlv"])

    def activate_windows(self) -> str:
        return self._run_slmgr(["/ato"])

    def set_kms_host(self, host: str, port: str | int = DEFAULT_KMS_PORT) -> str | None:
        return self._run_slmgr(["/skms", f"{host}:{port}"])

    def set_kms_auto_discovery(self) -> str:
        return self._run_slmgr(["/ckms"])

    def set_product_key(self, product_key: str) -> str | None:
        return self._run_slmgr(["/ipk", product_key])

    def is_eval(self) -> Any:
        raise NotImplementedError()

    def get_kms_product(self) -> tuple[str, str, bool]:
        raise NotImplementedError()

    def get_volume_activation_product_key(
        self, license_family: str, vol_act_type: str = VOL_ACT_KMS
    ) -> str | None:
        raise NotImplementedError()

    def refresh_status(self) -> None:
        """slmgr reads the current status anyway."""


class LicensingManagerV2(LicensingManager):
    """SoftwareLicensingService through WMI; activation and the report still use slmgr."""

    def set_product_key(self, product_key: str) -> None:
        guest.current().osutils.set_product_key(product_key)

    def set_kms_host(self, host: str, port: str | int = DEFAULT_KMS_PORT) -> None:
        # Upstream always sets the port, its default when the host came without one.
        guest.current().osutils.set_kms_host(host, port)

    def set_kms_auto_discovery(self) -> str:
        raise NotModelled("licensing: clearing the KMS host (ClearKeyManagementServiceMachine)")

    def refresh_status(self) -> None:
        guest.current().osutils.refresh_license_status()

    def is_eval(self) -> Any:
        raise NotModelled("licensing: evaluation products (SoftwareLicensingProduct query)")

    def get_kms_product(self) -> tuple[str, str, bool]:
        """``(description, license family, is current)`` of the Windows KMS client product."""
        try:
            description, family, current = guest.current().osutils.get_kms_product()
        except ItemNotFound as ex:
            raise _exceptions().ItemNotFoundException(str(ex)) from ex
        return str(description), str(family), bool(current)

    def get_volume_activation_product_key(
        self, license_family: str, vol_act_type: str = VOL_ACT_KMS
    ) -> str | None:
        """The generic key from upstream's own table for this OS version and kind."""
        table = importlib.import_module("cloudbaseinit.utils.windows.productkeys")
        version = guest.current().osutils.get_os_version()
        keys = table.SKU_TO_PRODUCT_KEY_MAP.get(
            (version["major_version"], version["minor_version"], vol_act_type), {}
        )
        key: str | None = keys.get(license_family)
        return key


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses licensing.{name}")
