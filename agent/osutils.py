"""The OS boundary: everything the agent asks of the machine it runs on.

The agent never calls the host directly (no ``os``, ``platform``, ``socket``, ``time.sleep``,
``time.time``, ``datetime.now``, ``winreg`` ...). Whatever it needs from the guest, the
guest's clock included, goes through one object implementing :class:`OSUtils`. On a real
guest that is a Windows implementation; in guestsim it is
``guestsim.simulator.windows.FakeOSUtils``. Adding an OS capability means one method here, one
implementation in the fake Windows and one field in its state model.

Method names, arguments and return shapes follow the upstream agent's OS-utilities
interface so that behaviour described in terms of it maps one to one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from guestsim.agent.resources import ResourceLimits
from guestsim.agent.windows.bootconfig import BootConfiguration
from guestsim.agent.windows.licensing import LicensingManager
from guestsim.agent.windows.power import PowerSettings
from guestsim.agent.windows.rdp import RemoteDesktop
from guestsim.agent.windows.scripts import PythonModuleLoader
from guestsim.agent.windows.storage import StorageManager
from guestsim.agent.windows.updates import AutomaticUpdates
from guestsim.agent.windows.winrm import WinRMConfig
from guestsim.agent.windows.x509 import CertificateStore

# Service states and start modes, spelled as Windows reports them.
SERVICE_STATUS_STOPPED = "Stopped"
SERVICE_STATUS_START_PENDING = "Start Pending"
SERVICE_STATUS_STOP_PENDING = "Stop Pending"
SERVICE_STATUS_RUNNING = "Running"
SERVICE_STATUS_CONTINUE_PENDING = "Continue Pending"
SERVICE_STATUS_PAUSE_PENDING = "Pause Pending"
SERVICE_STATUS_PAUSED = "Paused"
SERVICE_STATUS_UNKNOWN = "Unknown"

SERVICE_START_MODE_AUTOMATIC = "Automatic"
SERVICE_START_MODE_MANUAL = "Manual"
SERVICE_START_MODE_DISABLED = "Disabled"
SERVICE_START_MODES = (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_MANUAL,
    SERVICE_START_MODE_DISABLED,
)

PROTOCOL_TCP = "TCP"
PROTOCOL_UDP = "UDP"

LOGON32_LOGON_INTERACTIVE = 2
LOGON32_LOGON_BATCH = 4
LOGON32_LOGON_SERVICE = 5

AGENT_SERVICE_NAME = "cloudbase-init"

ProcessResult = tuple[bytes, bytes, int]
"""``(stdout, stderr, exit_code)`` of a finished process."""


class OSUtilsError(Exception):
    """An OS call failed in a way the OS itself reports (access denied, bad argument ...)."""


class ItemNotFound(OSUtilsError):
    """The named user, group, adapter, service, volume or key does not exist."""


class InvalidState(OSUtilsError):
    """The request is not valid in the object's current state (e.g. an unknown start mode)."""


@runtime_checkable
class OSUtils(
    StorageManager,
    LicensingManager,
    WinRMConfig,
    CertificateStore,
    BootConfiguration,
    AutomaticUpdates,
    RemoteDesktop,
    PowerSettings,
    PythonModuleLoader,
    Protocol,
):
    """Every OS call the agent makes. One line per method states its contract.

    Windows features with their own state (storage manager, licensing, WinRM ...) are
    declared in :mod:`guestsim.agent.windows`, one Protocol each, and inherited here.
    """

    # --- the running process and the machine ---------------------------------------------

    def get_platform(self) -> str:
        """The guest's ``sys.platform`` value (``"win32"`` on Windows)."""
        ...

    def get_node_name(self) -> str:
        """The computer name currently in effect (what ``platform.node()`` reports)."""
        ...

    def get_python_executable(self) -> str:
        """Path of the interpreter running the agent (``sys.executable`` on the guest)."""
        ...

    def get_temp_dir(self) -> str:
        """The agent process's temporary folder (``%TEMP%``)."""
        ...

    def get_environment_variable(self, name: str) -> str | None:
        """The value of an environment variable of the agent process, or None."""
        ...

    def expand_environment_variables(self, value: str) -> str:
        """``value`` with every ``%NAME%`` replaced as ``ExpandEnvironmentStrings`` does."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the agent for ``seconds`` of guest time."""
        ...

    def utc_now(self) -> dt.datetime:
        """The guest's current time, in UTC (timezone-aware)."""
        ...

    def random_bytes(self, count: int) -> bytes:
        """``count`` bytes from the OS's cryptographic random generator."""
        ...

    def get_resource_limits(self) -> ResourceLimits:
        """What the agent may spend on guest-supplied input (memory, template work)."""
        ...

    # --- users and groups ------------------------------------------------------------------

    def user_exists(self, username: str) -> bool:
        """True if a local account with that name exists (case-insensitive)."""
        ...

    def create_user(self, username: str, password: str, password_expires: bool = False) -> None:
        """Create a normal local user; the password never expires unless asked; failure raises."""
        ...

    def rename_user(self, username: str, new_username: str) -> None:
        """Rename a local user; an unknown user raises ItemNotFound."""
        ...

    def set_user_info(
        self,
        username: str,
        full_name: str | None = None,
        disabled: bool = False,
        expire_interval: int | None = None,
    ) -> None:
        """Set full name (if given), enabled/disabled and expiry (epoch seconds, None = never)."""
        ...

    def enum_users(self) -> list[str]:
        """Names of the normal local accounts, in the order Windows enumerates them."""
        ...

    def is_builtin_admin(self, username: str) -> bool:
        """True if the account's SID ends in the built-in Administrator RID 500."""
        ...

    def set_user_password(
        self, username: str, password: str, password_expires: bool = False
    ) -> None:
        """Set the password and the never-expires flag accordingly; unknown user raises."""
        ...

    def change_password_next_logon(self, username: str) -> None:
        """Clear never-expires and mark the password expired so the next logon must change it."""
        ...

    def group_exists(self, group: str) -> bool:
        """True if a local group with that name exists."""
        ...

    def create_group(self, group: str, description: str | None = None) -> None:
        """Create a local group (the description is ignored, as on the real agent)."""
        ...

    def add_user_to_local_group(self, username: str, groupname: str) -> None:
        """Add a member; already a member is success; missing group or user raises."""
        ...

    def get_user_sid(self, username: str) -> str | None:
        """The account's SID string, or None if there is no such account."""
        ...

    def get_user_home(self, username: str) -> str | None:
        """The profile folder from ProfileList, or None if the user or profile is unknown."""
        ...

    def create_user_logon_session(
        self,
        username: str,
        password: str,
        domain: Any = ".",
        load_profile: bool = True,
        logon_type: int = LOGON32_LOGON_INTERACTIVE,
    ) -> object:
        """Log the user on (loading the profile, which creates it); returns a token."""
        ...

    def close_user_logon_session(self, token: object) -> None:
        """Close a token returned by create_user_logon_session."""
        ...

    def get_current_user(self) -> tuple[str, str]:
        """``(domain, user)`` of the account the agent process runs as."""
        ...

    def execute_process_as_user(
        self, token: object, args: Sequence[str], wait: bool = True, new_console: bool = False
    ) -> int | None:
        """Start a process with the token; its exit code when waiting, else None."""
        ...

    def generate_random_password(self, length: int) -> str:
        """A random password of ``length`` chars with a lower, an upper and a digit; <3 raises."""
        ...

    def get_maximum_password_length(self) -> int:
        """The longest password the OS accepts for local accounts (20 on Windows)."""
        ...

    def sanitize_shell_input(self, value: str) -> str:
        """``value`` with every double quote escaped as ``\\"``."""
        ...

    # --- hostname --------------------------------------------------------------------------

    def set_host_name(self, new_host_name: str) -> bool:
        """Set the physical DNS host name; returns True because it takes effect after reboot."""
        ...

    # --- network ---------------------------------------------------------------------------

    def get_network_adapters(self) -> list[tuple[str, str]]:
        """``(connection name, MAC)`` of every Ethernet adapter that has a MAC."""
        ...

    def get_dhcp_hosts_in_use(self) -> list[tuple[str, str, str]]:
        """``(friendly name, MAC, DHCP server IP)`` of DHCP-enabled adapters with a server."""
        ...

    def get_network_adapter_name_by_mac_address(self, mac_address: str) -> str:
        """Friendly name of the adapter with that MAC (case-insensitive); none raises."""
        ...

    def get_mac_address_by_local_ip(self, ip_addr: str) -> str | None:
        """Lower-case MAC of the adapter that holds that unicast address, or None."""
        ...

    def set_network_adapter_mtu(self, name: str, mtu: int) -> None:
        """Persistently set the IPv4 MTU of the named adapter; unknown name raises ItemNotFound."""
        ...

    def rename_network_adapter(self, old_name: str, new_name: str) -> None:
        """Rename a network connection."""
        ...

    def enable_network_adapter(self, name: str, enabled: bool) -> None:
        """Enable or disable the named adapter."""
        ...

    def set_static_network_config(
        self,
        name: str,
        address: str,
        prefix_len_or_netmask: str | int,
        gateway: str | None,
        dnsnameservers: Sequence[str] | None,
    ) -> bool | None:
        """Replace DHCP with a static address, gateway and DNS; returns whether reboot is needed."""
        ...

    def create_network_team(
        self,
        team_name: str,
        mode: str,
        load_balancing_algorithm: str | None,
        members: Sequence[str],
        mac_address: str | None,
        primary_nic_name: str | None = None,
        primary_nic_vlan_id: int | None = None,
        lacp_timer: str | None = None,
    ) -> None:
        """Create an LBFO team of the member adapters; no team manager raises ItemNotFound."""
        ...

    def add_network_team_nic(self, team_name: str, nic_name: str, vlan_id: int) -> None:
        """Add a VLAN-tagged team NIC to an existing team."""
        ...

    def get_default_gateway(self) -> tuple[int | None, str | None]:
        """``(interface index, gateway)`` of the IPv4 default route, or ``(None, None)``."""
        ...

    def check_static_route_exists(self, destination: str) -> bool:
        """True if an IPv4 route to exactly that destination exists."""
        ...

    def add_static_route(
        self,
        destination: str,
        mask: str,
        next_hop: str,
        interface_index: int | None,
        metric: int,
    ) -> None:
        """Add an IPv4 route (interface index and metric are ignored, as ``ROUTE ADD`` does)."""
        ...

    def firewall_create_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        """Open a port globally; ``allow=False`` or an unknown protocol is NotImplementedError."""
        ...

    def firewall_remove_rule(self, name: str, port: int, protocol: str, allow: bool = True) -> None:
        """Remove a globally opened port."""
        ...

    # --- disks and volumes -----------------------------------------------------------------

    def get_volume_label(self, drive: str) -> str | None:
        """The volume label of a drive root such as ``D:\\``, or None."""
        ...

    def get_volume_path_names_by_mount_point(self, mount_point: str) -> list[str]:
        """Path names (``D:\\``) of the volume mounted there; missing raises ItemNotFound."""
        ...

    def get_logical_drives(self) -> list[str]:
        """Drive roots in letter order, e.g. ``["C:\\", "D:\\"]``."""
        ...

    def get_cdrom_drives(self) -> list[str]:
        """The logical drives that are CD-ROM drives."""
        ...

    def get_physical_disks(self) -> list[str]:
        """Device paths ``\\\\.\\PHYSICALDRIVE<n>`` of every physical disk."""
        ...

    def get_volumes(self) -> list[str]:
        """Volume GUID paths of every volume."""
        ...

    def get_device_size(self, device_path: str) -> int:
        """Size in bytes of a physical disk or volume; an unknown device raises ItemNotFound."""
        ...

    def read_device(self, device_path: str, offset: int, length: int) -> bytes:
        """Raw bytes of a physical disk or volume; reads past the end return fewer bytes."""
        ...

    def enable_trim(self, enable: bool) -> None:
        """Turn TRIM (delete notifications) on or off."""
        ...

    def get_page_files(self) -> list[tuple[str, int, int]]:
        """Configured page files as ``(path, min MB, max MB)``."""
        ...

    def set_page_files(self, page_files: Sequence[tuple[str, int, int]]) -> None:
        """Replace the page file configuration (effective after reboot)."""
        ...

    def is_nano_server(self) -> bool:
        """True on a Nano Server installation."""
        ...

    # --- guest files -----------------------------------------------------------------------

    def path_exists(self, path: str) -> bool:
        """True if a file or folder exists at that guest path."""
        ...

    def is_dir(self, path: str) -> bool:
        """True if the guest path is a folder."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Entry names of a guest folder, sorted; a missing folder raises FileNotFoundError."""
        ...

    def make_dirs(self, path: str) -> None:
        """Create a guest folder and its parents; an existing folder is fine."""
        ...

    def read_file(self, path: str) -> bytes:
        """Contents of a guest file; a missing file raises FileNotFoundError."""
        ...

    def write_file(self, path: str, data: bytes, append: bool = False) -> None:
        """Create or overwrite (or append to) a guest file."""
        ...

    def remove_path(self, path: str) -> None:
        """Delete a guest file, or a folder with everything in it."""
        ...

    # --- services --------------------------------------------------------------------------

    def check_service_exists(self, service_name: str) -> bool:
        """True if the service is registered with the service control manager."""
        ...

    def get_service_status(self, service_name: str) -> str:
        """One of the ``SERVICE_STATUS_*`` strings."""
        ...

    def get_service_start_mode(self, service_name: str) -> str:
        """``Automatic``, ``Manual`` or ``Disabled``."""
        ...

    def set_service_start_mode(self, service_name: str, start_mode: str) -> None:
        """Change the start mode; an unknown mode raises InvalidState."""
        ...

    def start_service(self, service_name: str) -> None:
        """Ask the service control manager to start the service."""
        ...

    def stop_service(self, service_name: str, wait: bool = False) -> None:
        """Ask the service to stop; with ``wait``, poll until it is Stopped."""
        ...

    def create_service(
        self,
        service_name: str,
        display_name: str,
        path: str,
        start_mode: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        """Register an own-process service."""
        ...

    def delete_service(self, service_name: str) -> None:
        """Remove a service registration."""
        ...

    def set_service_credentials(self, service_name: str, username: str, password: str) -> None:
        """Change the account a service logs on as."""
        ...

    def get_service_username(self, service_name: str) -> str:
        """The service's logon account (``.\\cloudbase-init``, ``LocalSystem`` ...)."""
        ...

    def reset_service_password(self) -> tuple[str, str, str] | None:
        """Give the agent's local service account a fresh random password; see the run flow."""
        ...

    def terminate(self) -> None:
        """Stop the agent's own service after a short delay."""
        ...

    # --- configuration values (registry) ---------------------------------------------------

    def get_config_value(self, name: str, section: str | None = None) -> Any:
        """The agent's stored value (REG_DWORD int or REG_SZ str), or None when absent."""
        ...

    def set_config_value(self, name: str, value: Any, section: str | None = None) -> None:
        """Store a value: REG_DWORD for an ``int``, REG_SZ otherwise; keys are created."""
        ...

    def get_registry_value(self, key_path: str, value_name: str) -> Any:
        """A value under an ``HKLM\\...`` or ``HKU\\...`` path, or None when key/value is absent."""
        ...

    def set_registry_value(
        self, key_path: str, value_name: str, value: Any, value_type: str, create: bool = False
    ) -> None:
        """Write a value (``REG_SZ``/``REG_DWORD``/...); the key must exist unless ``create``."""
        ...

    # --- time ------------------------------------------------------------------------------

    def is_real_time_clock_utc(self) -> bool:
        """True if the hardware clock is kept in UTC (RealTimeIsUniversal != 0)."""
        ...

    def set_real_time_clock_utc(self, utc: bool) -> None:
        """Store whether the hardware clock is UTC (takes effect after reboot)."""
        ...

    def set_ntp_client_config(self, ntp_hosts: Sequence[str]) -> None:
        """Configure the Windows time service to sync manually from these peers."""
        ...

    def set_timezone(self, timezone: str) -> None:
        """Set the time zone from an IANA name; an unknown name raises."""
        ...

    # --- processes -------------------------------------------------------------------------

    def execute_process(
        self, args: Sequence[str], shell: bool = True, decode_output: bool = False
    ) -> ProcessResult:
        """Run a program and capture its output."""
        ...

    def execute_powershell_script(self, script_path: str, sysnative: bool = True) -> ProcessResult:
        """Run a PowerShell script file with the 64-bit (sysnative) or 32-bit interpreter."""
        ...

    def execute_system32_process(
        self,
        args: Sequence[str],
        shell: bool = True,
        decode_output: bool = False,
        sysnative: bool = True,
    ) -> ProcessResult:
        """Run a program from the system folder (``args[0]`` is its bare file name)."""
        ...

    def get_default_script_exec_header(self) -> str:
        """The header line that makes a script run with the default shell (``rem cmd``)."""
        ...

    # --- lifecycle -------------------------------------------------------------------------

    def reboot(self) -> None:
        """Restart the machine at once; failure raises."""
        ...

    def wait_for_boot_completion(self) -> None:
        """Return once sysprep has finished specialising this installation."""
        ...

    # --- OS information --------------------------------------------------------------------

    def get_os_version(self) -> dict[str, Any]:
        """``major_version, minor_version, build_number, product_type`` ... of the running OS."""
        ...

    def check_os_version(self, major: int, minor: int, build: int = 0) -> bool:
        """True iff the running OS version is at least ``(major, minor, build)``."""
        ...

    def is_client_os(self) -> bool:
        """True on a workstation edition (product type 1)."""
        ...

    def get_system32_dir(self) -> str:
        """``%windir%\\system32``."""
        ...

    def get_sysnative_dir(self) -> str:
        """``%windir%\\sysnative`` (the 64-bit system folder seen from a 32-bit process)."""
        ...

    def get_syswow64_dir(self) -> str:
        """``%windir%\\syswow64``."""
        ...

    def check_sysnative_dir_exists(self) -> bool:
        """True if the sysnative alias exists (a 32-bit process on a 64-bit OS)."""
        ...

    def is_wow64(self) -> bool:
        """True if the agent is a 32-bit process on a 64-bit OS."""
        ...

    def get_file_version(self, path: str) -> tuple[int, int, int, int]:
        """The four-part file version of an executable or DLL."""
        ...

    def check_dotnet_is_installed(self, version: str) -> bool:
        """True if .NET Framework of that major version (only ``"4"``) is installed."""
        ...

    def set_path_admin_acls(self, path: str) -> None:
        """Restrict a path to SYSTEM and Administrators (full control, inherited)."""
        ...

    def take_path_ownership(self, path: str, username: str | None = None) -> None:
        """Make Administrators own the path; a username raises NotImplementedError."""
        ...
