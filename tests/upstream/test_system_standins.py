"""The published agent's Windows system plugins on the fake Windows, through the stand-ins.

Boot configuration, power settings, the storage manager, licensing and Windows Update:
each story runs the upstream plugin in the simulated world and looks at what a user of the
machine would find afterwards (the BCD entry, the registry, the volumes, the agent's log).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.upstream import UpstreamAgent
from guestsim.simulator.windows.bootconfig import disk_signature
from guestsim.simulator.windows.licensing import KMS_CLIENT, RETAIL, SPP_KEY
from guestsim.simulator.windows.registry import RegistryError
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.updates import AUTO_UPDATE_KEY
from guestsim.simulator.windows.volumes import MEMORY_MANAGEMENT_KEY, PAGING_FILES

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cloudbaseinit") is None,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)

PLUGINS = bundled("scenarios") / "plugins"
PARTMGR_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\partmgr\\Parameters"
SEPARATE_SYSTEM_VOLUME = "\\\\?\\Volume{00000000-0000-0000-0000-00000000beef}\\"


def _library(name: str) -> ScenarioOutcome:
    return run_scenario(load_scenario(PLUGINS / f"{name}.yaml"), agent=UpstreamAgent())


def _variant(
    tmp_path: Path,
    name: str,
    options: dict[str, Any] | None = None,
    machine: dict[str, Any] | None = None,
    prepare: Callable[[WindowsState], None] | None = None,
    meta_data: dict[str, Any] | None = None,
) -> RunResult:
    """A library story with other agent options, machine settings or metadata (a None
    value removes the item), and the fake Windows changed before the first boot, run with
    the published agent."""
    data = yaml.safe_load((PLUGINS / f"{name}.yaml").read_text())
    data["agent"]["options"]["DEFAULT"].update(options or {})
    data.setdefault("machine", {}).update(machine or {})
    cloud_meta_data = data["cloud"].setdefault("meta_data", {})
    for key, value in (meta_data or {}).items():
        if value is None:
            cloud_meta_data.pop(key, None)
        else:
            cloud_meta_data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    built = load_scenario(path).build_machine(agent=UpstreamAgent())
    if prepare is not None:
        prepare(built.state)
    return built.run()


def _registry(result: RunResult, key: str, name: str) -> Any:
    """The value's data, or None when the key or the value is not there."""
    try:
        return result.state.registry.get_value(key, name).data
    except RegistryError:
        return None


def _plugin_errors(result: RunResult, plugin: str) -> list[str]:
    """The errors of the plugin's failed runs, as the trace reports them, in order."""
    return [
        str(event.fields.get("error"))
        for event in result.trace.of_kind("plugin_end")
        if event.fields.get("plugin") == plugin and not event.fields.get("success")
    ]


def _agent_log(result: RunResult, logger: str) -> list[str]:
    """The messages upstream's ``logger`` wrote, in order."""
    prefix = f"{logger}: "
    return [
        line.split(" ", 3)[3].removeprefix(prefix)
        for line in result.log
        if line.split(" ", 3)[3].startswith(prefix)
    ]


# --- boot configuration ---------------------------------------------------------------------


def test_the_boot_status_policy_is_set_once_with_bcdedit() -> None:
    outcome = _library("boot-status-policy")

    assert outcome.failures == []
    entry = outcome.result.state.boot_config.current_entry
    assert entry["bootstatuspolicy"] == "IgnoreAllFailures"
    assert _agent_log(outcome.result, "cloudbaseinit.utils.windows.bootconfig") == [
        "Setting boot status policy: ignoreallfailures"
    ]


def test_bcd_config_points_the_entry_at_c_renews_the_disk_id_and_enables_recovery(
    tmp_path: Path,
) -> None:
    def moved_devices(state: WindowsState) -> None:
        # An image captured elsewhere: the entry names the volume it was built on.
        state.boot_config.current_entry["device"] = "partition=\\Device\\HarddiskVolume3"
        state.boot_config.current_entry["osdevice"] = "partition=\\Device\\HarddiskVolume3"
        state.boot_config.set_auto_recovery(False)

    result = _variant(tmp_path, "bcd-config", prepare=moved_devices)

    assert _plugin_errors(result, "BCDConfigPlugin") == []
    entry = result.state.boot_config.current_entry
    assert (entry["device"], entry["osdevice"]) == ("partition=C:", "partition=C:")
    assert entry["recoveryenabled"] == "Yes"
    assert disk_signature(result.state.disks[0]) != "00000000"


def test_the_bcd_config_story_passes() -> None:
    assert _library("bcd-config").failures == []


def test_bcdedit_failing_fails_the_boot_status_plugin_with_its_output(tmp_path: Path) -> None:
    def locked_store(state: WindowsState) -> None:
        state.boot_config.store_available = False

    result = _variant(tmp_path, "boot-status-policy", prepare=locked_store)

    errors = _plugin_errors(result, "BootStatusPolicyPlugin")
    assert errors
    assert errors[0].startswith("CloudbaseInitException: bcdedit failed.")
    assert "The boot configuration data store could not be opened" in errors[0]
    assert "bootstatuspolicy" not in result.state.boot_config.current_entry


def test_auto_recovery_is_set_and_read_back_with_a_separate_system_partition(
    tmp_path: Path,
) -> None:
    def separate_system_partition(state: WindowsState) -> None:
        state.boot_config.system_volume = SEPARATE_SYSTEM_VOLUME
        state.boot_config.set_auto_recovery(False)

    result = _variant(tmp_path, "bcd-config", prepare=separate_system_partition)

    assert _plugin_errors(result, "BCDConfigPlugin") == []
    entry = result.state.boot_config.current_entry
    assert entry["recoveryenabled"] == "Yes"
    # Boot and system volumes differ: upstream leaves the entry's devices alone.
    assert entry["device"] == "partition=C:"


def test_turning_auto_recovery_off_is_read_back_too(tmp_path: Path) -> None:
    def separate_system_partition(state: WindowsState) -> None:
        state.boot_config.system_volume = SEPARATE_SYSTEM_VOLUME

    result = _variant(
        tmp_path,
        "bcd-config",
        options={"bcd_enable_auto_recovery": False},
        prepare=separate_system_partition,
    )

    assert _plugin_errors(result, "BCDConfigPlugin") == []
    assert result.state.boot_config.current_entry["recoveryenabled"] == "No"


def test_a_bcd_store_that_cannot_be_opened_fails_the_bcd_plugin(tmp_path: Path) -> None:
    def locked_store(state: WindowsState) -> None:
        state.boot_config.system_volume = SEPARATE_SYSTEM_VOLUME
        state.boot_config.store_available = False

    result = _variant(tmp_path, "bcd-config", prepare=locked_store)

    errors = _plugin_errors(result, "BCDConfigPlugin")
    assert errors
    assert errors[0].startswith("CloudbaseInitException: ")
    assert result.state.boot_config.current_entry["recoveryenabled"] == "Yes"


# --- power settings --------------------------------------------------------------------------


def test_the_display_idle_timeout_replaces_the_balanced_default() -> None:
    outcome = _library("display-idle-timeout")

    assert outcome.failures == []
    assert outcome.result.state.power.display_idle_timeout() == 300


# --- the storage manager ----------------------------------------------------------------------


def test_extend_volumes_grows_c_to_the_end_of_its_disk_and_logs_as_vds() -> None:
    outcome = _library("extend-volumes")

    assert outcome.failures == []
    assert outcome.result.state.volumes[0].size == 68718428160
    vds = "cloudbaseinit.utils.windows.storage.vds_storage_manager"
    assert _agent_log(outcome.result, vds) == [
        'Extending volume "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1" with 25768755200 bytes'
    ]
    # Every line is upstream's own, none guestsim's agent's.
    assert not any(line.split(" ", 3)[3].startswith("agent.") for line in outcome.result.log)


def test_on_nano_server_volumes_are_extended_through_wsm(tmp_path: Path) -> None:
    def nano(state: WindowsState) -> None:
        state.version.nano_server = True

    result = _variant(tmp_path, "extend-volumes", prepare=nano)

    assert result.state.volumes[0].size == 68718428160
    wsm = "cloudbaseinit.utils.windows.storage.wsm_storage_manager"
    assert _agent_log(result, wsm) == ['Extending partition "1" to 68718428160 bytes']


def test_the_san_policy_online_all_is_written_for_partmgr() -> None:
    outcome = _library("san-policy")

    assert outcome.failures == []
    assert _registry(outcome.result, PARTMGR_KEY, "SanPolicy") == 1
    assert _agent_log(outcome.result, "cloudbaseinit.plugins.windows.sanpolicy") == [
        "SAN policy set to: 1"
    ]


def test_on_nano_server_only_online_all_can_be_set(tmp_path: Path) -> None:
    def nano(state: WindowsState) -> None:
        state.version.nano_server = True
        state.registry.create_key(PARTMGR_KEY)

    result = _variant(tmp_path, "san-policy", options={"san_policy": "OfflineAll"}, prepare=nano)

    assert _plugin_errors(result, "SANPolicyPlugin") == [
        "CloudbaseInitException: Only SAN_POLICY_ONLINE is currently supported"
    ]
    assert _registry(result, PARTMGR_KEY, "SanPolicy") is None


# --- page files ----------------------------------------------------------------------------------


def test_page_files_skip_a_missing_mount_point_and_land_on_the_labelled_volumes() -> None:
    outcome = _library("page-files")

    assert outcome.failures == []
    assert _registry(outcome.result, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == [
        "C:\\pagefile.sys 0 0",
        "E:\\pagefile.sys 0 0",
    ]
    assert "Mount point not found: Z:\\" in _agent_log(
        outcome.result, "cloudbaseinit.plugins.windows.pagefiles"
    )


# --- licensing -----------------------------------------------------------------------------------


def test_the_kms_host_from_the_metadata_is_stored_and_activation_fails_without_kms() -> None:
    outcome = _library("licensing-kms")

    assert outcome.failures == []
    result = outcome.result
    assert _registry(result, SPP_KEY, "KeyManagementServiceName") == "kms.sim.test"
    assert _registry(result, SPP_KEY, "KeyManagementServicePort") == "1689"
    errors = _plugin_errors(result, "WindowsLicensingPlugin")
    assert len(errors) == 2
    assert errors[0].startswith("CloudbaseInitException: slmgr.vbs failed with error code ")
    assert "0xC004F074" in errors[0]


def test_a_kms_host_without_a_port_gets_upstreams_default_port(tmp_path: Path) -> None:
    def kms_answers(state: WindowsState) -> None:
        state.licensing.kms_servers["kms.sim.test"] = 1688

    result = _variant(
        tmp_path,
        "licensing-kms",
        options={"kms_host": "kms.sim.test"},
        prepare=kms_answers,
        meta_data={"kms_host": None},
    )
    # The cloud's metadata names no KMS host here: the configuration's is used.
    assert _registry(result, SPP_KEY, "KeyManagementServiceName") == "kms.sim.test"
    # Upstream always sets the port, 1688 when the host came without one.
    assert _registry(result, SPP_KEY, "KeyManagementServicePort") == "1688"
    assert _plugin_errors(result, "WindowsLicensingPlugin") == []
    assert result.state.licensing.activated_by == "kms.sim.test:1688"


def test_upstream_installs_its_own_kms_client_key_for_the_edition(tmp_path: Path) -> None:
    def retail_key(state: WindowsState) -> None:
        state.licensing.installed_channel = RETAIL
        state.licensing.installed_key = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"

    result = _variant(
        tmp_path,
        "licensing-kms",
        options={"activate_windows": False},
        machine={"os_version": "10.0.14393"},
        prepare=retail_key,
    )

    assert _plugin_errors(result, "WindowsLicensingPlugin") == []
    assert result.state.licensing.installed_channel == KMS_CLIENT
    assert "Setting product key: CB7KF-BWN84-R7R2Y-793K2-8XDDG" in _agent_log(
        result, "cloudbaseinit.plugins.windows.licensing"
    )


def test_on_server_2019_upstream_offers_the_2016_key_and_windows_refuses_it(
    tmp_path: Path,
) -> None:
    # Upstream's key table has one entry per (major, minor): every 10.0 release gets
    # Windows Server 2016's KMS client key.
    def retail_key(state: WindowsState) -> None:
        state.licensing.installed_channel = RETAIL
        state.licensing.installed_key = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"

    result = _variant(
        tmp_path,
        "licensing-kms",
        options={"activate_windows": False},
        machine={"os_version": "10.0.17763"},
        prepare=retail_key,
    )

    errors = _plugin_errors(result, "WindowsLicensingPlugin")
    assert errors
    assert "InstallProductKey failed" in errors[0]
    assert result.state.licensing.installed_channel == RETAIL


# --- Windows Update ------------------------------------------------------------------------------


def test_automatic_updates_before_windows_8_fail_on_upstreams_misspelled_property() -> None:
    # Upstream assigns the install hour to AutoUpdate.SettingsScheduledInstallationTime,
    # which the COM object does not have: pywin32 raises, Settings.Save() is never called.
    outcome = _library("automatic-updates")

    result = outcome.result
    assert _plugin_errors(result, "WindowsAutoUpdatesPlugin") == [
        "AttributeError: Property 'Microsoft.Update.AutoUpdate."
        "SettingsScheduledInstallationTime' can not be set."
    ]
    assert result.state.updates.notification_level == 0
    assert not result.state.registry.key_exists(AUTO_UPDATE_KEY)


def test_automatic_updates_from_windows_8_on_are_scheduled_and_saved(tmp_path: Path) -> None:
    result = _variant(tmp_path, "automatic-updates", machine={"os_version": "6.2.9200"})

    assert _plugin_errors(result, "WindowsAutoUpdatesPlugin") == []
    assert _registry(result, AUTO_UPDATE_KEY, "AUOptions") == 4
    assert _registry(result, AUTO_UPDATE_KEY, "ScheduledInstallTime") == 3


def test_automatic_updates_can_be_turned_off(tmp_path: Path) -> None:
    result = _variant(tmp_path, "automatic-updates", options={"enable_automatic_updates": False})

    assert _plugin_errors(result, "WindowsAutoUpdatesPlugin") == []
    assert _registry(result, AUTO_UPDATE_KEY, "AUOptions") == 1


# --- all of them -----------------------------------------------------------------------------


def test_every_plugin_the_published_agent_ships_completes() -> None:
    outcome = _library("every-plugin")

    assert outcome.failures == []
    state = outcome.result.state
    assert state.boot_config.current_entry["recoveryenabled"] == "No"
    assert state.power.display_idle_timeout() == 0
