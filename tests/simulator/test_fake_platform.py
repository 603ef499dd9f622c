"""The fake Windows' platform features: services created and deleted, file versions, .NET,
the licensing service (WMI and slmgr.vbs), BCD and disk ids, power schemes, Windows Update
settings, and the system programs behind them (bcdedit, powercfg, logman, cscript).

Every test drives FakeOSUtils directly and asserts the resulting state, registry, trace
and the exit codes and output a real Windows program gives.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guestsim.agent.osutils import (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_MANUAL,
    SERVICE_STATUS_RUNNING,
    SERVICE_STATUS_STOPPED,
    InvalidState,
    ItemNotFound,
    OSUtilsError,
)
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.media import build_disk, build_image
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.bootconfig import disk_signature
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.licensing import (
    AVMA,
    INITIAL_GRACE,
    KMS_CLIENT,
    LICENSED,
    MAK,
    NOTIFICATION,
    RETAIL,
    SPP_KEY,
    release_of,
)
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.power import (
    POWER_SCHEMES_KEY,
    SCHEME_BALANCED,
    SCHEME_HIGH_PERFORMANCE,
    SUB_VIDEO,
    VIDEOIDLE,
)
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.software import (
    DOTNET_4_KEY,
    read_version_resource,
    version_resource,
)
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.storage import attach_disk
from guestsim.simulator.windows.updates import AUTO_UPDATE_KEY

SLMGR = "C:\\Windows\\system32\\slmgr.vbs"
GVLK_2019 = "WMDGN-G9PQG-XVVXX-R3X43-63DFG"
AVMA_2019 = "H3RNG-8C32Q-Q8FRX-6TDXV-WMBMW"
GVLK_2019_STANDARD = "N69G4-B89J2-4G8F4-WWYCC-J464C"


def make_os(state: WindowsState | None = None, seed: int = 0) -> tuple[FakeOSUtils, Trace]:
    def refuse(*_: object) -> NoReturn:
        raise AssertionError("not expected")

    trace = Trace()
    hooks = MachineHooks(
        sleep=lambda _: None, reboot=refuse, service_stopped=lambda _: None, run_as_user=refuse
    )
    osutils = FakeOSUtils(state or default_windows_state(), trace, random.Random(seed), hooks)
    return osutils, trace


@pytest.fixture
def osu() -> FakeOSUtils:
    return make_os()[0]


def calls(trace: Trace) -> list[str]:
    return [e.get("call") for e in trace.of_kind("os")]


def slmgr(osu: FakeOSUtils, *args: str) -> tuple[str, int]:
    out, err, code = osu.execute_system32_process(["cscript.exe", "//nologo", SLMGR, *args])
    assert err == b""
    return out.decode(), code


# --- services ------------------------------------------------------------------------------------


def test_create_service_registers_a_stopped_own_process_service() -> None:
    osu, trace = make_os()

    osu.create_service("RdAgent", "RdAgent", "C:\\A\\WaAppAgent.exe", SERVICE_START_MODE_MANUAL)

    service = osu.state.find_service("rdagent")
    assert service is not None
    assert (service.name, service.display_name, service.binary_path, service.account) == (
        "RdAgent",
        "RdAgent",
        "C:\\A\\WaAppAgent.exe",
        "LocalSystem",
    )
    assert osu.get_service_status("RdAgent") == SERVICE_STATUS_STOPPED
    assert osu.get_service_start_mode("RdAgent") == SERVICE_START_MODE_MANUAL
    assert calls(trace) == ["create_service"]


def test_created_automatic_service_starts_at_the_next_boot() -> None:
    osu, _ = make_os()
    osu.create_service("Svc", "Svc", "C:\\svc.exe", SERVICE_START_MODE_AUTOMATIC)

    osu.state.power_on()

    assert osu.get_service_status("Svc") == SERVICE_STATUS_RUNNING


def test_create_service_with_an_account_redacts_the_password() -> None:
    osu, trace = make_os()

    osu.create_service("Svc", "Svc", "C:\\svc.exe", SERVICE_START_MODE_MANUAL, ".\\svc", "S3cret!x")

    assert osu.get_service_username("Svc") == ".\\svc"
    assert "S3cret!x" not in trace.to_jsonl()
    assert trace.of_kind("os")[0].get("password") == "<redacted:8>"


def test_create_service_refusals(osu: FakeOSUtils) -> None:
    with pytest.raises(OSUtilsError, match="already exists"):
        osu.create_service("w32time", "Time", "C:\\x.exe", SERVICE_START_MODE_MANUAL)
    with pytest.raises(InvalidState):
        osu.create_service("New", "New", "C:\\x.exe", "Boot")
    assert osu.state.find_service("New") is None


def test_delete_service() -> None:
    osu, trace = make_os()

    osu.delete_service("W32TIME")

    assert not osu.check_service_exists("w32time")
    assert [(e.get("call"), e.get("service")) for e in trace.of_kind("os")] == [
        ("delete_service", "w32time")
    ]
    with pytest.raises(ItemNotFound):
        osu.delete_service("w32time")


def test_deleting_a_running_service_is_not_modelled(osu: FakeOSUtils) -> None:
    osu.start_service("WinRM")

    with pytest.raises(NotModelled, match="delete_service"):
        osu.delete_service("WinRM")

    osu.stop_service("WinRM", wait=True)
    osu.delete_service("WinRM")
    assert not osu.check_service_exists("WinRM")


# --- installed software --------------------------------------------------------------------------


@given(st.tuples(*(st.integers(0, 0xFFFF) for _ in range(4))))
def test_version_resource_round_trip(version: tuple[int, int, int, int]) -> None:
    assert read_version_resource(b"junk" + version_resource("x.dll", version) + b"tail") == version


def test_file_version_from_the_file_or_its_declaration(osu: FakeOSUtils) -> None:
    osu.write_file("C:\\app.dll", version_resource("app.dll", (1, 2, 3, 4)))
    osu.write_file("C:\\plain.dll", b"MZ nothing here")
    osu.state.software.file_versions["c:\\declared.exe"] = (5, 6, 7, 8)

    assert osu.get_file_version("C:\\APP.dll") == (1, 2, 3, 4)
    assert osu.get_file_version("C:\\Declared.exe") == (5, 6, 7, 8)
    with pytest.raises(OSUtilsError, match=r"\(1813\)"):
        osu.get_file_version("C:\\plain.dll")
    with pytest.raises(OSUtilsError, match=r"cannot find the file specified \(2\)"):
        osu.get_file_version("C:\\missing.dll")
    with pytest.raises(OSUtilsError, match=r"\(2\)"):
        osu.get_file_version("C:\\Windows")


@pytest.mark.parametrize(("install", "expected"), [(None, False), (0, False), (1, True)])
def test_dotnet_4_is_read_from_the_registry(install: int | None, expected: bool) -> None:
    osu, _ = make_os()
    osu.state.registry.delete_key(DOTNET_4_KEY)
    if install is not None:
        osu.state.registry.create_key(DOTNET_4_KEY)
        osu.state.registry.set_value(DOTNET_4_KEY, "Install", install, RegType.REG_DWORD)

    assert osu.check_dotnet_is_installed("4") is expected


def test_dotnet_only_version_4_can_be_checked(osu: FakeOSUtils) -> None:
    with pytest.raises(OSUtilsError, match="version 4"):
        osu.check_dotnet_is_installed("3.5")


# --- logman --------------------------------------------------------------------------------------


def test_logman_stops_and_deletes_data_collector_sets(osu: FakeOSUtils) -> None:
    software = osu.state.software
    software.data_collector_sets = {"GAEvents": True}
    software.trace_sessions = ["Metrics"]

    def logman(*args: str) -> int:
        return osu.execute_system32_process(["logman.exe", *args])[2]

    assert logman("stop", "gaevents") == 0
    assert software.data_collector_sets == {"GAEvents": False}
    assert logman("stop", "GAEvents") == 0x80300104
    assert logman("delete", "GAEvents") == 0
    assert logman("delete", "GAEvents") == 0x80300002
    assert logman("stop", "Nothing") == 0x80300002
    assert logman("-ets", "stop", "Metrics") == 0
    assert logman("stop", "Metrics", "-ets") == 0x80300002
    assert software.data_collector_sets == {}
    assert software.trace_sessions == []
    out = osu.execute_system32_process(["logman.exe", "stop", "x"])[0]
    assert b"Data Collector Set was not found." in out


def test_logman_unmodelled_uses(osu: FakeOSUtils) -> None:
    osu.state.software.data_collector_sets = {"Running": True}
    with pytest.raises(NotModelled):
        osu.execute_system32_process(["logman.exe", "delete", "Running"])
    with pytest.raises(NotModelled):
        osu.execute_system32_process(["logman.exe", "create", "trace", "x"])


# --- the licensing service: WMI ------------------------------------------------------------------


def test_fresh_windows_is_a_kms_client_in_its_grace_period(osu: FakeOSUtils) -> None:
    assert osu.get_kms_product() == (
        "Windows(R) Operating System, VOLUME_KMSCLIENT channel",
        "ServerDatacenter",
        True,
    )
    assert osu.state.licensing.license_status == INITIAL_GRACE


def test_installing_a_key_changes_the_current_product() -> None:
    osu, trace = make_os()
    osu.state.licensing.installed_channel = RETAIL
    osu.state.licensing.installed_key = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    assert osu.get_kms_product()[2] is False

    osu.set_product_key(GVLK_2019.lower())

    assert osu.get_kms_product()[2] is True
    assert osu.state.licensing.license_status == NOTIFICATION
    assert calls(trace) == ["set_product_key"]


@pytest.mark.parametrize("key", [GVLK_2019_STANDARD, "NOT-A-KEY", "CB7KF-BWN84-R7R2Y-793K2-8XDDG"])
def test_keys_of_other_editions_or_releases_are_refused(osu: FakeOSUtils, key: str) -> None:
    with pytest.raises(OSUtilsError, match="0xC004F050"):
        osu.set_product_key(key)
    assert osu.state.licensing.installed_channel == KMS_CLIENT


def test_other_keys_declared_for_the_installation_are_accepted(osu: FakeOSUtils) -> None:
    osu.state.licensing.other_keys = {"MMMMM-AAAAA-KKKKK-22222-33333": MAK}

    osu.set_product_key("MMMMM-AAAAA-KKKKK-22222-33333")

    assert osu.state.licensing.installed_channel == MAK
    assert osu.get_kms_product()[2] is False


def test_set_kms_host_writes_the_spp_registry_values(osu: FakeOSUtils) -> None:
    osu.set_kms_host("kms.test", "1700")
    osu.set_kms_host("kms2.test")

    licensing = osu.state.licensing
    assert (licensing.kms_host, licensing.kms_port) == ("kms2.test", 1700)
    registry = osu.state.registry
    assert registry.get_value(SPP_KEY, "KeyManagementServiceName").data == "kms2.test"
    assert registry.get_value(SPP_KEY, "KeyManagementServicePort").data == "1700"
    with pytest.raises(OSUtilsError, match="0x80070057"):
        osu.set_kms_host("kms.test", "99999")


@pytest.mark.parametrize(
    ("version", "edition"),
    [
        ((10, 0, 10240), "ServerDatacenter"),
        ((6, 0, 6002), "ServerDatacenter"),
        ((10, 0, 17763), "Professional"),
    ],
)
def test_unknown_releases_and_editions_are_not_modelled(
    version: tuple[int, int, int], edition: str
) -> None:
    state = default_windows_state()
    state.version.major, state.version.minor, state.version.build = version
    state.version.edition = edition
    osu, _ = make_os(state)

    with pytest.raises(NotModelled, match="licensing of Windows"):
        osu.get_kms_product()


def test_release_is_chosen_by_build() -> None:
    state = default_windows_state()
    for build, name in [(14393, "2016"), (17763, "2019"), (19000, "2019"), (20348, "2022")]:
        state.version.build = build
        assert release_of(state.version).name.endswith(name)


# --- the licensing service: slmgr.vbs ------------------------------------------------------------


def test_cscript_prints_its_banner_unless_nologo(osu: FakeOSUtils) -> None:
    with_banner = osu.execute_system32_process(["cscript.exe", SLMGR, "/dlv"])[0]
    without = osu.execute_system32_process(["cscript.exe", "//NoLogo", SLMGR, "/dlv"])[0]

    assert with_banner.startswith(b"Microsoft (R) Windows Script Host")
    assert with_banner.endswith(without)
    assert not without.startswith(b"Microsoft")


def test_slmgr_dlv_reports_the_installed_product(osu: FakeOSUtils) -> None:
    osu.set_kms_host("kms.test", 1689)

    out, code = slmgr(osu, "/dlv")

    assert code == 0
    assert "Name: Windows(R), ServerDatacenter edition\r\n" in out
    assert "Description: Windows(R) Operating System, VOLUME_KMSCLIENT channel\r\n" in out
    assert "Partial Product Key: 63DFG\r\n" in out
    assert "License Status: Initial grace period\r\n" in out
    assert "Registered KMS machine name: kms.test:1689\r\n" in out


def test_slmgr_ipk_and_skms(osu: FakeOSUtils) -> None:
    out, code = slmgr(osu, "-ipk", AVMA_2019)
    assert (out, code) == (f"Installed product key {AVMA_2019} successfully.\r\n", 0)
    assert osu.state.licensing.installed_channel == AVMA

    out, code = slmgr(osu, "/ipk", "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")
    assert code == 0xC004F050
    assert out.startswith("Error: 0xC004F050 The Software Licensing Service reported")

    out, code = slmgr(osu, "/skms", "kms.test:1700")
    assert (out, code) == (
        "Key Management Service machine name set to kms.test:1700 successfully.\r\n",
        0,
    )
    assert (osu.state.licensing.kms_host, osu.state.licensing.kms_port) == ("kms.test", 1700)

    _, code = slmgr(osu, "/skms", "[fd00::1]:1701")
    assert code == 0
    assert (osu.state.licensing.kms_host, osu.state.licensing.kms_port) == ("fd00::1", 1701)

    out, code = slmgr(osu, "/skms", "kms.test:abc")
    assert code == 0x80070057


def test_slmgr_ato_needs_a_reachable_kms_host(osu: FakeOSUtils) -> None:
    licensing = osu.state.licensing

    out, code = slmgr(osu, "/ato")
    assert code == 0xC004F074
    assert out.startswith(
        "Activating Windows(R), ServerDatacenter edition ...\r\nError: 0xC004F074"
    )

    # DNS auto-discovery finds a KMS host when none is configured.
    licensing.kms_dns_host = "kms.dns.test"
    licensing.kms_servers = {"KMS.DNS.test": 1688}
    out, code = slmgr(osu, "/ato")
    assert (code, licensing.license_status, licensing.activated_by) == (
        0,
        LICENSED,
        "kms.dns.test:1688",
    )
    assert out.endswith("Product activated successfully.\r\n")

    # A configured host is used instead, on its port.
    osu.set_kms_host("kms.conf.test", 1700)
    licensing.kms_servers["kms.conf.test"] = 1688
    assert slmgr(osu, "/ato")[1] == 0xC004F074
    licensing.kms_servers["kms.conf.test"] = 1700
    assert slmgr(osu, "/ato")[1] == 0


def test_slmgr_ato_with_avma_needs_an_avma_host(osu: FakeOSUtils) -> None:
    osu.set_product_key(AVMA_2019)

    assert slmgr(osu, "/ato")[1] == 0xC004FD01
    osu.state.licensing.avma_host = True
    assert slmgr(osu, "/ato")[1] == 0
    assert osu.state.licensing.license_status == LICENSED


def test_slmgr_unmodelled_uses(osu: FakeOSUtils) -> None:
    osu.state.licensing.installed_channel = RETAIL
    with pytest.raises(NotModelled, match="RETAIL"):
        slmgr(osu, "/ato")
    with pytest.raises(NotModelled, match=r"slmgr\.vbs /rearm"):
        slmgr(osu, "/rearm")
    with pytest.raises(NotModelled, match=r"cscript\.exe running"):
        osu.execute_system32_process(["cscript.exe", "C:\\scripts\\x.vbs"])


# --- boot configuration --------------------------------------------------------------------------


def test_bcdedit_sets_boot_status_policy_and_auto_recovery(osu: FakeOSUtils) -> None:
    entry = osu.state.boot_config.current_entry

    out, _, code = osu.execute_system32_process(
        ["bcdedit.exe", "/set", "{CURRENT}", "BootStatusPolicy", "ignoreallfailures"]
    )
    assert (out, code) == (b"The operation completed successfully.\r\n", 0)
    assert entry["bootstatuspolicy"] == "IgnoreAllFailures"

    for value, expected in [("off", False), ("Yes", True), ("false", False)]:
        osu.execute_system32_process(["bcdedit.exe", "/set", "{current}", "recoveryenabled", value])
        assert osu.get_current_bcd_auto_recovery() is expected


def test_bcdedit_refuses_bad_values(osu: FakeOSUtils) -> None:
    out, _, code = osu.execute_system32_process(
        ["bcdedit.exe", "/set", "{current}", "bootstatuspolicy", "sometimes"]
    )
    assert code == 1
    assert b"The parameter is incorrect." in out
    assert "bootstatuspolicy" not in osu.state.boot_config.current_entry
    assert (
        osu.execute_system32_process(
            ["bcdedit.exe", "/set", "{current}", "recoveryenabled", "maybe"]
        )[2]
        == 1
    )


def test_bcdedit_unmodelled_uses(osu: FakeOSUtils) -> None:
    with pytest.raises(NotModelled, match="nx"):
        osu.execute_system32_process(["bcdedit.exe", "/set", "{current}", "nx", "OptOut"])
    with pytest.raises(NotModelled, match="bootmgr"):
        osu.execute_system32_process(["bcdedit.exe", "/set", "{bootmgr}", "timeout", "5"])
    with pytest.raises(NotModelled, match="/enum"):
        osu.execute_system32_process(["bcdedit.exe", "/enum"])


def test_auto_recovery_set_through_the_store_runs_no_program() -> None:
    osu, trace = make_os()
    entry = osu.state.boot_config.current_entry

    for enable in (False, True, False):
        osu.set_current_bcd_auto_recovery(enable)
        assert osu.get_current_bcd_auto_recovery() is enable
        assert entry["recoveryenabled"] == ("Yes" if enable else "No")

    events = trace.of_kind("os")
    assert [(e.get("call"), e.get("enabled")) for e in events] == [
        ("set_current_bcd_auto_recovery", False),
        ("set_current_bcd_auto_recovery", True),
        ("set_current_bcd_auto_recovery", False),
    ]
    assert trace.of_kind("script") == []


def test_bcd_store_that_cannot_be_opened(osu: FakeOSUtils) -> None:
    osu.state.boot_config.store_available = False

    out, _, code = osu.execute_system32_process(
        ["bcdedit.exe", "/set", "{current}", "recoveryenabled", "No"]
    )
    assert code == 1
    assert b"could not be opened" in out
    with pytest.raises(OSUtilsError):
        osu.get_current_bcd_auto_recovery()
    with pytest.raises(OSUtilsError, match="could not be opened"):
        osu.set_current_bcd_auto_recovery(True)
    assert osu.state.boot_config.current_entry["recoveryenabled"] == "Yes"
    with pytest.raises(OSUtilsError):
        osu.set_current_bcd_device_to_boot_partition()


def test_boot_system_devices_and_the_boot_partition(osu: FakeOSUtils) -> None:
    c_volume = next(v for v in osu.state.volumes if v.letter == "C")
    assert osu.get_boot_system_devices() == [c_volume.path]

    osu.state.boot_config.current_entry["osdevice"] = "unknown"
    osu.set_current_bcd_device_to_boot_partition()
    assert osu.state.boot_config.current_entry["osdevice"] == "partition=C:"

    osu.state.boot_config.system_volume = "\\\\?\\Volume{elsewhere}\\"
    assert osu.get_boot_system_devices() == []


def test_mbr_disk_unique_id_is_written_on_the_disk() -> None:
    osu, trace = make_os()
    assert osu.get_disk_partition_style("\\\\.\\PHYSICALDRIVE0") == "MBR"

    osu.set_disk_unique_id("\\\\.\\physicaldrive0", "1a2b3c4d")

    assert osu.read_device("\\\\.\\PHYSICALDRIVE0", 440, 4) == bytes.fromhex("4d3c2b1a")
    assert disk_signature(osu.state.disks[0]) == "1A2B3C4D"
    # The partition table is untouched.
    assert osu.read_device("\\\\.\\PHYSICALDRIVE0", 510, 2) == b"\x55\xaa"
    assert [(e.get("call"), e.get("unique_id")) for e in trace.of_kind("os")] == [
        ("set_disk_unique_id", "1A2B3C4D")
    ]
    with pytest.raises(OSUtilsError, match="Invalid MBR disk signature"):
        osu.set_disk_unique_id("\\\\.\\PHYSICALDRIVE0", "not-hex!")
    with pytest.raises(OSUtilsError, match="cannot find"):
        osu.set_disk_unique_id("\\\\.\\PHYSICALDRIVE7", "00000001")


def test_gpt_and_raw_disks() -> None:
    state = default_windows_state()
    gpt = build_disk(build_image({"a.txt": b"a"}, "vfat", "DATA"), "gpt")
    attach_disk(state, gpt)
    attach_disk(state, b"", size=1024 * 1024)
    osu, _ = make_os(state)

    assert osu.get_disk_partition_style("\\\\.\\PHYSICALDRIVE1") == "GPT"
    assert osu.get_disk_partition_style("\\\\.\\PHYSICALDRIVE2") == "RAW"
    with pytest.raises(NotModelled, match="GPT"):
        osu.set_disk_unique_id("\\\\.\\PHYSICALDRIVE1", "6f9619ff-8b86-d011-b42d-00c04fc964ff")
    with pytest.raises(OSUtilsError, match="no layout"):
        osu.set_disk_unique_id("\\\\.\\PHYSICALDRIVE2", "00000001")


# --- power schemes -------------------------------------------------------------------------------


def test_powercfg_sets_the_current_schemes_ac_value(osu: FakeOSUtils) -> None:
    power = osu.state.power
    assert power.display_idle_timeout() == 600

    result = osu.execute_system32_process(
        ["powercfg.exe", "/SETACVALUEINDEX", "scheme_current", "sub_video", "videoidle", "0x3c"]
    )

    assert result == (b"", b"", 0)
    assert power.display_idle_timeout() == 60
    key = "\\".join((POWER_SCHEMES_KEY, SCHEME_BALANCED, SUB_VIDEO, VIDEOIDLE))
    assert osu.state.registry.get_value(key, "ACSettingIndex").data == 60


def test_powercfg_by_guid_on_the_active_scheme(osu: FakeOSUtils) -> None:
    osu.execute_system32_process(
        ["powercfg.exe", "-setacvalueindex", f"{{{SCHEME_BALANCED}}}", SUB_VIDEO, VIDEOIDLE, "5"]
    )
    assert osu.state.power.display_idle_timeout() == 5


@pytest.mark.parametrize("value", ["-1", "ten", "4294967296"])
def test_powercfg_refuses_bad_values(osu: FakeOSUtils, value: str) -> None:
    out, _, code = osu.execute_system32_process(
        ["powercfg.exe", "/setacvalueindex", "SCHEME_CURRENT", "SUB_VIDEO", "VIDEOIDLE", value]
    )
    assert code == 1
    assert out.startswith(b"Invalid Parameters")
    assert osu.state.power.display_idle_timeout() == 600


def test_powercfg_unmodelled_uses(osu: FakeOSUtils) -> None:
    with pytest.raises(NotModelled, match="SUB_SLEEP"):
        osu.execute_system32_process(
            ["powercfg.exe", "/setacvalueindex", "SCHEME_CURRENT", "SUB_SLEEP", "STANDBYIDLE", "0"]
        )
    with pytest.raises(NotModelled):
        osu.execute_system32_process(
            ["powercfg.exe", "/setacvalueindex", SCHEME_HIGH_PERFORMANCE, SUB_VIDEO, VIDEOIDLE, "0"]
        )
    with pytest.raises(NotModelled, match="/setactive"):
        osu.execute_system32_process(["powercfg.exe", "/setactive", "SCHEME_MIN"])


# --- Windows Update settings ---------------------------------------------------------------------


def test_update_settings_apply_when_saved() -> None:
    osu, trace = make_os()
    updates = osu.state.updates

    osu.set_automatic_updates_setting("notificationlevel", 4)
    assert updates.notification_level == 0
    osu.save_automatic_updates_settings()

    assert updates.notification_level == 4
    assert osu.state.registry.get_value(AUTO_UPDATE_KEY, "AUOptions").data == 4
    assert osu.state.registry.get_value(AUTO_UPDATE_KEY, "ScheduledInstallTime").data == 3
    assert calls(trace) == ["set_automatic_updates_setting", "save_automatic_updates_settings"]


def test_unsaved_update_settings_change_nothing(osu: FakeOSUtils) -> None:
    osu.set_automatic_updates_setting("ScheduledInstallationTime", 5)

    assert osu.state.updates.scheduled_install_hour == 3
    assert not osu.state.registry.key_exists(AUTO_UPDATE_KEY)


def test_unknown_update_property_is_accepted_and_goes_nowhere(osu: FakeOSUtils) -> None:
    osu.set_automatic_updates_setting("ScheduledInstallTimeTypo", 2)
    osu.save_automatic_updates_settings()

    assert osu.state.updates.saved == {
        "NotificationLevel": 0,
        "ScheduledInstallationDay": 0,
        "ScheduledInstallationTime": 3,
    }


@pytest.mark.parametrize(
    ("name", "value"), [("NotificationLevel", 7), ("ScheduledInstallationTime", 24)]
)
def test_update_property_out_of_range_is_refused(osu: FakeOSUtils, name: str, value: int) -> None:
    with pytest.raises(OSUtilsError, match="parameter is incorrect"):
        osu.set_automatic_updates_setting(name, value)


# --- every change is traced ----------------------------------------------------------------------


MUTATIONS: list[tuple[str, Callable[[FakeOSUtils], object]]] = [
    ("create_service", lambda o: o.create_service("S", "S", "C:\\s.exe", "Manual")),
    ("delete_service", lambda o: o.delete_service("w32time")),
    ("set_product_key", lambda o: o.set_product_key(GVLK_2019)),
    ("set_kms_host", lambda o: o.set_kms_host("kms.test")),
    ("refresh_license_status", lambda o: o.refresh_license_status()),
    (
        "set_current_bcd_device_to_boot_partition",
        lambda o: o.set_current_bcd_device_to_boot_partition(),
    ),
    ("set_current_bcd_auto_recovery", lambda o: o.set_current_bcd_auto_recovery(False)),
    ("set_disk_unique_id", lambda o: o.set_disk_unique_id("\\\\.\\PHYSICALDRIVE0", "00000001")),
    (
        "set_automatic_updates_setting",
        lambda o: o.set_automatic_updates_setting("NotificationLevel", 1),
    ),
    ("save_automatic_updates_settings", lambda o: o.save_automatic_updates_settings()),
]


@pytest.mark.parametrize(("call", "mutate"), MUTATIONS, ids=[c for c, _ in MUTATIONS])
def test_every_platform_mutation_is_traced(
    call: str, mutate: Callable[[FakeOSUtils], object]
) -> None:
    osu, trace = make_os()

    mutate(osu)

    assert calls(trace) == [call]


def test_platform_queries_are_not_traced(osu: FakeOSUtils) -> None:
    osu.get_kms_product()
    osu.get_boot_system_devices()
    osu.get_current_bcd_auto_recovery()
    osu.get_disk_partition_style("\\\\.\\PHYSICALDRIVE0")
    osu.check_dotnet_is_installed("4")

    assert calls(osu.trace) == []
