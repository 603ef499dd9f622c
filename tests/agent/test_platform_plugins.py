"""Windows platform plugins on a simulated guest: licensing, automatic updates, boot
configuration, display idle timeout and the Azure guest agent.

Each test boots a whole machine and asserts what the guest ends up with (licensing state,
saved Windows Update settings, the BCD entry and disk id, power scheme values, services,
files and registry values), the ``plugin_end`` event (stored status, reboot flag, success)
and, for failure paths, the error the agent recorded.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.osutils import (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_MANUAL,
    SERVICE_STATUS_RUNNING,
    SERVICE_STATUS_STOPPED,
)
from guestsim.agent.plugins import licensing as licensing_plugin
from guestsim.agent.plugins.azureguestagent import member_target
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE
from guestsim.agent.plugins.licensing import (
    PRODUCT_KEYS,
    VOL_ACT_AVMA,
    VOL_ACT_KMS,
    get_volume_activation_product_key,
)
from guestsim.agent.plugins.updates import MISSPELLED_INSTALL_HOUR_PROPERTY
from guestsim.simulator.machine import RunResult
from guestsim.simulator.trace import Event
from guestsim.simulator.windows import licensing as fake_licensing
from guestsim.simulator.windows.bootconfig import disk_signature
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive
from guestsim.simulator.windows.licensing import AVMA, KMS_CLIENT, LICENSED, RETAIL, SPP_KEY
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.power import (
    POWER_SCHEMES_KEY,
    SCHEME_BALANCED,
    SUB_VIDEO,
    VIDEOIDLE,
)
from guestsim.simulator.windows.software import DOTNET_4_KEY, version_resource
from guestsim.simulator.windows.state import AGENT_KEY, Service, WindowsState
from guestsim.simulator.windows.updates import AUTO_UPDATE_KEY
from tests.builders import INSTANCE_ID, meta_data, openstack_machine, register_metadata_service

PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
_WINDOWS = "cloudbaseinit.plugins.windows."
LICENSING = _WINDOWS + "licensing.WindowsLicensingPlugin"
UPDATES = _WINDOWS + "updates.WindowsAutoUpdatesPlugin"
BOOT_STATUS = _WINDOWS + "bootconfig.BootStatusPolicyPlugin"
BCD = _WINDOWS + "bootconfig.BCDConfigPlugin"
DISPLAY = _WINDOWS + "displayidletimeout.DisplayIdleTimeoutConfigPlugin"
AZURE_AGENT = _WINDOWS + "azureguestagent.AzureGuestAgentPlugin"

GVLK_2019_DATACENTER = "WMDGN-G9PQG-XVVXX-R3X43-63DFG"
AVMA_2019_DATACENTER = "H3RNG-8C32Q-Q8FRX-6TDXV-WMBMW"
RETAIL_KEY = "ABCDE-FGHIJ-KLMNP-QRSTV-WXY23"
NO_KMS_EXIT_CODE = 0xC004F074
PACKAGES = "C:\\WindowsAzure\\Packages"
AGENT_VERSION = (2, 7, 41491, 1102)
PACKAGE_NAME = "VmAgent_Sim_2.7.41491.1102.zip"


# --- helpers ---------------------------------------------------------------------------------


def run(
    plugin: str,
    options: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    state: WindowsState | None = None,
) -> RunResult:
    machine, _ = openstack_machine((plugin,), options, document, state=state)
    return machine.run()


def only_end(result: RunResult, plugin: str) -> Event:
    name = plugin.rpartition(".")[2]
    ends = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == name]
    assert len(ends) == 1, ends
    return ends[0]


def done(result: RunResult, plugin: str) -> None:
    """The plugin succeeded, returned (DONE, no reboot) and its status was stored."""
    end = only_end(result, plugin)
    assert (end.get("success"), end.get("status"), end.get("reboot")) == (
        True,
        PLUGIN_EXECUTION_DONE,
        False,
    ), end
    name = plugin.rpartition(".")[2]
    assert result.state.registry.get_value(PLUGINS_KEY, name).data == PLUGIN_EXECUTION_DONE
    assert result.boot_count == 1


def failed(result: RunResult, plugin: str) -> str:
    """The plugin raised: no status was stored; returns the recorded error."""
    end = only_end(result, plugin)
    assert end.get("success") is False, end
    name = plugin.rpartition(".")[2].lower()
    assert not result.state.registry.key_exists(PLUGINS_KEY) or name not in {
        name.lower() for name, _ in result.state.registry.values(PLUGINS_KEY)
    }
    error: str = end.get("error")
    return error


def skipped_for_os_version(result: RunResult, plugin: str) -> bool:
    return [
        e.get("reason") for e in result.trace.of_kind("plugin_skipped") if e.get("plugin") == plugin
    ] == ["os_version"]


def calls_during(result: RunResult, plugin: str) -> list[str]:
    """The OS calls made while the plugin ran (the status write excluded)."""
    name = plugin.rpartition(".")[2]
    start = next(e.seq for e in result.trace.of_kind("plugin_start") if e.get("plugin") == name)
    end = only_end(result, plugin).seq
    return [
        e.get("call")
        for e in result.trace.of_kind("os")
        if start < e.seq < end and e.get("key") != PLUGINS_KEY
    ]


def os_calls(result: RunResult, call: str) -> list[Event]:
    return [e for e in result.trace.of_kind("os") if e.get("call") == call]


def commands(result: RunResult, program: str) -> list[list[str]]:
    return [
        e.get("args")
        for e in os_calls(result, "execute_system32_process")
        if e.get("args")[0] == program
    ]


def logged(result: RunResult, level: str, text: str) -> bool:
    return any(f" {level} " in line and text in line for line in result.log)


def windows(version: str, edition: str = "ServerDatacenter") -> WindowsState:
    state = default_windows_state()
    major, minor, build = (int(part) for part in version.split("."))
    state.version.major, state.version.minor, state.version.build = major, minor, build
    state.version.edition = edition
    return state


class ServiceSaying(OpenStackHttpService):
    """OpenStack, plus the answers only some clouds give (set per test on the class)."""

    use_avma: bool | None = None
    automatic_updates: bool | None = None
    agent_package: dict[str, Any] | None = None

    def get_use_avma_licensing(self) -> bool | None:
        return self.use_avma

    def get_enable_automatic_updates(self) -> bool | None:
        return self.automatic_updates

    def get_vm_agent_package_provisioning_data(self) -> dict[str, Any] | None:
        return self.agent_package


@pytest.fixture
def cloud_says(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Answers of the metadata service (ServiceSaying) -> options that make the agent use it."""
    path = register_metadata_service(monkeypatch, ServiceSaying)

    def say(options: dict[str, Any] | None = None, **answers: Any) -> dict[str, Any]:
        for name, value in answers.items():
            monkeypatch.setattr(ServiceSaying, name, value)
        return {"metadata_services": [path], **(options or {})}

    return say


# --- WindowsLicensingPlugin --------------------------------------------------------------------


def test_licensing_defaults_only_log_the_license_report() -> None:
    result = run(LICENSING)

    done(result, LICENSING)
    assert commands(result, "cscript.exe") == [
        ["cscript.exe", "C:\\Windows\\system32\\slmgr.vbs", "/dlv"]
    ]
    assert [e.get("call") for e in result.trace.of_kind("os")][:2] == [
        "refresh_license_status",
        "execute_system32_process",
    ]
    licensing = result.state.licensing
    assert (licensing.installed_channel, licensing.kms_host) == (KMS_CLIENT, None)
    report = next(line for line in result.log if "Microsoft Windows license info:" in line)
    assert "Name: Windows(R), ServerDatacenter edition" in report
    assert "VOLUME_KMSCLIENT channel" in report
    assert "Partial Product Key: 63DFG" in report


def test_licensing_info_can_be_turned_off() -> None:
    result = run(LICENSING, {"log_licensing_info": False})

    done(result, LICENSING)
    assert calls_during(result, LICENSING) == []


def test_kms_host_from_metadata_wins_and_its_port_is_used() -> None:
    result = run(
        LICENSING,
        {"kms_host": "kms.conf.test"},
        meta_data(kms_host="kms.meta.test:1689"),
    )

    done(result, LICENSING)
    assert [(e.get("host"), e.get("port")) for e in os_calls(result, "set_kms_host")] == [
        ("kms.meta.test", "1689")
    ]
    licensing = result.state.licensing
    assert (licensing.kms_host, licensing.kms_port) == ("kms.meta.test", 1689)
    registry = result.state.registry
    assert registry.get_value(SPP_KEY, "KeyManagementServiceName").data == "kms.meta.test"
    assert registry.get_value(SPP_KEY, "KeyManagementServicePort").data == "1689"


def test_kms_host_option_without_port_keeps_the_default_port() -> None:
    result = run(LICENSING, {"kms_host": "kms.conf.test"})

    done(result, LICENSING)
    assert [(e.get("host"), e.get("port")) for e in os_calls(result, "set_kms_host")] == [
        ("kms.conf.test", None)
    ]
    assert (result.state.licensing.kms_host, result.state.licensing.kms_port) == (
        "kms.conf.test",
        1688,
    )


def test_kms_host_with_two_colons_fails_the_plugin() -> None:
    # Quirk kept: the value is split on every ":" and the parts passed as arguments.
    result = run(LICENSING, {"kms_host": "kms.test:1688:extra"})

    assert "TypeError" in failed(result, LICENSING)
    assert result.state.licensing.kms_host is None


def test_kms_host_with_a_bad_port_fails_the_plugin() -> None:
    result = run(LICENSING, {"kms_host": "kms.test:port"})

    assert "0x80070057" in failed(result, LICENSING)


def test_kms_product_key_is_installed_on_a_retail_installation() -> None:
    state = default_windows_state()
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY

    result = run(LICENSING, {"set_kms_product_key": True}, state=state)

    done(result, LICENSING)
    assert [e.get("product_key") for e in os_calls(result, "set_product_key")] == [
        GVLK_2019_DATACENTER
    ]
    assert result.state.licensing.installed_channel == KMS_CLIENT
    assert logged(result, "INFO", f"Setting product key: {GVLK_2019_DATACENTER}")


def test_current_kms_product_needs_no_product_key() -> None:
    result = run(LICENSING, {"set_kms_product_key": True, "set_avma_product_key": True})

    done(result, LICENSING)
    assert os_calls(result, "set_product_key") == []
    assert logged(result, "INFO", "is already the current one")


def test_avma_option_installs_the_avma_key() -> None:
    state = default_windows_state()
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY

    result = run(LICENSING, {"set_avma_product_key": True}, state=state)

    done(result, LICENSING)
    assert [e.get("product_key") for e in os_calls(result, "set_product_key")] == [
        AVMA_2019_DATACENTER
    ]
    assert result.state.licensing.installed_channel == AVMA


def test_metadata_avma_choice_overrides_the_option(cloud_says: Any) -> None:
    state = default_windows_state()
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY
    options = {"set_avma_product_key": True, "set_kms_product_key": True}

    result = run(LICENSING, cloud_says(options, use_avma=False), state=state)

    done(result, LICENSING)
    assert result.state.licensing.installed_channel == KMS_CLIENT


def test_missing_avma_key_is_an_error_and_kms_is_the_fallback() -> None:
    # Windows Server 2012 (6.2) has no AVMA: the table has no entry for it.
    state = windows("6.2.9200")
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY

    result = run(
        LICENSING, {"set_avma_product_key": True, "set_kms_product_key": True}, state=state
    )

    done(result, LICENSING)
    assert logged(result, "ERROR", "AVMA product key not found")
    assert [e.get("product_key") for e in os_calls(result, "set_product_key")] == [
        "48HP8-DN98B-MYWDG-T2DCC-8W83P"
    ]


def test_missing_kms_key_is_an_error_and_no_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRODUCT_KEYS, (10, 0, VOL_ACT_KMS), ())
    state = default_windows_state()
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY

    result = run(LICENSING, {"set_kms_product_key": True}, state=state)

    done(result, LICENSING)
    assert logged(result, "ERROR", "KMS product key not found")
    assert os_calls(result, "set_product_key") == []
    assert result.state.licensing.installed_channel == RETAIL


def test_activation_through_a_reachable_kms_host_licenses_windows() -> None:
    state = default_windows_state()
    state.licensing.kms_servers = {"kms.sim.test": 1688}

    result = run(LICENSING, {"kms_host": "kms.sim.test", "activate_windows": True}, state=state)

    done(result, LICENSING)
    assert commands(result, "cscript.exe") == [
        ["cscript.exe", "C:\\Windows\\system32\\slmgr.vbs", "/ato"],
        ["cscript.exe", "C:\\Windows\\system32\\slmgr.vbs", "/dlv"],
    ]
    assert result.state.licensing.license_status == LICENSED
    assert result.state.licensing.activated_by == "kms.sim.test:1688"
    assert logged(result, "INFO", "Activating Windows")
    assert logged(result, "INFO", "License Status: Licensed")


def test_activation_without_a_kms_host_fails_the_plugin() -> None:
    result = run(LICENSING, {"activate_windows": True})

    error = failed(result, LICENSING)
    assert f"slmgr.vbs failed with error code {NO_KMS_EXIT_CODE}" in error
    assert "0xC004F074" in error
    assert result.state.licensing.license_status != LICENSED


def test_licensing_is_not_available_on_nano_server() -> None:
    state = default_windows_state()
    state.version.nano_server = True

    result = run(LICENSING, {"kms_host": "kms.test", "activate_windows": True}, state=state)

    done(result, LICENSING)
    assert calls_during(result, LICENSING) == []
    assert logged(result, "INFO", "not available on Nano Server")


def test_windows_older_than_6_1_uses_slmgr_for_the_kms_host() -> None:
    result = run(
        LICENSING,
        {"kms_host": "kms.sim.test:1700", "log_licensing_info": False},
        state=windows("6.0.6002"),
    )

    done(result, LICENSING)
    assert os_calls(result, "set_kms_host") == []
    assert commands(result, "cscript.exe") == [
        ["cscript.exe", "C:\\Windows\\system32\\slmgr.vbs", "/skms", "kms.sim.test:1700"]
    ]
    assert (result.state.licensing.kms_host, result.state.licensing.kms_port) == (
        "kms.sim.test",
        1700,
    )


def test_windows_older_than_6_1_cannot_choose_a_product_key() -> None:
    result = run(LICENSING, {"set_kms_product_key": True}, state=windows("6.0.6002"))

    assert "NotImplementedError" in failed(result, LICENSING)


@pytest.mark.parametrize(
    ("version", "family", "kind", "key"),
    [
        ((6, 3, 9600), "ServerDatacenter", VOL_ACT_KMS, "W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9"),
        ((6, 3, 9600), "ServerStandard", VOL_ACT_AVMA, "DBGBW-NPF86-BJVTX-K3WKJ-MTB6V"),
        ((10, 0, 14393), "ServerStandard", VOL_ACT_KMS, "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY"),
        ((10, 0, 14393), "ServerDatacenter", VOL_ACT_AVMA, "TMJ3Y-NTRTM-FJYXT-T22BY-CWG3J"),
        ((10, 0, 17763), "ServerDatacenter", VOL_ACT_KMS, GVLK_2019_DATACENTER),
        ((10, 0, 17763), "ServerDatacenter", VOL_ACT_AVMA, AVMA_2019_DATACENTER),
        ((10, 0, 20348), "ServerDatacenter", VOL_ACT_KMS, "WX4NM-KYWYW-QJJR4-XV3QB-6VM33"),
        ((10, 0, 20348), "ServerStandard", VOL_ACT_AVMA, "YDFWN-MJ9JR-3DYRK-FXXRW-78VHK"),
        ((10, 0, 19045), "Professional", VOL_ACT_KMS, "W269N-WFGWX-YVC9B-4J6C9-T83GX"),
        ((10, 0, 22631), "Enterprise", VOL_ACT_KMS, "NPPR9-FWDCX-D2C8J-H872K-2YT43"),
        ((10, 0, 19044), "EnterpriseS", VOL_ACT_KMS, "M7XTQ-FN8P6-TTKYV-9D4CC-J462D"),
        ((10, 0, 10240), "ServerDatacenter", VOL_ACT_KMS, None),
        ((6, 2, 9200), "ServerDatacenter", VOL_ACT_AVMA, None),
        ((6, 0, 6002), "ServerStandard", VOL_ACT_KMS, None),
        ((10, 0, 17763), "ServerWeb", VOL_ACT_KMS, None),
    ],
)
def test_generic_key_table(
    version: tuple[int, int, int], family: str, kind: str, key: str | None
) -> None:
    os_version = dict(zip(("major_version", "minor_version", "build_number"), version, strict=True))
    assert get_volume_activation_product_key(os_version, family, kind) == key


def test_agent_key_table_agrees_with_the_simulated_windows() -> None:
    # The fake keeps its own copy of Microsoft's published keys; they must agree.
    channels = {KMS_CLIENT: VOL_ACT_KMS, AVMA: VOL_ACT_AVMA}
    for release in fake_licensing.RELEASES:
        os_version = {
            "major_version": release.major,
            "minor_version": release.minor,
            "build_number": release.first_build,
        }
        for family, keys in release.generic_keys.items():
            for channel, key in keys.items():
                assert (
                    licensing_plugin.get_volume_activation_product_key(
                        os_version, family, channels[channel]
                    )
                    == key
                ), (release.name, family, channel)


# --- WindowsAutoUpdatesPlugin ------------------------------------------------------------------


def test_updates_left_alone_when_neither_metadata_nor_config_says() -> None:
    result = run(UPDATES)

    done(result, UPDATES)
    assert os_calls(result, "set_automatic_updates_setting") == []
    assert result.state.updates.notification_level == 0
    assert not result.state.registry.key_exists(AUTO_UPDATE_KEY)


def test_enabling_updates_schedules_installation() -> None:
    result = run(UPDATES, {"enable_automatic_updates": True})

    done(result, UPDATES)
    assert [
        (e.get("name"), e.get("value")) for e in os_calls(result, "set_automatic_updates_setting")
    ] == [("NotificationLevel", 4)]
    assert result.state.updates.notification_level == 4
    assert result.state.registry.get_value(AUTO_UPDATE_KEY, "AUOptions").data == 4


def test_disabling_updates() -> None:
    result = run(UPDATES, {"enable_automatic_updates": False})

    done(result, UPDATES)
    assert result.state.updates.notification_level == 1
    assert result.state.registry.get_value(AUTO_UPDATE_KEY, "AUOptions").data == 1


def test_metadata_updates_choice_overrides_the_option(cloud_says: Any) -> None:
    result = run(UPDATES, cloud_says({"enable_automatic_updates": True}, automatic_updates=False))

    done(result, UPDATES)
    assert result.state.updates.notification_level == 1


def test_quirk_install_hour_on_old_windows_never_reaches_windows_update() -> None:
    # Reference §10.15: below 6.2 a random hour 1-5 is set through a misspelled property,
    # so the schedule keeps its previous hour.
    result = run(UPDATES, {"enable_automatic_updates": True}, state=windows("6.1.7601"))

    done(result, UPDATES)
    settings = [
        (e.get("name"), e.get("value")) for e in os_calls(result, "set_automatic_updates_setting")
    ]
    assert settings[0] == ("NotificationLevel", 4)
    assert settings[1][0] == MISSPELLED_INSTALL_HOUR_PROPERTY
    assert 1 <= settings[1][1] <= 5
    assert result.state.updates.notification_level == 4
    assert result.state.updates.scheduled_install_hour == 3


def test_updates_plugin_needs_windows_5_2() -> None:
    result = run(UPDATES, {"enable_automatic_updates": True}, state=windows("5.1.2600"))

    assert skipped_for_os_version(result, "WindowsAutoUpdatesPlugin")
    assert result.state.updates.notification_level == 0


# --- BootStatusPolicyPlugin --------------------------------------------------------------------


def test_boot_status_policy_unset_changes_nothing() -> None:
    result = run(BOOT_STATUS)

    done(result, BOOT_STATUS)
    assert commands(result, "bcdedit.exe") == []
    assert "bootstatuspolicy" not in result.state.boot_config.current_entry


def test_boot_status_policy_ignore_all_failures() -> None:
    result = run(BOOT_STATUS, {"bcd_boot_status_policy": "ignoreallfailures"})

    done(result, BOOT_STATUS)
    assert commands(result, "bcdedit.exe") == [
        ["bcdedit.exe", "/set", "{current}", "bootstatuspolicy", "ignoreallfailures"]
    ]
    assert result.state.boot_config.current_entry["bootstatuspolicy"] == "IgnoreAllFailures"


def test_boot_status_policy_fails_when_bcdedit_fails() -> None:
    state = default_windows_state()
    state.boot_config.store_available = False

    result = run(BOOT_STATUS, {"bcd_boot_status_policy": "ignoreallfailures"}, state=state)

    error = failed(result, BOOT_STATUS)
    assert "bcdedit.exe failed with exit code 1" in error
    assert "could not be opened" in error


def test_boot_status_policy_needs_windows_6_0() -> None:
    options = {"bcd_boot_status_policy": "ignoreallfailures"}
    result = run(BOOT_STATUS, options, state=windows("5.2.3790"))

    assert skipped_for_os_version(result, "BootStatusPolicyPlugin")
    assert "bootstatuspolicy" not in result.state.boot_config.current_entry


# --- BCDConfigPlugin ---------------------------------------------------------------------------


def test_bcd_config_defaults_give_the_boot_disk_a_new_id_and_disable_auto_recovery() -> None:
    state = default_windows_state()
    state.boot_config.current_entry["device"] = "unknown"
    state.boot_config.current_entry["osdevice"] = "unknown"

    result = run(BCD, state=state)

    done(result, BCD)
    entry = result.state.boot_config.current_entry
    assert (entry["device"], entry["osdevice"]) == ("partition=C:", "partition=C:")
    signature = disk_signature(result.state.disks[0])
    assert signature != "00000000"
    assert [e.get("unique_id") for e in os_calls(result, "set_disk_unique_id")] == [signature]
    assert entry["recoveryenabled"] == "No"
    # Auto-recovery goes through the BCD store, as upstream: no bcdedit.exe.
    assert commands(result, "bcdedit.exe") == []
    assert [e.get("enabled") for e in os_calls(result, "set_current_bcd_auto_recovery")] == [False]


def test_bcd_disk_id_comes_from_the_seed() -> None:
    signatures = []
    for seed in (0, 0, 1):
        machine, _ = openstack_machine((BCD,), seed=seed)
        signatures.append(disk_signature(machine.run().state.disks[0]))
    assert signatures[0] == signatures[1] != signatures[2]


def test_bcd_auto_recovery_enabled_by_option() -> None:
    state = default_windows_state()
    state.boot_config.current_entry["recoveryenabled"] = "No"

    result = run(BCD, {"bcd_enable_auto_recovery": True}, state=state)

    done(result, BCD)
    assert result.state.boot_config.current_entry["recoveryenabled"] == "Yes"
    assert [e.get("enabled") for e in os_calls(result, "set_current_bcd_auto_recovery")] == [True]
    assert result.trace.of_kind("script") == []


def test_bcd_unique_disk_id_can_be_turned_off() -> None:
    result = run(BCD, {"set_unique_boot_disk_id": False})

    done(result, BCD)
    assert os_calls(result, "set_disk_unique_id") == []
    assert os_calls(result, "set_current_bcd_device_to_boot_partition") == []
    assert disk_signature(result.state.disks[0]) == "00000000"
    assert result.state.boot_config.current_entry["recoveryenabled"] == "No"


def test_bcd_separate_system_partition_keeps_the_disk_id() -> None:
    state = default_windows_state()
    state.boot_config.system_volume = "\\\\?\\Volume{00000000-0000-0000-0000-00000000beef}\\"

    result = run(BCD, state=state)

    done(result, BCD)
    assert os_calls(result, "set_disk_unique_id") == []
    assert disk_signature(result.state.disks[0]) == "00000000"
    assert result.state.boot_config.current_entry["recoveryenabled"] == "No"


def test_bcd_auto_recovery_that_does_not_stick_fails_the_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A BCD store that reports the old value after the set claimed success.
    monkeypatch.setattr(FakeOSUtils, "get_current_bcd_auto_recovery", lambda self: True)

    result = run(BCD)

    assert "auto recovery" in failed(result, BCD)


def test_bcd_config_fails_when_the_store_cannot_be_opened() -> None:
    state = default_windows_state()
    state.boot_config.store_available = False

    result = run(BCD, state=state)

    assert "could not be opened" in failed(result, BCD)


def test_bcd_config_needs_windows_6_0() -> None:
    result = run(BCD, state=windows("5.2.3790"))

    assert skipped_for_os_version(result, "BCDConfigPlugin")
    assert disk_signature(result.state.disks[0]) == "00000000"


# --- DisplayIdleTimeoutConfigPlugin ------------------------------------------------------------


def _video_idle_registry(result: RunResult) -> Any:
    key = "\\".join((POWER_SCHEMES_KEY, SCHEME_BALANCED, SUB_VIDEO, VIDEOIDLE))
    return result.state.registry.get_value(key, "ACSettingIndex").data


def test_display_idle_timeout_default_keeps_the_display_on() -> None:
    result = run(DISPLAY)

    done(result, DISPLAY)
    assert commands(result, "powercfg.exe") == [
        ["powercfg.exe", "/setacvalueindex", "SCHEME_CURRENT", "SUB_VIDEO", "VIDEOIDLE", "0"]
    ]
    assert result.state.power.display_idle_timeout() == 0
    assert _video_idle_registry(result) == 0


def test_display_idle_timeout_from_option() -> None:
    result = run(DISPLAY, {"display_idle_timeout": 300})

    done(result, DISPLAY)
    assert result.state.power.display_idle_timeout() == 300
    assert _video_idle_registry(result) == 300


def test_display_idle_timeout_rejected_by_powercfg_fails_the_plugin() -> None:
    result = run(DISPLAY, {"display_idle_timeout": -5})

    assert "powercfg.exe failed with exit code 1" in failed(result, DISPLAY)
    assert result.state.power.display_idle_timeout() == 600


def test_display_idle_timeout_needs_windows_6_2() -> None:
    result = run(DISPLAY, {"display_idle_timeout": 300}, state=windows("6.1.7601"))

    assert skipped_for_os_version(result, "DisplayIdleTimeoutConfigPlugin")
    assert result.state.power.display_idle_timeout() == 600


# --- AzureGuestAgentPlugin ---------------------------------------------------------------------


def agent_zip(members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    files = members or {
        "WaAppAgent.exe": b"MZ waappagent",
        "TransparentInstaller.dll": version_resource("TransparentInstaller.dll", AGENT_VERSION),
        "Config/WaAppAgent.exe.config": b"<configuration/>",
    }
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def azure_guest(
    package: bytes | None = None, dotnet: bool = True, package_name: str = PACKAGE_NAME
) -> WindowsState:
    """Windows with an older agent installed and the new package on a CD-ROM (D:)."""
    state = default_windows_state()
    state.attach_drive(
        Drive("D", "GuestAgent", "cdrom"),
        {f"$$/OEM/GuestAgent/{package_name}": package if package is not None else agent_zip()},
    )
    state.services += [
        Service("RdAgent", "RdAgent", SERVICE_START_MODE_AUTOMATIC, status=SERVICE_STATUS_RUNNING),
        Service("WindowsAzureTelemetryService", "Telemetry", SERVICE_START_MODE_MANUAL),
    ]
    state.files.make_dirs("C:\\WindowsAzure\\Packages\\Old")
    state.files.write("C:\\WindowsAzure\\Packages\\Old\\WaAppAgent.exe", b"MZ old")
    state.files.make_dirs("C:\\Packages\\Plugins")
    state.software.data_collector_sets = {"GAEvents": True, "RTEvents": False}
    state.software.trace_sessions = ["WindowsAzure-GuestAgent-Metrics"]
    if not dotnet:
        # Server 2019 ships .NET 4; an image stripped of it is the unusual case.
        state.registry.delete_key(DOTNET_4_KEY)
    return state


def run_agent(cloud_says: Any, data: dict[str, Any] | None, state: WindowsState) -> RunResult:
    return run(AZURE_AGENT, cloud_says(agent_package=data), state=state)


PROVISION = {"provision": True, "package_name": PACKAGE_NAME}


def test_azure_agent_without_provisioning_data_does_nothing() -> None:
    result = run(AZURE_AGENT, state=azure_guest())

    done(result, AZURE_AGENT)
    assert logged(result, "INFO", "provisioning data not present")
    assert result.state.find_service("RdAgent") is not None
    assert os_calls(result, "delete_service") == []


def test_azure_agent_not_requested_does_nothing(cloud_says: Any) -> None:
    result = run_agent(
        cloud_says, {"provision": False, "package_name": PACKAGE_NAME}, azure_guest()
    )

    done(result, AZURE_AGENT)
    assert logged(result, "INFO", "Skipping Azure guest agent provisioning")
    assert os_calls(result, "delete_service") == []


def test_azure_agent_is_installed_from_the_package(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    state = result.state
    # The old agent's services are stopped and deleted, its folders removed.
    assert [e.get("service") for e in os_calls(result, "delete_service")] == [
        "RdAgent",
        "WindowsAzureTelemetryService",
    ]
    assert state.find_service("WindowsAzureTelemetryService") is None
    assert not state.files.exists("C:\\WindowsAzure\\Packages\\Old")
    assert not state.files.exists("C:\\Packages")
    # Traces stopped and deleted; "not found" / "not running" answers are fine.
    assert commands(result, "logman.exe") == [
        ["logman.exe", "stop", "GAEvents"],
        ["logman.exe", "stop", "RTEvents"],
        ["logman.exe", "-ets", "stop", "WindowsAzure-GuestAgent-Metrics"],
        ["logman.exe", "-ets", "stop", "WindowsAzure-GuestAgent-Diagnostic"],
        ["logman.exe", "delete", "GAEvents"],
        ["logman.exe", "delete", "RTEvents"],
    ]
    assert state.software.data_collector_sets == {}
    assert state.software.trace_sessions == []
    assert not any(" ERROR " in line for line in result.log)
    # The package is unzipped and RdAgent runs it.
    assert state.files.list_dir(PACKAGES) == [
        "Config",
        "TransparentInstaller.dll",
        "WaAppAgent.exe",
    ]
    assert state.files.read(f"{PACKAGES}\\Config\\WaAppAgent.exe.config") == b"<configuration/>"
    rdagent = state.find_service("RdAgent")
    assert rdagent is not None
    assert rdagent.binary_path == f"{PACKAGES}\\WaAppAgent.exe"
    assert (rdagent.start_mode, rdagent.status) == (
        SERVICE_START_MODE_AUTOMATIC,
        SERVICE_STATUS_RUNNING,
    )
    # The registry values of a provisioned Azure VM.
    registry = state.registry
    azure = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure"
    agent = "HKLM\\SOFTWARE\\Microsoft\\GuestAgent"
    assert registry.get_value(azure, "VMType").data == "IAAS"
    assert registry.get_value(agent, "Incarnation").data == "2.7.41491.1102"
    assert registry.get_value(agent, "VmProvisionedAt").data == "01/01/2026 12:00:00 AM"


def test_azure_agent_without_dotnet_4_is_left_stopped(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest(dotnet=False))

    done(result, AZURE_AGENT)
    rdagent = result.state.find_service("RdAgent")
    assert rdagent is not None
    assert (rdagent.start_mode, rdagent.status) == (
        SERVICE_START_MODE_MANUAL,
        SERVICE_STATUS_STOPPED,
    )
    assert logged(result, "WARNING", ".NET Framework 4 is not installed")


def test_azure_agent_without_package_name_fails(cloud_says: Any) -> None:
    result = run_agent(cloud_says, {"provision": True, "package_name": None}, azure_guest())

    assert "package_name not found" in failed(result, AZURE_AGENT)
    # The old agent was removed before the package name was checked.
    assert result.state.find_service("RdAgent") is None


def test_azure_agent_without_the_oem_folder_fails(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, default_windows_state())

    assert "source folder not found" in failed(result, AZURE_AGENT)


def test_azure_agent_with_a_missing_package_fails(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest(package_name="Other.zip"))

    assert "package not found" in failed(result, AZURE_AGENT)
    assert result.state.find_service("RdAgent") is None


def test_azure_agent_package_without_a_versioned_installer_fails(
    cloud_says: Any,
) -> None:
    package = agent_zip({"WaAppAgent.exe": b"MZ", "TransparentInstaller.dll": b"MZ no version"})

    result = run_agent(cloud_says, PROVISION, azure_guest(package))

    assert "(1813)" in failed(result, AZURE_AGENT)
    # RdAgent was created before the version was read.
    rdagent = result.state.find_service("RdAgent")
    assert rdagent is not None
    assert rdagent.start_mode == SERVICE_START_MODE_MANUAL


def test_azure_agent_package_cannot_write_outside_its_folder(
    cloud_says: Any,
) -> None:
    package = agent_zip(
        {
            "WaAppAgent.exe": b"MZ",
            "TransparentInstaller.dll": version_resource("TI", AGENT_VERSION),
            "../../Windows/evil.dll": b"evil",
            "C:/Windows/System32/evil2.dll": b"evil",
            "/abs/evil3.txt": b"evil",
        }
    )

    result = run_agent(cloud_says, PROVISION, azure_guest(package))

    done(result, AZURE_AGENT)
    files = result.state.files
    assert not files.exists("C:\\Windows\\evil.dll")
    assert not files.exists("C:\\Windows\\System32\\evil2.dll")
    assert not files.exists("C:\\abs")
    assert files.read(f"{PACKAGES}\\Windows\\evil.dll") == b"evil"
    assert files.read(f"{PACKAGES}\\Windows\\System32\\evil2.dll") == b"evil"
    assert files.read(f"{PACKAGES}\\abs\\evil3.txt") == b"evil"


@pytest.mark.parametrize(
    ("member", "target"),
    [
        ("WaAppAgent.exe", "C:\\T\\WaAppAgent.exe"),
        ("a/b/c.txt", "C:\\T\\a\\b\\c.txt"),
        ("../../x.txt", "C:\\T\\x.txt"),
        ("a/../../b.txt", "C:\\T\\a\\b.txt"),
        ("C:\\Windows\\x.dll", "C:\\T\\Windows\\x.dll"),
        ("//server/share/x", "C:\\T\\x"),
        ("./.", None),
        ("bad:name?.txt", "C:\\T\\bad_name_.txt"),
        ("dots.../x", "C:\\T\\dots\\x"),
    ],
)
def test_zip_member_targets_stay_inside_the_folder(member: str, target: str | None) -> None:
    assert member_target("C:\\T", member) == target


def test_azure_agent_on_nano_server(cloud_says: Any) -> None:
    state = default_windows_state()
    state.version.nano_server = True
    state.files.make_dirs("C:\\Windows\\NanoGuestAgent")
    state.files.write(
        "C:\\Windows\\NanoGuestAgent\\VmAgent_Nano.zip",
        agent_zip({"WaSvc.exe": b"MZ", "WindowsAzureGuestAgent.exe": b"MZ"}),
    )

    result = run_agent(cloud_says, {"provision": True}, state)

    done(result, AZURE_AGENT)
    target = f"{PACKAGES}\\GuestAgent"
    assert result.state.files.list_dir(target) == ["WaSvc.exe", "WindowsAzureGuestAgent.exe"]
    agent = result.state.find_service("WindowsAzureGuestAgent")
    assert agent is not None
    assert agent.binary_path.startswith(f'"{target}\\WaSvc.exe" -name WindowsAzureGuestAgent')
    assert (agent.start_mode, agent.status) == (
        SERVICE_START_MODE_AUTOMATIC,
        SERVICE_STATUS_RUNNING,
    )
    assert result.state.find_service("RdAgent") is None
    assert commands(result, "logman.exe") == []


def test_azure_agent_needs_windows_6_1(cloud_says: Any) -> None:
    state = azure_guest()
    state.version.major, state.version.minor, state.version.build = 6, 0, 6002

    result = run_agent(cloud_says, PROVISION, state)

    assert skipped_for_os_version(result, "AzureGuestAgentPlugin")
    assert result.state.find_service("WindowsAzureTelemetryService") is not None
