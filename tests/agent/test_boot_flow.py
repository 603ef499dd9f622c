"""The boot flow of reference §1-2: stages, plugin status persistence, reboots, respawn.

Every test runs the real agent on a simulated machine and checks what a guest would show
afterwards: registry values, users, the computer name, service status, the trace of boot
events or the cloud's request log. Plugins and metadata services defined here are
test-only classes whose return values we choose; they are loaded through the real loader
(see ``register_plugin``), so the flow around them is the production one.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.osutils import SERVICE_STATUS_RUNNING, SERVICE_STATUS_STOPPED
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)
from guestsim.simulator.clouds.base import SimRequest, SimResponse, not_found
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.registry import RegistryError, RegType, RegValue
from guestsim.simulator.windows.state import AGENT_KEY, TIME_ZONE_KEY, UserAccount, WindowsState
from tests.builders import (
    INSTANCE_ID,
    meta_data,
    openstack_machine,
    register_metadata_service,
    register_plugin,
)

PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
HOSTNAME_LEGACY = "cloudbaseinit.plugins.windows.sethostname.SetHostNamePlugin"
NTP_COMMON = "cloudbaseinit.plugins.common.ntpclient.NTPClientPlugin"
MTU = "cloudbaseinit.plugins.common.mtu.MTUPlugin"
BASE_URL = "http://169.254.169.254/"
META = "openstack/latest/meta_data.json"
CLEANUP_MARKER = "C:\\guestsim-cleanup.log"
REBOOT_ONCE_MARKER = "C:\\guestsim-rebooted-once"
SERVICE_USER = "cloudbase-init"
SERVICE_USER_PASSWORD = "Original-Passw0rd"


# --- test-only plugins -----------------------------------------------------------------------


class DonePlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTION_DONE, False


class NextBootPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False


class AlwaysRebootPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, True


class RebootOncePlugin(Plugin):
    """(NEXT_BOOT, True) the first time, (DONE, False) once the guest has rebooted."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        if self.osutils.path_exists(REBOOT_ONCE_MARKER):
            return PLUGIN_EXECUTION_DONE, False
        self.osutils.write_file(REBOOT_ONCE_MARKER, b"1")
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, True


class RaisingPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise RuntimeError("boom")


class RaisingPreNetworkingPlugin(RaisingPlugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_NETWORKING


class RebootPreMetadataPlugin(Plugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_METADATA_DISCOVERY

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTION_DONE, True


class Requires62Plugin(DonePlugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 2))


class RequiresLinuxPlugin(DonePlugin):
    os_requirements: ClassVar[OSRequirements] = ("linux", None)


class BrokenRequirementsPlugin(DonePlugin):
    """Its OS check raises: an exception that escapes the MAIN stage itself."""

    def get_os_requirements(self) -> OSRequirements:
        raise RuntimeError("cannot tell")


class SharedNamePlugin(DonePlugin):
    pass


class SharedNameTwin(DonePlugin):
    pass


# A different class that upstream would store under the same registry value name.
SharedNameTwin.__name__ = "SharedNamePlugin"


# --- test-only metadata services and clouds --------------------------------------------------


class CleanupRecordingService(OpenStackHttpService):
    """The OpenStack HTTP service, leaving a line in a guest file whenever it is cleaned up."""

    def cleanup(self) -> None:
        self.osutils.write_file(CLEANUP_MARKER, b"cleanup\n", append=True)


class FailingStartedService(OpenStackHttpService):
    def provisioning_started(self) -> None:
        raise RuntimeError("report endpoint down")


class FailingReportsService(OpenStackHttpService):
    def provisioning_completed(self) -> None:
        raise RuntimeError("report endpoint down")

    def provisioning_failed(self) -> None:
        raise RuntimeError("report endpoint down")


class NoMetaDataCloud(OpenStackCloud):
    """An OpenStack endpoint whose ``meta_data.json`` answers 404."""

    def _meta_data(self, request: SimRequest, version: str) -> SimResponse:
        return not_found()


# --- helpers ---------------------------------------------------------------------------------


def events(result: RunResult, kind: str, boot: int | None = None) -> list[Event]:
    return [e for e in result.trace.of_kind(kind) if boot is None or e.boot == boot]


def started(result: RunResult, boot: int) -> list[str]:
    return [str(e.get("plugin")) for e in events(result, "plugin_start", boot)]


def stage_end(result: RunResult, stage: str, boot: int = 1) -> Event:
    (event,) = [e for e in events(result, "stage_end", boot) if e.get("stage") == stage]
    return event


def stages_started(result: RunResult, boot: int) -> list[str]:
    return [str(e.get("stage")) for e in events(result, "stage_start", boot)]


def reports(result: RunResult, boot: int | None = None) -> list[str]:
    return [str(e.get("state")) for e in events(result, "provisioning_report", boot)]


def stored(result: RunResult, name: str, key: str = PLUGINS_KEY) -> RegValue | None:
    try:
        return result.state.registry.get_value(key, name)
    except RegistryError:
        return None


def seq_of(result: RunResult, kind: str, boot: int, **fields: Any) -> int:
    for event in events(result, kind, boot):
        if all(event.get(name) == value for name, value in fields.items()):
            return event.seq
    raise AssertionError(f"no {kind} {fields} in boot {boot}")


def service_account_state() -> WindowsState:
    """The agent's service runs as the local user ``cloudbase-init``, as the MSI can set up."""
    state = default_windows_state()
    state.users.append(UserAccount(SERVICE_USER, state.next_rid(), password=SERVICE_USER_PASSWORD))
    service = state.find_service("cloudbase-init")
    assert service is not None
    service.account = f".\\{SERVICE_USER}"
    return state


# --- §1.2: the stages ------------------------------------------------------------------------


def test_stages_run_in_order_pre_networking_pre_metadata_discovery_main() -> None:
    machine, _ = openstack_machine(("createuser",))

    result = machine.run()

    assert stages_started(result, 1) == ["PRE_NETWORKING", "PRE_METADATA_DISCOVERY", "MAIN"]
    kinds = [e.kind for e in result.trace if e.kind in ("stage_end", "metadata_service")]
    # Discovery happens between the PRE_* stages and MAIN.
    assert kinds == ["stage_end", "stage_end", "metadata_service", "stage_end"]


def test_final_success_comes_from_the_last_stage_that_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed PRE_NETWORKING stage does not stop "completed" when MAIN then succeeds."""
    raising = register_plugin(monkeypatch, RaisingPreNetworkingPlugin)
    machine, _ = openstack_machine(
        (raising, "createuser"), {"metadata_report_provisioning_completed": True}
    )

    result = machine.run()

    assert stage_end(result, "PRE_NETWORKING").get("success") is False
    assert stage_end(result, "MAIN").get("success") is True
    assert events(result, "agent_done")[0].get("success") is True
    assert reports(result) == ["completed"]


# --- §2.1: where statuses live ---------------------------------------------------------------


def test_plugin_status_is_a_dword_named_after_the_bare_class_under_instance_plugins_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    next_boot = register_plugin(monkeypatch, NextBootPlugin)
    machine, _ = openstack_machine(("createuser", next_boot))

    result = machine.run()

    assert stored(result, "CreateUserPlugin") == RegValue(1, RegType.REG_DWORD)
    assert stored(result, "NextBootPlugin") == RegValue(2, RegType.REG_DWORD)
    # The value name is the class name, never the dotted path.
    names = [name for name, _ in result.state.registry.values(PLUGINS_KEY)]
    assert names == ["CreateUserPlugin", "NextBootPlugin"]


def test_instance_id_with_slashes_makes_nested_subkeys() -> None:
    machine, _ = openstack_machine(("createuser",), document=meta_data(uuid="region/az1/vm-7"))

    result = machine.run()

    key = f"{AGENT_KEY}\\region\\az1\\vm-7\\Plugins"
    assert stored(result, "CreateUserPlugin", key) == RegValue(1, RegType.REG_DWORD)
    assert result.state.registry.subkeys(AGENT_KEY) == ["region"]
    assert result.state.registry.subkeys(f"{AGENT_KEY}\\region") == ["az1"]


def test_integer_instance_id_is_formatted_as_text() -> None:
    machine, _ = openstack_machine(("createuser",), document=meta_data(uuid=4711))

    result = machine.run()

    key = f"{AGENT_KEY}\\4711\\Plugins"
    assert stored(result, "CreateUserPlugin", key) == RegValue(1, RegType.REG_DWORD)


def test_empty_instance_id_uses_the_bare_plugins_section_and_still_persists() -> None:
    machine, _ = openstack_machine(("hostname", "createuser"), document=meta_data(uuid=""))

    result = machine.run()

    key = f"{AGENT_KEY}\\Plugins"
    assert stored(result, "SetHostNamePlugin", key) == RegValue(1, RegType.REG_DWORD)
    assert stored(result, "CreateUserPlugin", key) == RegValue(1, RegType.REG_DWORD)
    # Persisted, so honoured: the host name plugin is skipped after its reboot.
    assert [b.outcome for b in result.boots] == ["reboot", "stopped"]
    skipped = events(result, "plugin_skipped", 2)
    assert [(e.get("plugin"), e.get("reason")) for e in skipped] == [("SetHostNamePlugin", "done")]


def test_no_instance_id_reads_and_writes_no_status_so_plugins_rerun() -> None:
    document = meta_data()
    del document["uuid"]
    machine, _ = openstack_machine(("hostname", "createuser"), document=document)

    result = machine.run()

    assert result.state.registry.subkeys(AGENT_KEY) == []
    assert result.state.registry.values(AGENT_KEY) == []
    # Boot 2 runs SetHostName again (the name is now right, so no second reboot).
    assert started(result, 2) == ["SetHostNamePlugin", "CreateUserPlugin"]
    assert events(result, "plugin_skipped") == []


def test_two_plugin_classes_with_the_same_name_share_one_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """§10.13: the value name is the bare class name, so the second class is "done" too."""
    first = register_plugin(monkeypatch, SharedNamePlugin)
    twin = register_plugin(monkeypatch, SharedNameTwin)
    machine, _ = openstack_machine((first, twin))

    result = machine.run()

    assert started(result, 1) == ["SharedNamePlugin"]
    skipped = events(result, "plugin_skipped", 1)
    assert [(e.get("plugin"), e.get("reason")) for e in skipped] == [("SharedNamePlugin", "done")]


# --- §2.2 / §1.5: statuses across boots --------------------------------------------------------


def test_done_plugin_is_skipped_on_the_next_boot() -> None:
    machine, _ = openstack_machine(("hostname", "createuser"))

    result = machine.run()

    assert started(result, 1) == ["SetHostNamePlugin"]
    assert started(result, 2) == ["CreateUserPlugin"]
    skipped = events(result, "plugin_skipped", 2)
    assert [(e.get("plugin"), e.get("reason")) for e in skipped] == [("SetHostNamePlugin", "done")]


def test_status_is_written_before_the_reboot_so_done_with_reboot_is_not_rerun() -> None:
    machine, _ = openstack_machine(("hostname",))

    result = machine.run()

    assert result.boots[0].outcome == "reboot"
    assert seq_of(result, "os", 1, call="set_registry_value", name="SetHostNamePlugin") < seq_of(
        result, "reboot", 1
    )
    assert started(result, 2) == []


def test_next_boot_plugin_reruns_on_every_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    next_boot = register_plugin(monkeypatch, NextBootPlugin)
    machine, _ = openstack_machine((next_boot, "hostname"))

    result = machine.run()

    assert result.boot_count == 2
    assert started(result, 1) == ["NextBootPlugin", "SetHostNamePlugin"]
    assert started(result, 2) == ["NextBootPlugin"]
    assert stored(result, "NextBootPlugin") == RegValue(2, RegType.REG_DWORD)


def test_next_boot_with_reboot_stops_the_stage_then_runs_again_then_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reboot_once = register_plugin(monkeypatch, RebootOncePlugin)
    machine, _ = openstack_machine((reboot_once, "createuser"))

    result = machine.run()

    assert [b.outcome for b in result.boots] == ["reboot", "stopped"]
    assert result.boots[0].reboot_requested_by == "RebootOncePlugin"
    assert started(result, 1) == ["RebootOncePlugin"]
    assert started(result, 2) == ["RebootOncePlugin", "CreateUserPlugin"]
    assert stored(result, "RebootOncePlugin") == RegValue(1, RegType.REG_DWORD)


# --- §1.5: a raising plugin ---------------------------------------------------------------------


def test_raising_plugin_fails_its_stage_stores_nothing_and_later_plugins_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine((raising, "createuser"))

    result = machine.run()

    (end,) = [e for e in events(result, "plugin_end", 1) if e.get("plugin") == "RaisingPlugin"]
    assert end.get("success") is False
    assert end.get("status") is None
    assert end.get("error") == "RuntimeError: boom"
    assert stage_end(result, "MAIN").get("success") is False
    assert stored(result, "RaisingPlugin") is None
    assert started(result, 1) == ["RaisingPlugin", "CreateUserPlugin"]
    assert result.state.find_user("Admin") is not None
    # A plugin failure never changes the exit code.
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]


def test_raising_plugin_runs_again_on_the_next_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine((raising, "hostname"))

    result = machine.run()

    assert result.boot_count == 2
    assert started(result, 1) == ["RaisingPlugin", "SetHostNamePlugin"]
    assert started(result, 2) == ["RaisingPlugin"]
    assert stage_end(result, "MAIN", boot=2).get("success") is False


def test_failed_main_stage_reports_failed_before_the_reboot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine(
        (raising, "hostname"), {"metadata_report_provisioning_completed": True}
    )

    result = machine.run()

    assert reports(result, 1) == ["failed"]
    assert seq_of(result, "provisioning_report", 1) < seq_of(result, "reboot", 1)
    # The final run still fails: "failed" again, never "completed".
    assert reports(result, 2) == ["failed"]


def test_completed_is_reported_only_by_the_final_successful_run_without_reboot() -> None:
    machine, _ = openstack_machine(
        ("hostname", "createuser"), {"metadata_report_provisioning_completed": True}
    )

    result = machine.run()

    assert reports(result, 1) == []
    assert reports(result, 2) == ["completed"]
    assert seq_of(result, "agent_done", 2) < seq_of(result, "provisioning_report", 2)


def test_completed_is_not_reported_without_the_option() -> None:
    machine, _ = openstack_machine(("createuser",))

    result = machine.run()

    assert reports(result) == []


def test_failing_provisioning_reports_are_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    service = register_metadata_service(monkeypatch, FailingReportsService)
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine(
        (raising,),
        {"metadata_services": [service], "metadata_report_provisioning_completed": True},
    )

    result = machine.run()

    assert reports(result) == ["failed"]
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]
    assert len(events(result, "agent_done")) == 1
    assert len(events(result, "agent_service_stopped")) == 1


# --- §1.4 / §10.1: reboot requests within a stage ------------------------------------------------


def test_allow_reboot_stops_the_stage_at_the_first_reboot_request() -> None:
    machine, _ = openstack_machine(("hostname", "createuser"))

    result = machine.run()

    assert started(result, 1) == ["SetHostNamePlugin"]
    assert stage_end(result, "MAIN").get("reboot") is True
    assert len(events(result, "reboot", 1)) == 1
    assert events(result, "agent_done", 1) == []
    assert result.boots[0].outcome == "reboot"
    assert result.boots[0].reboot_requested_by == "SetHostNamePlugin"


def test_without_allow_reboot_nothing_reboots_and_the_run_ends_done() -> None:
    machine, _ = openstack_machine(("createuser", "hostname"), {"allow_reboot": False})

    result = machine.run()

    assert started(result, 1) == ["CreateUserPlugin", "SetHostNamePlugin"]
    assert stage_end(result, "MAIN").get("reboot") is True
    assert events(result, "reboot") == []
    assert events(result, "reboot_requested") == []
    assert len(events(result, "agent_done")) == 1
    assert any(line.endswith("Plugins execution done") for line in result.log)
    assert [b.outcome for b in result.boots] == ["stopped"]


def test_without_allow_reboot_only_the_last_plugins_reboot_flag_survives() -> None:
    """§10.1: a reboot request followed by a plugin that asks for none is forgotten."""
    machine, _ = openstack_machine(("hostname", "createuser"), {"allow_reboot": False})

    result = machine.run()

    assert started(result, 1) == ["SetHostNamePlugin", "CreateUserPlugin"]
    ends = events(result, "plugin_end", 1)
    assert [e.get("reboot") for e in ends] == [True, False]
    assert stage_end(result, "MAIN").get("reboot") is False


def test_os_requirement_skip_leaves_the_reboot_flag_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needs_62 = register_plugin(monkeypatch, Requires62Plugin)
    state = default_windows_state()
    state.version.major, state.version.minor = 6, 1
    machine, _ = openstack_machine(("hostname", needs_62), {"allow_reboot": False}, state=state)

    result = machine.run()

    assert stage_end(result, "MAIN").get("reboot") is True


# --- §1.2 steps 7-8: reboots requested before MAIN ---------------------------------------------


def test_reboot_in_pre_networking_skips_the_later_stages_and_discovery() -> None:
    machine, cloud = openstack_machine(("ntp", "createuser"), {"real_time_clock_utc": True})

    result = machine.run()

    assert [b.outcome for b in result.boots] == ["reboot", "stopped"]
    assert result.boots[0].reboot_requested_by == "NTPClientPlugin"
    assert stages_started(result, 1) == ["PRE_NETWORKING"]
    assert events(result, "metadata_service", 1) == []
    assert events(result, "http", 1) == []
    assert stages_started(result, 2) == ["PRE_NETWORKING", "PRE_METADATA_DISCOVERY", "MAIN"]
    assert result.state.registry.get_value(TIME_ZONE_KEY, "RealTimeIsUniversal").data == 1
    # The cloud was asked only on boot 2 (the route check's GET of the root, then the document).
    assert [r.path for r in cloud.requests] == ["/", "/openstack/latest/meta_data.json"]


def test_reboot_in_pre_metadata_discovery_skips_discovery_and_main(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebooting = register_plugin(monkeypatch, RebootPreMetadataPlugin)
    machine, cloud = openstack_machine((rebooting, "createuser"), max_boots=2)

    result = machine.run()

    # A PRE_* plugin's DONE is never stored, so it asks for a reboot on every boot.
    assert result.reboot_loop
    for boot in (1, 2):
        assert stages_started(result, boot) == ["PRE_NETWORKING", "PRE_METADATA_DISCOVERY"]
    assert cloud.requests == []


def test_pre_stage_plugins_rerun_every_boot_and_are_never_stored() -> None:
    machine, _ = openstack_machine(
        (MTU, NTP_COMMON, "hostname", "createuser"),
        {"real_time_clock_utc": True, "mtu_use_dhcp_config": False},
    )

    result = machine.run()

    assert [b.outcome for b in result.boots] == ["reboot", "reboot", "stopped"]
    assert started(result, 1) == ["NTPClientPlugin"]
    assert started(result, 2) == ["NTPClientPlugin", "MTUPlugin", "SetHostNamePlugin"]
    assert started(result, 3) == ["NTPClientPlugin", "MTUPlugin", "CreateUserPlugin"]
    names = [name for name, _ in result.state.registry.values(PLUGINS_KEY)]
    assert names == ["CreateUserPlugin", "SetHostNamePlugin"]
    assert result.state.registry.subkeys(AGENT_KEY) == [INSTANCE_ID]


# --- §1.2 step 9.4: cleanup -------------------------------------------------------------------


def test_service_cleanup_runs_even_when_a_main_plugin_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = register_metadata_service(monkeypatch, CleanupRecordingService)
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine((raising,), {"metadata_services": [service]})

    result = machine.run()

    assert result.state.files.read(CLEANUP_MARKER) == b"cleanup\n"
    write = seq_of(result, "os", 1, call="write_file", path=CLEANUP_MARKER)
    assert seq_of(result, "stage_end", 1, stage="MAIN") < write < seq_of(result, "agent_done", 1)


def test_service_cleanup_runs_before_a_reboot(monkeypatch: pytest.MonkeyPatch) -> None:
    service = register_metadata_service(monkeypatch, CleanupRecordingService)
    machine, _ = openstack_machine(("hostname",), {"metadata_services": [service]})

    result = machine.run()

    assert result.boot_count == 2
    assert result.state.files.read(CLEANUP_MARKER) == b"cleanup\ncleanup\n"
    write = seq_of(result, "os", 1, call="write_file", path=CLEANUP_MARKER)
    assert write < seq_of(result, "reboot", 1)


def test_service_cleanup_runs_even_when_the_main_stage_itself_aborts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = register_metadata_service(monkeypatch, CleanupRecordingService)
    broken = register_plugin(monkeypatch, BrokenRequirementsPlugin)
    machine, _ = openstack_machine((broken,), {"metadata_services": [service]})

    result = machine.run()

    assert [(b.outcome, b.exit_code) for b in result.boots] == [("crashed", 1)]
    assert result.state.files.read(CLEANUP_MARKER) == b"cleanup\n"
    assert events(result, "agent_done") == []


# --- §1.2 step 8 / §7.1: discovery ------------------------------------------------------------


def test_no_metadata_service_found_skips_main_after_retrying_in_virtual_time() -> None:
    machine, _ = openstack_machine(("createuser",), {"stop_service_on_exit": False}, clouds=[])

    wall_start = time.monotonic()
    result = machine.run()
    wall_s = time.monotonic() - wall_start

    (found,) = events(result, "metadata_service")
    assert found.get("name") is None
    assert "MAIN" not in stages_started(result, 1)
    assert events(result, "plugin_start") == []
    assert len(events(result, "agent_done")) == 1
    http = events(result, "http")
    # Three GETs of the root (the route check, without retries or sleeps), then six
    # attempts at the document four seconds apart.
    assert [e.get("url") for e in http] == [BASE_URL] * 3 + [BASE_URL + META] * 6
    assert {e.get("error") for e in http} == {"refused"}
    sleeps = events(result, "sleep")
    assert [e.get("seconds") for e in sleeps] == [4.0] * 5
    assert [e.t_ms for e in http] == [0, 0, 0, 0, 4000, 8000, 12000, 16000, 20000]
    assert found.t_ms == 20_000
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]
    assert wall_s < 2.0


def test_meta_data_404_costs_exactly_one_request() -> None:
    cloud = NoMetaDataCloud(OpenStackModel(meta_data=meta_data()))
    machine, _ = openstack_machine(("createuser",), clouds=[cloud])

    result = machine.run()

    assert [(r.path, r.status) for r in cloud.requests] == [
        ("/", 200),
        ("/openstack/latest/meta_data.json", 404),
    ]
    # Not retried: no sleep before the run ends.
    done = seq_of(result, "agent_done", 1)
    assert [e for e in events(result, "sleep") if e.seq < done] == []
    assert events(result, "metadata_service")[0].get("name") is None
    assert "MAIN" not in stages_started(result, 1)


# --- §1.2 step 10: stopping the service -------------------------------------------------------


def test_stop_service_on_exit_stops_the_agent_service_after_3_seconds() -> None:
    machine, _ = openstack_machine(("createuser",))

    result = machine.run()

    service = result.state.find_service("cloudbase-init")
    assert service is not None
    assert service.status == SERVICE_STATUS_STOPPED
    (sleep,) = [e for e in events(result, "sleep") if e.seq > seq_of(result, "agent_done", 1)]
    assert sleep.get("seconds") == 3
    (stopped,) = events(result, "agent_service_stopped")
    assert stopped.seq > sleep.seq
    assert stopped.t_ms - sleep.t_ms == 3000


def test_without_stop_service_on_exit_the_agent_service_keeps_running() -> None:
    machine, _ = openstack_machine(("createuser",), {"stop_service_on_exit": False})

    result = machine.run()

    service = result.state.find_service("cloudbase-init")
    assert service is not None
    assert service.status == SERVICE_STATUS_RUNNING
    assert events(result, "agent_service_stopped") == []
    assert events(result, "sleep") == []


def test_service_is_not_stopped_when_the_run_ends_in_a_reboot() -> None:
    machine, _ = openstack_machine(("hostname",))

    result = machine.run()

    assert [e.boot for e in events(result, "agent_service_stopped")] == [2]


# --- §3.1: plugin loading ---------------------------------------------------------------------


def test_legacy_plugin_path_is_rewritten_and_runs() -> None:
    machine, _ = openstack_machine((HOSTNAME_LEGACY,), {"allow_reboot": False})

    result = machine.run()

    assert started(result, 1) == ["SetHostNamePlugin"]
    assert result.state.pending_computer_name == "web-01"
    assert stored(result, "SetHostNamePlugin") == RegValue(1, RegType.REG_DWORD)
    assert any("Old plugin module" in line for line in result.log)


def test_unknown_plugin_module_is_skipped_in_every_stage_and_others_still_run() -> None:
    unknown = "cloudbaseinit.plugins.common.nosuchmodule.NoSuchPlugin"
    machine, _ = openstack_machine((unknown, "createuser"))

    result = machine.run()

    unavailable = events(result, "plugin_unavailable")
    assert [(e.get("path"), e.get("reason")) for e in unavailable] == [(unknown, "import")] * 3
    assert [e.get("stage") for e in unavailable] == [
        "PRE_NETWORKING",
        "PRE_METADATA_DISCOVERY",
        "MAIN",
    ]
    assert started(result, 1) == ["CreateUserPlugin"]
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]


def test_missing_class_in_an_existing_upstream_module_crashes_the_agent() -> None:
    missing = "cloudbaseinit.plugins.common.sethostname.NoSuchPlugin"
    machine, cloud = openstack_machine(("createuser", missing))

    result = machine.run()

    assert [(b.outcome, b.exit_code) for b in result.boots] == [("crashed", 1)]
    assert result.trace.events[-1].kind == "agent_exit"
    assert result.trace.events[-1].get("exit_code") == 1
    assert events(result, "plugin_start") == []
    assert events(result, "stage_end") == []
    assert cloud.requests == []
    assert result.state.find_user("Admin") is None
    assert result.findings and result.findings[0].startswith("boot 1: the agent crashed")


# --- §3.1: OS requirements --------------------------------------------------------------------


def test_plugin_below_its_minimum_os_version_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    needs_62 = register_plugin(monkeypatch, Requires62Plugin)
    state = default_windows_state()
    state.version.major, state.version.minor = 6, 1
    machine, _ = openstack_machine((needs_62, "createuser"), state=state)

    result = machine.run()

    skipped = events(result, "plugin_skipped")
    assert [(e.get("plugin"), e.get("reason")) for e in skipped] == [
        ("Requires62Plugin", "os_version")
    ]
    assert started(result, 1) == ["CreateUserPlugin"]
    assert stored(result, "Requires62Plugin") is None
    assert stage_end(result, "MAIN").get("success") is True


def test_plugin_meeting_its_os_requirements_runs_whatever_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The platform is the guest's (win32), so this passes on a Linux host too."""
    needs_62 = register_plugin(monkeypatch, Requires62Plugin)
    machine, _ = openstack_machine((needs_62,))
    assert machine.state.version.tuple[:2] == (10, 0)

    result = machine.run()

    assert started(result, 1) == ["Requires62Plugin"]
    assert stored(result, "Requires62Plugin") == RegValue(1, RegType.REG_DWORD)


def test_plugin_for_another_platform_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    linux_only = register_plugin(monkeypatch, RequiresLinuxPlugin)
    machine, _ = openstack_machine((linux_only,))

    result = machine.run()

    skipped = events(result, "plugin_skipped")
    assert [(e.get("plugin"), e.get("reason")) for e in skipped] == [
        ("RequiresLinuxPlugin", "platform")
    ]
    assert started(result, 1) == []


# --- the simulator's reboot-loop guard --------------------------------------------------------


def test_plugin_always_asking_for_a_reboot_is_a_reboot_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looping = register_plugin(monkeypatch, AlwaysRebootPlugin)
    machine, _ = openstack_machine((looping, "createuser"), max_boots=4)

    result = machine.run()

    assert result.boot_count == 4
    assert [b.outcome for b in result.boots] == ["reboot"] * 4
    assert result.reboot_loop
    (finding,) = result.findings
    assert finding.startswith("reboot loop")
    for boot in range(1, 5):
        assert f"boot {boot}: AlwaysRebootPlugin" in finding
    assert events(result, "plugin_start", 4)[-1].get("plugin") == "AlwaysRebootPlugin"
    assert "CreateUserPlugin" not in [str(e.get("plugin")) for e in events(result, "plugin_start")]


# --- §5.2 / §1.5: the host name ---------------------------------------------------------------


def test_new_host_name_is_pending_until_the_reboot() -> None:
    machine, _ = openstack_machine(("hostname",))

    result = machine.run()

    boots = events(result, "boot")
    assert [e.get("computer_name") for e in boots] == ["WIN-GUESTSIM01", "web-01"]
    assert result.state.computer_name == "web-01"
    assert result.state.pending_computer_name is None


def test_new_host_name_stays_pending_without_allow_reboot() -> None:
    machine, _ = openstack_machine(("hostname",), {"allow_reboot": False})

    result = machine.run()

    assert result.boot_count == 1
    assert result.state.computer_name == "WIN-GUESTSIM01"
    assert result.state.pending_computer_name == "web-01"


# --- §1.3: service password reset and respawn ---------------------------------------------------


def test_service_as_local_system_is_not_respawned() -> None:
    machine, _ = openstack_machine(("createuser",))

    result = machine.run()

    assert events(result, "respawn") == []
    assert len(events(result, "agent_process")) == 1
    service = result.state.find_service("cloudbase-init")
    assert service is not None
    assert service.account == "LocalSystem"


def test_service_as_domain_account_keeps_its_password_and_is_not_respawned() -> None:
    state = service_account_state()
    service = state.find_service("cloudbase-init")
    assert service is not None
    service.account = f"CORP\\{SERVICE_USER}"
    machine, _ = openstack_machine(("createuser",), state=state)

    result = machine.run()

    assert events(result, "respawn") == []
    user = result.state.find_user(SERVICE_USER)
    assert user is not None
    assert user.password == SERVICE_USER_PASSWORD


def test_service_as_local_user_gets_a_new_password_and_respawns_once() -> None:
    machine, _ = openstack_machine(("createuser",), state=service_account_state())

    result = machine.run()

    user = result.state.find_user(SERVICE_USER)
    assert user is not None
    assert user.password != SERVICE_USER_PASSWORD
    assert user.password is not None and len(user.password) == 20
    (respawn,) = events(result, "respawn")
    assert respawn.get("user") == f".\\{SERVICE_USER}"
    parent, child = events(result, "agent_process")
    assert parent.get("argv") == ["cloudbase-init"]
    assert child.get("argv") == ["cloudbase-init", "--noreset_service_password"]
    assert child.get("user") == SERVICE_USER
    assert parent.seq < respawn.seq < child.seq
    # The plugins run once, in the child; the parent does nothing after it.
    (plugin_start,) = events(result, "plugin_start")
    assert plugin_start.seq > child.seq
    assert len(events(result, "agent_start")) == 1
    child_exit, parent_exit = events(result, "agent_exit")
    assert child_exit.get("exit_code") == parent_exit.get("exit_code") == 0
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]


def test_respawned_parent_exits_with_the_childs_exit_code() -> None:
    missing = "cloudbaseinit.plugins.common.sethostname.NoSuchPlugin"
    machine, _ = openstack_machine((missing,), state=service_account_state())

    result = machine.run()

    child_exit, parent_exit = events(result, "agent_exit")
    assert child_exit.get("exit_code") == 1
    assert parent_exit.get("exit_code") == 1
    assert result.boots[0].exit_code == 1


def test_respawn_of_a_python_script_prepends_the_interpreter() -> None:
    script = "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\Python\\cbinit.py"
    base, _ = openstack_machine(("createuser",), state=service_account_state())
    machine = Machine(base.conf, state=base.state, clouds=base.clouds, argv=(script,))

    result = machine.run()

    _, child = events(result, "agent_process")
    argv = child.get("argv")
    assert argv == [
        "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\Python\\python.exe",
        script,
        "--noreset_service_password",
    ]


# --- §1.2 step 9.2 / §10.3: provisioning started -------------------------------------------------


def test_provisioning_started_is_reported_before_main_on_every_boot() -> None:
    machine, _ = openstack_machine(
        ("hostname", "createuser"), {"metadata_report_provisioning_started": True}
    )

    result = machine.run()

    assert reports(result, 1) == ["started"]
    assert reports(result, 2) == ["started"]
    for boot in (1, 2):
        assert seq_of(result, "provisioning_report", boot) < seq_of(
            result, "stage_start", boot, stage="MAIN"
        )


def test_provisioning_started_is_not_reported_without_the_option() -> None:
    machine, _ = openstack_machine(("createuser",))

    result = machine.run()

    assert "started" not in reports(result)


def test_failing_provisioning_started_aborts_the_run_before_main(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = register_metadata_service(monkeypatch, FailingStartedService)
    machine, _ = openstack_machine(
        ("createuser",),
        {"metadata_services": [service], "metadata_report_provisioning_started": True},
    )

    result = machine.run()

    assert [(b.outcome, b.exit_code) for b in result.boots] == [("crashed", 1)]
    assert "MAIN" not in stages_started(result, 1)
    assert result.state.find_user("Admin") is None


# --- determinism --------------------------------------------------------------------------------


def _admin_password(seed: int) -> str | None:
    machine, _ = openstack_machine(("createuser",), seed=seed)
    user = machine.run().state.find_user("Admin")
    assert user is not None
    return user.password


def test_random_passwords_are_reproducible_from_the_seed() -> None:
    first = _admin_password(seed=7)

    assert first is not None and len(first) == 20
    assert _admin_password(seed=7) == first
    assert _admin_password(seed=8) != first
