"""WindowsLicensingPlugin: KMS/AVMA product keys, the KMS host, activation, license report."""

from __future__ import annotations

import logging
import ntpath
from collections.abc import Mapping

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import OSUtils
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData

LOG = logging.getLogger(__name__)

VOL_ACT_KMS = "KMS"
VOL_ACT_AVMA = "AVMA"

# --- the generic product keys Microsoft publishes ------------------------------------------------
#
# Keyed like upstream's table by (OS major, minor, KMS|AVMA), then by the product's license
# family. Windows Server 2016, 2019, 2022 and 2025 and every Windows 10/11 release all
# report version 10.0 with the same family names, so each version's table is a list of
# releases by first build and the running build picks the newest one it has reached.

_WINDOWS_7_KMS = {
    "Professional": "FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4",
    "ProfessionalN": "MRPKT-YTG23-K7D7T-X2JMM-QY7MG",
    "ProfessionalE": "W82YF-2Q76Y-63HXB-FGJG9-GF7QX",
    "Enterprise": "33PXH-7Y6KF-2VJC9-XBBR8-HVTHH",
    "EnterpriseN": "YDRBP-3D83W-TY26F-D46B2-XCKRJ",
    "EnterpriseE": "C29WB-22CC8-VJ326-GHFJW-H9DH4",
}
_WINDOWS_8_KMS = {
    "Professional": "NG4HW-VH26C-733KW-K6F98-J8CK4",
    "ProfessionalN": "XCVCF-2NXM9-723PB-MHCB7-2RYQQ",
    "Enterprise": "32JNW-9KQ84-P47T8-D8GGY-CWCK7",
    "EnterpriseN": "JMNMF-RHW7P-DMY6X-RF3DR-X2BQT",
}
_WINDOWS_8_1_KMS = {
    "Professional": "GCRJD-8NW9H-F2CDX-CCM8D-9D6T9",
    "ProfessionalN": "HMCNV-VVBFX-7HMBH-CTY9B-B4FXY",
    "Enterprise": "MHF9N-XY6XB-WVXMC-BTDCT-MKKG7",
    "EnterpriseN": "TT4HM-HN7YT-62K67-RGRQJ-JFFXW",
}
# Windows 10 and 11 share these.
_WINDOWS_10_KMS = {
    "Professional": "W269N-WFGWX-YVC9B-4J6C9-T83GX",
    "ProfessionalN": "MH37W-N47XK-V7XM9-C7227-GCQG9",
    "ProfessionalWorkstation": "NRG8B-VKK3Q-CXVCJ-9G2XF-6Q84J",
    "ProfessionalWorkstationN": "9FNHH-K3HBT-3W4TD-6383H-6XYWF",
    "ProfessionalEducation": "6TP4R-GNPTD-KYYHQ-7B7DP-J447Y",
    "ProfessionalEducationN": "YVWGF-BXNMC-HTQYQ-CPQ99-66QFC",
    "Education": "NW6C2-QMPVW-D7KKK-3GKT6-VCFB2",
    "EducationN": "2WH4N-8QGBV-H22JP-CT43Q-MDWWJ",
    "Enterprise": "NPPR9-FWDCX-D2C8J-H872K-2YT43",
    "EnterpriseN": "DPH2V-TTNVB-4X9Q3-TJR4H-KHJW4",
    "EnterpriseG": "YYVX9-NTFWV-6MDM3-9PT4T-4M68B",
    "EnterpriseGN": "44RPN-FTY23-9VTTB-MP9BX-T84FV",
}
# Enterprise LTSB/LTSC 2019 onwards (Windows 10 LTSC 2019, 2021; Windows 11 LTSC 2024).
_LTSC_2019_KMS = {
    "EnterpriseS": "M7XTQ-FN8P6-TTKYV-9D4CC-J462D",
    "EnterpriseSN": "92NFX-8DJQP-P6BBQ-THF9C-7CG2H",
}

Releases = tuple[tuple[int, Mapping[str, str]], ...]

PRODUCT_KEYS: dict[tuple[int, int, str], Releases] = {
    (6, 1, VOL_ACT_KMS): (
        (
            0,
            {
                # Windows Server 2008 R2, Windows 7
                "ServerStandard": "YC6KT-GKW9T-YTKYR-T4X34-R7VHC",
                "ServerEnterprise": "489J6-VHDMP-X63PK-3K798-CPX3Y",
                "ServerDatacenter": "74YFP-3QFB3-KQT8W-PMXWJ-7M648",
                **_WINDOWS_7_KMS,
            },
        ),
    ),
    (6, 2, VOL_ACT_KMS): (
        (
            0,
            {
                # Windows Server 2012, Windows 8
                "ServerStandard": "XC9B7-NBPP2-83J2H-RHMBY-92BT4",
                "ServerDatacenter": "48HP8-DN98B-MYWDG-T2DCC-8W83P",
                "ServerSolution": "HTDQM-NBMMG-KGYDT-2DTKT-J2MPV",
                **_WINDOWS_8_KMS,
            },
        ),
    ),
    (6, 3, VOL_ACT_KMS): (
        (
            0,
            {
                # Windows Server 2012 R2, Windows 8.1
                "ServerStandard": "D2N9P-3P6X9-2R39C-7RTCD-MDVJX",
                "ServerDatacenter": "W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9",
                "ServerSolution": "KNC87-3J2TX-XB4WP-VCPJV-M4FWM",
                **_WINDOWS_8_1_KMS,
            },
        ),
    ),
    (10, 0, VOL_ACT_KMS): (
        (
            10240,
            {
                # Windows 10 (LTSB 2015)
                **_WINDOWS_10_KMS,
                "EnterpriseS": "WNMTR-4C88C-JK8YV-HQ7T2-76DF9",
                "EnterpriseSN": "2F77B-TNFGY-69QQF-B8YKP-D69TJ",
            },
        ),
        (
            14393,
            {
                # Windows Server 2016 (LTSB 2016)
                "ServerStandard": "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY",
                "ServerDatacenter": "CB7KF-BWN84-R7R2Y-793K2-8XDDG",
                "ServerSolution": "JCKRF-N37P4-C2D82-9YXRT-4M63B",
                **_WINDOWS_10_KMS,
                "EnterpriseS": "DCPHK-NFMTC-H88MJ-PFHPY-QJ4BJ",
                "EnterpriseSN": "QFFDN-GRT3P-VKWWX-X7T3R-8B639",
            },
        ),
        (
            17763,
            {
                # Windows Server 2019 (LTSC 2019)
                "ServerStandard": "N69G4-B89J2-4G8F4-WWYCC-J464C",
                "ServerDatacenter": "WMDGN-G9PQG-XVVXX-R3X43-63DFG",
                "ServerSolution": "WVDHN-86M7X-466P6-VHXV7-YY726",
                **_WINDOWS_10_KMS,
                **_LTSC_2019_KMS,
            },
        ),
        (
            20348,
            {
                # Windows Server 2022
                "ServerStandard": "VDYBN-27WPP-V4HQT-9VMD4-VMK7H",
                "ServerDatacenter": "WX4NM-KYWYW-QJJR4-XV3QB-6VM33",
                "ServerTurbine": "NTBV8-9K7Q8-V27C6-M2BTV-KHMXV",
                **_WINDOWS_10_KMS,
                **_LTSC_2019_KMS,
            },
        ),
        (
            26100,
            {
                # Windows Server 2025 (Windows 11 LTSC 2024)
                "ServerStandard": "TVRH6-WHNXV-R9WG3-9XRFY-MY832",
                "ServerDatacenter": "D764K-2NDRG-47T6Q-P8T8W-YP6DF",
                "ServerTurbine": "XGN3F-F394H-FD2MY-PP6FD-8MCRC",
                **_WINDOWS_10_KMS,
                **_LTSC_2019_KMS,
            },
        ),
    ),
    (6, 3, VOL_ACT_AVMA): (
        (
            0,
            {
                # Windows Server 2012 R2
                "ServerStandard": "DBGBW-NPF86-BJVTX-K3WKJ-MTB6V",
                "ServerDatacenter": "Y4TGP-NPTV9-HTC2H-7MGQ3-DV4TW",
                "ServerSolution": "K2XGM-NMBT3-2R6Q8-WF2FK-P36R2",
            },
        ),
    ),
    (10, 0, VOL_ACT_AVMA): (
        (
            14393,
            {
                # Windows Server 2016
                "ServerStandard": "C3RCX-M6NRP-6CXC9-TW2F2-4RHYD",
                "ServerDatacenter": "TMJ3Y-NTRTM-FJYXT-T22BY-CWG3J",
                "ServerSolution": "B4YNW-62DX9-W8V6M-82649-MHBKQ",
            },
        ),
        (
            17763,
            {
                # Windows Server 2019
                "ServerStandard": "TNK62-RXVTB-4P47B-2D623-4GF74",
                "ServerDatacenter": "H3RNG-8C32Q-Q8FRX-6TDXV-WMBMW",
                "ServerSolution": "2CTP7-NHT64-BP62M-FV6GG-HFV28",
            },
        ),
        (
            20348,
            {
                # Windows Server 2022
                "ServerStandard": "YDFWN-MJ9JR-3DYRK-FXXRW-78VHK",
                "ServerDatacenter": "W3GNR-8DDXR-2TFRP-H8P33-DV9BG",
                "ServerTurbine": "F7TB6-YKN8Y-FCC6R-KQ484-VMK3J",
            },
        ),
    ),
}


def get_volume_activation_product_key(
    os_version: Mapping[str, int], license_family: str, kind: str = VOL_ACT_KMS
) -> str | None:
    """The generic KMS client or AVMA key for the running OS and license family, if known."""
    releases = PRODUCT_KEYS.get((os_version["major_version"], os_version["minor_version"], kind))
    reached = [keys for first, keys in releases or () if first <= os_version["build_number"]]
    return reached[-1].get(license_family) if reached else None


# --- the two ways of reaching the licensing service -------------------------------------------


class LicensingError(Exception):
    """slmgr.vbs failed."""


class SlmgrLicensing:
    """Everything through ``cscript.exe slmgr.vbs`` (Windows older than 6.1)."""

    def __init__(self, osutils: OSUtils) -> None:
        self.osutils = osutils

    def run_slmgr(self, args: list[str]) -> str:
        # cscript.exe comes from the native system folder (sysnative for a 32-bit agent on
        # 64-bit Windows); the script is named in system32 as the 64-bit host sees it.
        slmgr = ntpath.join(self.osutils.get_system32_dir(), "slmgr.vbs")
        out, err, exit_code = self.osutils.execute_system32_process(
            ["cscript.exe", slmgr, *args], shell=False
        )
        if exit_code:
            raise LicensingError(
                f"slmgr.vbs failed with error code {exit_code}.\n"
                f"Output: {out.decode(errors='replace')}\nError: {err.decode(errors='replace')}"
            )
        return out.decode(errors="replace")

    def get_kms_product(self) -> tuple[str, str, bool]:
        raise NotImplementedError("Listing licensing products needs Windows 6.1 or later")

    def set_product_key(self, product_key: str) -> None:
        self.run_slmgr(["/ipk", product_key])

    def set_kms_host(self, host: str, port: str | None = None) -> None:
        self.run_slmgr(["/skms", f"{host}:{port}" if port else host])

    def refresh_status(self) -> None:
        """slmgr reads the current status anyway."""

    def activate_windows(self) -> str:
        return self.run_slmgr(["/ato"])

    def get_licensing_info(self) -> str:
        return self.run_slmgr(["/dlv"])


class WmiLicensing(SlmgrLicensing):
    """SoftwareLicensingService through WMI; activation and the report still use slmgr."""

    def get_kms_product(self) -> tuple[str, str, bool]:
        return self.osutils.get_kms_product()

    def set_product_key(self, product_key: str) -> None:
        self.osutils.set_product_key(product_key)

    def set_kms_host(self, host: str, port: str | None = None) -> None:
        self.osutils.set_kms_host(host, port)

    def refresh_status(self) -> None:
        self.osutils.refresh_license_status()


def licensing_manager(osutils: OSUtils) -> SlmgrLicensing:
    return WmiLicensing(osutils) if osutils.check_os_version(6, 1) else SlmgrLicensing(osutils)


# --- the plugin ----------------------------------------------------------------------------------


class WindowsLicensingPlugin(Plugin):
    def _set_product_key(self, service: MetadataService, manager: SlmgrLicensing) -> None:
        description, license_family, is_current = manager.get_kms_product()
        LOG.debug("KMS client product: %s (license family %s)", description, license_family)
        if is_current:
            LOG.info(
                'Product "%s" is already the current one, no need to set a product key',
                description,
            )
            return
        use_avma = service.get_use_avma_licensing()
        if use_avma is None:
            use_avma = self.conf.get("set_avma_product_key")
        LOG.debug("Use AVMA: %s", use_avma)
        os_version = self.osutils.get_os_version()
        product_key = None
        if use_avma:
            product_key = get_volume_activation_product_key(
                os_version, license_family, VOL_ACT_AVMA
            )
            if not product_key:
                LOG.error("AVMA product key not found for this OS")
        if not product_key and self.conf.get("set_kms_product_key"):
            product_key = get_volume_activation_product_key(os_version, license_family, VOL_ACT_KMS)
            if not product_key:
                LOG.error("KMS product key not found for this OS")
        if product_key:
            LOG.info("Setting product key: %s", product_key)
            manager.set_product_key(product_key)

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        if self.osutils.is_nano_server():
            LOG.info("Licensing info and activation are not available on Nano Server")
            return PLUGIN_EXECUTION_DONE, False

        manager = licensing_manager(self.osutils)
        if self.conf.get("set_kms_product_key") or self.conf.get("set_avma_product_key"):
            self._set_product_key(service, manager)

        kms_host = service.get_kms_host() or self.conf.get("kms_host")
        if kms_host:
            LOG.info("Setting KMS host: %s", kms_host)
            # "host" or "host:port"; more colons make too many arguments, as upstream.
            manager.set_kms_host(*kms_host.split(":"))

        if self.conf.get("activate_windows"):
            LOG.info("Activating Windows")
            result = manager.activate_windows()
            LOG.debug("Activation result:\n%s", result)

        if self.conf.get("log_licensing_info"):
            manager.refresh_status()
            LOG.info("Microsoft Windows license info:\n%s", manager.get_licensing_info())

        return PLUGIN_EXECUTION_DONE, False
