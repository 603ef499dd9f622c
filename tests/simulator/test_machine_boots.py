"""The machine's boots: outcomes, exit codes, findings, the sysprep pass, the agent's process.

Each test runs the real agent on a simulated machine and checks what the run reports: the
boot records, the findings (their exact text, which users read), the events the machine
itself emits (``boot``, ``agent_process``, ``agent_exit``, ``reboot``, ``dhcp``,
``sysprep_reboot``, ``reboot_loop``, ``not_modelled``, ``agent_hung``) with all their
fields, the guest clock, and the captured agent log.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
import requests

from guestsim.agent.config import AgentConfig, config_from_options
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import SERVICE_STATUS_STOPPED
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)
from guestsim.agent.version import AGENT_VERSION
from guestsim.simulator.clouds.ec2 import TOKEN_HEADER, TTL_HEADER, EC2Cloud, EC2Model
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import REBOOT_DURATION_S, BootRecord, Machine, RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import NetworkAdapter, UserAccount, WindowsState
from tests.builders import HTTP_SERVICE, PLUGIN, meta_data, openstack_machine, register_plugin

META_DATA_URL = "http://169.254.169.254/openstack/latest/meta_data.json"
HUNG = f"agent hung on GET {META_DATA_URL}"
MISSING_PLUGIN = "cloudbaseinit.plugins.common.sethostname.NoSuchPlugin"
MISSING_ERROR = (
    "PluginClassMissing: module 'cloudbaseinit.plugins.common.sethostname' "
    "has no attribute 'NoSuchPlugin'"
)
GAP = (
    "not modelled by the simulated Windows: OSUtils.firewall_remove_rule of a port that is not open"
)
USER_FILE = "C:\\guestsim-process-user.txt"
PLUGIN_LOGGER = "guestsim.agent.plugins.guestsimtest"
MTU = "cloudbaseinit.plugins.common.mtu.MTUPlugin"


# --- test-only plugins ---------------------------------------------------------------------------


class AlwaysRebootPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, True


class SelfRebootingPlugin(Plugin):
    """Restarts Windows itself (as a script could) without telling the agent."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        self.osutils.reboot()
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False


class BrokenRequirementsPlugin(Plugin):
    """Its OS check raises: the exception escapes the agent, which crashes."""

    def get_os_requirements(self) -> Any:
        raise RuntimeError("cannot tell")

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTION_DONE, False


class GapPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        self.osutils.firewall_remove_rule("never opened", 1234, "TCP")
        return PLUGIN_EXECUTION_DONE, False


class ExitNonePlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise SystemExit()


class ExitTextPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise SystemExit("bye")


class ExitFourPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise SystemExit(4)


class ProcessUserPlugin(Plugin):
    """Writes the user the agent's process runs as, as the agent sees it."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        domain, user = self.osutils.get_current_user()
        self.osutils.write_file(USER_FILE, f"{domain}\\{user}".encode())
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False


class LoggingPlugin(Plugin):
    """Logs as an agent module does, including a traceback-less ``exc_info`` record."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        log = logging.getLogger(PLUGIN_LOGGER)
        log.debug("debug line %s", 1)
        log.warning("no exception at hand", exc_info=True)
        try:
            raise ValueError("bad value")
        except ValueError:
            log.error("handled", exc_info=True)
        # An exception object that was never raised has no traceback; it is still shown.
        log.error("given", exc_info=ValueError("unraised"))
        return PLUGIN_EXECUTION_DONE, False


class StopOtherServicePlugin(Plugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_NETWORKING

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        self.osutils.stop_service("W32Time")
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False


# --- helpers -------------------------------------------------------------------------------------


def conf(*plugins: str, **options: Any) -> AgentConfig:
    return config_from_options(
        {"DEFAULT": {"metadata_services": [HTTP_SERVICE], "plugins": list(plugins), **options}},
        "test",
    )


def openstack() -> OpenStackCloud:
    return OpenStackCloud(OpenStackModel(meta_data=meta_data()))


def machine_events(result: RunResult, *kinds: str) -> list[dict[str, Any]]:
    return [
        {"boot": e.boot, "t_ms": e.t_ms, "kind": e.kind, **e.fields}
        for e in result.trace.of_kind(*kinds)
    ]


def service_user_state(user: str = "cloudbase-init") -> WindowsState:
    state = default_windows_state()
    state.users.append(UserAccount(user, state.next_rid(), password="Original-Passw0rd"))
    service = state.find_service("cloudbase-init")
    assert service is not None
    service.account = f".\\{user}"
    return state


# --- outcomes of a boot --------------------------------------------------------------------------


def test_a_hung_agent_ends_the_run_with_a_hung_boot_and_a_finding() -> None:
    fault = Fault(path="/openstack/*", error="hang")
    machine = Machine(conf(PLUGIN["createuser"]), clouds=[openstack()], faults=[fault])

    result = machine.run()

    assert result.boots == [BootRecord(1, "hung", None, error=HUNG)]
    assert result.findings == [f"boot 1: {HUNG}"]
    assert not result.reboot_loop
    assert result.unattend is None
    assert machine_events(result, "agent_hung", "agent_exit") == [
        {"boot": 1, "t_ms": 0, "kind": "agent_hung", "method": "GET", "url": META_DATA_URL}
    ]
    assert result.trace.events[-1].kind == "agent_hung"


def test_an_unmodelled_call_gives_a_not_modelled_boot_and_stops_even_after_a_reboot_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    self_reboot = register_plugin(monkeypatch, SelfRebootingPlugin)
    gap = register_plugin(monkeypatch, GapPlugin)
    machine, _ = openstack_machine((self_reboot, gap))

    result = machine.run()

    assert result.boots == [BootRecord(1, "not_modelled", None, error=GAP)]
    assert result.findings == [f"boot 1: {GAP}"]
    (event,) = machine_events(result, "not_modelled")
    assert event == {
        "boot": 1,
        "t_ms": 0,
        "kind": "not_modelled",
        "what": "OSUtils.firewall_remove_rule of a port that is not open",
    }


def test_a_crash_is_a_finding_and_stops_the_run_with_exit_code_1() -> None:
    machine, _ = openstack_machine(("createuser", MISSING_PLUGIN))

    result = machine.run()

    assert result.boots == [BootRecord(1, "crashed", 1, error=MISSING_ERROR)]
    assert result.findings == [f"boot 1: the agent crashed: {MISSING_ERROR}"]
    assert machine_events(result, "agent_exit") == [
        {"boot": 1, "t_ms": 0, "kind": "agent_exit", "exit_code": 1, "error": MISSING_ERROR}
    ]


def test_a_crash_after_a_reboot_request_reboots_and_is_still_a_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    self_reboot = register_plugin(monkeypatch, SelfRebootingPlugin)
    broken = register_plugin(monkeypatch, BrokenRequirementsPlugin)
    machine, _ = openstack_machine((self_reboot, broken), max_boots=2)

    result = machine.run()

    crash = "RuntimeError: cannot tell"
    # Nobody's plugin_end asked for the reboot: its requester is unknown.
    assert result.boots == [
        BootRecord(1, "reboot", 1, None, crash),
        BootRecord(2, "reboot", 1, None, crash),
    ]
    # (Whether the crash is also a finding here is reported separately: it is not today.)
    assert result.findings[-1] == (
        "reboot loop: the agent asked for a reboot on each of 2 boots (max_boots); "
        "reboots requested by boot 1: unknown, boot 2: unknown"
    )


@pytest.mark.parametrize(
    ("plugin", "exit_code"), [(ExitNonePlugin, 0), (ExitTextPlugin, 1), (ExitFourPlugin, 4)]
)
def test_an_agent_exiting_through_system_exit_stops_with_its_exit_status(
    monkeypatch: pytest.MonkeyPatch, plugin: type[Plugin], exit_code: int
) -> None:
    machine, _ = openstack_machine((register_plugin(monkeypatch, plugin),))

    result = machine.run()

    assert result.boots == [BootRecord(1, "stopped", exit_code)]
    assert result.findings == []
    assert machine_events(result, "agent_exit") == [
        {"boot": 1, "t_ms": 0, "kind": "agent_exit", "exit_code": exit_code}
    ]


def test_a_normal_run_stops_with_exit_code_0_and_no_findings() -> None:
    machine, _ = openstack_machine(("createuser",), {"stop_service_on_exit": False})

    result = machine.run()

    assert result.boots == [BootRecord(1, "stopped", 0)]
    assert result.findings == []
    assert result.boot_count == 1
    # Numbering side effects (and comparing clouds around each request) is for power-loss
    # runs only; a plain run does not pay for it.
    assert result.side_effects == []
    assert machine_events(result, "boot", "agent_process", "agent_exit") == [
        {"boot": 1, "t_ms": 0, "kind": "boot", "computer_name": "WIN-GUESTSIM01"},
        {
            "boot": 1,
            "t_ms": 0,
            "kind": "agent_process",
            "argv": ["cloudbase-init"],
            "user": "SYSTEM",
        },
        {"boot": 1, "t_ms": 0, "kind": "agent_exit", "exit_code": 0},
    ]


# --- reboots and the reboot loop -----------------------------------------------------------------


def test_reboots_are_45_guest_seconds_apart_and_name_the_plugin_that_asked() -> None:
    machine, _ = openstack_machine(("hostname", "createuser"), {"stop_service_on_exit": False})

    result = machine.run()

    assert result.boots == [
        BootRecord(1, "reboot", 0, "SetHostNamePlugin"),
        BootRecord(2, "stopped", 0),
    ]
    assert machine_events(result, "boot", "reboot") == [
        {"boot": 1, "t_ms": 0, "kind": "boot", "computer_name": "WIN-GUESTSIM01"},
        {"boot": 1, "t_ms": 0, "kind": "reboot"},
        {"boot": 2, "t_ms": REBOOT_DURATION_S * 1000, "kind": "boot", "computer_name": "web-01"},
    ]
    assert REBOOT_DURATION_S == 45


def test_a_reboot_loop_finding_lists_every_boots_requester(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looping = register_plugin(monkeypatch, AlwaysRebootPlugin)
    machine, _ = openstack_machine((looping,), max_boots=3)

    result = machine.run()

    assert result.boots == [BootRecord(n, "reboot", 0, "AlwaysRebootPlugin") for n in (1, 2, 3)]
    assert result.findings == [
        "reboot loop: the agent asked for a reboot on each of 3 boots (max_boots); "
        "reboots requested by boot 1: AlwaysRebootPlugin, boot 2: AlwaysRebootPlugin, "
        "boot 3: AlwaysRebootPlugin"
    ]
    assert result.reboot_loop
    # The loop is found after the third boot's reboot, 45 s later, without a fourth boot.
    assert machine_events(result, "reboot_loop") == [
        {"boot": 3, "t_ms": 3 * REBOOT_DURATION_S * 1000, "kind": "reboot_loop", "boots": 3}
    ]
    assert [e.boot for e in result.trace.of_kind("boot")] == [1, 2, 3]


def test_the_reboot_requester_is_the_plugin_of_that_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    looping = register_plugin(monkeypatch, AlwaysRebootPlugin)
    # Boot 1: the host name plugin asks; boot 2: it is done, and the looping plugin asks.
    machine, _ = openstack_machine(("hostname", looping), max_boots=2)

    result = machine.run()

    assert result.boots == [
        BootRecord(1, "reboot", 0, "SetHostNamePlugin"),
        BootRecord(2, "reboot", 0, "AlwaysRebootPlugin"),
    ]


# --- the sysprep (unattend) pass -----------------------------------------------------------------


def test_the_unattend_pass_runs_its_own_conf_as_boot_0_then_windows_restarts() -> None:
    unattend = conf(PLUGIN["hostname"], stop_service_on_exit=False)
    machine = Machine(
        conf(PLUGIN["createuser"], stop_service_on_exit=False),
        clouds=[openstack()],
        unattend_conf=unattend,
    )

    result = machine.run()

    assert result.unattend == BootRecord(0, "reboot", 0, "SetHostNamePlugin")
    assert result.boots == [BootRecord(1, "stopped", 0)]
    assert result.findings == []
    assert [(e.boot, str(e.get("plugin"))) for e in result.trace.of_kind("plugin_start")] == [
        (0, "SetHostNamePlugin"),
        (1, "CreateUserPlugin"),
    ]
    assert machine_events(result, "boot", "sysprep_reboot") == [
        {"boot": 0, "t_ms": 0, "kind": "boot", "computer_name": "WIN-GUESTSIM01"},
        {"boot": 0, "t_ms": 0, "kind": "sysprep_reboot"},
        {"boot": 1, "t_ms": REBOOT_DURATION_S * 1000, "kind": "boot", "computer_name": "web-01"},
    ]


def test_a_hung_unattend_pass_is_a_finding_and_no_normal_boot_follows() -> None:
    fault = Fault(path="/openstack/*", error="hang")
    machine = Machine(
        conf(PLUGIN["createuser"]),
        clouds=[openstack()],
        faults=[fault],
        unattend_conf=conf(PLUGIN["createuser"]),
    )

    result = machine.run()

    assert result.unattend == BootRecord(0, "hung", None, error=HUNG)
    assert result.boots == []
    assert result.findings == [f"unattend pass: {HUNG}"]
    assert result.trace.events[-1].kind == "sysprep_reboot"
    # What the pass did is still there to look at.
    assert result.state is machine.state
    assert result.clouds == machine.clouds and len(result.clouds) == 1
    assert result.log[0] == f"boot 0 INFO agent.init: Cloudbase-Init version: {AGENT_VERSION}"


def test_an_unmodelled_unattend_pass_is_a_finding_and_no_normal_boot_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gap = register_plugin(monkeypatch, GapPlugin)
    machine = Machine(conf(PLUGIN["createuser"]), clouds=[openstack()], unattend_conf=conf(gap))

    result = machine.run()

    assert result.unattend == BootRecord(0, "not_modelled", None, error=GAP)
    assert result.boots == []
    assert result.findings == [f"unattend pass: {GAP}"]


def test_a_crashed_unattend_pass_is_a_finding_and_the_normal_boots_still_run() -> None:
    machine = Machine(
        conf(PLUGIN["createuser"], stop_service_on_exit=False),
        clouds=[openstack()],
        unattend_conf=conf(MISSING_PLUGIN),
    )

    result = machine.run()

    assert result.unattend == BootRecord(0, "crashed", 1, error=MISSING_ERROR)
    assert result.boots == [BootRecord(1, "stopped", 0)]
    assert result.findings == [f"unattend pass: the agent crashed: {MISSING_ERROR}"]
    assert not result.reboot_loop


def test_a_respawn_during_the_unattend_pass_runs_the_unattend_conf_in_the_child() -> None:
    machine = Machine(
        conf(PLUGIN["createuser"], stop_service_on_exit=False),
        state=service_user_state(),
        clouds=[openstack()],
        unattend_conf=conf(PLUGIN["hostname"], allow_reboot=False, stop_service_on_exit=False),
    )

    result = machine.run()

    assert [
        (e.boot, e.get("argv"), e.get("user")) for e in result.trace.of_kind("agent_process")
    ] == [
        (0, ["cloudbase-init"], "cloudbase-init"),
        (0, ["cloudbase-init", "--noreset_service_password"], "cloudbase-init"),
        (1, ["cloudbase-init"], "cloudbase-init"),
        (1, ["cloudbase-init", "--noreset_service_password"], "cloudbase-init"),
    ]
    assert [(e.boot, str(e.get("plugin"))) for e in result.trace.of_kind("plugin_start")] == [
        (0, "SetHostNamePlugin"),
        (1, "CreateUserPlugin"),
    ]


# --- the agent's process -------------------------------------------------------------------------


def test_the_agent_runs_as_system_under_nt_authority_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine((register_plugin(monkeypatch, ProcessUserPlugin),))

    result = machine.run()

    assert result.state.files.read(USER_FILE) == b"NT AUTHORITY\\SYSTEM"


def test_an_agent_service_without_its_service_entry_runs_as_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = default_windows_state()
    state.services = [s for s in state.services if s.name.lower() != "cloudbase-init"]
    machine, _ = openstack_machine((register_plugin(monkeypatch, ProcessUserPlugin),), state=state)

    result = machine.run()

    assert result.state.files.read(USER_FILE) == b"NT AUTHORITY\\SYSTEM"
    assert [e.get("user") for e in result.trace.of_kind("agent_process")] == ["SYSTEM"]


def test_a_local_service_account_runs_the_agent_as_that_user_of_the_computer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = service_user_state()
    state.computer_name = "web-01"
    machine, _ = openstack_machine(
        (register_plugin(monkeypatch, ProcessUserPlugin),),
        {"reset_service_password": False},
        state=state,
    )

    result = machine.run()

    assert result.state.files.read(USER_FILE) == b"WEB-01\\cloudbase-init"
    assert [e.get("user") for e in result.trace.of_kind("agent_process")] == ["cloudbase-init"]


def test_the_agent_service_is_recognised_whatever_its_name_case_and_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = default_windows_state()
    service = state.find_service("cloudbase-init")
    assert service is not None
    service.name = "Cloudbase-Init"
    stopper = register_plugin(monkeypatch, StopOtherServicePlugin)
    machine, _ = openstack_machine((stopper,), state=state)

    result = machine.run()

    w32time = result.state.find_service("W32Time")
    assert w32time is not None and w32time.status == SERVICE_STATUS_STOPPED
    assert machine_events(result, "agent_service_stopped") == [
        {"boot": 1, "t_ms": 3000, "kind": "agent_service_stopped"}
    ]


# --- DHCP on the guest's network -----------------------------------------------------------------


def dhcp_run(servers: list[DhcpServer], state: WindowsState | None = None) -> RunResult:
    machine, _ = openstack_machine(
        (MTU,), {"stop_service_on_exit": False}, dhcp_servers=servers, state=state
    )
    return machine.run()


def test_an_unanswered_dhcp_request_costs_its_timeout_in_guest_time() -> None:
    result = dhcp_run([DhcpServer.with_mtu("10.0.0.1", 1400, responds=False)])

    assert machine_events(result, "dhcp") == [
        {
            "boot": 1,
            "t_ms": 0,
            "kind": "dhcp",
            "server": "10.0.0.1",
            "client_mac": "52:54:00:12:34:56",
            "requested": [26],
            "answered": None,
            "waited_s": 5.0,
        }
    ]
    (end,) = result.trace.of_kind("plugin_end")
    assert end.t_ms == 5000


def test_an_answered_dhcp_request_costs_no_guest_time() -> None:
    result = dhcp_run([DhcpServer.with_mtu("10.0.0.1", 1400)])

    assert machine_events(result, "dhcp") == [
        {
            "boot": 1,
            "t_ms": 0,
            "kind": "dhcp",
            "server": "10.0.0.1",
            "client_mac": "52:54:00:12:34:56",
            "requested": [26],
            "answered": [26],
        }
    ]
    (end,) = result.trace.of_kind("plugin_end")
    assert end.t_ms == 0
    assert result.state.adapters[0].mtu == 1400


def test_dhcp_requests_leave_from_the_first_adapter_facing_their_server() -> None:
    state = default_windows_state()
    state.adapters.append(
        NetworkAdapter("Ethernet 2", "52:54:00:12:34:57", "10.0.0.16", dhcp_server="10.0.0.1")
    )

    result = dhcp_run([DhcpServer.with_mtu("10.0.0.1", 1400)], state)

    sent = [line for line in result.log if "Sending DHCPDISCOVER" in line]
    assert len(sent) == 2
    assert all(" to 10.0.0.1 from 10.0.0.15 (52:54:00:12:34:56)," in line for line in sent)


def test_each_dhcp_request_leaves_from_the_adapter_facing_its_server() -> None:
    state = default_windows_state()
    state.adapters.append(
        NetworkAdapter("Ethernet 2", "52:54:00:12:34:57", "10.1.0.16", dhcp_server="10.1.0.1")
    )

    result = dhcp_run(
        [DhcpServer.with_mtu("10.0.0.1", 1400), DhcpServer.with_mtu("10.1.0.1", 1450)], state
    )

    sent = [line.split(": ", 1)[1] for line in result.log if "Sending DHCPDISCOVER" in line]
    assert [line.split(", xid")[0] for line in sent] == [
        "Sending DHCPDISCOVER to 10.0.0.1 from 10.0.0.15 (52:54:00:12:34:56)",
        "Sending DHCPDISCOVER to 10.1.0.1 from 10.1.0.16 (52:54:00:12:34:57)",
    ]
    assert [a.mtu for a in result.state.adapters] == [1400, 1450]


# --- slow and silent clouds --------------------------------------------------------------------


def test_a_delayed_answer_costs_guest_time_and_one_beyond_the_hang_budget_is_a_hang() -> None:
    fault = Fault(path="/openstack/latest/meta_data.json", delay=30)
    patient = Machine(
        conf(PLUGIN["createuser"], stop_service_on_exit=False),
        clouds=[openstack()],
        faults=[fault],
    )
    impatient = Machine(
        conf(PLUGIN["createuser"], stop_service_on_exit=False),
        clouds=[openstack()],
        faults=[fault],
        hang_budget_s=20,
    )

    waited = patient.run()
    hung = impatient.run()

    assert waited.boots == [BootRecord(1, "stopped", 0)]
    (found,) = waited.trace.of_kind("metadata_service")
    assert found.t_ms == 30_000
    assert hung.boots == [BootRecord(1, "hung", None, error=HUNG)]


# --- the captured agent log ----------------------------------------------------------------------


def test_the_agent_log_is_captured_at_debug_with_exceptions_and_the_logger_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger("guestsim.agent")
    logger.setLevel(logging.WARNING)
    handlers = list(logger.handlers)
    try:
        machine, _ = openstack_machine((register_plugin(monkeypatch, LoggingPlugin),))
        result = machine.run()
        level_after = logger.level
        handlers_after = list(logger.handlers)
    finally:
        logger.setLevel(logging.NOTSET)

    assert [line for line in result.log if "agent.plugins.guestsimtest" in line] == [
        "boot 1 DEBUG agent.plugins.guestsimtest: debug line 1",
        "boot 1 WARNING agent.plugins.guestsimtest: no exception at hand",
        "boot 1 ERROR agent.plugins.guestsimtest: handled (ValueError: bad value)",
        "boot 1 ERROR agent.plugins.guestsimtest: given (ValueError: unraised)",
    ]
    assert level_after == logging.WARNING
    assert handlers_after == handlers
    # Only the agent's loggers are captured, not the simulator's.
    assert not [line for line in result.log if " simulator." in line]


# --- construction defaults -----------------------------------------------------------------------


def test_a_guest_without_network_adapters_still_boots() -> None:
    state = default_windows_state()
    state.adapters = []
    machine, _ = openstack_machine(("createuser",), state=state, clouds=[])

    result = machine.run()

    assert result.boots == [BootRecord(1, "stopped", 0)]


def test_a_machine_built_without_a_seed_uses_seed_0() -> None:
    def admin_password(machine: Machine) -> str | None:
        user = machine.run().state.find_user("Admin")
        assert user is not None
        return user.password

    seeded, cloud = openstack_machine(("createuser",), seed=0)
    unseeded = Machine(seeded.conf, clouds=[openstack()])
    other, _ = openstack_machine(("createuser",), seed=1)

    assert admin_password(unseeded) == admin_password(seeded)
    assert admin_password(other) != admin_password(seeded)
    assert cloud.requests


IMDS_ELSEWHERE = "http://10.0.0.9/"
TOKEN_RESULT = "C:\\imds-token.txt"


class ImdsTokenClientPlugin(Plugin):
    """A guest program using IMDSv2: a 60 s token, used after 59 and after 60 guest seconds."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        url = IMDS_ELSEWHERE + "latest/meta-data/instance-id"
        token = requests.put(IMDS_ELSEWHERE + "latest/api/token", headers={TTL_HEADER: "60"}).text
        statuses = []
        for wait in (59, 1):
            self.osutils.sleep(wait)
            statuses.append(str(requests.get(url, headers={TOKEN_HEADER: token}).status_code))
        self.osutils.write_file(TOKEN_RESULT, " ".join(statuses).encode())
        return PLUGIN_EXECUTION_DONE, False


def test_the_clouds_time_what_they_time_on_the_guest_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Served by a machine, a cloud's clock is the guest's: the token expires after 60 s
    # of guest time, although the run takes milliseconds of host time.
    imds = EC2Cloud(EC2Model({"instance-id": "i-1"}, imdsv2="required"), IMDS_ELSEWHERE)
    openstack = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    machine, _ = openstack_machine(
        (register_plugin(monkeypatch, ImdsTokenClientPlugin),), clouds=[openstack, imds]
    )
    result = machine.run()
    assert result.state.files.read(TOKEN_RESULT) == b"200 401"


# --- power cuts and extra boots ------------------------------------------------------------


def test_a_power_cut_ends_its_boot_with_a_power_loss_event_and_the_machine_boots_again() -> None:
    machine, _ = openstack_machine(("createuser",), {"stop_service_on_exit": False})
    machine.configure_power_loss(2)

    result = machine.run()

    assert result.boots == [
        BootRecord(1, "power_loss", None, error="power lost at side effect 2"),
        BootRecord(2, "stopped", 0),
    ]
    assert machine_events(result, "power_loss") == [
        {"boot": 1, "t_ms": 0, "kind": "power_loss", "at": 2, "effect": "os", "call": "logon"}
    ]
    assert result.trace.of_kind("boot")[1].t_ms == REBOOT_DURATION_S * 1000
    assert [(e.index, e.boot, e.kind, e.call) for e in result.side_effects][:3] == [
        (1, 1, "os", "create_user"),
        (2, 1, "os", "logon"),
        (3, 2, "os", "set_user_password"),
    ]


def test_a_cut_at_a_cloud_request_names_it_and_the_cloud_never_got_it() -> None:
    machine, cloud = openstack_machine(("createuser", "password"), {"stop_service_on_exit": False})
    machine.configure_power_loss(None)
    posts = [e for e in machine.run().side_effects if e.kind == "cloud"]
    assert [(e.call, e.boot) for e in posts] == [("POST /openstack/2013-04-04/password", 1)]

    machine, cloud = openstack_machine(("createuser", "password"), {"stop_service_on_exit": False})
    machine.configure_power_loss(posts[0].index)
    result = machine.run()

    [event] = machine_events(result, "power_loss")
    assert event == {
        "boot": 1,
        "t_ms": 0,
        "kind": "power_loss",
        "at": posts[0].index,
        "effect": "cloud",
        "call": "POST /openstack/2013-04-04/password",
    }
    assert [(r.method, r.status) for r in cloud.requests if r.method == "POST"] == [("POST", 200)]
    assert cloud.requests[-1].method == "POST"  # posted once, at boot 2


def test_a_cut_in_the_unattend_pass_runs_the_pass_again() -> None:
    unattend = conf(PLUGIN["createuser"], stop_service_on_exit=False)
    machine = Machine(
        conf(PLUGIN["mtu"], stop_service_on_exit=False),
        clouds=[openstack()],
        unattend_conf=unattend,
    )
    machine.configure_power_loss(1)

    result = machine.run()

    assert result.unattend == BootRecord(0, "stopped", 0)
    assert [(e.boot, e.t_ms) for e in result.trace.of_kind("boot")] == [
        (0, 0),
        (0, REBOOT_DURATION_S * 1000),
        (1, 2 * REBOOT_DURATION_S * 1000),
    ]
    assert machine_events(result, "power_loss")[0]["call"] == "create_user"
    first_boot_zero_call = next(e.get("call") for e in result.trace.of_kind("os") if e.boot == 0)
    assert first_boot_zero_call == "create_user"


@pytest.mark.parametrize("ending", ["stopped", "crashed"])
def test_extra_boots_power_the_machine_on_again_after_the_agent_stopped(ending: str) -> None:
    plugin = PLUGIN["mtu"] if ending == "stopped" else MISSING_PLUGIN
    machine, _ = openstack_machine((plugin,), {"stop_service_on_exit": False})
    machine.extra_boots = 2

    result = machine.run()

    assert [b.outcome for b in result.boots] == [ending] * 3
    assert [e.boot for e in result.trace.of_kind("extra_boot")] == [1, 2]
