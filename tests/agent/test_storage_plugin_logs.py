"""What the storage plugins tell an operator, line by line, and what they ask Windows for.

PageFiles, EphemeralDisk, SANPolicy and TRIM each log the decision they took (the volumes
chosen, the file written, the policy set); these tests pin every log line of the plugin's
module for the paths an image builder meets, and the whole OS call the plugin made.
"""

from __future__ import annotations

from typing import Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.agent.windows.storage import SAN_POLICY_OFFLINE
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.storage import GIB, attach_ntfs_disk, mount_volume
from tests.agent.test_storage_plugins import (
    EPHEMERAL,
    EXTEND,
    PAGE_FILES,
    SAN,
    TRIM,
    WARNING,
    azure_machine,
    azure_state,
    outcomes,
    run,
    volume,
)
from tests.builders import module_log


def os_events(result: RunResult, *calls: str) -> list[dict[str, Any]]:
    return [dict(e.fields) for e in result.trace.of_kind("os") if e.get("call") in calls]


# --- PageFilesPlugin ---------------------------------------------------------------------------


def test_page_files_log_the_missing_mount_point_and_the_configuration_set() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Scratch", letter="F")
    attach_ntfs_disk(state, 8 * GIB, "Swap", letter="E")
    mount_volume(state, volume(state, "E"), "C:\\mnt\\swap")
    options = {
        "page_file_volume_mount_points": "C:\\mnt\\swap, Z:\\, F:",
        "page_file_volume_labels": "swap, windows",
        "allow_reboot": False,
    }

    result = run((PAGE_FILES,), options, state=state)

    assert outcomes(result, "PageFilesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, True)]
    assert module_log(result, "pagefiles") == [
        "INFO Mount point not found: Z:\\",
        "INFO Page file configuration set: [('C:\\\\pagefile.sys', 0, 0), "
        "('E:\\\\pagefile.sys', 0, 0), ('F:\\\\pagefile.sys', 0, 0)]",
    ]


def test_no_page_file_volume_is_logged() -> None:
    result = run((PAGE_FILES,), {"page_file_volume_labels": "nosuchlabel"})

    assert module_log(result, "pagefiles") == [
        "INFO No page file volume found, skipping configuration"
    ]


# --- EphemeralDiskPlugin -----------------------------------------------------------------------


def test_ephemeral_disk_logs_the_fallback_to_the_label_and_the_file_written() -> None:
    options = {
        "ephemeral_disk_volume_mount_point": "C:\\mnt\\nothing",
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, azure_state()).run()

    assert module_log(result, "ephemeraldisk") == [
        "DEBUG Ephemeral disk mount point not found: C:\\mnt\\nothing",
        "DEBUG Writing the ephemeral disk data loss warning to: D:\\README.txt",
    ]
    assert result.state.files.read("D:\\README.txt") == WARNING


def test_ephemeral_disk_logs_a_volume_it_cannot_find() -> None:
    options = {
        "ephemeral_disk_volume_label": "no such label",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, azure_state()).run()

    assert module_log(result, "ephemeraldisk") == ["INFO Ephemeral disk volume not found"]


def test_ephemeral_disk_logs_a_service_without_a_warning() -> None:
    result = run((EPHEMERAL,), {"ephemeral_disk_volume_label": "Temporary Storage"})

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert module_log(result, "ephemeraldisk") == [
        "DEBUG The metadata service provides no ephemeral disk data loss warning"
    ]


# --- SANPolicyPlugin, TrimConfigPlugin, ExtendVolumesPlugin -----------------------------------


def test_san_policy_logs_the_policy_set_by_name() -> None:
    result = run((SAN,), {"san_policy": "OfflineAll"})

    assert module_log(result, "sanpolicy") == ["INFO SAN policy set to: OfflineAll"]
    assert [e["policy"] for e in os_events(result, "set_san_policy")] == [SAN_POLICY_OFFLINE]


def test_trim_logs_the_status_it_set() -> None:
    result = run((TRIM,), {"trim_enabled": True})

    assert module_log(result, "trim") == ["INFO TRIM enabled status: True"]
    assert os_events(result, "enable_trim") == [
        {"call": "enable_trim", "enable": True, "disabledeletenotify": 0}
    ]


def test_extend_volumes_itself_logs_nothing() -> None:
    result = run((EXTEND,), {"allow_reboot": False})

    assert outcomes(result, "ExtendVolumesPlugin") == [(1, PLUGIN_EXECUTE_ON_NEXT_BOOT, False)]
    assert module_log(result, "extendvolumes") == []
