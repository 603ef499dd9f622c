"""The fake Windows: licensing: product key, KMS host, activation.

The Software Licensing Service is reached two ways, as on Windows: through WMI
(``SoftwareLicensingService`` / ``SoftwareLicensingProduct``, the methods of
``osutils/licensing.py:LicensingOS``) and through ``cscript.exe slmgr.vbs``
(``processes.py:SystemCommands``). Both act on :class:`LicensingState` through the
functions below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows.registry import Registry, RegType
from guestsim.simulator.windows.version import WindowsVersion

WINDOWS_APPLICATION_ID = "55c92734-d682-4d71-983e-d6ec3f16059f"
SPP_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform"
DEFAULT_KMS_PORT = 1688

KMS_CLIENT = "VOLUME_KMSCLIENT"
AVMA = "VIRTUAL_MACHINE_ACTIVATION"
RETAIL = "RETAIL"
MAK = "VOLUME_MAK"

# SoftwareLicensingProduct.LicenseStatus
UNLICENSED, LICENSED, INITIAL_GRACE, NOTIFICATION = 0, 1, 2, 5
_STATUS_TEXT = {
    UNLICENSED: "Unlicensed",
    LICENSED: "Licensed",
    INITIAL_GRACE: "Initial grace period",
    NOTIFICATION: "Notification",
}

# Software Licensing Service errors (HRESULTs) and the text slmgr shows for them.
SL_E_INVALID_PRODUCT_KEY = 0xC004F050
SL_E_NO_KMS = 0xC004F074
SL_E_AVMA_UNSUPPORTED_HOST = 0xC004FD01
E_INVALIDARG = 0x80070057
ERROR_TEXT = {
    SL_E_INVALID_PRODUCT_KEY: (
        "The Software Licensing Service reported that the product key is invalid."
    ),
    SL_E_NO_KMS: (
        "The Software Licensing Service reported that the computer could not be activated. "
        "No Key Management Service (KMS) could be contacted. Please see the Application "
        "Event Log for additional information."
    ),
    SL_E_AVMA_UNSUPPORTED_HOST: (
        "Windows isn't running on a supported Microsoft Hyper-V virtualization platform."
    ),
    E_INVALIDARG: "The parameter is incorrect.",
}


@dataclass(frozen=True)
class Release:
    name: str
    major: int
    minor: int
    first_build: int
    # edition (license family) -> {channel: the generic key Microsoft publishes for it}
    generic_keys: dict[str, dict[str, str]]


# The generic product keys of each Windows Server release as Microsoft publishes them (KMS
# client setup keys, AVMA keys; AVMA exists from 2012 R2 on). Editions and releases not
# listed here are not modelled. The simulated Windows keeps its own copy rather than the
# agent's table, so that a wrong agent entry shows up as a refused key.
RELEASES: tuple[Release, ...] = (
    Release(
        "Windows Server 2008 R2",
        6,
        1,
        0,
        {
            "ServerStandard": {KMS_CLIENT: "YC6KT-GKW9T-YTKYR-T4X34-R7VHC"},
            "ServerDatacenter": {KMS_CLIENT: "74YFP-3QFB3-KQT8W-PMXWJ-7M648"},
        },
    ),
    Release(
        "Windows Server 2012",
        6,
        2,
        0,
        {
            "ServerStandard": {KMS_CLIENT: "XC9B7-NBPP2-83J2H-RHMBY-92BT4"},
            "ServerDatacenter": {KMS_CLIENT: "48HP8-DN98B-MYWDG-T2DCC-8W83P"},
        },
    ),
    Release(
        "Windows Server 2012 R2",
        6,
        3,
        0,
        {
            "ServerStandard": {
                KMS_CLIENT: "D2N9P-3P6X9-2R39C-7RTCD-MDVJX",
                AVMA: "DBGBW-NPF86-BJVTX-K3WKJ-MTB6V",
            },
            "ServerDatacenter": {
                KMS_CLIENT: "W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9",
                AVMA: "Y4TGP-NPTV9-HTC2H-7MGQ3-DV4TW",
            },
        },
    ),
    Release(
        "Windows Server 2016",
        10,
        0,
        14393,
        {
            "ServerStandard": {
                KMS_CLIENT: "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY",
                AVMA: "C3RCX-M6NRP-6CXC9-TW2F2-4RHYD",
            },
            "ServerDatacenter": {
                KMS_CLIENT: "CB7KF-BWN84-R7R2Y-793K2-8XDDG",
                AVMA: "TMJ3Y-NTRTM-FJYXT-T22BY-CWG3J",
            },
        },
    ),
    Release(
        "Windows Server 2019",
        10,
        0,
        17763,
        {
            "ServerStandard": {
                KMS_CLIENT: "N69G4-B89J2-4G8F4-WWYCC-J464C",
                AVMA: "TNK62-RXVTB-4P47B-2D623-4GF74",
            },
            "ServerDatacenter": {
                KMS_CLIENT: "WMDGN-G9PQG-XVVXX-R3X43-63DFG",
                AVMA: "H3RNG-8C32Q-Q8FRX-6TDXV-WMBMW",
            },
            "ServerSolution": {
                KMS_CLIENT: "WVDHN-86M7X-466P6-VHXV7-YY726",
                AVMA: "2CTP7-NHT64-BP62M-FV6GG-HFV28",
            },
        },
    ),
    Release(
        "Windows Server 2022",
        10,
        0,
        20348,
        {
            "ServerStandard": {
                KMS_CLIENT: "VDYBN-27WPP-V4HQT-9VMD4-VMK7H",
                AVMA: "YDFWN-MJ9JR-3DYRK-FXXRW-78VHK",
            },
            "ServerDatacenter": {
                KMS_CLIENT: "WX4NM-KYWYW-QJJR4-XV3QB-6VM33",
                AVMA: "W3GNR-8DDXR-2TFRP-H8P33-DV9BG",
            },
        },
    ),
)


def release_of(version: WindowsVersion) -> Release:
    """The release the version is (newest first build not after the running build)."""
    found = [
        release
        for release in RELEASES
        if (release.major, release.minor) == (version.major, version.minor)
        and release.first_build <= version.build
    ]
    if not found or version.edition not in found[-1].generic_keys:
        raise NotModelled(
            f"licensing of Windows {version.major}.{version.minor}.{version.build} "
            f"{version.edition}"
        )
    return found[-1]


@dataclass(frozen=True)
class LicenseProduct:
    """A Windows SoftwareLicensingProduct of the running edition."""

    channel: str
    license_family: str
    product_key: str | None

    @property
    def name(self) -> str:
        return f"Windows(R), {self.license_family} edition"

    @property
    def description(self) -> str:
        return f"Windows(R) Operating System, {self.channel} channel"


@dataclass
class LicensingState:
    """The Software Licensing Service's view of this installation, and what it can reach.

    The default is a volume-licensed installation: the edition's KMS client key (GVLK) is
    installed and Windows is in its initial grace period. No KMS host answers and the
    hypervisor offers no AVMA until a test or scenario says so.
    """

    # The channel of the installed product key, or None when no key is installed.
    installed_channel: str | None = KMS_CLIENT
    # The installed key for channels without a generic key (RETAIL, VOLUME_MAK).
    installed_key: str | None = None
    # Further keys Windows accepts for this edition: key -> channel (RETAIL, VOLUME_MAK).
    other_keys: dict[str, str] = field(default_factory=dict)
    license_status: int = INITIAL_GRACE
    # The KMS host configured (SetKeyManagementServiceMachine / slmgr /skms).
    kms_host: str | None = None
    kms_port: int = DEFAULT_KMS_PORT
    # KMS hosts that answer on the network: name -> port.
    kms_servers: dict[str, int] = field(default_factory=dict)
    # The KMS host DNS auto-discovery (_vlmcs._tcp) finds, if any.
    kms_dns_host: str | None = None
    # Whether the hypervisor is an activated Hyper-V host that answers AVMA requests.
    avma_host: bool = False
    # The KMS host the last activation used ("host:port").
    activated_by: str | None = None


def products(licensing: LicensingState, version: WindowsVersion) -> list[LicenseProduct]:
    """The Windows products of the running edition: generic channels, then the installed one."""
    release = release_of(version)
    family = version.edition
    found = [
        LicenseProduct(channel, family, key)
        for channel, key in sorted(release.generic_keys[family].items())
    ]
    if licensing.installed_channel is not None and licensing.installed_channel not in (
        KMS_CLIENT,
        AVMA,
    ):
        found.append(LicenseProduct(licensing.installed_channel, family, licensing.installed_key))
    return found


def installed_product(licensing: LicensingState, version: WindowsVersion) -> LicenseProduct | None:
    channel = licensing.installed_channel
    return next((p for p in products(licensing, version) if p.channel == channel), None)


def install_product_key(licensing: LicensingState, version: WindowsVersion, key: str) -> int:
    """InstallProductKey: 0, or the HRESULT of the refusal."""
    normalized = key.strip().upper()
    generic = release_of(version).generic_keys[version.edition]
    channel = next((c for c, k in generic.items() if k == normalized), None)
    if channel is None:
        channel = licensing.other_keys.get(normalized)
    if channel is None:
        return SL_E_INVALID_PRODUCT_KEY
    licensing.installed_channel = channel
    licensing.installed_key = None if channel in generic else normalized
    # A new key starts over: activation is needed again.
    licensing.license_status = NOTIFICATION
    licensing.activated_by = None
    return 0


def configure_kms_host(
    licensing: LicensingState, registry: Registry, host: str, port: str | int | None
) -> int:
    """SetKeyManagementServiceMachine (and Port when given): 0, or the HRESULT."""
    number: int | None = None
    if port is not None:
        text = str(port)
        if not text.isdigit() or not 0 < int(text) < 65536:
            return E_INVALIDARG
        number = int(text)
    licensing.kms_host = host
    registry.create_key(SPP_KEY)
    registry.set_value(SPP_KEY, "KeyManagementServiceName", host, RegType.REG_SZ)
    if number is not None:
        licensing.kms_port = number
        registry.set_value(SPP_KEY, "KeyManagementServicePort", str(number), RegType.REG_SZ)
    return 0


def activate(licensing: LicensingState) -> int:
    """Activate the installed product: 0, or the HRESULT of the failure."""
    channel = licensing.installed_channel
    if channel == KMS_CLIENT:
        candidates = (
            [(licensing.kms_host, licensing.kms_port)]
            if licensing.kms_host
            else [(licensing.kms_dns_host, DEFAULT_KMS_PORT)]
        )
        servers = {name.lower(): port for name, port in licensing.kms_servers.items()}
        for host, port in candidates:
            if host is not None and servers.get(host.lower()) == port:
                licensing.license_status = LICENSED
                licensing.activated_by = f"{host}:{port}"
                return 0
        return SL_E_NO_KMS
    if channel == AVMA:
        if not licensing.avma_host:
            return SL_E_AVMA_UNSUPPORTED_HOST
        licensing.license_status = LICENSED
        return 0
    raise NotModelled(f"activating a Windows product of the {channel} channel")


def license_info(licensing: LicensingState, version: WindowsVersion) -> str:
    """What ``slmgr /dlv`` prints about the installed Windows product."""
    product = installed_product(licensing, version)
    if product is None:
        return "Error: product key not found.\r\n"
    key = product.product_key or ""
    lines = [
        f"Software licensing service version: {version.major}.{version.minor}.{version.build}.1",
        "",
        f"Name: {product.name}",
        f"Description: {product.description}",
        f"Application ID: {WINDOWS_APPLICATION_ID}",
        f"Partial Product Key: {key[-5:]}",
        f"License Status: {_STATUS_TEXT.get(licensing.license_status, 'Unknown')}",
    ]
    if product.channel == KMS_CLIENT:
        lines += ["", "Key Management Service client information"]
        if licensing.kms_host:
            lines.append(
                f"    Registered KMS machine name: {licensing.kms_host}:{licensing.kms_port}"
            )
        else:
            lines.append("    KMS machine name from DNS: " + (licensing.kms_dns_host or ""))
        if licensing.activated_by:
            lines.append(f"    KMS machine used for the last activation: {licensing.activated_by}")
    return "\r\n".join(lines) + "\r\n"


def hresult_error(code: int) -> str:
    return f"0x{code:08X} {ERROR_TEXT.get(code, '')}".rstrip()
