"""The fake Windows machine's state: what persists on disk and what a reboot rebuilds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from guestsim.agent.osutils import (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_DISABLED,
    SERVICE_START_MODE_MANUAL,
    SERVICE_STATUS_RUNNING,
    SERVICE_STATUS_STOPPED,
)
from guestsim.agent.resources import ResourceLimits
from guestsim.simulator.windows.bootconfig import BootConfigState
from guestsim.simulator.windows.certificates import CertificatesState
from guestsim.simulator.windows.disks import SYSTEM_DRIVE_LETTER, Disk, Drive, Volume, drive_letter
from guestsim.simulator.windows.filesystem import GuestFilesystem
from guestsim.simulator.windows.firewall import FirewallState
from guestsim.simulator.windows.licensing import LicensingState
from guestsim.simulator.windows.network import NetworkState
from guestsim.simulator.windows.power import PowerState
from guestsim.simulator.windows.rdp import RDPState
from guestsim.simulator.windows.registry import Registry
from guestsim.simulator.windows.scripts import ScriptsState
from guestsim.simulator.windows.software import SoftwareState
from guestsim.simulator.windows.timezone import TimeZoneState
from guestsim.simulator.windows.updates import UpdatesState
from guestsim.simulator.windows.version import WindowsVersion
from guestsim.simulator.windows.volumes import VolumesState
from guestsim.simulator.windows.winrm import WinRMState

# A fixed machine SID keeps SIDs, and so traces, identical on every run.
MACHINE_SID = "S-1-5-21-1004336348-1177238915-682003330"
BUILTIN_ADMIN_RID = 500
FIRST_USER_RID = 1000

AGENT_BIN_DIR = "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\bin"
AGENT_KEY = "HKLM\\SOFTWARE\\Cloudbase Solutions\\Cloudbase-Init"
SYSPREP_KEY = "HKLM\\SYSTEM\\Setup\\Status\\SysprepStatus"
TIME_ZONE_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation"
PROFILE_LIST_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList"


@dataclass
class UserAccount:
    name: str
    rid: int
    password: str | None = None
    password_never_expires: bool = True
    password_expired: bool = False
    full_name: str | None = None
    disabled: bool = False
    expires: int | None = None

    @property
    def sid(self) -> str:
        return f"{MACHINE_SID}-{self.rid}"


@dataclass
class LocalGroup:
    name: str
    sid: str
    members: list[str] = field(default_factory=list)


@dataclass
class NetworkAdapter:
    name: str
    mac: str
    # The IPv4 address ("" when it has none: disconnected, a team member, no lease yet).
    address: str
    dhcp_enabled: bool = True
    # The DHCP server of its lease (None: no lease).
    dhcp_server: str | None = None
    mtu: int = 1500
    enabled: bool = True
    # False: media disconnected (the cable is out): no address, no lease, no routes.
    connected: bool = True


@dataclass
class Service:
    name: str
    display_name: str
    start_mode: str = SERVICE_START_MODE_MANUAL
    account: str = "LocalSystem"
    binary_path: str = ""
    triggers: list[str] = field(default_factory=list)
    # Volatile: recomputed from the start mode at every boot.
    status: str = SERVICE_STATUS_STOPPED
    # The status Windows gives it at each start instead of the one its start mode implies
    # (an automatic service that fails to start or starts delayed: Stopped; a manual one a
    # trigger starts: Running); None: Running when Automatic, else Stopped.
    boot_status: str | None = None


def _system_drives() -> list[Drive]:
    return [Drive(SYSTEM_DRIVE_LETTER, "Windows", "fixed")]


@dataclass
class WindowsState:
    """Everything a reboot keeps, plus the volatile parts (active name, service status)."""

    version: WindowsVersion = field(default_factory=WindowsVersion)
    registry: Registry = field(default_factory=Registry)
    files: GuestFilesystem = field(default_factory=GuestFilesystem)
    users: list[UserAccount] = field(default_factory=list)
    groups: list[LocalGroup] = field(default_factory=list)
    adapters: list[NetworkAdapter] = field(default_factory=list)
    # Logical drives; the system drive C: is always there.
    drives: list[Drive] = field(default_factory=_system_drives)
    # Physical disks (index n is \\.\PHYSICALDRIVEn), mounted volumes, CD-ROM media bytes.
    disks: list[Disk] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    cdrom_media: dict[str, bytes] = field(default_factory=dict)
    # Per-feature state, one dataclass per fake-Windows module.
    network: NetworkState = field(default_factory=NetworkState)
    volume_config: VolumesState = field(default_factory=VolumesState)
    scripts: ScriptsState = field(default_factory=ScriptsState)
    timezone: TimeZoneState = field(default_factory=TimeZoneState)
    software: SoftwareState = field(default_factory=SoftwareState)
    winrm: WinRMState = field(default_factory=WinRMState)
    firewall: FirewallState = field(default_factory=FirewallState)
    certificates: CertificatesState = field(default_factory=CertificatesState)
    licensing: LicensingState = field(default_factory=LicensingState)
    boot_config: BootConfigState = field(default_factory=BootConfigState)
    updates: UpdatesState = field(default_factory=UpdatesState)
    rdp: RDPState = field(default_factory=RDPState)
    power: PowerState = field(default_factory=PowerState)
    # VMware's guestinfo variables, as the hypervisor answers rpctool; None: not on VMware.
    guestinfo: dict[str, bytes] | None = None
    # Where else a copy of VMware Tools' rpctool.exe (or a stand-in for it) is, as the
    # image's configuration names it (environment variables unexpanded): that file, when
    # it exists, answers as rpctool does. Any file named rpctool.exe does anyway.
    vmware_rpctool_paths: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    # What Windows calls the computer name now, and the name set for the next boot.
    computer_name: str = "WIN-GUESTSIM01"
    pending_computer_name: str | None = None
    ntp_peers: list[str] | None = None
    # Seconds of guest time sysprep still needs before GeneralizationState becomes 7.
    sysprep_remaining_s: int = 0
    # The scenario's resource budget: what the agent may spend on guest-supplied input
    # (it asks with get_resource_limits) and the space its drives have for files.
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)

    # --- lookups ---------------------------------------------------------------------------

    def find_user(self, name: str) -> UserAccount | None:
        return next((u for u in self.users if u.name.lower() == name.lower()), None)

    def find_group(self, name: str) -> LocalGroup | None:
        return next((g for g in self.groups if g.name.lower() == name.lower()), None)

    def find_service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name.lower() == name.lower()), None)

    def find_adapter(self, name: str) -> NetworkAdapter | None:
        return next((a for a in self.adapters if a.name.lower() == name.lower()), None)

    def find_drive(self, spec: str) -> Drive | None:
        """The drive named by a letter or root (``"D"``, ``"D:"``, ``"D:\\"``), if attached."""
        letter = drive_letter(spec)
        return next((d for d in self.drives if d.letter == letter), None)

    def attach_drive(self, drive: Drive, files: Mapping[str, bytes] | None = None) -> Drive:
        """Plug in ``drive`` holding ``files`` (paths relative to its root, ``\\`` or ``/``)."""
        if self.find_drive(drive.letter) is not None:
            raise ValueError(f"drive {drive.root} is already attached")
        self.drives.append(drive)
        self.files.add_root(drive.root)
        for relative, data in (files or {}).items():
            parts = [part for part in relative.replace("/", "\\").split("\\") if part]
            if not parts:
                raise ValueError(f"not a file path relative to a drive root: {relative!r}")
            if len(parts) > 1:
                self.files.make_dirs(drive.root + "\\".join(parts[:-1]))
            self.files.write(drive.root + "\\".join(parts), data)
        return drive

    def next_rid(self) -> int:
        # Users and local groups draw from one pool of relative ids, as on Windows.
        group_rids = [
            int(g.sid.rsplit("-", 1)[1]) for g in self.groups if g.sid.startswith(MACHINE_SID)
        ]
        return max([FIRST_USER_RID - 1, *(u.rid for u in self.users), *group_rids]) + 1

    # --- the boot --------------------------------------------------------------------------

    def power_on(self) -> None:
        """What Windows does while starting: pending names apply, services start."""
        if self.pending_computer_name is not None:
            self.computer_name = self.pending_computer_name
            self.pending_computer_name = None
        for service in self.services:
            auto = service.start_mode == SERVICE_START_MODE_AUTOMATIC
            service.status = SERVICE_STATUS_RUNNING if auto else SERVICE_STATUS_STOPPED
            if (
                service.boot_status is not None
                and service.start_mode != SERVICE_START_MODE_DISABLED
            ):
                service.status = service.boot_status
        self.network.power_on()
        self.files.clear_temp()
