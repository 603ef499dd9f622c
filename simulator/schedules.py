"""Combined faults: schedules of power cuts, HTTP faults and extra boots, searched by hypothesis.

A *schedule* is what can go wrong in one run of a scenario, beyond what the scenario itself
declares:

* **Power cuts** at side effects K1 < K2 < ... (see ``powerloss`` for what a cut is). The
  numbering is the run's own: after a cut the machine boots again and the side effects of
  the boots that follow go on counting from where the cut left off, so a second cut at an
  index past the first falls in the boots the first one added (or later in the same run).
  A cut at an index the run never reaches does nothing.
* **HTTP faults** against the scenario's own cloud, as ``faults.Fault`` declares them: a
  request by method and path (a literal glob of the path, ``:`` written as ``?``), answered
  with status 500 or 503, or refused, or reset, for its first N matches only (``first``),
  after which the cloud answers again. They apply after the scenario's own faults: a
  request one of those matches is not seen by them.
* **Extra boots**: after a boot where the agent's process ended on its own (stopped or
  crashed) without asking for a reboot, where the run would otherwise end, the machine is
  powered on once more, as an operator's or the host's restart would; N extra boots do so
  N times. Each is an ``extra_boot`` trace event at the end of the boot before it. Boots
  the agent asks for and boots after a cut are not extra boots.

Each cut and extra boot raises the run's boot limit by one, as a single cut does. A
schedule runs against the scenario's machine and is judged as a power cut is
(``explore.judge`` against the uninterrupted reference run): it holds when the run
*converged*. A run that did not converge is a *known* divergence when it has a power cut
and the finding its first cut names (``explore.finding_id``: outcome, plugin, kind of side
effect) is declared in ``expect.power_loss.known_findings``.

``guestsim explore --hypothesis N`` lets hypothesis draw up to N schedules per scenario
from what the reference run showed: up to 3 cuts, each 1 to S+1 side effects after the one
before (S: the reference run's side effects); up to 2 faults on distinct requests the
scenario's clouds answered, each for the first 1 to 3 matches; 0 to 2 extra boots. The
first schedule with an unknown divergence is shrunk by hypothesis to a minimal one, which
is printed as the options that replay it:
``guestsim run SCENARIO --power-loss-at K [...] --fault SPEC [...] --extra-boots N``.
Hypothesis is seeded from the scenario's seed (or ``--seed``) and keeps no database, so the
same command finds the same schedule every time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from random import Random
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from guestsim.simulator.batch import each_scenario
from guestsim.simulator.errors import GuestsimError
from guestsim.simulator.explore import (
    Reference,
    _plugin_at,
    build_cut_machine,
    finding_id,
    judge,
    known_findings,
    reference_run,
)
from guestsim.simulator.faults import Fault, parse_fault
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.scenario import Scenario
from guestsim.simulator.transport import Gateway

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

MAX_CUTS = 3
MAX_FAULTS = 2
MAX_FAULT_HITS = 3
MAX_EXTRA_BOOTS = 2
# What a drawn fault does to its request, simplest first (hypothesis shrinks towards it).
FAULT_KINDS: tuple[dict[str, int | str], ...] = (
    {"status": 500},
    {"status": 503},
    {"error": "refused"},
    {"error": "reset"},
)
_FAULT_OPTIONS = ("host", "method", "status", "delay", "error", "body", "first")


@dataclass(frozen=True, order=True)
class Request:
    """A request the reference run made to one of the scenario's clouds."""

    method: str
    path: str


@dataclass(frozen=True)
class Schedule:
    """Power cuts (side-effect numbers, increasing), extra faults and extra boots."""

    cuts: tuple[int, ...] = ()
    faults: tuple[Fault, ...] = ()
    extra_boots: int = 0

    @property
    def empty(self) -> bool:
        return not (self.cuts or self.faults or self.extra_boots)

    @classmethod
    def from_options(
        cls, cuts: Sequence[int], fault_specs: Sequence[str], extra_boots: int = 0
    ) -> Schedule:
        """The schedule the ``run``/``trace`` options give; ValueError for a bad fault."""
        return cls(
            tuple(sorted(set(cuts))),
            tuple(parse_fault(spec) for spec in fault_specs),
            extra_boots,
        )

    def options(self) -> list[str]:
        """The ``guestsim run`` options that replay this schedule."""
        argv: list[str] = []
        for cut in self.cuts:
            argv += ["--power-loss-at", str(cut)]
        for fault in self.faults:
            argv += ["--fault", format_fault(fault)]
        if self.extra_boots:
            argv += ["--extra-boots", str(self.extra_boots)]
        return argv

    def describe(self) -> str:
        parts: list[str] = []
        if self.cuts:
            numbers = ", ".join(str(cut) for cut in self.cuts)
            parts.append(f"power loss at side effect{'s' if len(self.cuts) > 1 else ''} {numbers}")
        parts += [f"fault {format_fault(fault)}" for fault in self.faults]
        if self.extra_boots:
            parts.append(f"{self.extra_boots} extra boot{'s' if self.extra_boots > 1 else ''}")
        return "; ".join(parts) or "nothing added"


def format_fault(fault: Fault) -> str:
    """A fault as ``--fault`` takes it (``faults.parse_fault`` reads it back)."""
    values = {name: getattr(fault, name) for name in _FAULT_OPTIONS}
    values["delay"] = fault.delay or None
    options = ",".join(f"{name}={value}" for name, value in values.items() if value is not None)
    return f"{fault.path}:{options}" if options else fault.path


def literal_glob(path: str) -> str:
    """A glob matching ``path`` alone; ``:`` (which ends a fault's path) becomes ``?``."""
    return re.sub(r"[][*?]", lambda match: f"[{match.group()}]", path).replace(":", "?")


def cloud_requests(result: RunResult) -> list[Request]:
    """The distinct requests of a run that reached one of its clouds, sorted."""
    gateway = Gateway(result.clouds, result.trace)
    found = {
        Request(str(event.get("method")), urlsplit(str(event.get("url"))).path)
        for event in result.trace.of_kind("http")
        if gateway.cloud_for(str(event.get("url"))) is not None
    }
    return sorted(found)


def build_schedule_machine(
    scenario: Scenario, schedule: Schedule, seed: int | None = None
) -> Machine:
    """The scenario's machine with the schedule's cuts, faults and extra boots."""
    machine = build_cut_machine(scenario, None, seed)
    machine.max_boots += len(schedule.cuts) + schedule.extra_boots
    machine.configure_power_loss(schedule.cuts)
    machine.add_faults(schedule.faults)
    machine.extra_boots = schedule.extra_boots
    return machine


@dataclass(frozen=True)
class ScheduleRun:
    """One schedule's run, judged against the reference."""

    schedule: Schedule
    outcome: str
    diff: tuple[str, ...]
    boots: int
    finding: str | None  # what its first cut names, when a cut happened
    known: bool
    missed_cuts: tuple[int, ...]  # cuts at side effects the run never reached

    @property
    def holds(self) -> bool:
        return self.outcome == "converged" or self.known


def run_schedule(
    scenario: Scenario, ref: Reference, schedule: Schedule, seed: int | None = None
) -> tuple[ScheduleRun, RunResult]:
    result = build_schedule_machine(scenario, schedule, seed).run()
    username = str(scenario.effective_conf().get("username"))
    outcome, lines = judge(scenario, ref, result, username)
    # The state diff says "after the cut"; a schedule may have faults or extra boots only.
    diff = tuple(re.sub(" after the cut$", " with the schedule", line) for line in lines)
    cuts = [int(event.get("at")) for event in result.trace.of_kind("power_loss")]
    finding = None
    if cuts and outcome != "converged":
        effect = result.side_effects[cuts[0] - 1]
        finding = finding_id(outcome, _plugin_at(result, effect), effect)
    run = ScheduleRun(
        schedule,
        outcome,
        diff,
        result.boot_count,
        finding,
        finding is not None and finding in known_findings(scenario),
        tuple(cut for cut in schedule.cuts if cut not in cuts),
    )
    return run, result


def _fault(request: Request, kind: dict[str, int | str], first: int) -> Fault:
    return Fault.from_spec(
        {"path": literal_glob(request.path), "method": request.method, "first": first, **kind}
    )


def _schedule(gaps: list[int], faults: list[Fault], extra_boots: int) -> Schedule:
    return Schedule(tuple(accumulate(gaps)), tuple(faults), extra_boots)


def schedule_strategy(side_effects: int, requests: Sequence[Request]) -> SearchStrategy[Schedule]:
    """Non-empty schedules for a run with ``side_effects`` and these cloud requests."""
    from hypothesis import strategies as st

    gaps = st.lists(st.integers(1, side_effects + 1), max_size=MAX_CUTS)
    faults: SearchStrategy[list[Fault]] = st.just([])
    if requests:
        fault = st.builds(
            _fault,
            st.sampled_from(list(requests)),
            st.sampled_from(FAULT_KINDS),
            st.integers(1, MAX_FAULT_HITS),
        )
        faults = st.lists(
            fault, max_size=MAX_FAULTS, unique_by=lambda fault: (fault.method, fault.path)
        )
    extra = st.integers(0, MAX_EXTRA_BOOTS)
    return st.builds(_schedule, gaps, faults, extra).filter(lambda schedule: not schedule.empty)


@dataclass
class ScheduleSearch:
    """What hypothesis found for one scenario: the minimal failing schedule, or none."""

    scenario: Scenario
    examples: int  # the most schedules hypothesis may draw (before shrinking)
    seed: int | None  # the seed given on the command line, for the replay command
    side_effects: int = 0  # in the reference run
    requests: int = 0  # distinct requests to the scenario's clouds in the reference run
    tried: int = 0  # distinct schedules run, drawing and shrinking
    failure: ScheduleRun | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.failure is None

    def replay_command(self) -> str | None:
        if self.failure is None:
            return None
        seed = ["--seed", str(self.seed)] if self.seed is not None else []
        path = self.scenario.path.as_posix()
        options = [*seed, *self.failure.schedule.options(), *self.scenario.agent_options()]
        return shlex.join(["guestsim", "run", path, *options])


def search_schedules(scenario: Scenario, examples: int, seed: int | None = None) -> ScheduleSearch:
    """Let hypothesis draw up to ``examples`` schedules; shrink the first that diverges."""
    from hypothesis import HealthCheck, Phase, Verbosity, find, settings
    from hypothesis.errors import NoSuchExample

    ref = reference_run(scenario, seed)
    requests = cloud_requests(ref.result)
    search = ScheduleSearch(scenario, examples, seed, len(ref.result.side_effects), len(requests))
    runs: dict[Schedule, ScheduleRun] = {}

    def fails(schedule: Schedule) -> bool:
        run = runs.get(schedule)
        if run is None:
            run = runs[schedule] = run_schedule(scenario, ref, schedule, seed)[0]
        return not run.holds

    config = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,  # seeded below, from the scenario
        phases=(Phase.generate, Phase.shrink),
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    strategy = schedule_strategy(search.side_effects, requests)
    random = Random(scenario.seed if seed is None else seed)
    try:
        minimal = find(strategy, fails, settings=config, random=random)
    except NoSuchExample:
        pass
    else:
        search.failure = runs[minimal]
    search.tried = len(runs)
    return search


def search_one(scenario: Scenario, examples: int, seed: int | None) -> ScheduleSearch:
    """A search that reports a scenario the simulator cannot run instead of raising."""
    try:
        return search_schedules(scenario, examples, seed)
    except GuestsimError as ex:
        return ScheduleSearch(scenario, examples, seed, error=str(ex))


def search_all(
    scenarios: Sequence[Scenario], examples: int, seed: int | None = None, jobs: int = 1
) -> Iterator[ScheduleSearch]:
    """Each scenario's search, in order; ``jobs`` > 1 searches in worker processes."""
    yield from each_scenario(search_one, scenarios, jobs, examples, seed)
