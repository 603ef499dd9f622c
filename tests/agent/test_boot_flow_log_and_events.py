"""What the boot flow shows a user: upstream's log lines and the whole trace events.

Reference §1.2-1.4, §2.2, §3.1 and §8 quote the log templates; these tests pin each line
the agent's boot flow writes (``result.log``, logger ``agent.init``) and each event of the
boot flow with all its fields, on runs of the real agent on a simulated machine.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NoReturn

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.init import InitManager
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    AgentContext,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)
from guestsim.agent.version import AGENT_VERSION
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, text
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import AGENT_KEY, UserAccount, WindowsState
from tests.builders import (
    INSTANCE_ID,
    meta_data,
    openstack_machine,
    register_metadata_service,
    register_plugin,
)

INIT = "agent.init"
FLOW_KINDS = (
    "agent_start",
    "stage_start",
    "stage_end",
    "plugin_start",
    "plugin_end",
    "plugin_skipped",
    "plugin_unavailable",
    "metadata_service",
    "provisioning_report",
    "reboot_requested",
    "agent_done",
    "respawn",
)
LEGACY_HOSTNAME = "cloudbaseinit.plugins.windows.sethostname.SetHostNamePlugin"
UNKNOWN_PLUGIN = "cloudbaseinit.plugins.common.nosuchmodule.NoSuchPlugin"


# --- test-only plugins and services ----------------------------------------------------------


class RaisingPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise RuntimeError("boom")


class Requires62Plugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTION_DONE, False


class RequiresLinuxPlugin(Requires62Plugin):
    os_requirements: ClassVar[OSRequirements] = ("linux", None)


class NextBootRebootPreNetworkingPlugin(Plugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_NETWORKING

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, True


class FailingReportsService(OpenStackHttpService):
    def provisioning_completed(self) -> None:
        raise RuntimeError("completed endpoint down")

    def provisioning_failed(self) -> None:
        raise RuntimeError("failed endpoint down")


class UpdateServer(CloudApp):
    """cloudbase.it's update check, answering with a chosen status and document."""

    name = "cloudbase-updates"

    def __init__(self, document: dict[str, Any], status: int = 200) -> None:
        super().__init__("https://www.cloudbase.it/")
        self.document = document
        self.status = status
        self.route("GET", r"/checkupdates\.php(\?.*)?", self._check)

    def _check(self, request: SimRequest) -> SimResponse:
        return text(json.dumps(self.document), self.status, "application/json")


# --- helpers ---------------------------------------------------------------------------------


def init_log(result: RunResult, boot: int | None = None) -> list[str]:
    """The boot flow's own log lines, as ``LEVEL message``."""
    lines = []
    for line in result.log:
        number, rest = line.removeprefix("boot ").split(" ", 1)
        level, rest = rest.split(" ", 1)
        logger, message = rest.split(": ", 1)
        if logger == INIT and (boot is None or int(number) == boot):
            lines.append(f"{level} {message}")
    return lines


def flow(result: RunResult, boot: int) -> list[dict[str, Any]]:
    """The boot flow's events of one boot, each as its kind plus all its fields."""
    return [
        {"kind": e.kind, **e.fields} for e in result.trace.of_kind(*FLOW_KINDS) if e.boot == boot
    ]


def start(stage: str) -> dict[str, Any]:
    return {"kind": "stage_start", "stage": stage}


def end(stage: str, success: bool = True, reboot: bool = False) -> dict[str, Any]:
    return {"kind": "stage_end", "stage": stage, "success": success, "reboot": reboot}


def plugin_end(plugin: str, status: int, reboot: bool) -> dict[str, Any]:
    return {
        "kind": "plugin_end",
        "stage": "MAIN",
        "plugin": plugin,
        "success": True,
        "status": status,
        "reboot": reboot,
    }


AGENT_START = {"kind": "agent_start", "version": AGENT_VERSION}
FOUND = {"kind": "metadata_service", "name": "HttpService", "instance_id": INSTANCE_ID}
PRE_STAGES_OK = [
    start("PRE_NETWORKING"),
    end("PRE_NETWORKING"),
    start("PRE_METADATA_DISCOVERY"),
    end("PRE_METADATA_DISCOVERY"),
]


# --- a whole run: two boots ------------------------------------------------------------------


def two_boot_run() -> RunResult:
    machine, _ = openstack_machine(
        ("createuser", "hostname"),
        {
            "metadata_report_provisioning_started": True,
            "metadata_report_provisioning_completed": True,
        },
    )
    return machine.run()


def test_a_run_with_a_reboot_logs_upstreams_lines_in_order() -> None:
    result = two_boot_run()

    assert init_log(result, 1) == [
        f"INFO Cloudbase-Init version: {AGENT_VERSION}",
        "INFO Executing plugins for stage 'PRE_NETWORKING':",
        "INFO Executing plugins for stage 'PRE_METADATA_DISCOVERY':",
        "INFO Metadata service loaded: 'HttpService'",
        "INFO Reporting provisioning started",
        f"DEBUG Instance id: {INSTANCE_ID}",
        "INFO Executing plugins for stage 'MAIN':",
        "INFO Executing plugin 'CreateUserPlugin'",
        "INFO Executing plugin 'SetHostNamePlugin'",
        "INFO Rebooting",
    ]
    assert init_log(result, 2) == [
        f"INFO Cloudbase-Init version: {AGENT_VERSION}",
        "INFO Executing plugins for stage 'PRE_NETWORKING':",
        "INFO Executing plugins for stage 'PRE_METADATA_DISCOVERY':",
        "INFO Metadata service loaded: 'HttpService'",
        "INFO Reporting provisioning started",
        f"DEBUG Instance id: {INSTANCE_ID}",
        "INFO Executing plugins for stage 'MAIN':",
        "DEBUG Plugin 'CreateUserPlugin' execution already done, skipping",
        "DEBUG Plugin 'SetHostNamePlugin' execution already done, skipping",
        "INFO Plugins execution done",
        "INFO Reporting provisioning completed",
        "INFO Stopping Cloudbase-Init service",
    ]


def test_a_run_with_a_reboot_emits_the_whole_boot_flow_events() -> None:
    result = two_boot_run()

    started = {"kind": "provisioning_report", "state": "started"}
    assert flow(result, 1) == [
        AGENT_START,
        *PRE_STAGES_OK,
        started,
        FOUND,
        start("MAIN"),
        {"kind": "plugin_start", "stage": "MAIN", "plugin": "CreateUserPlugin"},
        plugin_end("CreateUserPlugin", 1, False),
        {"kind": "plugin_start", "stage": "MAIN", "plugin": "SetHostNamePlugin"},
        plugin_end("SetHostNamePlugin", 1, True),
        end("MAIN", reboot=True),
        {"kind": "reboot_requested"},
    ]
    # Boot 2: both plugins are done; the stage's reboot flag is the skipped plugin's None,
    # shown as false, and the run ends.
    assert flow(result, 2) == [
        AGENT_START,
        *PRE_STAGES_OK,
        started,
        FOUND,
        start("MAIN"),
        {"kind": "plugin_skipped", "stage": "MAIN", "plugin": "CreateUserPlugin", "reason": "done"},
        {
            "kind": "plugin_skipped",
            "stage": "MAIN",
            "plugin": "SetHostNamePlugin",
            "reason": "done",
        },
        end("MAIN"),
        {"kind": "agent_done", "success": True},
        {"kind": "provisioning_report", "state": "completed"},
    ]
    assert result.trace.of_kind("stage_end")[-1].get("reboot") is False


def test_without_reports_or_service_stop_those_lines_are_absent() -> None:
    machine, _ = openstack_machine(("createuser",), {"stop_service_on_exit": False})

    result = machine.run()

    assert init_log(result) == [
        f"INFO Cloudbase-Init version: {AGENT_VERSION}",
        "INFO Executing plugins for stage 'PRE_NETWORKING':",
        "INFO Executing plugins for stage 'PRE_METADATA_DISCOVERY':",
        "INFO Metadata service loaded: 'HttpService'",
        f"DEBUG Instance id: {INSTANCE_ID}",
        "INFO Executing plugins for stage 'MAIN':",
        "INFO Executing plugin 'CreateUserPlugin'",
        "INFO Plugins execution done",
    ]


# --- plugin loading and eligibility (§3.1) ------------------------------------------------------


def test_legacy_plugin_path_logs_upstreams_rename_warning_in_each_stage() -> None:
    machine, _ = openstack_machine((LEGACY_HOSTNAME,), {"allow_reboot": False})

    result = machine.run()

    warning = (
        "WARNING Old plugin module "
        "'cloudbaseinit.plugins.windows.sethostname.SetHostNamePlugin' was found. "
        "The new name is 'cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin'. "
        "The old name will not be supported starting with the next release."
    )
    assert [line for line in init_log(result) if line.startswith("WARNING")] == [warning] * 3


def test_unimportable_plugin_logs_an_error_and_an_unavailable_event_per_stage() -> None:
    machine, _ = openstack_machine((UNKNOWN_PLUGIN,), {"stop_service_on_exit": False})

    result = machine.run()

    error = f"ERROR Could not import plugin module '{UNKNOWN_PLUGIN}'"
    assert [line for line in init_log(result) if line.startswith("ERROR")] == [error] * 3
    assert [{"kind": e.kind, **e.fields} for e in result.trace.of_kind("plugin_unavailable")] == [
        {"kind": "plugin_unavailable", "stage": stage, "path": UNKNOWN_PLUGIN, "reason": "import"}
        for stage in ("PRE_NETWORKING", "PRE_METADATA_DISCOVERY", "MAIN")
    ]


def test_os_requirement_skips_log_upstreams_debug_lines_and_skip_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needs_62 = register_plugin(monkeypatch, Requires62Plugin)
    linux_only = register_plugin(monkeypatch, RequiresLinuxPlugin)
    state = default_windows_state()
    state.version.major, state.version.minor = 6, 1
    machine, _ = openstack_machine((needs_62, linux_only), state=state)

    result = machine.run()

    assert [line for line in init_log(result) if line.startswith("DEBUG Skipping")] == [
        "DEBUG Skipping plugin: 'Requires62Plugin'. OS version not supported",
        "DEBUG Skipping plugin: 'RequiresLinuxPlugin'. Platform not supported",
    ]
    assert [{"kind": e.kind, **e.fields} for e in result.trace.of_kind("plugin_skipped")] == [
        {
            "kind": "plugin_skipped",
            "stage": "MAIN",
            "plugin": "Requires62Plugin",
            "reason": "os_version",
        },
        {
            "kind": "plugin_skipped",
            "stage": "MAIN",
            "plugin": "RequiresLinuxPlugin",
            "reason": "platform",
        },
    ]


# --- a failing plugin (§2.2) ---------------------------------------------------------------------


def test_raising_plugin_logs_its_error_with_the_traceback_and_ends_unsuccessful(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raising = register_plugin(monkeypatch, RaisingPlugin)
    machine, _ = openstack_machine((raising,), {"stop_service_on_exit": False})

    result = machine.run()

    lines = init_log(result)
    failure = lines.index("ERROR plugin 'RaisingPlugin' failed with error 'boom'")
    assert lines[failure + 1] == "ERROR Plugin failure (RuntimeError: boom)"
    assert flow(result, 1)[-4:] == [
        {"kind": "plugin_start", "stage": "MAIN", "plugin": "RaisingPlugin"},
        {
            "kind": "plugin_end",
            "stage": "MAIN",
            "plugin": "RaisingPlugin",
            "success": False,
            "status": None,
            "reboot": None,
            "error": "RuntimeError: boom",
        },
        end("MAIN", success=False),
        {"kind": "agent_done", "success": False},
    ]


# --- discovery (§1.2 step 8) ------------------------------------------------------------------


def test_no_metadata_service_logs_an_error_and_ends_done_without_main() -> None:
    machine, _ = openstack_machine(
        ("createuser",),
        {
            "stop_service_on_exit": False,
            "retry_count": 0,
            "metadata_report_provisioning_completed": True,
        },
        clouds=[],
    )

    result = machine.run()

    assert "ERROR No metadata service found" in init_log(result)
    assert init_log(result)[-2:] == [
        "ERROR No metadata service found",
        "INFO Plugins execution done",
    ]
    assert flow(result, 1) == [
        AGENT_START,
        *PRE_STAGES_OK,
        {"kind": "metadata_service", "name": None, "instance_id": None},
        {"kind": "agent_done", "success": True},
    ]


# --- provisioning reports (§1.2 steps 9.2, 9.5, 10) ----------------------------------------------


def test_failing_reports_are_logged_with_their_state_and_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = register_metadata_service(monkeypatch, FailingReportsService)
    raising = register_plugin(monkeypatch, RaisingPlugin)
    options = {
        "metadata_services": [service],
        "metadata_report_provisioning_completed": True,
        "stop_service_on_exit": False,
    }
    failing_machine, _ = openstack_machine((raising,), options)
    passing_machine, _ = openstack_machine(("createuser",), options)

    failed = failing_machine.run()
    completed = passing_machine.run()

    assert init_log(failed)[-4:] == [
        "ERROR Plugin failure (RuntimeError: boom)",
        "INFO Reporting provisioning failed",
        "ERROR Reporting provisioning failed failed: failed endpoint down",
        "INFO Plugins execution done",
    ]
    assert init_log(completed)[-3:] == [
        "INFO Plugins execution done",
        "INFO Reporting provisioning completed",
        "ERROR Reporting provisioning completed failed: completed endpoint down",
    ]
    assert [e.get("state") for e in completed.trace.of_kind("provisioning_report")] == ["completed"]
    assert [(b.outcome, b.exit_code) for b in completed.boots] == [("stopped", 0)]


def test_failed_main_with_reports_off_reports_nothing() -> None:
    machine, _ = openstack_machine((UNKNOWN_PLUGIN, "createuser"))

    result = machine.run()

    assert result.trace.of_kind("provisioning_report") == []


# --- reboots requested before MAIN (§1.2 steps 6-8) ----------------------------------------------


def test_pre_networking_reboot_still_checks_for_a_new_version_then_reboots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebooting = register_plugin(monkeypatch, NextBootRebootPreNetworkingPlugin)
    updates = UpdateServer({"new_version": "9.9.9"})
    base, cloud = openstack_machine((rebooting,), {"check_latest_version": True})
    machine = Machine(base.conf, clouds=[cloud, updates], max_boots=1)

    result = machine.run()

    assert len(updates.requests) == 1
    assert init_log(result) == [
        f"INFO Cloudbase-Init version: {AGENT_VERSION}",
        "INFO Executing plugins for stage 'PRE_NETWORKING':",
        "INFO Executing plugin 'NextBootRebootPreNetworkingPlugin'",
        "INFO Found new version of cloudbase-init 9.9.9",
        "INFO Rebooting",
    ]
    assert flow(result, 1) == [
        AGENT_START,
        start("PRE_NETWORKING"),
        {
            "kind": "plugin_start",
            "stage": "PRE_NETWORKING",
            "plugin": "NextBootRebootPreNetworkingPlugin",
        },
        {
            "kind": "plugin_end",
            "stage": "PRE_NETWORKING",
            "plugin": "NextBootRebootPreNetworkingPlugin",
            "success": True,
            "status": PLUGIN_EXECUTE_ON_NEXT_BOOT,
            "reboot": True,
        },
        end("PRE_NETWORKING", reboot=True),
        {"kind": "reboot_requested"},
    ]
    assert cloud.requests == []


# --- the version check (§1.2 step 6) --------------------------------------------------------------


def version_check_log(updates: UpdateServer) -> list[str]:
    base, cloud = openstack_machine(("createuser",), {"check_latest_version": True})
    result = Machine(base.conf, clouds=[cloud, updates]).run()
    assert len(updates.requests) == 1
    return [line for line in init_log(result) if "version" in line and "Init version" not in line]


def test_version_check_without_a_new_version_logs_nothing() -> None:
    assert version_check_log(UpdateServer({"new_version": ""})) == []
    assert version_check_log(UpdateServer({})) == []


def test_version_check_answered_with_an_error_status_is_only_debug_logged() -> None:
    updates = UpdateServer({"new_version": "9.9.9"}, status=503)

    assert version_check_log(updates) == [
        "DEBUG Failed checking for new versions: 503 Server Error: Service Unavailable "
        "for url: https://www.cloudbase.it/checkupdates.php?p=Cloudbase-Init&v=1.1.9"
    ]


# --- the agent on a guest whose machine behaves unusually ---------------------------------
#
# These start the agent service's process directly on a fake Windows, with the machine's
# side (reboot, processes started as another user) chosen by the test.


SERVICE_USER = "cloudbase-init"
SERVICE_PASSWORD = "Original-Passw0rd"


class RebootRefused(OSError):
    pass


def refuse_reboot() -> None:
    raise RebootRefused("shutdown privilege not held")


def unexpected(*_: object) -> NoReturn:
    raise AssertionError("not expected in this test")


def service_user_state() -> WindowsState:
    state = default_windows_state()
    state.users.append(UserAccount(SERVICE_USER, state.next_rid(), password=SERVICE_PASSWORD))
    service = state.find_service("cloudbase-init")
    assert service is not None
    service.account = f".\\{SERVICE_USER}"
    return state


def start_agent(
    state: WindowsState,
    options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    *,
    process_user: tuple[str, str] = ("NT AUTHORITY", "SYSTEM"),
    reboot: Callable[[], None] = unexpected,
    run_as_user: Callable[[Sequence[str], str], int] = unexpected,
    argv: Sequence[str] = ("cloudbase-init",),
) -> tuple[Trace, list[str], int | None]:
    """One start of the agent process: its trace, its boot-flow log and its exit code.

    The exit code is None when ``configure_host`` returns normally.
    """
    conf = config_from_options({"DEFAULT": {"metadata_services": [], **options}}, "test")
    trace = Trace()
    hooks = MachineHooks(
        sleep=lambda _: None, reboot=reboot, service_stopped=lambda _: None, run_as_user=run_as_user
    )
    osutils = FakeOSUtils(state, trace, random.Random(0), hooks, process_user)
    context = AgentContext(conf=conf, osutils=osutils, events=trace.emit)
    exit_code: int | None = None
    with caplog.at_level(logging.DEBUG, logger="guestsim.agent"):
        try:
            InitManager(context, argv).configure_host()
        except SystemExit as ex:
            assert isinstance(ex.code, int)
            exit_code = ex.code
    log = [
        f"{logging.getLevelName(level)} {message}"
        for name, level, message in caplog.record_tuples
        if name == "guestsim.agent.init"
    ]
    return trace, log, exit_code


def test_a_failed_reboot_is_logged_and_the_run_ends_without_finishing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rebooting = register_plugin(monkeypatch, NextBootRebootPreNetworkingPlugin)

    trace, log, exit_code = start_agent(
        default_windows_state(),
        {"plugins": [rebooting], "metadata_report_provisioning_completed": True},
        caplog,
        reboot=refuse_reboot,
    )

    assert exit_code is None
    assert log[-2:] == [
        "INFO Rebooting",
        "ERROR reboot failed with error 'shutdown privilege not held'",
    ]
    # Neither "done" nor the service stop follows a failed reboot.
    assert [e.kind for e in trace.of_kind(*FLOW_KINDS)][-2:] == ["stage_end", "reboot_requested"]
    assert [e for e in trace if e.kind == "os" and e.get("call") == "stop_service"] == []


def test_the_service_user_is_matched_case_insensitively_and_respawned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    children: list[tuple[list[str], str]] = []

    def child(argv: Sequence[str], user: str) -> int:
        children.append((list(argv), user))
        return 3

    state = service_user_state()
    trace, log, exit_code = start_agent(
        state,
        {"plugins": []},
        caplog,
        process_user=("WIN-GUESTSIM01", "CloudBase-Init"),
        run_as_user=child,
    )

    assert exit_code == 3
    assert children == [(["cloudbase-init", "--noreset_service_password"], SERVICE_USER)]
    assert log == [
        "INFO Respawning current process with updated credentials.",
        "INFO Process execution ended with exit code: 3",
    ]
    assert [{"kind": e.kind, **e.fields} for e in trace.of_kind(*FLOW_KINDS)] == [
        {"kind": "respawn", "user": f".\\{SERVICE_USER}"}
    ]
    user = state.find_user(SERVICE_USER)
    assert user is not None and user.password != SERVICE_PASSWORD
    (logon,) = [e for e in trace if e.kind == "os" and e.get("call") == "logon"]
    assert logon.fields == {"call": "logon", "username": SERVICE_USER, "load_profile": True}


def test_an_agent_not_running_as_the_service_user_resets_the_password_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = service_user_state()

    trace, log, exit_code = start_agent(
        state, {"plugins": [], "stop_service_on_exit": False}, caplog
    )

    assert exit_code is None
    assert log[0] == f"DEBUG The agent does not run as {SERVICE_USER}; no respawn needed"
    assert log[1] == f"INFO Cloudbase-Init version: {AGENT_VERSION}"
    assert trace.of_kind("respawn") == []
    user = state.find_user(SERVICE_USER)
    assert user is not None and user.password != SERVICE_PASSWORD
    assert [e.kind for e in trace.of_kind(*FLOW_KINDS)][-1] == "agent_done"


def test_reset_service_password_off_keeps_the_password_and_does_not_respawn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = service_user_state()

    trace, log, exit_code = start_agent(
        state,
        {"plugins": [], "reset_service_password": False, "stop_service_on_exit": False},
        caplog,
        process_user=("WIN-GUESTSIM01", SERVICE_USER),
    )

    assert exit_code is None
    assert log[0] == f"INFO Cloudbase-Init version: {AGENT_VERSION}"
    assert trace.of_kind("respawn") == []
    user = state.find_user(SERVICE_USER)
    assert user is not None and user.password == SERVICE_PASSWORD


def test_version_check_sends_upstreams_user_agent_header_and_no_timeout() -> None:
    updates = UpdateServer({})
    base, cloud = openstack_machine(("createuser",), {"check_latest_version": True})

    result = Machine(base.conf, clouds=[cloud, updates]).run()

    (request,) = updates.requests
    assert request.headers["User-Agent"] == "Cloudbase-Init"
    (check,) = [e for e in result.trace.of_kind("http") if "cloudbase.it" in str(e.get("url"))]
    assert check.fields == {
        "method": "GET",
        "url": "https://www.cloudbase.it/checkupdates.php?p=Cloudbase-Init&v=1.1.9",
        "status": 200,
    }


# --- where statuses live (§2.1) -------------------------------------------------------------------


def test_an_empty_instance_id_keeps_statuses_under_a_key_named_plugins() -> None:
    machine, _ = openstack_machine(("createuser",), document=meta_data(uuid=""))

    result = machine.run()

    assert result.state.registry.subkeys(AGENT_KEY) == ["Plugins"]
