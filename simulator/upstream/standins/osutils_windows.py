"""``cloudbaseinit.osutils.windows``: upstream's OS-utilities object, over the fake Windows.

guestsim's own agent was written against the same interface (method names, arguments,
return shapes), so the adapter hands each call to the fake Windows of the running process;
only what upstream reaches for beyond that interface is translated here.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from guestsim.agent import osutils as interface
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

# The methods of upstream's OS-utilities interface (its base and Windows classes).
UPSTREAM_METHODS = frozenset(
    {
        "add_network_team_nic", "add_static_route", "add_user_to_local_group",
        "change_password_next_logon", "check_dotnet_is_installed", "check_os_version",
        "check_service_exists", "check_static_route_exists", "check_sysnative_dir_exists",
        "close_user_logon_session", "create_group", "create_network_team", "create_service",
        "create_user", "create_user_logon_session", "delete_service", "enable_network_adapter",
        "enable_trim", "enum_users", "execute_powershell_script", "execute_process",
        "execute_process_as_user", "execute_system32_process", "firewall_create_rule",
        "firewall_remove_rule", "generate_random_password", "get_cdrom_drives",
        "get_config_value", "get_current_user", "get_default_gateway",
        "get_default_script_exec_header", "get_dhcp_hosts_in_use", "get_file_version",
        "get_logical_drives", "get_mac_address_by_local_ip", "get_maximum_password_length",
        "get_network_adapter_name_by_mac_address", "get_network_adapters", "get_os_version",
        "get_page_files", "get_physical_disks", "get_service_start_mode",
        "get_service_status", "get_service_username", "get_sysnative_dir",
        "get_system32_dir", "get_syswow64_dir", "get_user_home", "get_user_sid",
        "get_volume_label", "get_volume_path_names_by_mount_point", "get_volumes",
        "group_exists", "is_builtin_admin", "is_client_os", "is_nano_server",
        "is_real_time_clock_utc", "is_wow64", "reboot", "remove_network_team",
        "rename_network_adapter", "rename_user", "reset_service_password",
        "sanitize_shell_input", "set_config_value", "set_host_name",
        "set_network_adapter_mtu", "set_ntp_client_config", "set_page_files",
        "set_path_admin_acls", "set_real_time_clock_utc", "set_service_credentials",
        "set_service_start_mode", "set_static_network_config", "set_timezone",
        "set_user_info", "set_user_password", "start_service", "stop_service",
        "take_path_ownership", "terminate", "user_exists", "wait_for_boot_completion",
    }
)  # fmt: skip


def _raising_upstream_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` raising upstream's "not found" exception where the fake raises its own:
    upstream's plugins catch that one (a page file's missing mount point, an absent
    ephemeral disk) and go on."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except interface.ItemNotFound as ex:
            # The session's own module: the class upstream's code catches in this run.
            exception = importlib.import_module("cloudbaseinit.exception")
            raise exception.ItemNotFoundException(str(ex)) from ex

    return call


class WindowsUtils:
    """Upstream's ``WindowsUtils``: every call goes to the fake Windows of the process."""

    SERVICE_STATUS_STOPPED = interface.SERVICE_STATUS_STOPPED
    SERVICE_STATUS_START_PENDING = interface.SERVICE_STATUS_START_PENDING
    SERVICE_STATUS_STOP_PENDING = interface.SERVICE_STATUS_STOP_PENDING
    SERVICE_STATUS_RUNNING = interface.SERVICE_STATUS_RUNNING
    SERVICE_STATUS_CONTINUE_PENDING = interface.SERVICE_STATUS_CONTINUE_PENDING
    SERVICE_STATUS_PAUSE_PENDING = interface.SERVICE_STATUS_PAUSE_PENDING
    SERVICE_STATUS_PAUSED = interface.SERVICE_STATUS_PAUSED
    SERVICE_STATUS_UNKNOWN = interface.SERVICE_STATUS_UNKNOWN
    SERVICE_START_MODE_AUTOMATIC = interface.SERVICE_START_MODE_AUTOMATIC
    SERVICE_START_MODE_MANUAL = interface.SERVICE_START_MODE_MANUAL
    SERVICE_START_MODE_DISABLED = interface.SERVICE_START_MODE_DISABLED
    PROTOCOL_TCP = interface.PROTOCOL_TCP
    PROTOCOL_UDP = interface.PROTOCOL_UDP
    LOGON32_LOGON_INTERACTIVE = interface.LOGON32_LOGON_INTERACTIVE
    LOGON32_LOGON_BATCH = interface.LOGON32_LOGON_BATCH
    LOGON32_LOGON_SERVICE = interface.LOGON32_LOGON_SERVICE

    def __init__(self) -> None:
        self._os = guest.current().osutils

    def __getattr__(self, name: str) -> Any:
        if name in UPSTREAM_METHODS:
            return _raising_upstream_errors(getattr(self._os, name))
        raise NotModelled(f"upstream agent uses osutils.{name}")

    def wait_for_boot_completion(self) -> None:
        # Upstream's first OS call after logging its version: where guestsim's agent
        # reports that it started.
        guest.current().events("agent_start", version=guest.current().version)
        self._os.wait_for_boot_completion()

    def reboot(self) -> None:
        guest.current().events("reboot_requested")
        self._os.reboot()
