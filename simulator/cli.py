"""The ``guestsim`` command line: thin over the scenario library, reports and traces."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

# Only what --help needs is imported here; each command imports its own machinery, so
# `guestsim --help`, `list` and `validate` never load the fake Windows, the clouds'
# HTTP stack, the image builders or cryptography.
from guestsim.simulator.clouds.catalog import CLOUD_TYPES, LOOPBACK
from guestsim.simulator.errors import GuestsimError
from guestsim.simulator.media.formats import FORMATS, PARTITION_FILESYSTEMS
from guestsim.simulator.paths import bundled

if TYPE_CHECKING:
    from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
    from guestsim.simulator.faults import FaultPlan
    from guestsim.simulator.scenario import Scenario
    from guestsim.simulator.schedules import Schedule, ScheduleSearch
    from guestsim.simulator.transport import LoopbackServer

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(package_name="guestsim")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Replay Windows guest initialisation (cloudbase-init) on a simulated machine.

    Each scenario boots a simulated Windows guest against a simulated cloud, runs the
    agent with the scenario's configuration through every reboot, and checks the final
    machine state and the event trace against the scenario's expectations.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _interactive() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return sys.stdout.isatty() and ci not in ("1", "true", "yes")


def _selected_scenarios(
    paths: tuple[Path, ...], keywords: str | None, shard: str | None
) -> list[Scenario]:
    """The scenarios named (default: the bundled library), after -k and --shard. A -k or
    --shard that selects none is not an error (an over-sharded CI matrix, an expression
    for another branch's scenarios): it says so on stderr and the command goes on with
    none, writing empty reports and exiting 0."""
    from guestsim.simulator.scenario import discover_roots, load_scenario, scenario_name
    from guestsim.simulator.selection import SelectionError, matches_keywords, parse_shard
    from guestsim.simulator.selection import shard as shard_paths

    found = discover_roots(paths or [bundled("scenarios")])
    if not found:
        raise click.UsageError("no scenario files found")
    entries = found
    try:
        if keywords:
            entries = [e for e in entries if matches_keywords(keywords, scenario_name(*e))]
        if shard:
            kept = set(shard_paths([path for path, _ in entries], *parse_shard(shard)))
            entries = [entry for entry in entries if entry[0] in kept]
    except SelectionError as ex:
        raise click.UsageError(str(ex)) from ex
    if not entries:
        by = [f"-k {keywords!r}"] if keywords else []
        by += [f"--shard {shard}"] if shard else []
        click.echo(f"no scenario selected by {' and '.join(by)} ({len(found)} found)", err=True)
    return [load_scenario(path, root) for path, root in entries]


def _selection_options(command: F) -> F:
    """--seed, -k and --shard, as run and explore share them."""
    command = click.option(
        "--shard", metavar="K/N", help="Only the K-th of N deterministic slices (parallel CI jobs)."
    )(command)
    command = click.option(
        "-k",
        "keywords",
        metavar="EXPR",
        help="Only scenarios whose folder/name match, e.g. 'cloudstack or (drives and not vfat)'.",
    )(command)
    return click.option(
        "--seed", type=int, help="Seed for every scenario (default: each scenario's own)."
    )(command)


def _schedule_options(command: F) -> F:
    """--power-loss-at, --fault and --extra-boots: a schedule of `explore`, to replay."""
    command = click.option(
        "--extra-boots",
        type=click.IntRange(min=0),
        default=0,
        metavar="N",
        help="N extra boots: the machine powered on again after a boot where the agent "
        "stopped on its own.",
    )(command)
    command = click.option(
        "--fault",
        "fault_specs",
        multiple=True,
        metavar="PATH[:name=value,...]",
        help="This fault too, after the scenario's own (as `serve --fault` takes it), e.g. "
        "'/openstack/latest/meta_data.json:method=GET,status=503,first=2'. Repeatable.",
    )(command)
    return click.option(
        "--power-loss-at",
        "power_loss_at",
        type=click.IntRange(min=1),
        multiple=True,
        metavar="K",
        help="The power fails at side effect K of the one SCENARIO given (a cut of `explore "
        "--power-loss`). Repeatable: side effects keep counting across the boots a cut adds.",
    )(command)


def _agent_options(command: F) -> F:
    """--agent and --agent-source: which agent program boots in the simulated world."""
    command = click.option(
        "--agent-source",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        metavar="DIR",
        help="With --agent upstream: run the cloudbaseinit package in DIR (a checkout or a "
        "fork) instead of the installed one.",
    )(command)
    return click.option(
        "--agent",
        "agent_name",
        type=click.Choice(["guestsim", "upstream"]),
        help="guestsim: guestsim's own agent; upstream: the published cloudbase-init, run "
        'in-process in the same world (pip install "guestsim[upstream]"). Default: what '
        "each scenario says (agent.program), else guestsim.",
    )(command)


def _with_agent(
    scenarios: list[Scenario], agent_name: str | None, agent_source: Path | None
) -> list[Scenario]:
    """The scenarios as --agent/--agent-source ask; an agent that cannot run is refused
    here, before any scenario starts."""
    if agent_source is not None and agent_name != "upstream":
        raise click.UsageError("--agent-source needs --agent upstream")
    if agent_name is None:
        return scenarios
    if agent_name == "upstream":
        from guestsim.simulator.upstream import locate

        locate(agent_source)
    return [scenario.with_agent(agent_name, agent_source) for scenario in scenarios]


HTML_HELP = (
    "one self-contained file (inline styles, script and pictures; it loads nothing from the "
    "network and opens offline, e.g. from a CI artifact store)"
)


def _report_options(command: F) -> F:
    """--jobs, --junit, --json and --html, as run and explore share them."""
    command = click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False),
        help=f"Write an HTML report here, {HTML_HELP}: a filterable summary table; per "
        "scenario each boot as a timeline in virtual time (stages, plugins, metadata "
        "discovery, requests and faults, sleeps, reboots, power cuts), the unmet expectations "
        "beside the events that explain them, and what each boot changed in the machine "
        "(registry, users, files, services); for explore --power-loss, the cut matrix, each "
        "cut opening its run.",
    )(command)
    command = click.option(
        "--json", "json_path", type=click.Path(dir_okay=False), help="Write a JSON report here."
    )(command)
    command = click.option(
        "--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML here."
    )(command)
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=0),
        default=1,
        show_default=True,
        help="Work in this many worker processes (0: one per core). "
        "Reports and traces are the same as a serial run's.",
    )(command)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
@click.option(
    "--conf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your cloudbase-init.conf, used instead of each scenario's own configuration.",
)
@click.option(
    "--unattend-conf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your cloudbase-init-unattend.conf: runs first, in its own boot, as sysprep does.",
)
@click.option(
    "--local-scripts",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of your local scripts, placed at the configuration's local_scripts_path.",
)
@click.option(
    "--user-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your user data, served by each scenario's cloud instead of its own.",
)
@click.option(
    "--cloud",
    "clouds",
    metavar="NAMES",
    help=f"Only scenarios on these clouds, comma separated ({', '.join(CLOUD_TYPES)}, none).",
)
@click.option(
    "--guard",
    is_flag=True,
    help="Hold the run to the host guard: no write outside the temporary folders it makes "
    "and the --junit/--json/--html files, no process but its own --jobs workers, no connection "
    "beyond loopback. A refused effect ends the run with 'error: guard ...' (exit status 1).",
)
@_report_options
@_schedule_options
@_agent_options
def run(
    paths: tuple[Path, ...],
    seed: int | None,
    keywords: str | None,
    shard: str | None,
    conf: Path | None,
    unattend_conf: Path | None,
    local_scripts: Path | None,
    user_data: Path | None,
    clouds: str | None,
    guard: bool,
    jobs: int,
    junit_path: str | None,
    json_path: str | None,
    html_path: str | None,
    power_loss_at: tuple[int, ...],
    fault_specs: tuple[str, ...],
    extra_boots: int,
    agent_name: str | None,
    agent_source: Path | None,
) -> None:
    """Run scenarios: files, or folders searched for *.yaml (default: the bundled library).

    Prints one line per scenario and a summary (a progress bar instead on a terminal,
    unless CI=true). Scenarios are named as `guestsim list` names them. Exit status: 0 all
    passed, 1 any scenario failed, 2 a scenario file or the command line is invalid, 3 an
    internal error; a -k or --shard that selects no scenario says so and exits 0.

    With --conf, --unattend-conf, --local-scripts or --user-data, every scenario that
    declares that part overridable runs with yours, keeping its cloud, faults, machine and
    the options its story is about; the others are reported as skipped. Options that point
    the agent at a cloud ([<cloud>] metadata_base_url, [cloudstack] password_server_port,
    [vmwareguestinfo] vmware_rpctool_path) keep the scenario's values (a note says so).

    The schedule options (--power-loss-at, --fault, --extra-boots) replay what `guestsim
    explore` prints for one scenario file: its run with those power cuts, faults and extra
    boots, judged against the uninterrupted run (exit status 0 converged, 1 not).

    \b
    Examples:
      guestsim run
      guestsim run scenarios/clouds/openstack-happy-path.yaml --junit report.xml
      guestsim run -k "clouds and not azure" --shard 1/4 --json report.json
      guestsim run --jobs 0 --junit report.xml
      guestsim run --conf cloudbase-init.conf --unattend-conf cloudbase-init-unattend.conf \\
          --local-scripts LocalScripts/ --cloud openstack,ec2 --junit report.xml
      guestsim run scenarios/clouds/openstack-happy-path.yaml --power-loss-at 8 --power-loss-at 20
      guestsim run scenarios/clouds/cloudstack-happy-path.yaml \\
          --fault '/:method=GET,status=500,first=1' --extra-boots 1
      guestsim run --guard --junit report.xml
    """
    if guard:
        _guarded_run(click.get_current_context().params)
        return
    from guestsim.simulator.batch import default_jobs, run_records
    from guestsim.simulator.overrides import load_overrides
    from guestsim.simulator.report import (
        console_line,
        skipped_line,
        summary_counts,
        summary_line,
        write_json,
        write_junit,
    )

    agent = (agent_name, agent_source)
    if html_path and (power_loss_at or fault_specs or extra_boots):
        raise click.UsageError(
            "--html does not go with --power-loss-at, --fault or --extra-boots: "
            "guestsim trace SCENARIO takes them with --html"
        )
    if len(power_loss_at) == 1 and not fault_specs and not extra_boots:
        _replay_cut(paths, power_loss_at[0], seed, agent)
        return
    if power_loss_at or fault_specs or extra_boots:
        _replay_schedule(paths, power_loss_at, fault_specs, extra_boots, seed, agent)
        return
    scenarios = _with_agent(_selected_scenarios(paths, keywords, shard), *agent)
    if clouds:
        wanted = {name.strip() for name in clouds.split(",") if name.strip()}
        unknown = sorted(wanted - {*CLOUD_TYPES, "none"})
        if unknown:
            raise click.BadParameter(f"unknown cloud(s) {', '.join(unknown)}", param_hint="--cloud")
        scenarios = [
            s for s in scenarios if ((s.data.get("cloud") or {}).get("type", "none")) in wanted
        ]
    overrides = load_overrides(conf, unattend_conf, user_data, local_scripts)
    skipped = [(s, reason) for s in scenarios if (reason := s.skip_reason(overrides))]
    runnable = [s for s in scenarios if not s.skip_reason(overrides)]
    replaced = sorted({option for s in runnable for option in s.replaced_endpoints(overrides)})
    if replaced:
        click.echo(
            f"note: each scenario runs with its own {', '.join(replaced)} instead of your "
            "configuration's: its simulated cloud answers there",
            err=True,
        )
    records = run_records(
        runnable, seed, overrides, jobs=jobs or default_jobs(), keep_states=bool(html_path)
    )
    outcomes = []
    if _interactive():
        with click.progressbar(records, length=len(runnable), label="scenarios") as bar:
            outcomes = list(bar)
        for outcome in outcomes:
            if not outcome.passed:
                click.echo(console_line(outcome))
    else:
        for outcome in records:
            outcomes.append(outcome)
            click.echo(console_line(outcome))
        for item in skipped:
            click.echo(skipped_line(item))
    click.echo(summary_line(outcomes, skipped))
    if junit_path:
        write_junit(outcomes, junit_path, skipped)
    if json_path:
        write_json(outcomes, json_path, skipped)
    if html_path:
        from guestsim.simulator.html import run_document

        _write_html(run_document(outcomes, skipped, agent_name), html_path)
    _, failed = summary_counts(outcomes)
    sys.exit(EXIT_FAILED if failed else EXIT_PASSED)


def _guarded_run(params: dict[str, Any]) -> None:
    """``run`` with ``params``, under the host guard (simulator/guard.py): a refused effect,
    raised or swallowed, ends it with :class:`GuardViolation` naming each one."""
    from guestsim.simulator import guard as host_guard

    outputs = [
        path for path in (params["junit_path"], params["json_path"], params["html_path"]) if path
    ]
    policy = host_guard.Policy("guestsim run --guard", writable=outputs)
    outcome: BaseException | None = None
    with host_guard.install().guarding(policy) as refused:
        try:
            run.callback(**{**params, "guard": False})  # type: ignore[misc]
        except BaseException as ex:  # its exit status, or an error: after the guard's verdict
            outcome = ex
    if refused:
        raise host_guard.GuardViolation(host_guard.describe(refused, policy.label)) from outcome
    if outcome is not None:
        raise outcome


def _write_html(document: dict[str, Any], path: str) -> None:
    """The report at ``path``; a path that cannot be written is a usage error, one line."""
    from guestsim.simulator.html import write_html

    try:
        write_html(document, path)
    except OSError as ex:
        raise click.FileError(path, hint=ex.strerror or str(ex)) from ex


def _replay_cut(
    paths: tuple[Path, ...], index: int, seed: int | None, agent: tuple[str | None, Path | None]
) -> None:
    from guestsim.simulator.explore import explore_cut, finding_id, known_findings, reference_run
    from guestsim.simulator.scenario import load_scenario

    if len(paths) != 1 or not paths[0].is_file():
        raise click.UsageError("--power-loss-at replays one cut of one scenario file")
    (scenario,) = _with_agent([load_scenario(paths[0])], *agent)
    ref = reference_run(scenario, seed)
    try:
        cut, result = explore_cut(scenario, ref, index, seed)
    except ValueError as ex:
        raise click.BadParameter(str(ex), param_hint="--power-loss-at") from ex
    where = cut.effect.call if cut.effect is not None else "after the last side effect"
    known = cut.outcome != "converged" and cut.finding_id in known_findings(scenario)
    click.echo(
        f"{cut.outcome.upper()}{'  [known]' if known else ''}  {scenario.qualified_name}  "
        f"(power lost at side effect {index} of {len(ref.result.side_effects)}: {where} in "
        f"{cut.plugin}; {cut.boots} boots)"
    )
    click.echo("\n".join(f"      - {line}" for line in cut.diff))
    if cut.outcome != "converged":
        click.echo(f"      finding: {finding_id(cut.outcome, cut.plugin, cut.effect)}")
    del result
    sys.exit(EXIT_PASSED if cut.outcome == "converged" or known else EXIT_FAILED)


def _schedule_option(
    cuts: tuple[int, ...], fault_specs: tuple[str, ...], extra_boots: int
) -> Schedule:
    from guestsim.simulator.schedules import Schedule

    try:
        return Schedule.from_options(cuts, fault_specs, extra_boots)
    except ValueError as ex:
        raise click.BadParameter(str(ex), param_hint="--fault") from ex


def _replay_schedule(
    paths: tuple[Path, ...],
    cuts: tuple[int, ...],
    fault_specs: tuple[str, ...],
    extra_boots: int,
    seed: int | None,
    agent: tuple[str | None, Path | None],
) -> None:
    from guestsim.simulator.explore import reference_run
    from guestsim.simulator.scenario import load_scenario
    from guestsim.simulator.schedules import run_schedule

    if len(paths) != 1 or not paths[0].is_file():
        raise click.UsageError(
            "--power-loss-at, --fault and --extra-boots replay a schedule of one scenario file"
        )
    schedule = _schedule_option(cuts, fault_specs, extra_boots)
    (scenario,) = _with_agent([load_scenario(paths[0])], *agent)
    ref = reference_run(scenario, seed)
    run, result = run_schedule(scenario, ref, schedule, seed)
    known = "  [known]" if run.known else ""
    click.echo(
        f"{run.outcome.upper()}{known}  {scenario.qualified_name}  "
        f"({schedule.describe()}; {run.boots} boots)"
    )
    for line in run.diff:
        click.echo(f"      - {line}")
    if run.missed_cuts:
        missed = ", ".join(str(cut) for cut in run.missed_cuts)
        effects = len(result.side_effects)
        click.echo(f"      note: no cut at {missed}: the run had {effects} side effects")
    if run.finding is not None:
        click.echo(f"      finding at the first cut: {run.finding}")
    sys.exit(EXIT_PASSED if run.holds else EXIT_FAILED)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--power-loss",
    is_flag=True,
    help="Cut the power at every side effect of each scenario's run.",
)
@click.option(
    "--hypothesis",
    "examples",
    type=click.IntRange(min=1),
    metavar="N",
    help="Let hypothesis draw up to N schedules per scenario that combine power cuts, HTTP "
    "faults on the scenario's own requests and extra boots (25 is a good start); the first "
    "that does not converge is shrunk to a minimal one and printed as a `guestsim run` "
    "command that replays it. Needs hypothesis installed.",
)
@_selection_options
@_report_options
@_agent_options
def explore(
    paths: tuple[Path, ...],
    power_loss: bool,
    examples: int | None,
    seed: int | None,
    keywords: str | None,
    shard: str | None,
    jobs: int,
    junit_path: str | None,
    json_path: str | None,
    html_path: str | None,
    agent_name: str | None,
    agent_source: Path | None,
) -> None:
    """Explore the boots nobody scripted: a power cut at every side effect, combined faults.

    With --power-loss, runs each scenario once uninterrupted (the reference), then once per
    side effect K
    (every OS change the agent makes, every request that changes what the cloud holds)
    with the power failing as K is about to take effect, and once after the last one.
    After the cut the machine boots again and the agent runs on. Each run's final machine
    state, cloud state and the scenario's expectations are compared with the reference:
    converged, diverged (with the differences), reboot_loop, crashed, hung or not_modelled.
    Cuts that end alike at the same plugin and side effect are one finding.

    With --hypothesis N, hypothesis draws up to N schedules per scenario from what its
    reference run shows: up to 3 power cuts (side effects keep counting across the boots a
    cut adds), up to 2 faults (status 500 or 503, refused or reset, for the first 1-3
    matches) on distinct requests the scenario's clouds answered, and up to 2 extra boots
    (the machine powered on again after the agent stopped on its own). Each run is judged
    as a cut is. The first that does not converge is shrunk to a minimal schedule, printed
    with its outcome, differences and the command that replays it (`guestsim run SCENARIO`
    with --power-loss-at, --fault and --extra-boots; `guestsim trace` takes them too).
    Hypothesis is seeded from the scenario's seed (or --seed): the same command prints the
    same schedules. With both options, both run.

    Exit status: 0 when every cut converged or every finding is declared in the scenario
    (expect.power_loss.known_findings) and no schedule diverged but as a declared finding
    at its first cut, 1 otherwise, 2 for bad input.

    \b
    Examples:
      guestsim explore scenarios/clouds/stock-conf-openstack.yaml --power-loss
      guestsim explore --power-loss --jobs 2 --json explore.json --junit explore.xml
      guestsim run scenarios/clouds/stock-conf-openstack.yaml --power-loss-at 31
      guestsim explore scenarios/user-data --hypothesis 25 --json explore.json
      guestsim explore scenarios/clouds/openstack-happy-path.yaml --power-loss --hypothesis 50
    """
    from guestsim.simulator.batch import default_jobs
    from guestsim.simulator.explore import explore_all
    from guestsim.simulator.explore_report import (
        console_lines,
        summary_line,
        write_json,
        write_junit,
    )

    if not power_loss and examples is None:
        raise click.UsageError("say what to explore: --power-loss, --hypothesis N, or both")
    if html_path and not power_loss:
        # The page draws the cut matrix; the hypothesis searches are not in it.
        raise click.UsageError("--html draws the --power-loss exploration: add --power-loss")
    scenarios = _with_agent(_selected_scenarios(paths, keywords, shard), agent_name, agent_source)
    explorations = []
    if power_loss:
        explored = explore_all(scenarios, seed, jobs or default_jobs(), bool(html_path))
        for exploration in explored:
            explorations.append(exploration)
            click.echo("\n".join(console_lines(exploration)))
        click.echo(summary_line(explorations))
    searches = []
    if examples is not None:
        searches = _search_schedules(scenarios, examples, seed, jobs or default_jobs())
    if json_path:
        write_json(explorations, json_path, searches)
    if junit_path:
        write_junit(explorations, junit_path, searches)
    if html_path:
        from guestsim.simulator.html import explore_document

        _write_html(explore_document(explorations, agent_name), html_path)
    passed = all(e.passed for e in explorations) and all(s.passed for s in searches)
    sys.exit(EXIT_PASSED if passed else EXIT_FAILED)


def _search_schedules(
    scenarios: list[Scenario], examples: int, seed: int | None, jobs: int
) -> list[ScheduleSearch]:
    """``explore --hypothesis``: each scenario's search, printed as it ends."""
    try:
        import hypothesis  # noqa: F401
    except ImportError as ex:
        raise click.UsageError(
            "--hypothesis needs the hypothesis package: python -m pip install hypothesis"
        ) from ex
    from guestsim.simulator.explore_report import schedule_console_lines, schedules_summary_line
    from guestsim.simulator.schedules import search_all

    searches = []
    for search in search_all(scenarios, examples, seed, jobs):
        searches.append(search)
        click.echo("\n".join(schedule_console_lines(search)))
    click.echo(schedules_summary_line(searches))
    return searches


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--seed", type=int, help="Seed for the run (default: the scenario's own).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="text: a per-boot timeline; json: that timeline (per boot: phases, plugin runs, "
    "metadata probes, marks) and the events as one document; jsonl: the raw trace, one "
    "event per line.",
)
@click.option("--events", "show_events", is_flag=True, help="With text: list every event too.")
@click.option("--log", "show_log", is_flag=True, help="Also print the agent's log lines.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help=f"Also write the run as an HTML page here, {HTML_HELP}: each boot as a timeline, "
    "the unmet expectations beside their events, and what each boot changed in the machine.",
)
@_schedule_options
@_agent_options
def trace(
    scenario: Path,
    seed: int | None,
    output_format: str,
    show_events: bool,
    show_log: bool,
    html_path: str | None,
    power_loss_at: tuple[int, ...],
    fault_specs: tuple[str, ...],
    extra_boots: int,
    agent_name: str | None,
    agent_source: Path | None,
) -> None:
    """Show what happened in one scenario's run, boot by boot.

    SCENARIO is a scenario file or a name from the bundled library as `guestsim list`
    shows it (e.g. clouds/openstack-happy-path). Each boot lists its phases (the agent's
    own work, the stages with their plugins, the metadata discovery with each service
    tried) with their durations in virtual (guest) time, statuses and reboot flags, and
    what filled that time (requests, faults, retry waits); --events adds
    every OS change, HTTP request, DHCP exchange, sleep and reboot. The output is identical
    for the same scenario and seed on every host.
    """
    from guestsim.simulator.report import console_line
    from guestsim.simulator.scenario import run_scenario
    from guestsim.simulator.timeline import render_timeline, timeline_document

    (loaded,) = _with_agent([_named_scenario(scenario)], agent_name, agent_source)
    if fault_specs or extra_boots or len(power_loss_at) > 1:
        from guestsim.simulator.scenario import ScenarioOutcome
        from guestsim.simulator.schedules import build_schedule_machine

        schedule = _schedule_option(power_loss_at, fault_specs, extra_boots)
        machine = build_schedule_machine(loaded, schedule, seed)
        machine.keep_states = bool(html_path)
        result = machine.run()
        outcome = ScenarioOutcome(loaded, result, loaded.check(result))
    elif not power_loss_at:
        outcome = run_scenario(loaded, seed, keep_states=bool(html_path))
    else:
        from guestsim.simulator.explore import build_cut_machine, reference_run
        from guestsim.simulator.scenario import ScenarioOutcome

        effects = len(reference_run(loaded, seed).result.side_effects)
        if power_loss_at[0] > effects + 1:
            raise click.BadParameter(
                f"the run has {effects} side effects (cut points 1-{effects + 1})",
                param_hint="--power-loss-at",
            )
        result = build_cut_machine(loaded, power_loss_at[0], seed, bool(html_path)).run()
        outcome = ScenarioOutcome(loaded, result, loaded.check(result))
    run_trace = outcome.result.trace
    if output_format == "jsonl":
        click.echo(run_trace.to_jsonl(), nl=False)
    elif output_format == "json":
        click.echo(json.dumps(timeline_document(run_trace), indent=2, sort_keys=True))
    else:
        click.echo(render_timeline(run_trace, verbose=show_events))
        click.echo(console_line(outcome.record()))
    if show_log:
        click.echo("\n".join(outcome.result.log))
    if html_path:
        from guestsim.simulator.html import trace_document

        _write_html(trace_document(outcome.record(), agent_name), html_path)


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def explain(scenario: Path) -> None:
    """Show what the agent will see in SCENARIO, without running it.

    SCENARIO is a scenario file or a name from the bundled library as `guestsim list`
    shows it (e.g. clouds/openstack-happy-path). The agent configuration (with warnings),
    the machine (adapters, disks, volumes, CD-ROMs and their files), DHCP servers, each
    cloud with its documents, and faults.
    """
    from guestsim.simulator.explain import explain as explain_scenario

    click.echo(explain_scenario(_named_scenario(scenario)))


def _named_scenario(argument: Path) -> Scenario:
    """SCENARIO of trace and explain: a scenario file, or a name from the bundled library
    as `guestsim list` prints it (so it works from any folder, with the wheel installed)."""
    from guestsim.simulator.scenario import load_scenario
    from guestsim.simulator.selection import SelectionError, library_scenario

    if argument.is_file():
        return load_scenario(argument)
    if argument.is_dir():
        raise click.BadParameter(
            f"{argument} is a folder: name one scenario file", param_hint="SCENARIO"
        )
    try:
        path, root = library_scenario(argument.as_posix(), bundled("scenarios"))
    except SelectionError as ex:
        raise click.BadParameter(str(ex), param_hint="SCENARIO") from ex
    return load_scenario(path, root)


@cli.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit status 1).")
def validate(paths: tuple[Path, ...], strict: bool) -> None:
    """Check scenario files (*.yaml) and cloudbase-init.conf files without running them.

    For conf files: unknown options, deprecated names, values of the wrong type, unknown
    plugin or metadata-service paths, plugins listed twice and plugin orders that cannot
    work (SetUserPasswordPlugin before CreateUserPlugin ...), each with file:line. For
    scenario files: the schema, the conf file the scenario names (agent.conf) and its
    inline agent.options. Warnings (what the agent tolerates, such as a deprecated name)
    are printed but do not fail. Exit status: 0 no errors, 1 warnings with --strict,
    2 errors.

    \b
    Examples:
      guestsim validate conf/cloudbase-init.conf conf/cloudbase-init-unattend.conf
      guestsim validate scenarios/reboots/*.yaml
      guestsim validate --strict conf/cloudbase-init.conf
    """
    from guestsim.simulator.validate import validate as check_file

    # A conf file named twice (directly, or by several scenarios) is reported once.
    findings = list(dict.fromkeys(finding for path in paths for finding in check_file(path)))
    for finding in findings:
        click.echo(str(finding))
    errors = sum(1 for finding in findings if finding.severity == "error")
    warnings = len(findings) - errors
    click.echo(f"{len(paths)} file(s) checked: {errors} error(s), {warnings} warning(s)")
    sys.exit(EXIT_USAGE if errors else (EXIT_FAILED if warnings and strict else EXIT_PASSED))


@cli.command(name="list")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def list_scenarios(paths: tuple[Path, ...]) -> None:
    """List scenarios: name, cloud, plugins, boots expected and description.

    PATHS are files or folders (default: the bundled library).
    """
    from guestsim.simulator.scenario import discover_roots, load_scenario

    rows = []
    for path, root in discover_roots(paths or [bundled("scenarios")]):
        scenario = load_scenario(path, root)
        cloud = scenario.cloud_type
        plugins = [
            p.rpartition(".")[2].removesuffix("Plugin") for p in scenario.conf.get("plugins")
        ]
        rows.append(
            (
                scenario.qualified_name,
                cloud,
                ",".join(plugins),
                str(scenario.data["expect"]["boots"]),
                scenario.description,
            )
        )
    headers = ("scenario", "cloud", "plugins", "boots", "description")
    widths = [
        max([len(headers[i])] + [min(len(row[i]), 40 if i == 2 else 60) for row in rows])
        for i in range(4)
    ]

    def clip(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, [*widths, 0], strict=False)).rstrip())
    for row in rows:
        cells = [clip(row[i], widths[i]).ljust(widths[i]) for i in range(4)]
        click.echo("  ".join([*cells, row[4]]))
    click.echo(f"{len(rows)} scenarios")


class _Unavailable(click.ClickException):
    """No published agent to compare with: bad input (exit 2), one line, no usage text."""

    exit_code = EXIT_USAGE


def _upstream_agent(agent_source: Path | None) -> Any:
    """The published agent to compare with; refused up front (exit 2) when it is missing,
    before guestsim's agent runs anything."""
    from guestsim.simulator.upstream.loading import UpstreamUnavailable, locate

    try:
        locate(agent_source)
    except UpstreamUnavailable as ex:
        raise _Unavailable(str(ex)) from ex
    from guestsim.simulator.upstream import UpstreamAgent

    return UpstreamAgent(agent_source)


def _conformance_options(command: F) -> F:
    """What diff and conformance share: the selection, --agent-source and --json."""
    command = click.option(
        "--json", "as_json", is_flag=True, help="Print a JSON document instead of text."
    )(command)
    command = click.option(
        "--agent-source",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Compare with the cloudbaseinit package in this folder (a checkout or a fork) "
        "instead of the installed one.",
    )(command)
    return _selection_options(command)


@cli.command(name="diff")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_conformance_options
def diff_agents(
    paths: tuple[Path, ...],
    seed: int | None,
    keywords: str | None,
    shard: str | None,
    agent_source: Path | None,
    as_json: bool,
) -> None:
    """Run guestsim's agent and the published cloudbase-init in the same world, and compare.

    Each scenario (files, or folders searched for *.yaml; -k selects from the library too)
    runs with the same seed under each agent; each agent also runs it with two other seeds,
    and what changes with the seed (temporary file names, certificate thumbprints ...) is
    named <random N, shape> instead of compared. The runs are compared facet by facet:
    boots (outcome of each), plugins (stages, the metadata service, each plugin's start,
    skip reason, status, reboot flag and success), os (every change to the machine), http
    (every request: method, URL, status), sleeps, and state (the final machine and what the
    clouds hold). For each facet that differs, the first divergence is shown side by side.
    Needs the published agent: pip install "guestsim[upstream]".

    Exit status: 0 every facet identical, 1 some differ, 2 bad input.

    \b
    Examples:
      guestsim diff scenarios/clouds/openstack-happy-path.yaml
      guestsim diff -k "reboots or user-data"
      guestsim diff scenarios/plugins --json > diff.json
    """
    from guestsim.simulator.conformance import diff_scenario
    from guestsim.simulator.conformance_report import diff_document, diff_lines, dumps, totals_line

    if not paths and not keywords:
        raise click.UsageError("name scenario files or folders, or select with -k")
    upstream = _upstream_agent(agent_source)
    scenarios = _selected_scenarios(paths, keywords, shard)
    diffs = []
    for scenario in scenarios:
        diffs.append(diff_scenario(scenario, upstream, seed))
        if not as_json:
            click.echo("\n".join(diff_lines(diffs[-1])))
    if as_json:
        click.echo(dumps(diff_document(diffs)))
    else:
        click.echo(totals_line(diffs))
    sys.exit(EXIT_PASSED if all(diff.identical for diff in diffs) else EXIT_FAILED)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_conformance_options
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=100,
    show_default=True,
    metavar="PERCENT",
    help="Exit 1 when fewer scenarios than this (in %) are identical on every facet.",
)
def conformance(
    paths: tuple[Path, ...],
    seed: int | None,
    keywords: str | None,
    shard: str | None,
    agent_source: Path | None,
    as_json: bool,
    fail_under: float,
) -> None:
    """How closely guestsim's agent follows the published cloudbase-init, over the library.

    Runs `guestsim diff` on each scenario (default: the bundled library) and prints a table:
    one row per scenario, one column per facet (same or DIFF), and how many scenarios are
    identical on every facet. --json prints {"scenarios": [{"name", "identical", "facets":
    {facet: bool}}], "summary": {"scenarios", "identical", "percent"}} (its JSON Schema:
    simulator/schemas/conformance-report.schema.json).

    Exit status: 0 at least --fail-under % identical (default: all), 1 fewer, 2 bad input.

    \b
    Examples:
      guestsim conformance
      guestsim conformance -k clouds --json > conformance.json
      guestsim conformance --fail-under 40
    """
    from guestsim.simulator.conformance import diff_scenario
    from guestsim.simulator.conformance_report import (
        conformance_document,
        dumps,
        facets_line,
        table_header,
        table_row,
        totals_line,
    )

    upstream = _upstream_agent(agent_source)
    scenarios = _selected_scenarios(paths, keywords, shard)
    width = max([len("scenario"), *(len(scenario.qualified_name) for scenario in scenarios)])
    if not as_json:
        click.echo(table_header(width))
    diffs = []
    for scenario in scenarios:
        diffs.append(diff_scenario(scenario, upstream, seed))
        if not as_json:
            click.echo(table_row(diffs[-1], width))
    if as_json:
        click.echo(dumps(conformance_document(diffs)))
    else:
        click.echo(facets_line(diffs))
        click.echo(totals_line(diffs))
    # Exact, not the rounded percentage: 99.96 % identical is not "all" for the default.
    identical = sum(diff.identical for diff in diffs)
    sys.exit(EXIT_PASSED if identical * 100 >= fail_under * len(diffs) else EXIT_FAILED)


def _served_clouds(
    cloud: str, spec: dict[str, Any], data: Path | None, tree: Path | None
) -> list[CloudApp]:
    """The apps ``guestsim serve`` runs: documents from --data (fixture format), --tree (the
    wire layout) or the bundled examples; a folder in the other format is an error."""
    from guestsim.simulator.clouds import DocumentSource, build_clouds
    from guestsim.simulator.errors import ScenarioError

    if data is not None and tree is not None:
        raise click.UsageError("--data and --tree are two formats of one thing: give one")
    if data is not None:
        fixtures = bundled("fixtures") / "clouds" / cloud
        names = sorted(p.name for p in fixtures.iterdir() if p.is_file() and p.name != "README.md")
        if not any((data / name).is_file() for name in names):
            raise click.BadParameter(
                f"{data} holds none of the files of guestsim's fixture format for {cloud} "
                f"({', '.join(names)}; see {fixtures}). A folder laid out as the wire paths "
                f"is served with --tree {data}",
                param_hint="--data",
            )
        return build_clouds(DocumentSource(cloud, spec, None, defaults_dir=data))
    if tree is None:
        return build_clouds(DocumentSource(cloud, spec, None))
    try:
        apps = build_clouds(DocumentSource(cloud, {**spec, "tree": str(tree.resolve())}, None))
    except ScenarioError as ex:
        raise click.BadParameter(ex.message, param_hint="--tree") from ex
    served = apps[0].tree
    problem = served.unrecognised(apps[0]) if served is not None else None
    if problem is not None:
        raise click.BadParameter(
            f"{problem}. A folder in guestsim's fixture format (fixtures/clouds/{cloud}/) "
            f"is served with --data {tree}",
            param_hint="--tree",
        )
    return apps


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _bind_servers(
    apps: list[CloudApp], host: str, ports: list[int], faults: FaultPlan
) -> list[LoopbackServer]:
    """One server per app, each bound to its port; a port that cannot be had is a usage
    error naming it (and no server is left bound)."""
    from guestsim.simulator.transport import LoopbackServer

    def log(request: SimRequest, response: SimResponse | None) -> None:
        status = response.status if response else "dropped"
        click.echo(f"{request.method} {request.path} -> {status}")

    servers: list[LoopbackServer] = []
    try:
        for app, port in zip(apps, ports, strict=True):
            if port > 65535:
                raise click.BadParameter(
                    f"{app.name} would need port {port}, past 65535", param_hint="--port"
                )
            try:
                server = LoopbackServer(
                    app, host=host, port=port, faults=faults, on_request=log, direct=True
                )
            except OSError as ex:
                if ex.errno == errno.EADDRINUSE:
                    raise click.UsageError(f"port {port} on {host} is in use") from ex
                reason = ex.strerror or str(ex)
                raise click.UsageError(f"cannot serve on {host} port {port}: {reason}") from ex
            servers.append(server)
    except click.ClickException:
        for server in servers:
            server.close()
        raise
    return servers


@cli.command()
@click.argument("cloud", type=click.Choice(CLOUD_TYPES))
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of documents in guestsim's fixture format, named as in "
    "fixtures/clouds/CLOUD/ (openstack: meta_data.json, user_data; ec2: meta-data.json ...); "
    "a document missing there is absent. Default: the bundled examples.",
)
@click.option(
    "--tree",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder laid out as the cloud's wire paths, as a static HTTP server serves it "
    "(openstack/latest/meta_data.json, latest/meta-data/instance-id, "
    "computeMetadata/v1/instance/name ...); it replaces the documents.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the first server; 0 picks a free one. Further servers use the next.",
)
@click.option(
    "--host",
    default=LOOPBACK,
    show_default=True,
    help="Address to bind. Anything but loopback must be asked for explicitly.",
)
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    metavar="PATH[:name=value,...]",
    help="Inject a fault, e.g. '/openstack/*:status=503,first=2' "
    "(names: method, status, delay, error, body, first). Repeatable.",
)
@click.option(
    "--imdsv2",
    type=click.Choice(["optional", "required"]),
    help="ec2: 'required' refuses GETs without a session token with 401 (default optional).",
)
@click.option(
    "--password-port",
    type=click.IntRange(1, 65535),
    help="cloudstack: port of the password server (default: the port after --port, or a "
    "free one). Clients such as cloud-init expect 8080.",
)
def serve(
    cloud: str,
    data: Path | None,
    tree: Path | None,
    port: int,
    host: str,
    fault_specs: tuple[str, ...],
    imdsv2: str | None,
    password_port: int | None,
) -> None:
    """Serve one simulated cloud over real HTTP until interrupted.

    Point a real agent or VM at the printed URL. Each request is logged with its
    status. Without --data or --tree the bundled example documents are served. --data
    takes guestsim's fixture format (fixtures/clouds/CLOUD/), --tree a folder laid out as
    the wire paths, with listings generated from it; the cloud's protocol (headers,
    tokens, signatures) and its dynamic endpoints (passwords) stay the cloud's. Links in the
    documents served (Azure's goal state) point at the address the client used. A request
    with a bad Content-Length (400), a body over 16 MiB (413) or a chunked body (411) is
    refused before its body is read.

    \b
    Examples:
      guestsim serve openstack
      curl http://127.0.0.1:PORT/openstack/latest/meta_data.json
      guestsim serve ec2 --port 8080 --fault '/latest/api/token:status=403'
      guestsim serve ec2 --imdsv2 required
      guestsim serve cloudstack --password-port 8080
      guestsim serve openstack --tree my-metadata/
    """
    from guestsim.simulator.faults import FaultPlan, parse_fault

    try:
        faults = FaultPlan([parse_fault(spec) for spec in fault_specs])
    except ValueError as ex:
        raise click.BadParameter(str(ex), param_hint="--fault") from ex
    spec: dict[str, Any] = {}
    if imdsv2 is not None:
        if cloud != "ec2":
            raise click.BadParameter(f"is for ec2, not {cloud}", param_hint="--imdsv2")
        spec["imdsv2"] = imdsv2
    if password_port is not None and cloud != "cloudstack":
        raise click.BadParameter(f"is for cloudstack, not {cloud}", param_hint="--password-port")
    if not _is_loopback(host):
        click.echo(f"warning: serving on {host}, reachable from other machines", err=True)
    apps = _served_clouds(cloud, spec, data, tree)
    ports = [port + offset if port else 0 for offset in range(len(apps))]
    if password_port is not None:
        ports[1] = password_port  # CloudStack: the metadata server, then the password server
    servers = _bind_servers(apps, host, ports, faults)
    for app, server in zip(apps, servers, strict=True):
        click.echo(f"{cloud} ({app.name}) serving on {server.url} (cloud base {app.base_url})")
    for server in servers[1:]:
        server.start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        for server in servers[1:]:
            server.stop()


@cli.group()
def configdrive() -> None:
    """Config-drive images: OpenStack (config-2) and NoCloud (cidata) seeds."""


@configdrive.command("build")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image file to write; replaced atomically.",
)
@click.option(
    "--format",
    "image_format",
    type=click.Choice(FORMATS),
    default="iso",
    show_default=True,
    help="ISO9660 (Joliet + Rock Ridge), FAT superfloppy, or a disk with one partition.",
)
@click.option(
    "--filesystem",
    type=click.Choice(PARTITION_FILESYSTEMS),
    default="vfat",
    show_default=True,
    help="File system in the partition of a disk-mbr / disk-gpt image.",
)
@click.option(
    "--label",
    help="Volume label (default: config-2 on ISO, CONFIG-2 on FAT; with --nocloud "
    "cidata / CIDATA). FAT labels are upper-cased.",
)
@click.option("--nocloud", is_flag=True, help="A NoCloud seed: cidata label, meta-data at the top.")
def configdrive_build(
    src: Path,
    output: Path,
    image_format: str,
    filesystem: str,
    label: str | None,
    nocloud: bool,
) -> None:
    """Build a config-drive image from the folder SRC, like cloud-localds.

    Every file under SRC goes onto the image at the same relative path (symbolic links
    are followed if they stay inside SRC). The output is the same bytes for the same
    files on every host. Warns when the agent, with its default options, would not
    use the image where such an image goes (an ISO in a CD-ROM drive, a FAT image on a
    raw disk, a disk's partition), naming each service whose files are there and why:
    ConfigDriveService (openstack/latest/meta_data.json, label config-2), NoCloud
    (meta-data, label cidata), OvfService (ovf-env.xml, label "OVF ENV"),
    OpenNebulaService (context.sh, any CD-ROM) and AzureService (its .tag file).

    \b
    Examples:
      guestsim configdrive build drive/ -o config-2.iso
      guestsim configdrive build drive/ -o config-2.img --format vfat
      guestsim configdrive build seed/ -o seed.iso --nocloud
      guestsim configdrive build drive/ -o disk.img --format disk-gpt --filesystem iso
    """
    from guestsim.simulator import media

    tree = media.tree_from_directory(src)
    shown = media.effective_label(image_format, label, nocloud, filesystem)
    image = media.build_image(tree, image_format, shown, nocloud=nocloud, filesystem=filesystem)
    media.write_image(output, image)
    for warning in media.drive_warnings(tree, image_format, shown, filesystem):
        click.echo(f"warning: {src}: {warning}", err=True)
    click.echo(f"{output}: {image_format}, label {shown}, {len(tree)} files, {len(image)} bytes")


def main() -> None:
    """Console entry point: every error is one line and a non-zero exit, never a traceback."""
    debug = "--debug" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as ex:
        ex.show()
        sys.exit(EXIT_USAGE)
    except GuestsimError as ex:
        from guestsim.simulator.guard import GuardViolation

        if isinstance(ex, GuardViolation):  # run --guard: the run did what the host forbids
            click.echo(f"error: {ex}", err=True)
            sys.exit(EXIT_FAILED)
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"error: {ex}", err=True)
        sys.exit(EXIT_USAGE)
    except Exception as ex:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(
            f"internal error: {type(ex).__name__}: {ex} (run with --debug for details)", err=True
        )
        sys.exit(EXIT_INTERNAL)
