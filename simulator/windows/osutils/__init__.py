"""FakeOSUtils: the agent's OS boundary implemented over the fake Windows state.

Composed as the agent's ``OSUtils`` is: one mixin per feature, in ``osutils/<feature>.py``
over that feature's state in ``windows/<feature>.py`` (the agent's Protocol for it, where
there is one, is ``agent/windows/<feature>.py``; ``x509`` is ``certificates`` here and
``storage`` is ``volumes``), all on :class:`~guestsim.simulator.windows.osutils.base.FakeOSBase`.
The class below adds what the core ``OSUtils`` has beyond the features.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guestsim.agent.osutils import (
    AGENT_SERVICE_NAME,
    LOGON32_LOGON_INTERACTIVE,
    ItemNotFound,
    OSUtilsError,
    ProcessResult,
)
from guestsim.simulator.windows.disks import Disk, Volume
from guestsim.simulator.windows.osutils.base import FakeOSBase, MachineHooks, redact
from guestsim.simulator.windows.osutils.bootconfig import BootConfigOS
from guestsim.simulator.windows.osutils.certificates import CertificatesOS
from guestsim.simulator.windows.osutils.firewall import FirewallOS
from guestsim.simulator.windows.osutils.licensing import LicensingOS
from guestsim.simulator.windows.osutils.network import NetworkOS
from guestsim.simulator.windows.osutils.power import PowerOS
from guestsim.simulator.windows.osutils.rdp import RDPOS
from guestsim.simulator.windows.osutils.scripts import ScriptsOS
from guestsim.simulator.windows.osutils.services import ServicesOS
from guestsim.simulator.windows.osutils.software import SoftwareOS
from guestsim.simulator.windows.osutils.timezone import TimeZoneOS
from guestsim.simulator.windows.osutils.updates import UpdatesOS
from guestsim.simulator.windows.osutils.volumes import VolumesOS
from guestsim.simulator.windows.osutils.winrm import WinRMOS
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import (
    AGENT_KEY,
    BUILTIN_ADMIN_RID,
    MACHINE_SID,
    PROFILE_LIST_KEY,
    SYSPREP_KEY,
    TIME_ZONE_KEY,
    LocalGroup,
    UserAccount,
)

LOG = logging.getLogger(__name__)

AGENT_INSTALL_DIR = "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init"
MAX_PASSWORD_LENGTH = 20
PHYSICAL_DRIVE_PREFIX = "\\\\.\\PHYSICALDRIVE"
SYSPREP_DONE = 7
TERMINATE_DELAY_S = 3


@dataclass(frozen=True)
class LogonToken:
    username: str
    sid: str


class FakeOSUtils(
    NetworkOS,
    FirewallOS,
    VolumesOS,
    ScriptsOS,
    TimeZoneOS,
    ServicesOS,
    SoftwareOS,
    WinRMOS,
    CertificatesOS,
    LicensingOS,
    BootConfigOS,
    UpdatesOS,
    RDPOS,
    PowerOS,
    FakeOSBase,
):
    """Implements :class:`guestsim.agent.osutils.OSUtils` over a :class:`WindowsState`.

    Every mutation is recorded in the trace with its arguments. A method whose behaviour
    is not modelled raises :class:`NotModelled` naming it rather than inventing a value.
    Each domain lives in its own mixin module; this class holds users, the host name,
    drives and devices, configuration values, time, lifecycle and OS information.
    """

    def _user(self, username: str) -> UserAccount:
        user = self.state.find_user(username)
        if user is None:
            raise ItemNotFound(f"User not found: {username}")
        return user

    # --- the running process and the machine -----------------------------------------------

    def get_platform(self) -> str:
        return "win32"

    def get_node_name(self) -> str:
        return self.state.computer_name

    def get_python_executable(self) -> str:
        return f"{AGENT_INSTALL_DIR}\\Python\\python.exe"

    def get_temp_dir(self) -> str:
        return self._environment()["TEMP"]

    def _environment(self) -> dict[str, str]:
        return {
            "SystemDrive": "C:",
            "SystemRoot": "C:\\Windows",
            "windir": "C:\\Windows",
            "ProgramFiles": "C:\\Program Files",
            "ProgramFiles(x86)": "C:\\Program Files (x86)",
            "ComSpec": "C:\\Windows\\system32\\cmd.exe",
            "COMPUTERNAME": self.state.computer_name.upper(),
            "TEMP": "C:\\Windows\\Temp",
            "TMP": "C:\\Windows\\Temp",
            "USERNAME": self.process_user[1],
        }

    def get_environment_variable(self, name: str) -> str | None:
        lowered = {key.lower(): value for key, value in self._environment().items()}
        return lowered.get(name.lower())

    def expand_environment_variables(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            found = self.get_environment_variable(match.group(1))
            return match.group(0) if found is None else found

        return re.sub(r"%([^%]+)%", replace, value)

    # --- users and groups --------------------------------------------------------------------

    def user_exists(self, username: str) -> bool:
        return self.state.find_user(username) is not None

    def create_user(self, username: str, password: str, password_expires: bool = False) -> None:
        if self.state.find_user(username) is not None:
            raise OSUtilsError(f"Create user failed: the account {username} already exists")
        self._mutation("create_user", username=username, password=redact(password))
        self.state.users.append(
            UserAccount(
                username,
                self.state.next_rid(),
                password=password,
                password_never_expires=not password_expires,
            )
        )
        users = self.state.find_group("Users")
        if users is not None:
            self._part_of_the_call(
                "create_user", "add_user_to_local_group", username=username, group=users.name
            )
            users.members.append(username)

    def rename_user(self, username: str, new_username: str) -> None:
        user = self._user(username)
        if self.state.find_user(new_username) is not None:
            raise OSUtilsError(f"Renaming user failed: {new_username} already exists")
        self._mutation("rename_user", username=username, new_username=new_username)
        for group in self.state.groups:
            group.members = [
                new_username if member.lower() == user.name.lower() else member
                for member in group.members
            ]
        user.name = new_username

    def set_user_info(
        self,
        username: str,
        full_name: str | None = None,
        disabled: bool = False,
        expire_interval: int | None = None,
    ) -> None:
        user = self._user(username)
        self._mutation(
            "set_user_info",
            username=username,
            full_name=full_name,
            disabled=disabled,
            expire_interval=expire_interval,
        )
        if full_name is not None:
            user.full_name = full_name
        user.disabled = disabled
        user.expires = expire_interval

    def enum_users(self) -> list[str]:
        return [user.name for user in self.state.users]

    def is_builtin_admin(self, username: str) -> bool:
        return self._user(username).rid == BUILTIN_ADMIN_RID

    def set_user_password(
        self, username: str, password: str, password_expires: bool = False
    ) -> None:
        user = self._user(username)
        self._mutation("set_user_password", username=username, password=redact(password))
        user.password = password
        user.password_never_expires = not password_expires
        user.password_expired = False

    def change_password_next_logon(self, username: str) -> None:
        user = self._user(username)
        self._mutation("change_password_next_logon", username=username)
        user.password_never_expires = False
        user.password_expired = True

    def group_exists(self, group: str) -> bool:
        return self.state.find_group(group) is not None

    def create_group(self, group: str, description: str | None = None) -> None:
        # NetLocalGroupAdd: users and groups share one namespace and one RID pool.
        if self.state.find_group(group) is not None:
            raise OSUtilsError(f"Create group failed: the local group {group} already exists")
        if self.state.find_user(group) is not None:
            raise OSUtilsError(f"Create group failed: the account {group} already exists")
        prefix = f"{MACHINE_SID}-"
        group_rids = [
            int(g.sid[len(prefix) :]) for g in self.state.groups if g.sid.startswith(prefix)
        ]
        rid = max([self.state.next_rid() - 1, *group_rids]) + 1
        self._mutation("create_group", group=group)
        self.state.groups.append(LocalGroup(group, f"{prefix}{rid}"))

    def add_user_to_local_group(self, username: str, groupname: str) -> None:
        group = self.state.find_group(groupname)
        if group is None:
            raise OSUtilsError(f"Group not found: {groupname}")
        user = self._user(username)
        if any(member.lower() == user.name.lower() for member in group.members):
            return
        self._mutation("add_user_to_local_group", username=user.name, group=group.name)
        group.members.append(user.name)

    def get_user_sid(self, username: str) -> str | None:
        user = self.state.find_user(username)
        return None if user is None else user.sid

    def get_user_home(self, username: str) -> str | None:
        user = self.state.find_user(username)
        if user is None:
            return None
        value = self.get_registry_value(f"{PROFILE_LIST_KEY}\\{user.sid}", "ProfileImagePath")
        return None if value is None else str(value)

    def create_user_logon_session(
        self,
        username: str,
        password: str,
        domain: Any = ".",
        load_profile: bool = True,
        logon_type: int = LOGON32_LOGON_INTERACTIVE,
    ) -> object:
        user = self._user(username)
        if user.password != password or user.disabled:
            raise OSUtilsError(f"User logon failed for {username}: bad password or disabled")
        self._mutation("logon", username=user.name, load_profile=load_profile)
        if load_profile and self.get_user_home(user.name) is None:
            # Loading a profile for the first time creates it, as Windows does.
            home = f"C:\\Users\\{user.name}"
            self.state.files.make_dirs(home)
            key = f"{PROFILE_LIST_KEY}\\{user.sid}"
            self.state.registry.create_key(key)
            self.state.registry.set_value(key, "ProfileImagePath", home, RegType.REG_EXPAND_SZ)
            self._part_of_the_call("logon", "create_profile", username=user.name, path=home)
        return LogonToken(user.name, user.sid)

    def close_user_logon_session(self, token: object) -> None:
        if not isinstance(token, LogonToken):
            raise OSUtilsError("Invalid logon token")

    def get_current_user(self) -> tuple[str, str]:
        return self.process_user

    def execute_process_as_user(
        self, token: object, args: Sequence[str], wait: bool = True, new_console: bool = False
    ) -> int | None:
        if not isinstance(token, LogonToken):
            raise OSUtilsError("Invalid logon token")
        self._mutation("execute_process_as_user", username=token.username, args=list(args))
        exit_code = self.hooks.run_as_user(args, token.username)
        return exit_code if wait else None

    def generate_random_password(self, length: int) -> str:
        if length < 3:
            raise OSUtilsError("Password can not have less than 3 characters")
        while True:
            text = base64.b64encode(self.random_bytes(256)).decode()
            password = text.replace("/", "").replace("+", "")[:length]
            if (
                any(c.islower() for c in password)
                and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)
            ):
                return password

    def get_maximum_password_length(self) -> int:
        return MAX_PASSWORD_LENGTH

    def sanitize_shell_input(self, value: str) -> str:
        return value.replace('"', '\\"')

    # --- hostname ----------------------------------------------------------------------------

    def set_host_name(self, new_host_name: str) -> bool:
        self._mutation("set_host_name", name=new_host_name)
        self.state.pending_computer_name = new_host_name
        return True

    # --- network -----------------------------------------------------------------------------

    def get_network_adapters(self) -> list[tuple[str, str]]:
        # Windows reports MACs upper case; from 6.0 only physical adapters are listed.
        physical_only = self.check_os_version(6, 0)
        team_nics = self.state.network.team_nics
        return [
            (adapter.name, adapter.mac.upper())
            for adapter in self.state.adapters
            if not (physical_only and adapter.name in team_nics)
        ]

    def get_dhcp_hosts_in_use(self) -> list[tuple[str, str, str]]:
        return [
            (adapter.name, adapter.mac, adapter.dhcp_server)
            for adapter in self.state.adapters
            if adapter.dhcp_enabled
            and adapter.dhcp_server
            and adapter.enabled
            and adapter.connected
        ]

    def get_network_adapter_name_by_mac_address(self, mac_address: str) -> str:
        found = [a.name for a in self.state.adapters if a.mac.lower() == mac_address.lower()]
        if not found:
            raise ItemNotFound(f'No adapter with MAC address "{mac_address}" found')
        if len(found) > 1:
            raise OSUtilsError(f'Multiple adapters with MAC address "{mac_address}" found')
        return found[0]

    def get_mac_address_by_local_ip(self, ip_addr: str) -> str | None:
        for adapter in self.state.adapters:
            if adapter.address == ip_addr:
                return adapter.mac.lower()
        return None

    def set_network_adapter_mtu(self, name: str, mtu: int) -> None:
        if not self.check_os_version(6, 0):
            raise OSUtilsError("Setting the MTU needs Windows Vista / Server 2008 or later")
        adapter = self.state.find_adapter(name)
        if adapter is None:
            raise ItemNotFound(f"Network interface with name {name!r} not found")
        self._mutation("set_network_adapter_mtu", name=adapter.name, mtu=mtu)
        adapter.mtu = mtu

    # --- disks and volumes -------------------------------------------------------------------

    def _volume(self, path: str) -> Volume | None:
        wanted = path.rstrip("\\").lower()
        return next((v for v in self.state.volumes if v.path.rstrip("\\").lower() == wanted), None)

    def get_volume_label(self, drive: str) -> str | None:
        volume = self._volume(drive)
        if volume is not None:
            return volume.label
        found = self.state.find_drive(drive)
        return None if found is None else found.label

    def get_logical_drives(self) -> list[str]:
        return [drive.root for drive in sorted(self.state.drives, key=lambda d: d.letter)]

    def get_cdrom_drives(self) -> list[str]:
        return [
            drive.root
            for drive in sorted(self.state.drives, key=lambda d: d.letter)
            if drive.kind == "cdrom"
        ]

    def get_physical_disks(self) -> list[str]:
        return [f"{PHYSICAL_DRIVE_PREFIX}{n}" for n in range(len(self.state.disks))]

    def get_volumes(self) -> list[str]:
        return [volume.path for volume in self.state.volumes]

    def _device(self, device_path: str) -> tuple[Disk | bytes, int, int]:
        """The backing bytes of a device, and the window (offset, size) it sees of them."""
        lowered = device_path.lower()
        if lowered.startswith(PHYSICAL_DRIVE_PREFIX.lower()):
            number = lowered[len(PHYSICAL_DRIVE_PREFIX) :]
            if number.isdigit() and int(number) < len(self.state.disks):
                disk = self.state.disks[int(number)]
                return disk, 0, disk.size
        volume = self._volume(device_path)
        if volume is not None:
            if volume.disk is not None:
                return self.state.disks[volume.disk], volume.offset, volume.size
            if volume.letter in self.state.cdrom_media:
                media = self.state.cdrom_media[volume.letter]
                return media, 0, len(media)
        raise ItemNotFound(f"No such device: {device_path}")

    def get_device_size(self, device_path: str) -> int:
        return self._device(device_path)[2]

    def read_device(self, device_path: str, offset: int, length: int) -> bytes:
        backing, start, size = self._device(device_path)
        if offset < 0 or length < 0:
            raise OSUtilsError(f"Invalid read of {device_path}: offset {offset}, length {length}")
        length = max(0, min(length, size - offset))
        if isinstance(backing, bytes):
            return backing[start + offset : start + offset + length]
        return backing.read(start + offset, length)

    def is_nano_server(self) -> bool:
        return self.state.version.nano_server

    # --- guest files -------------------------------------------------------------------------

    # --- services ----------------------------------------------------------------------------

    def reset_service_password(self) -> tuple[str, str, str] | None:
        if not self.check_service_exists(AGENT_SERVICE_NAME):
            LOG.info("Service does not exist: %s", AGENT_SERVICE_NAME)
            return None
        account = self.get_service_username(AGENT_SERVICE_NAME)
        if "\\" not in account:
            LOG.info("Skipping password reset, service running as a built-in account")
            return None
        domain, user = account.split("\\", 1)
        if domain != ".":
            LOG.info("Skipping password reset, service running as a domain account")
            return None
        password = self.generate_random_password(self.get_maximum_password_length())
        self.set_user_password(user, password)
        self.set_service_credentials(AGENT_SERVICE_NAME, f"{domain}\\{user}", password)
        return domain, user, password

    def terminate(self) -> None:
        self.sleep(TERMINATE_DELAY_S)
        self.stop_service(AGENT_SERVICE_NAME)

    # --- configuration values (registry) -----------------------------------------------------

    @staticmethod
    def _config_key(section: str | None) -> str:
        if not section:
            return AGENT_KEY
        return f"{AGENT_KEY}\\{section.replace('/', chr(92))}"

    def get_config_value(self, name: str, section: str | None = None) -> Any:
        return self.get_registry_value(self._config_key(section), name)

    def set_config_value(self, name: str, value: Any, section: str | None = None) -> None:
        key = self._config_key(section)
        # Upstream picks REG_DWORD only for an exact int (not bool), REG_SZ for the rest.
        if type(value) is int:
            self.set_registry_value(key, name, value, RegType.REG_DWORD.value, create=True)
        else:
            self.set_registry_value(key, name, str(value), RegType.REG_SZ.value, create=True)

    # --- time --------------------------------------------------------------------------------

    def is_real_time_clock_utc(self) -> bool:
        return bool(self.get_registry_value(TIME_ZONE_KEY, "RealTimeIsUniversal"))

    def set_real_time_clock_utc(self, utc: bool) -> None:
        self.set_registry_value(
            TIME_ZONE_KEY, "RealTimeIsUniversal", int(utc), RegType.REG_DWORD.value
        )

    def set_ntp_client_config(self, ntp_hosts: Sequence[str]) -> None:
        self._mutation("set_ntp_client_config", hosts=list(ntp_hosts))
        self.state.ntp_peers = list(ntp_hosts)

    # --- processes ---------------------------------------------------------------------------

    def execute_system32_process(
        self,
        args: Sequence[str],
        shell: bool = True,
        decode_output: bool = False,
        sysnative: bool = True,
    ) -> ProcessResult:
        self._mutation("execute_system32_process", args=list(args))
        return self.commands.run(list(args))

    def get_default_script_exec_header(self) -> str:
        return "rem cmd"

    # --- lifecycle ---------------------------------------------------------------------------

    def reboot(self) -> None:
        self.hooks.reboot()

    def wait_for_boot_completion(self) -> None:
        while True:
            state = self.get_registry_value(SYSPREP_KEY, "GeneralizationState")
            if state is None:
                LOG.debug("SysprepStatus registry key not found, skipping the wait")
                return
            if state == SYSPREP_DONE:
                return
            LOG.info("Waiting for sysprep completion. GeneralizationState: %s", state)
            self.sleep(1)
            self.state.sysprep_remaining_s -= 1
            if self.state.sysprep_remaining_s <= 0:
                self.state.registry.set_value(
                    SYSPREP_KEY, "GeneralizationState", SYSPREP_DONE, RegType.REG_DWORD
                )

    # --- OS information ----------------------------------------------------------------------

    def get_os_version(self) -> dict[str, Any]:
        version = self.state.version
        return {
            "major_version": version.major,
            "minor_version": version.minor,
            "build_number": version.build,
            "platform_id": 2,
            "csd_version": "",
            "service_pack_major": 0,
            "service_pack_minor": 0,
            "suite_mask": 0x110,
            "product_type": version.product_type,
        }

    def is_client_os(self) -> bool:
        return self.state.version.product_type == 1

    def get_system32_dir(self) -> str:
        return "C:\\Windows\\system32"

    def get_sysnative_dir(self) -> str:
        return "C:\\Windows\\sysnative"

    def get_syswow64_dir(self) -> str:
        return "C:\\Windows\\syswow64"

    def check_sysnative_dir_exists(self) -> bool:
        # The simulated agent is a 64-bit process, so the alias does not exist for it.
        return False

    def is_wow64(self) -> bool:
        return False


__all__ = ["FakeOSUtils", "LogonToken", "MachineHooks"]
