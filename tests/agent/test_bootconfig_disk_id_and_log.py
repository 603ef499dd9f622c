"""BootStatusPolicyPlugin and BCDConfigPlugin: the exact disk id each kind of boot disk gets
from the scenario seed, the plugins' log lines and the errors they fail with.

Every test boots a whole machine; guest randomness comes from the seed, so the id a seed
gives is part of the replayable trace.
"""

from __future__ import annotations

import dataclasses

import pytest

from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.bootconfig import disk_signature
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.state import WindowsState
from tests.agent.test_platform_plugins import (
    BCD,
    BOOT_STATUS,
    commands,
    done,
    failed,
    os_calls,
    run,
)

BOOT_DISK = "\\\\.\\PHYSICALDRIVE0"
PREFIX = "boot 1 {level} agent.plugins.bootconfig: "
# What the seed-0 machine's random bytes make of the boot disk's id.
SEED_0_MBR_SIGNATURE = "D82C07CD"
SEED_0_GPT_GUID = "cd072cd8-be6f-4f62-ac4c-09c28206e7e3"
STORE_UNAVAILABLE = (
    "BootConfigError: bcdedit.exe failed with exit code 1.\n"
    "Output: The boot configuration data store could not be opened.\r\n"
    "The system cannot find the file specified.\r\n\nError: "
)


def plugin_log(result: RunResult) -> list[str]:
    return [line for line in result.log if " agent.plugins.bootconfig: " in line]


def line(level: str, message: str) -> str:
    return PREFIX.format(level=level) + message


def gpt_boot_disk() -> WindowsState:
    """The default machine with its boot disk turned into a GPT disk (protective MBR)."""
    state = default_windows_state()
    disk = state.disks[0]
    head = bytearray(disk.read(0, 1024))
    head[446 + 4] = 0xEE
    head[512:520] = b"EFI PART"
    state.disks[0] = dataclasses.replace(disk, data=bytes(head) + disk.data[1024:])
    return state


def test_mbr_boot_disk_gets_the_seeded_signature_and_it_is_logged() -> None:
    result = run(BCD)

    done(result, BCD)
    assert disk_signature(result.state.disks[0]) == SEED_0_MBR_SIGNATURE
    assert [
        (e.get("disk"), e.get("unique_id")) for e in os_calls(result, "set_disk_unique_id")
    ] == [(BOOT_DISK, SEED_0_MBR_SIGNATURE)]
    assert plugin_log(result) == [
        line("INFO", "Configuring the boot device"),
        line("INFO", f"Setting unique id {SEED_0_MBR_SIGNATURE} on disk: {BOOT_DISK}"),
        line("INFO", "Setting boot configuration auto recovery: False"),
    ]


def test_gpt_boot_disk_gets_a_seeded_version_4_guid() -> None:
    # Writing a GPT disk GUID is not modelled by the fake Windows; the id chosen is logged
    # before the write is attempted.
    result = run(BCD, state=gpt_boot_disk())

    assert plugin_log(result) == [
        line("INFO", "Configuring the boot device"),
        line("INFO", f"Setting unique id {SEED_0_GPT_GUID} on disk: {BOOT_DISK}"),
    ]
    assert result.findings == [
        "boot 1: not modelled by the simulated Windows: OSUtils.set_disk_unique_id on a GPT disk"
    ]


def test_separate_system_volume_is_logged_and_leaves_the_disk() -> None:
    state = default_windows_state()
    state.boot_config.system_volume = "\\\\?\\Volume{00000000-0000-0000-0000-00000000beef}\\"

    result = run(BCD, {"bcd_enable_auto_recovery": True}, state=state)

    done(result, BCD)
    assert plugin_log(result) == [
        line("DEBUG", "Boot and system volumes found: []; not changing the boot disk"),
        line("INFO", "Setting boot configuration auto recovery: True"),
    ]
    assert commands(result, "bcdedit.exe") == []
    assert [e.get("enabled") for e in os_calls(result, "set_current_bcd_auto_recovery")] == [True]
    assert os_calls(result, "set_current_bcd_device_to_boot_partition") == []


def test_auto_recovery_that_does_not_stick_names_both_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A BCD store that reports the old value after the set claimed success.
    monkeypatch.setattr(FakeOSUtils, "get_current_bcd_auto_recovery", lambda self: True)

    result = run(BCD, {"set_unique_boot_disk_id": False})

    assert failed(result, BCD) == (
        "BootConfigError: Cannot set the boot configuration auto recovery to False: it is True"
    )
    # The set went through the store before the read-back disagreed.
    assert [e.get("enabled") for e in os_calls(result, "set_current_bcd_auto_recovery")] == [False]
    assert result.state.boot_config.current_entry["recoveryenabled"] == "No"


def test_bcd_config_fails_with_the_store_error_before_changing_anything() -> None:
    state = default_windows_state()
    state.boot_config.store_available = False

    result = run(BCD, {"set_unique_boot_disk_id": False}, state=state)

    assert failed(result, BCD) == (
        "OSUtilsError: The boot configuration data store could not be opened"
    )
    assert os_calls(result, "set_current_bcd_auto_recovery") == []
    assert result.state.boot_config.current_entry["recoveryenabled"] == "Yes"


def test_boot_status_policy_is_logged_and_its_failure_carries_bcdedit_output() -> None:
    options = {"bcd_boot_status_policy": "ignoreallfailures"}
    result = run(BOOT_STATUS, options)

    done(result, BOOT_STATUS)
    # Upstream's plugin says what it configures (INFO); the bcdedit helper what it sets
    # (DEBUG).
    assert plugin_log(result) == [
        line("INFO", "Configuring boot status policy: ignoreallfailures"),
        line("DEBUG", "Setting boot status policy: ignoreallfailures"),
    ]

    state = default_windows_state()
    state.boot_config.store_available = False
    broken = run(BOOT_STATUS, options, state=state)

    assert failed(broken, BOOT_STATUS) == STORE_UNAVAILABLE
