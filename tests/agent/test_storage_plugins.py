"""Storage plugins on a whole guest: ExtendVolumes, PageFiles, SANPolicy, TRIM, EphemeralDisk.

Every test boots a :class:`guestsim.simulator.machine.Machine` (OpenStack, or Azure for the
ephemeral disk's data-loss warning) and asserts what a user of the guest would see: volume sizes and
the partition table, the registry, files on the ephemeral disk, reboots, the ``plugin_end``
events (status, reboot flag, success) and the agent's log lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.plugins import registry
from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.agent.plugins.ephemeraldisk import EphemeralDiskPlugin
from guestsim.agent.plugins.extendvolumes import ExtendVolumesPlugin
from guestsim.agent.plugins.pagefiles import PageFilesPlugin
from guestsim.agent.plugins.sanpolicy import SANPolicyPlugin
from guestsim.agent.plugins.trim import TrimConfigPlugin
from guestsim.agent.windows.storage import SAN_POLICY_OFFLINE, SAN_POLICY_ONLINE
from guestsim.simulator.clouds import DocumentSource, attach_to_machine, build_clouds
from guestsim.simulator.clouds.azure import DEFAULT_ROLE_INSTANCE_ID
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Volume
from guestsim.simulator.windows.registry import RegistryError, RegType
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from guestsim.simulator.windows.storage import (
    GIB,
    MIB,
    SECTOR,
    SYSTEM_DISK_SIZE,
    SYSTEM_PARTITION_SIZE,
    attach_ntfs_disk,
    mount_volume,
)
from guestsim.simulator.windows.volumes import (
    DISABLE_DELETE_NOTIFICATION,
    FILE_SYSTEM_KEY,
    MEMORY_MANAGEMENT_KEY,
    PAGING_FILES,
    PARTMGR_PARAMETERS_KEY,
    SAN_POLICY,
)
from tests.builders import INSTANCE_ID, openstack_machine, register_metadata_service

P = "cloudbaseinit.plugins."
EXTEND = f"{P}windows.extendvolumes.ExtendVolumesPlugin"
PAGE_FILES = f"{P}windows.pagefiles.PageFilesPlugin"
SAN = f"{P}windows.sanpolicy.SANPolicyPlugin"
TRIM = f"{P}common.trim.TrimConfigPlugin"
EPHEMERAL = f"{P}common.ephemeraldisk.EphemeralDiskPlugin"
HOSTNAME = "hostname"  # asks for one reboot, so a second boot shows what re-runs
AZURE_SERVICE = "cloudbaseinit.metadata.services.azureservice.AzureService"
WARNING_FILE = "DATALOSS_WARNING_README.txt"
WARNING = (bundled("fixtures") / "clouds" / "azure" / WARNING_FILE).read_bytes()
C_END = SYSTEM_DISK_SIZE - MIB  # C: once it fills disk 0
VOLUME_1 = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1"
VOLUME_2 = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume2"


# --- helpers -----------------------------------------------------------------------------------


def run(
    plugins: Sequence[str],
    options: Mapping[str, Any] | None = None,
    state: WindowsState | None = None,
) -> RunResult:
    machine, _ = openstack_machine(plugins, options, state=state)
    return machine.run()


def ends(result: RunResult, plugin: str) -> list[Event]:
    return [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]


def outcomes(result: RunResult, plugin: str) -> list[tuple[Any, Any, Any]]:
    """(boot, status, reboot) of each successful run of the plugin."""
    runs = ends(result, plugin)
    assert all(e.get("success") is True for e in runs), runs
    return [(e.boot, e.get("status"), e.get("reboot")) for e in runs]


def os_calls(result: RunResult, call: str) -> list[Event]:
    return [e for e in result.trace.of_kind("os") if e.get("call") == call]


def stored_status(result: RunResult, plugin: str, instance_id: str = INSTANCE_ID) -> object:
    key = f"{AGENT_KEY}\\{instance_id}\\Plugins"
    if not result.state.registry.key_exists(key):
        return None
    return {n.lower(): v.data for n, v in result.state.registry.values(key)}.get(plugin.lower())


def registry_value(state: WindowsState, key: str, name: str) -> object:
    try:
        return state.registry.get_value(key, name).data
    except RegistryError:
        return None


def logged(result: RunResult, fragment: str) -> list[str]:
    return [line for line in result.log if fragment in line]


def volume(state: WindowsState, letter: str) -> Volume:
    return next(v for v in state.volumes if v.letter == letter)


def mbr_sectors(state: WindowsState, disk: int) -> int:
    return int.from_bytes(state.disks[disk].read(446 + 12, 4), "little")


def skipped_for_os_version(result: RunResult, plugin: str) -> bool:
    return any(
        e.get("plugin") == plugin and e.get("reason") == "os_version"
        for e in result.trace.of_kind("plugin_skipped")
    )


def old_windows(major: int, minor: int) -> WindowsState:
    state = default_windows_state()
    state.version.major, state.version.minor, state.version.build = major, minor, 0
    return state


# --- registration and requirements -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cls", "minimum"),
    [
        (EXTEND, ExtendVolumesPlugin, (5, 2)),
        (PAGE_FILES, PageFilesPlugin, (5, 2)),
        (SAN, SANPolicyPlugin, (6, 1)),
        (TRIM, TrimConfigPlugin, (6, 1)),
        (EPHEMERAL, EphemeralDiskPlugin, (5, 2)),
    ],
)
def test_upstream_paths_load_the_plugins_with_their_os_requirements(
    path: str, cls: type[Any], minimum: tuple[int, int]
) -> None:
    assert registry.load_plugin_class(path) is cls
    assert cls.os_requirements == ("win32", minimum)
    assert cls.execution_stage == "MAIN"
    assert cls.__name__ == path.rsplit(".", 1)[1]


@pytest.mark.parametrize(
    ("path", "plugin", "version"),
    [
        (EXTEND, "ExtendVolumesPlugin", (5, 1)),
        (PAGE_FILES, "PageFilesPlugin", (5, 1)),
        (SAN, "SANPolicyPlugin", (6, 0)),
        (TRIM, "TrimConfigPlugin", (6, 0)),
        (EPHEMERAL, "EphemeralDiskPlugin", (5, 1)),
    ],
)
def test_below_the_minimum_windows_version_the_plugin_is_skipped(
    path: str, plugin: str, version: tuple[int, int]
) -> None:
    result = run((path,), {"san_policy": "OnlineAll"}, state=old_windows(*version))
    assert ends(result, plugin) == []
    assert skipped_for_os_version(result, plugin)
    changes = {"extend_volume", "set_page_files", "set_san_policy", "enable_trim", "write_file"}
    assert [e for e in result.trace.of_kind("os") if e.get("call") in changes] == []


# --- ExtendVolumesPlugin -----------------------------------------------------------------------


def test_extend_volumes_fills_the_system_disk_and_runs_again_every_boot() -> None:
    result = run((EXTEND, HOSTNAME))

    assert result.boot_count == 2
    # NEXT_BOOT, never a reboot: it runs on both boots (§10 item 18).
    assert outcomes(result, "ExtendVolumesPlugin") == [
        (1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
        (2, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
    ]
    assert stored_status(result, "ExtendVolumesPlugin") == PLUGIN_EXECUTE_ON_NEXT_BOOT
    c = volume(result.state, "C")
    assert (c.offset, c.size) == (MIB, C_END)
    assert mbr_sectors(result.state, 0) == C_END // SECTOR
    # Only the first boot finds free space; the second has nothing to do.
    assert [(e.boot, e.get("volume")) for e in os_calls(result, "extend_volume")] == [(1, VOLUME_1)]
    free = C_END - SYSTEM_PARTITION_SIZE
    assert logged(result, "INFO agent.windows.storage: Extending volume") == [
        f'boot 1 INFO agent.windows.storage: Extending volume "{VOLUME_1}" with {free} bytes'
    ]


@pytest.mark.parametrize(
    ("volumes_to_extend", "grown"),
    [(None, {"C", "E"}), ("", {"C", "E"}), ("2", {"E"}), ("1", {"C"}), ("1, 2", {"C", "E"})],
)
def test_volumes_to_extend_selects_volumes_by_their_harddisk_volume_number(
    volumes_to_extend: str | None, grown: set[str]
) -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Data", letter="E", partition_size=GIB)
    options = {} if volumes_to_extend is None else {"volumes_to_extend": volumes_to_extend}

    result = run((EXTEND,), options, state=state)

    assert outcomes(result, "ExtendVolumesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    sizes = {"C": volume(result.state, "C").size, "E": volume(result.state, "E").size}
    assert sizes == {
        "C": C_END if "C" in grown else SYSTEM_PARTITION_SIZE,
        "E": 8 * GIB - MIB if "E" in grown else GIB,
    }
    names = {e.get("volume") for e in os_calls(result, "extend_volume")}
    assert names == {VOLUME_1 if letter == "C" else VOLUME_2 for letter in grown}


def test_on_nano_server_wsm_resizes_partitions() -> None:
    state = default_windows_state()
    state.version.nano_server = True

    result = run((EXTEND,), {"volumes_to_extend": "1"}, state=state)

    assert outcomes(result, "ExtendVolumesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert volume(result.state, "C").size == C_END
    assert [e.get("manager") for e in os_calls(result, "extend_volume")] == ["WSM"]
    assert logged(result, f'Extending partition "1" to {C_END} bytes')


def test_extend_volumes_with_no_free_space_still_returns_next_boot() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, GIB, "Full", letter="E")  # its partition fills the disk

    result = run((EXTEND,), {"volumes_to_extend": "2"}, state=state)

    assert outcomes(result, "ExtendVolumesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert os_calls(result, "extend_volume") == []
    assert volume(result.state, "C").size == SYSTEM_PARTITION_SIZE


# --- PageFilesPlugin ---------------------------------------------------------------------------


def test_page_file_on_the_labelled_volume_asks_for_one_reboot_then_reruns_quietly() -> None:
    result = run((PAGE_FILES,), {"page_file_volume_labels": "WINDOWS"})  # C: is "Windows"

    assert result.boot_count == 2
    assert [b.reboot_requested_by for b in result.boots] == ["PageFilesPlugin", None]
    assert outcomes(result, "PageFilesPlugin") == [
        (1, PLUGIN_EXECUTE_ON_NEXT_BOOT, True),
        (2, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
    ]
    assert stored_status(result, "PageFilesPlugin") == PLUGIN_EXECUTE_ON_NEXT_BOOT
    assert registry_value(result.state, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == [
        "C:\\pagefile.sys 0 0"
    ]
    assert [e.boot for e in os_calls(result, "set_page_files")] == [1]


def test_page_files_by_mount_point_and_label_are_one_sorted_set() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Scratch", letter="F")
    attach_ntfs_disk(state, 8 * GIB, "Swap", letter="E")
    mount_volume(state, volume(state, "E"), "C:\\mnt\\swap")
    options = {
        "page_file_volume_mount_points": "C:\\mnt\\swap, Z:\\, F:",
        "page_file_volume_labels": "swap, windows",
    }

    result = run((PAGE_FILES,), options, state=state)

    # E: is found both ways but listed once; Z: does not exist and is only logged.
    assert registry_value(result.state, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == [
        "C:\\pagefile.sys 0 0",
        "E:\\pagefile.sys 0 0",
        "F:\\pagefile.sys 0 0",
    ]
    assert logged(result, "INFO agent.plugins.pagefiles: Mount point not found: Z:\\")
    assert outcomes(result, "PageFilesPlugin")[0] == (1, PLUGIN_EXECUTE_ON_NEXT_BOOT, True)


def test_a_volume_mounted_only_on_a_folder_gets_its_page_file_there() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Swap")
    mount_volume(state, state.volumes[-1], "C:\\swap")

    result = run((PAGE_FILES,), {"page_file_volume_mount_points": "C:\\swap"}, state=state)

    assert registry_value(result.state, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == [
        "C:\\swap\\pagefile.sys 0 0"
    ]


def test_no_page_file_volume_found_changes_nothing() -> None:
    result = run((PAGE_FILES,), {"page_file_volume_labels": "nosuchlabel"})

    assert result.boot_count == 1
    assert outcomes(result, "PageFilesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert registry_value(result.state, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == ["?:\\pagefile.sys"]
    assert os_calls(result, "set_page_files") == []
    assert logged(result, "No page file volume found, skipping configuration")


def test_page_files_already_as_wanted_need_no_reboot() -> None:
    state = default_windows_state()
    state.registry.set_value(
        MEMORY_MANAGEMENT_KEY, PAGING_FILES, ["C:\\pagefile.sys 0 0"], RegType.REG_MULTI_SZ
    )

    result = run((PAGE_FILES,), {"page_file_volume_labels": "windows"}, state=state)

    assert result.boot_count == 1
    assert outcomes(result, "PageFilesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert os_calls(result, "set_page_files") == []


def test_an_unreadable_page_file_configuration_fails_the_plugin() -> None:
    state = default_windows_state()
    state.registry.delete_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES)

    result = run((PAGE_FILES,), {"page_file_volume_labels": "windows"}, state=state)

    (end,) = ends(result, "PageFilesPlugin")
    assert end.get("success") is False
    assert stored_status(result, "PageFilesPlugin") is None
    assert result.boot_count == 1
    assert os_calls(result, "set_page_files") == []


# --- SANPolicyPlugin ---------------------------------------------------------------------------


def test_san_policy_online_all_is_set_through_vds() -> None:
    result = run((SAN,), {"san_policy": "OnlineAll"})

    assert outcomes(result, "SANPolicyPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert stored_status(result, "SANPolicyPlugin") == PLUGIN_EXECUTION_DONE
    assert registry_value(result.state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) == SAN_POLICY_ONLINE
    assert [(e.get("manager"), e.get("policy")) for e in os_calls(result, "set_san_policy")] == [
        ("VDS", SAN_POLICY_ONLINE)
    ]
    assert logged(result, "INFO agent.plugins.sanpolicy: SAN policy set to: OnlineAll")


def test_san_policy_offline_all_is_set_through_vds() -> None:
    result = run((SAN,), {"san_policy": "OfflineAll"})
    assert registry_value(result.state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) == SAN_POLICY_OFFLINE


def test_the_default_offline_shared_policy_is_not_written_again() -> None:
    # No SanPolicy value reads as OfflineShared, so there is nothing to change.
    result = run((SAN,), {"san_policy": "OfflineShared"})

    assert outcomes(result, "SANPolicyPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert os_calls(result, "set_san_policy") == []
    assert registry_value(result.state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) is None


def test_without_san_policy_the_plugin_does_nothing() -> None:
    result = run((SAN,))
    assert outcomes(result, "SANPolicyPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert os_calls(result, "set_san_policy") == []


def test_on_nano_server_only_online_all_can_be_set() -> None:
    state = default_windows_state()
    state.version.nano_server = True

    result = run((SAN,), {"san_policy": "OfflineAll"}, state=state)

    (end,) = ends(result, "SANPolicyPlugin")
    assert end.get("success") is False
    assert stored_status(result, "SANPolicyPlugin") is None
    assert registry_value(result.state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) is None


def test_on_nano_server_online_all_is_set_through_wsm() -> None:
    state = default_windows_state()
    state.version.nano_server = True

    result = run((SAN,), {"san_policy": "OnlineAll"}, state=state)

    assert outcomes(result, "SANPolicyPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert [e.get("manager") for e in os_calls(result, "set_san_policy")] == ["WSM"]
    assert registry_value(result.state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) == SAN_POLICY_ONLINE


# --- TrimConfigPlugin --------------------------------------------------------------------------


def test_trim_with_the_default_option_turns_trim_off() -> None:
    # trim_enabled defaults to False: listing the plugin alone disables TRIM.
    result = run((TRIM,))

    assert outcomes(result, "TrimConfigPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert stored_status(result, "TrimConfigPlugin") == PLUGIN_EXECUTION_DONE
    assert registry_value(result.state, FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION) == 1
    assert logged(result, "INFO agent.plugins.trim: TRIM enabled status: False")


def test_trim_enabled_turns_trim_on() -> None:
    state = default_windows_state()
    state.registry.set_value(FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION, 1, RegType.REG_DWORD)

    result = run((TRIM,), {"trim_enabled": True}, state=state)

    assert registry_value(result.state, FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION) == 0
    assert [e.get("enable") for e in os_calls(result, "enable_trim")] == [True]
    assert logged(result, "TRIM enabled status: True")


# --- EphemeralDiskPlugin -----------------------------------------------------------------------


def azure_machine(
    options: Mapping[str, Any], state: WindowsState, plugins: Sequence[str] = (EPHEMERAL,)
) -> Machine:
    """An Azure guest; its provisioning drive (with the data-loss warning) is E:."""
    source = DocumentSource("azure", {"type": "azure", "provisioning_drive": {"letter": "E"}})
    attach_to_machine(state, source)
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [AZURE_SERVICE], "plugins": list(plugins), **options}},
        "test",
    )
    wireserver = {245: ipaddress.IPv4Address("168.63.129.16").packed}
    return Machine(
        conf,
        state=state,
        clouds=build_clouds(source),
        dhcp_servers=[DhcpServer("10.0.0.1", wireserver)],
    )


def azure_state() -> WindowsState:
    """Azure's resource disk: an NTFS volume labelled "Temporary Storage" on D:."""
    state = default_windows_state()
    attach_ntfs_disk(state, 16 * GIB, "Temporary Storage", letter="D")
    return state


def test_on_azure_the_warning_is_written_to_the_volume_found_by_label() -> None:
    options = {
        "ephemeral_disk_volume_label": "temporary storage",
        "ephemeral_disk_data_loss_warning_path": WARNING_FILE,
    }

    result = azure_machine(options, azure_state()).run()

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert (
        stored_status(result, "EphemeralDiskPlugin", DEFAULT_ROLE_INSTANCE_ID)
        == PLUGIN_EXECUTION_DONE
    )
    assert result.state.files.read(f"D:\\{WARNING_FILE}") == WARNING
    assert [e.get("path") for e in os_calls(result, "write_file")] == [f"D:\\{WARNING_FILE}"]


def test_the_mount_point_wins_over_the_label() -> None:
    state = azure_state()
    attach_ntfs_disk(state, 16 * GIB, "Other", letter="F")
    options = {
        "ephemeral_disk_volume_mount_point": "F:\\",
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, state).run()

    assert result.state.files.read("F:\\README.txt") == WARNING
    assert not result.state.files.exists("D:\\README.txt")


def test_a_missing_mount_point_falls_back_to_the_label() -> None:
    options = {
        "ephemeral_disk_volume_mount_point": "C:\\mnt\\nothing",
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, azure_state()).run()

    assert result.state.files.read("D:\\README.txt") == WARNING
    assert logged(result, "DEBUG agent.plugins.ephemeraldisk: Ephemeral disk mount point not found")


def test_a_volume_mounted_on_a_folder_gets_the_warning_there() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 16 * GIB, "Temporary Storage")
    mount_volume(state, state.volumes[-1], "C:\\resource")
    options = {
        "ephemeral_disk_volume_mount_point": "C:\\resource",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, state).run()

    assert result.state.files.read("C:\\resource\\README.txt") == WARNING


def test_no_matching_volume_writes_nothing() -> None:
    options = {
        "ephemeral_disk_volume_label": "no such label",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, azure_state()).run()

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert os_calls(result, "write_file") == []
    assert logged(result, "INFO agent.plugins.ephemeraldisk: Ephemeral disk volume not found")


def test_without_a_warning_path_nothing_is_written() -> None:
    result = azure_machine(
        {"ephemeral_disk_volume_label": "Temporary Storage"}, azure_state()
    ).run()

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert os_calls(result, "write_file") == []


def test_a_service_without_a_warning_ends_the_plugin_at_once() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 16 * GIB, "Temporary Storage", letter="D")
    options = {
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = run((EPHEMERAL,), options, state=state)  # OpenStack: no warning

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert not result.state.files.exists("D:\\README.txt")
    assert os_calls(result, "write_file") == []


class EmptyWarningService(OpenStackHttpService):
    """OpenStack, but it has an (empty) ephemeral disk warning."""

    def get_ephemeral_disk_data_loss_warning(self) -> bytes:
        return b""


def test_an_empty_warning_is_written_as_an_empty_file(monkeypatch: pytest.MonkeyPatch) -> None:
    service = register_metadata_service(monkeypatch, EmptyWarningService)
    state = default_windows_state()
    attach_ntfs_disk(state, 16 * GIB, "Temporary Storage", letter="D")
    options = {
        "metadata_services": [service],
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = run((EPHEMERAL,), options, state=state)

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert result.state.files.read("D:\\README.txt") == b""


def test_a_warning_path_in_a_missing_folder_fails_the_plugin() -> None:
    options = {
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "no\\such\\folder\\README.txt",
    }

    result = azure_machine(options, azure_state()).run()

    (end,) = ends(result, "EphemeralDiskPlugin")
    assert end.get("success") is False
    assert stored_status(result, "EphemeralDiskPlugin", DEFAULT_ROLE_INSTANCE_ID) is None
