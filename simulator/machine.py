"""A simulated VM: power it on, let the agent run, honour its reboots, keep what persists."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from guestsim.agent.config import AgentConfig
from guestsim.agent.init import DEFAULT_ARGV, NO_RESET_FLAG, InitManager
from guestsim.agent.osutils import AGENT_SERVICE_NAME
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clock import VirtualClock
from guestsim.simulator.clouds.base import CloudApp
from guestsim.simulator.dhcp import BROADCAST, DhcpExchange, DhcpServer, SimulatedDhcpNetwork
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.faults import DEFAULT_HANG_BUDGET_S, AgentHung, Fault, FaultPlan
from guestsim.simulator.powerloss import PowerLost, SideEffect
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import TRANSPORTS, Gateway
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.processes import add_vmware_rpctool
from guestsim.simulator.windows.state import WindowsState

DEFAULT_MAX_BOOTS = 10
# Guest seconds a Windows restart takes; only visible as a gap in trace timestamps.
REBOOT_DURATION_S = 45

AGENT_LOGGER = "guestsim.agent"
# The published agent logs under its package name (guestsim run --agent upstream).
AGENT_LOGGERS = (AGENT_LOGGER, "cloudbaseinit")


class _TimedDhcp:
    """The simulated DHCP network, with an unanswered request costing its timeout."""

    def __init__(self, network: SimulatedDhcpNetwork, clock: VirtualClock) -> None:
        self.network = network
        self.clock = clock

    def source_address(self, server: str | None) -> str:
        return self.network.source_address(server)

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None:
        reply = self.network.exchange(server, request, timeout)
        if reply is None:
            self.clock.advance(timeout)
        return reply


@dataclass
class BootRecord:
    number: int
    outcome: str  # "reboot", "stopped", "crashed", "hung", "not_modelled" or "power_loss"
    exit_code: int | None
    reboot_requested_by: str | None = None
    error: str | None = None


@dataclass
class BootChanges:
    """What one power-on changed in the machine's persistent state (``Machine.keep_states``):
    ``statediff.state_changes`` from before the power-on to the end of the boot."""

    number: int  # 0: the sysprep pass; a boot the power cut repeats appears again
    changes: list[dict[str, Any]]


@dataclass
class RunResult:
    boots: list[BootRecord]
    trace: Trace
    state: WindowsState
    clouds: list[CloudApp]
    findings: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    # The sysprep pass with the unattend configuration, when there was one (boot 0).
    unattend: BootRecord | None = None
    # Numbered when the machine records them (power-loss runs).
    side_effects: list[SideEffect] = field(default_factory=list)
    # The configuration the agent booted with (for hints); None when not known.
    conf: AgentConfig | None = None
    # Per power-on, in order, when the machine kept them (``Machine.keep_states``).
    state_changes: list[BootChanges] | None = None

    @property
    def boot_count(self) -> int:
        return len(self.boots)

    @property
    def reboot_loop(self) -> bool:
        return any(finding.startswith("reboot loop") for finding in self.findings)

    @property
    def hints(self) -> list[str]:
        """What in this run most often explains a failing test: a host name waiting for a
        reboot the configuration forbids, failed plugins, no metadata service, faults..."""
        from guestsim.simulator.hints import run_hints

        return run_hints(self)

    def explain(self) -> str:
        """The boots, findings and hints in a few lines: ``assert ..., result.explain()``."""
        from guestsim.simulator.hints import explain_run

        return explain_run(self)


class _LogCapture(logging.Handler):
    def __init__(self, lines: list[str], trace: Trace) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.trace = trace

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message} ({type(error).__name__}: {error})"
        # Shown by the agent's own module names (agent.plugins...), without the install prefix.
        name = record.name.removeprefix("guestsim.")
        self.lines.append(f"boot {self.trace.boot} {record.levelname} {name}: {message}")


class AgentProgram(Protocol):
    """What a machine starts as its agent process: guestsim's agent or the published one."""

    name: str

    def session(self) -> AbstractContextManager[None]:
        """Held for a whole run (the published agent is imported for it)."""
        ...

    def __call__(self, context: AgentContext, argv: Sequence[str]) -> None:
        """One agent process: returns, or raises SystemExit with its exit code."""
        ...


class GuestsimAgent:
    """guestsim's clean-room agent."""

    name = "guestsim"

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def __call__(self, context: AgentContext, argv: Sequence[str]) -> None:
        InitManager(context, argv).configure_host()


GUESTSIM_AGENT = GuestsimAgent()


class Machine:
    """One guest: its persistent state survives reboots; the agent starts at every boot."""

    def __init__(
        self,
        conf: AgentConfig,
        state: WindowsState | None = None,
        clouds: Sequence[CloudApp] = (),
        dhcp_servers: Sequence[DhcpServer] = (),
        seed: int = 0,
        max_boots: int = DEFAULT_MAX_BOOTS,
        argv: Sequence[str] = DEFAULT_ARGV,
        faults: Sequence[Fault] = (),
        transport: str = "inprocess",
        hang_budget_s: float = DEFAULT_HANG_BUDGET_S,
        unattend_conf: AgentConfig | None = None,
        agent: AgentProgram | None = None,
    ) -> None:
        self.conf = conf
        self.agent = agent or GUESTSIM_AGENT
        self.unattend_conf = unattend_conf
        self.state = state if state is not None else default_windows_state()
        # The image's configuration names its VMware guestinfo tool: that file, when the
        # guest has it, is one (a copy of VMware Tools' rpctool, or a stand-in for it).
        for agent_conf in (conf, unattend_conf):
            if agent_conf is not None:
                add_vmware_rpctool(
                    self.state, agent_conf.get("vmware_rpctool_path", "vmwareguestinfo")
                )
        self.clouds = list(clouds)
        self.rng = random.Random(seed)
        self.max_boots = max_boots
        self.argv = list(argv)
        self.clock = VirtualClock()
        for cloud in self.clouds:
            cloud.clock = self.clock.timestamp
        self.trace = Trace(lambda: self.clock.elapsed_ms)
        self.side_effects: list[SideEffect] = []
        self.gateway = Gateway(
            self.clouds, self.trace, FaultPlan(faults), self.clock.advance, hang_budget_s
        )
        # Side effects are numbered only once configure_power_loss asks for it.
        self._cuts = frozenset[int]()
        self._recording = False
        self.transport = TRANSPORTS[transport](self.gateway)
        self.dhcp = _TimedDhcp(
            SimulatedDhcpNetwork(dhcp_servers, self._dhcp_sources(), self._on_dhcp), self.clock
        )
        self.log: list[str] = []
        self._reboot_requested = False
        self._crash: str | None = None
        # Power-ons nobody asked for, after a boot where the agent stopped on its own (an
        # operator's or the host's restart): ``guestsim explore --hypothesis`` schedules.
        self.extra_boots = 0
        # What each power-on changed (the HTML report): two snapshots a boot, so only when
        # asked for; a run without it pays nothing.
        self.keep_states = False
        self.state_changes: list[BootChanges] = []
        self._certificate_names: dict[str, str] = {}

    # --- the world around the agent ----------------------------------------------------------

    def _dhcp_sources(self) -> dict[str, str]:
        sources: dict[str, str] = {}
        for adapter in self.state.adapters:
            if adapter.dhcp_server:
                sources.setdefault(adapter.dhcp_server, adapter.address)
        # A broadcast leaves through the first adapter with an address (a disconnected one
        # has none).
        addressed = [a for a in self.state.adapters if a.address and a.connected]
        if addressed:
            sources[BROADCAST] = addressed[0].address
        return sources

    def _on_dhcp(self, exchange: DhcpExchange) -> None:
        self.trace.emit(
            "dhcp",
            server=exchange.server,
            client_mac=exchange.client_mac,
            requested=exchange.requested,
            answered=exchange.answered,
            # The wait is the guest's time until its timeout: shown as the request's span.
            **({"waited_s": exchange.timeout} if exchange.answered is None else {}),
        )

    def configure_power_loss(self, cut_at: int | Iterable[int] | None) -> None:
        """Number the run's side effects (see ``powerloss``; cloud requests are then compared
        before and after) and fail the power at side effect ``cut_at`` (None: never), or at
        each of several: the numbering goes on across the boots a cut adds."""
        if cut_at is None:
            self._cuts = frozenset[int]()
        else:
            self._cuts = frozenset({cut_at} if isinstance(cut_at, int) else cut_at)
        self._recording = True
        self.gateway.on_cloud_change = self._side_effect

    def add_faults(self, faults: Sequence[Fault]) -> None:
        """More faults, after the scenario's own (each still counts its own ``first``)."""
        self.gateway.faults = FaultPlan([*self.gateway.faults.faults, *faults])

    def _side_effect(self, kind: str, call: str) -> None:
        """Number a side effect; at the cut point, fail the power before it takes effect."""
        if not self._recording:
            return
        index = len(self.side_effects) + 1
        self.side_effects.append(
            SideEffect(index, self.trace.boot, kind, call, len(self.trace.events))
        )
        if index in self._cuts:
            self.trace.emit("power_loss", at=index, effect=kind, call=call)
            raise PowerLost(index)

    def _sleep(self, seconds: float) -> None:
        self.trace.emit("sleep", seconds=seconds)
        self.clock.advance(seconds)

    def _request_reboot(self) -> None:
        self.trace.emit("reboot")
        self._reboot_requested = True

    def _service_stopped(self, name: str) -> None:
        if name.lower() == AGENT_SERVICE_NAME:
            self.trace.emit("agent_service_stopped")

    def _process_user(self, username: str | None) -> tuple[str, str]:
        if username is None:
            return "NT AUTHORITY", "SYSTEM"
        return self.state.computer_name.upper(), username

    # --- the agent process -------------------------------------------------------------------

    def _run_agent(
        self, argv: Sequence[str], username: str | None, conf: AgentConfig | None = None
    ) -> int:
        """One agent process, as the service control manager (or a respawn) starts it."""
        conf = conf or self._boot_conf
        if NO_RESET_FLAG in argv:
            conf = conf.with_overrides({"DEFAULT": {"reset_service_password": False}})
        hooks = MachineHooks(
            sleep=self._sleep,
            reboot=self._request_reboot,
            service_stopped=self._service_stopped,
            run_as_user=self._run_agent,
            now=self.clock.now,
            side_effect=self._side_effect,
        )
        osutils = FakeOSUtils(self.state, self.trace, self.rng, hooks, self._process_user(username))
        context = AgentContext(conf=conf, osutils=osutils, dhcp=self.dhcp, events=self.trace.emit)
        self.trace.emit("agent_process", argv=list(argv), user=osutils.process_user[1])
        try:
            self.agent(context, argv)
        except SystemExit as ex:
            code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
            self.trace.emit("agent_exit", exit_code=code)
            return code
        except Exception as ex:
            # What a guest shows as a traceback and exit status 1 of cloudbase-init.exe.
            self._crash = f"{type(ex).__name__}: {ex}"
            self.trace.emit("agent_exit", exit_code=1, error=self._crash)
            return 1
        self.trace.emit("agent_exit", exit_code=0)
        return 0

    @contextmanager
    def _capturing_logs(self) -> Iterator[None]:
        handler = _LogCapture(self.log, self.trace)
        loggers = [logging.getLogger(name) for name in AGENT_LOGGERS]
        previous_levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            for logger, level in zip(loggers, previous_levels, strict=True):
                logger.removeHandler(handler)
                logger.setLevel(level)

    def boot(self, number: int, conf: AgentConfig | None = None) -> BootRecord:
        """One power-on with the agent started by its service (``conf`` for this boot); with
        ``keep_states``, what it changed is added to ``state_changes``."""
        if not self.keep_states:
            return self._power_on(number, conf)
        from guestsim.simulator.statediff import machine_snapshot, state_changes

        before = machine_snapshot(self.state, self._certificate_names)
        record = self._power_on(number, conf)
        changes = state_changes(before, machine_snapshot(self.state, self._certificate_names))
        self.state_changes.append(BootChanges(number, changes))
        return record

    def _power_on(self, number: int, conf: AgentConfig | None) -> BootRecord:
        self._boot_conf = conf or self.conf
        self.trace.boot = number
        self.state.power_on()
        self.trace.emit("boot", computer_name=self.state.computer_name)
        self._reboot_requested = False
        self._crash = None
        service = self.state.find_service(AGENT_SERVICE_NAME)
        account = service.account if service is not None else "LocalSystem"
        username = account.split("\\", 1)[1] if account.startswith(".\\") else None
        record: BootRecord
        with self.transport.serving(), self._capturing_logs():
            try:
                exit_code = self._run_agent(self.argv, username)
                outcome = "stopped" if self._crash is None else "crashed"
                record = BootRecord(number, outcome, exit_code, error=self._crash)
            except NotModelled as gap:
                self.trace.emit("not_modelled", what=gap.what)
                return BootRecord(number, "not_modelled", None, error=str(gap))
            except AgentHung as hang:
                self.trace.emit("agent_hung", method=hang.method, url=hang.url)
                return BootRecord(number, "hung", None, error=str(hang))
            except PowerLost as cut:
                return BootRecord(number, "power_loss", None, error=str(cut))
        if self._reboot_requested:
            record.outcome = "reboot"
            record.reboot_requested_by = self._reboot_culprit(number)
        return record

    def _reboot_culprit(self, boot: int) -> str | None:
        culprit = None
        for event in self.trace.events:
            if event.boot == boot and event.kind == "plugin_end" and event.get("reboot"):
                culprit = str(event.get("plugin"))
        return culprit

    def _sysprep_pass(self, findings: list[str]) -> BootRecord | None:
        """Boot 0: the unattend configuration runs during specialize, then Windows restarts."""
        if self.unattend_conf is None:
            return None
        record = self.boot(0, self.unattend_conf)
        while record.outcome == "power_loss":
            # Windows setup runs the interrupted specialize pass again at the next power-on.
            self.clock.advance(REBOOT_DURATION_S)
            record = self.boot(0, self.unattend_conf)
        if record.outcome in ("not_modelled", "hung"):
            findings.append(f"unattend pass: {record.error}")
        elif record.outcome == "crashed":
            findings.append(f"unattend pass: the agent crashed: {record.error}")
        self.trace.emit("sysprep_reboot")
        self.clock.advance(REBOOT_DURATION_S)
        return record

    def run(self) -> RunResult:
        boots: list[BootRecord] = []
        findings: list[str] = []
        with self.agent.session():
            unattend = self._sysprep_pass(findings)
            if unattend is None or unattend.outcome not in ("not_modelled", "hung"):
                self._boot_until_done(boots, findings)
        return RunResult(
            boots,
            self.trace,
            self.state,
            self.clouds,
            findings,
            self.log,
            unattend,
            self.side_effects,
            self.conf,
            self.state_changes if self.keep_states else None,
        )

    def _boot_until_done(self, boots: list[BootRecord], findings: list[str]) -> None:
        while True:
            if len(boots) == self.max_boots:
                culprits = ", ".join(
                    f"boot {b.number}: {b.reboot_requested_by or 'unknown'}" for b in boots
                )
                findings.append(
                    f"reboot loop: the agent asked for a reboot on each of {self.max_boots} "
                    f"boots (max_boots); reboots requested by {culprits}"
                )
                self.trace.emit("reboot_loop", boots=self.max_boots)
                break
            record = self.boot(len(boots) + 1)
            boots.append(record)
            if record.outcome in ("not_modelled", "hung"):
                findings.append(f"boot {record.number}: {record.error}")
                break
            if record.outcome == "crashed":
                findings.append(f"boot {record.number}: the agent crashed: {record.error}")
            if record.outcome in ("stopped", "crashed") and self.extra_boots > 0:
                self.extra_boots -= 1
                self.trace.emit("extra_boot")
            elif record.outcome not in ("reboot", "power_loss"):
                break
            self.clock.advance(REBOOT_DURATION_S)
