"""Exploring power cuts: run a scenario once per side effect and judge where each ends.

The reference run numbers the scenario's side effects (see ``powerloss``). Cut K runs the
same scenario with the power failing as side effect K is about to take effect, and one
more cut falls after the last side effect. Each cut run is judged against the reference:

* ``converged``: same persistent machine state, same cloud state, the scenario's own
  expectations met (its boot count aside: a cut costs a boot);
* ``diverged``: something differs; the finding lists what, line by line;
* ``reboot_loop``, ``crashed``, ``hung``, ``not_modelled``: the run after the cut ended
  that way where the reference did not.

Cuts that end alike at the same plugin and side effect make one finding, so a user reads a
handful of findings rather than one line per cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from guestsim.simulator.batch import each_scenario
from guestsim.simulator.errors import GuestsimError
from guestsim.simulator.expectations import check_expectations
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.powerloss import SideEffect
from guestsim.simulator.scenario import RunRecord, Scenario, ScenarioOutcome
from guestsim.simulator.statediff import (
    cloud_snapshot,
    diff_lines,
    machine_snapshot,
    password_mismatches,
)

OUTCOMES = ("converged", "diverged", "reboot_loop", "crashed", "hung", "not_modelled")
# Expectations about what happened along the way rather than where the machine ends: a
# cut adds a boot and repeats work, so they are not checked after one.
HISTORY_EXPECTATIONS = (
    "boots",
    "plugin_runs",
    "failed_plugins",
    "provisioning",
    "requests",
    "virtual_seconds_at_least",
    "findings",
    "faults_injected",
    "config_drive_errors",
    "script_runs",
    "pending_computer_name",
    "power_loss",
)
# Findings name the plugin; side effects outside any plugin belong to the agent itself.
AGENT = "agent"


@dataclass(frozen=True)
class Cut:
    """One explored cut: where the power failed and how the run ended."""

    index: int  # the side effect the power failed at; count + 1: after the last one
    effect: SideEffect | None  # None for the cut after the last side effect
    plugin: str
    outcome: str
    diff: tuple[str, ...]
    boots: int
    # The cut run (trace, what each boot changed), when kept for the HTML report.
    run: RunRecord | None = field(default=None, compare=False, repr=False)

    @property
    def finding_id(self) -> str:
        return finding_id(self.outcome, self.plugin, self.effect)


EFFECT_KINDS = {"os": "an OS change", "cloud": "a cloud request"}


def finding_id(outcome: str, plugin: str, effect: SideEffect | None) -> str:
    """How a finding is named, in reports and in ``expect.power_loss.known_findings``:
    cuts that end alike in one plugin at one kind of side effect are one finding."""
    if effect is None:
        return f"{outcome} after the last side effect"
    return f"{outcome} in {plugin} at {EFFECT_KINDS[effect.kind]}"


@dataclass
class Finding:
    id: str
    outcome: str
    plugin: str
    calls: list[str]  # the side effects cut at, as in the cuts
    cuts: list[int]
    diff: list[str]
    known: bool


@dataclass
class Exploration:
    scenario: Scenario
    side_effects: list[SideEffect]
    cuts: list[Cut]
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    # Declared in expect.power_loss.known_findings but not found: like a strict xfail, the
    # scenario fails until its declaration says what the agent does now.
    stale_known: list[str] = field(default_factory=list)
    # The uninterrupted run, when runs are kept for the HTML report (``keep_runs``).
    reference: RunRecord | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(f.known for f in self.findings) and not self.stale_known


def build_cut_machine(
    scenario: Scenario, cut: int | None, seed: int | None = None, keep_states: bool = False
) -> Machine:
    """The scenario's machine, numbering its side effects, the power failing at ``cut``;
    ``keep_states``: it keeps what each boot changed (``Machine.keep_states``)."""
    machine = scenario.build_machine(seed)
    machine.max_boots += 1 if cut is not None else 0  # a cut costs a boot
    machine.configure_power_loss(cut)
    machine.keep_states = keep_states
    return machine


def _plugin_at(result: RunResult, effect: SideEffect) -> str:
    running: str | None = None
    for event in result.trace.events[: effect.seq]:
        if event.boot != effect.boot:
            continue
        if event.kind == "plugin_start":
            running = str(event.get("plugin"))
        elif event.kind == "plugin_end":
            running = None
    return running or AGENT


def _ending(result: RunResult) -> str:
    if result.reboot_loop:
        return "reboot_loop"
    last = result.boots[-1].outcome if result.boots else "stopped"
    return last if last in ("crashed", "hung", "not_modelled") else "stopped"


def _crashes(result: RunResult) -> set[str]:
    return {boot.error or "" for boot in result.boots if boot.outcome == "crashed"}


@dataclass
class Reference:
    """The uninterrupted run, and what cut runs are compared with."""

    result: RunResult
    machine: dict[str, Any]
    cloud: dict[str, Any]

    @classmethod
    def of(cls, result: RunResult) -> Reference:
        return cls(result, machine_snapshot(result.state), cloud_snapshot(result.clouds))


def judge(
    scenario: Scenario, ref: Reference, result: RunResult, username: str
) -> tuple[str, list[str]]:
    """The outcome class of a cut run, and the lines that say why."""
    reference = ref.result
    ending = _ending(result)
    if ending != _ending(reference) and ending != "stopped":
        return ending, [f.rstrip() for f in result.findings]
    new_crashes = sorted(_crashes(result) - _crashes(reference))
    if new_crashes:
        return "crashed", [f"the agent crashed: {error}" for error in new_crashes]
    lines = diff_lines(ref.machine, machine_snapshot(result.state), "machine")
    lines += diff_lines(ref.cloud, cloud_snapshot(result.clouds), "cloud")
    lines += password_mismatches(result.state, result.clouds, username)
    expect = {k: v for k, v in scenario.expectations.items() if k not in HISTORY_EXPECTATIONS}
    lines += [f"expectation {failure}" for failure in check_expectations(expect, result)]
    return ("diverged" if lines else "converged"), lines


def reference_run(
    scenario: Scenario, seed: int | None = None, keep_states: bool = False
) -> Reference:
    return Reference.of(build_cut_machine(scenario, None, seed, keep_states).run())


def explore_cut(
    scenario: Scenario, ref: Reference, index: int, seed: int | None = None, keep_run: bool = False
) -> tuple[Cut, RunResult]:
    """One cut run, judged against the reference; ``keep_run``: the cut keeps its run
    (``Cut.run``, its diff as failures)."""
    effects = ref.result.side_effects
    if not 1 <= index <= len(effects) + 1:
        raise ValueError(
            f"{scenario.path}: no cut point {index}: the run has {len(effects)} side effects "
            f"(cut points 1-{len(effects)}, and {len(effects) + 1}: after the last)"
        )
    effect = effects[index - 1] if index <= len(effects) else None
    plugin = _plugin_at(ref.result, effect) if effect is not None else AGENT
    result = build_cut_machine(scenario, index, seed, keep_run).run()
    username = str(scenario.effective_conf().get("username"))
    outcome, diff = judge(scenario, ref, result, username)
    run = ScenarioOutcome(scenario, result, diff).record() if keep_run else None
    return Cut(index, effect, plugin, outcome, tuple(diff), result.boot_count, run), result


def explore_power_loss(
    scenario: Scenario, seed: int | None = None, keep_runs: bool = False
) -> Exploration:
    """The reference run, then one run per cut point; findings grouped. ``keep_runs``: the
    exploration keeps each run (trace, per-boot changes) for the HTML report."""
    ref = reference_run(scenario, seed, keep_runs)
    effects = list(ref.result.side_effects)
    cuts = [
        explore_cut(scenario, ref, index, seed, keep_runs)[0]
        for index in range(1, len(effects) + 2)
    ]
    exploration = Exploration(scenario, effects, cuts)
    if keep_runs:
        checked = ScenarioOutcome(scenario, ref.result, scenario.check(ref.result))
        exploration.reference = checked.record()
    known = known_findings(scenario)
    exploration.findings = group_findings(cuts, known)
    exploration.stale_known = sorted(known - {f.id for f in exploration.findings})
    return exploration


def known_findings(scenario: Scenario) -> set[str]:
    power_loss: dict[str, Any] = scenario.expectations.get("power_loss", {})
    return set(power_loss.get("known_findings", []))


def group_findings(cuts: Sequence[Cut], known: set[str]) -> list[Finding]:
    findings: dict[str, Finding] = {}
    for cut in cuts:
        if cut.outcome == "converged":
            continue
        key = cut.finding_id
        finding = findings.get(key)
        if finding is None:
            finding = Finding(key, cut.outcome, cut.plugin, [], [], [], key in known)
            findings[key] = finding
        finding.cuts.append(cut.index)
        if cut.effect is not None and cut.effect.call not in finding.calls:
            finding.calls.append(cut.effect.call)
        finding.diff.extend(line for line in cut.diff if line not in finding.diff)
    return list(findings.values())


def explore_one(scenario: Scenario, seed: int | None, keep_runs: bool = False) -> Exploration:
    """An exploration that reports a scenario the simulator cannot run instead of raising."""
    try:
        return explore_power_loss(scenario, seed, keep_runs)
    except GuestsimError as ex:
        return Exploration(scenario, [], [], error=str(ex))


def explore_all(
    scenarios: Sequence[Scenario], seed: int | None = None, jobs: int = 1, keep_runs: bool = False
) -> Iterator[Exploration]:
    """Each scenario's exploration, in order; ``jobs`` > 1 explores in worker processes;
    ``keep_runs``: each keeps its runs for the HTML report (``explore_power_loss``)."""
    yield from each_scenario(explore_one, scenarios, jobs, seed, keep_runs)
