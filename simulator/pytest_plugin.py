"""pytest plugin (entry point ``pytest11``): guestsim fixtures, and scenario files as tests.

After ``pip install guestsim`` every project's tests can use the fixtures
``guest_machine``, ``metadata_cloud``, ``config_drive``, ``guest_registry`` and
``guestsim_scenario``, and the ``scenario`` fixture with ``@pytest.mark.scenario(path)``.

Scenario files become test items only where asked (the plugin loads in every pytest run
of the environment, so it never claims a project's YAML by itself):

* ``pytest --guestsim scenarios/`` collects every ``*.yaml`` / ``*.yml`` under the paths given;
* ``guestsim_scenarios = scenarios`` in the ini file (a list of folders, relative to it)
  collects the scenario files under those folders in every run.

One item per scenario, named by its library path (``clouds/openstack-happy-path``); a
failure lists the unmet expectations, one per line, then the run's hints (``hints.py``); a
failing test that booted a guest through a fixture shows the hints as the report section
"guestsim hints". The boots' timeline is attached
as the report section "guestsim timeline" (shown with failures, and for passes with
``-rP`` / ``-rA``).

This module imports only pytest: every pytest run pays for loading it. The simulator is
imported by the hooks and fixtures that use it.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from guestsim.simulator.scenario import Scenario, ScenarioOutcome
    from guestsim.simulator.testing import (
        ConfigDriveFactory,
        GuestMachine,
        MetadataCloud,
        ScenarioRunner,
    )
    from guestsim.simulator.windows.registry import Registry

SCENARIO_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("guestsim", "guestsim scenario files")
    group.addoption(
        "--guestsim",
        action="store_true",
        dest="guestsim_collect",
        help="collect guestsim scenario files (*.yaml, *.yml) under the paths given to pytest",
    )
    group.addoption(
        "--guestsim-agent",
        choices=("guestsim", "upstream"),
        dest="guestsim_agent",
        help="the agent every guestsim fixture and scenario item boots: guestsim's own, or "
        "the published cloudbase-init (pip install 'guestsim[upstream]'); default: each "
        "scenario's agent.program, guestsim for guest_machine",
    )
    group.addoption(
        "--guestsim-agent-source",
        dest="guestsim_agent_source",
        metavar="DIR",
        help="with --guestsim-agent upstream: the cloudbaseinit package in DIR (a checkout "
        "or fork) instead of the installed one",
    )
    parser.addini(
        "guestsim_scenarios",
        type="paths",
        default=[],
        help="folders whose *.yaml / *.yml files are guestsim scenarios, collected as tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(path): run this guestsim scenario file for the `scenario` fixture"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix not in SCENARIO_SUFFIXES:
        return None
    config = parent.config
    folders: list[Path] = config.getini("guestsim_scenarios")
    if config.getoption("guestsim_collect") or any(
        file_path.is_relative_to(folder) for folder in folders
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    """A scenario ran and some of its expectations were not met."""

    def __init__(self, failures: list[str], hints: list[str] | None = None) -> None:
        super().__init__("\n".join(failures))
        self.failures = failures
        self.hints = hints or []


class ScenarioFile(pytest.File):
    """A scenario file: loaded (and so validated) at collection, one item."""

    def collect(self) -> Iterator[ScenarioItem]:
        from guestsim.simulator.errors import GuestsimError
        from guestsim.simulator.scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
        except GuestsimError as ex:
            raise self.CollectError(str(ex)) from ex
        yield ScenarioItem.from_parent(
            self, name=f"{scenario.folder}/{scenario.name}", scenario=scenario
        )


class ScenarioItem(pytest.Item):
    """One scenario run: passes when every expectation holds."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from guestsim.simulator.scenario import run_scenario
        from guestsim.simulator.timeline import render_timeline

        outcome = run_scenario(_chosen_agent(self.config, self.scenario))
        self.add_report_section("call", "guestsim timeline", render_timeline(outcome.result.trace))
        if not outcome.passed:
            raise ScenarioFailed(outcome.failures, outcome.result.hints)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            lines = [f"scenario {self.name} ({self.path.name}): unmet expectations"]
            lines += [f"  - {failure}" for failure in excinfo.value.failures]
            hints = excinfo.value.hints
            if hints:
                lines += ["hints:", *(f"  - {hint}" for hint in hints)]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario: {self.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test that booted a guest (``guest_machine``, ``scenario``) gets the run's
    hints as the report section "guestsim hints"."""
    report = yield
    if report.failed and call.when == "call":
        hints = _hints_of(getattr(item, "funcargs", {}))
        if hints:
            report.sections.append(("guestsim hints", "\n".join(f"- {hint}" for hint in hints)))
    return report


def _hints_of(funcargs: dict[str, Any]) -> list[str]:
    machine_module = sys.modules.get("guestsim.simulator.machine")
    if machine_module is None:  # nothing booted a guest in this process
        return []
    hints: list[str] = []
    for value in funcargs.values():
        result = getattr(value, "result", None)
        if isinstance(result, machine_module.RunResult):
            hints += [hint for hint in result.hints if hint not in hints]
    return hints


def _agent_choice(config: pytest.Config) -> tuple[str | None, Path | None]:
    source = config.getoption("guestsim_agent_source")
    return config.getoption("guestsim_agent"), Path(source) if source else None


def _chosen_agent(config: pytest.Config, scenario: Scenario) -> Scenario:
    """The scenario as ``--guestsim-agent`` asks it to run."""
    name, source = _agent_choice(config)
    return scenario if name is None else scenario.with_agent(name, source)


@pytest.fixture
def guest_machine(pytestconfig: pytest.Config) -> GuestMachine:
    """A fresh simulated Windows guest with the agent installed, not yet powered on.

    Returns a :class:`guestsim.GuestMachine`:

    * ``load_conf(path)`` — boot with a real cloudbase-init.conf (errors name the file);
    * ``configure(group="DEFAULT", **options)`` — agent options, as a conf group sets them
      (over a loaded file);
    * ``use_plugins(*names)`` — the plugin list, by class name or upstream path (a
      misspelt name raises ``UnknownPlugin`` with a "did you mean");
    * ``run() -> RunResult`` — boot until the agent stops asking for reboots;
    * ``state`` — the machine (registry, users, files ...), ``registry``, ``conf``, ``result``.

    The ``RunResult``: ``boot_count``, ``boots`` (``outcome``, ``exit_code``,
    ``reboot_requested_by``), ``state``, ``findings``, ``log`` (the agent's log lines,
    ``"boot 1 INFO agent.init: ..."``), ``hints`` and ``explain()`` (why a run went as it
    did; a failing test shows the hints as "guestsim hints"), and ``trace``, the run's
    events in order:

    * ``trace.events`` / ``iter(trace)`` — every ``Event``; ``trace.of_kind(*kinds)`` —
      those of the kinds given; ``trace.to_jsonl()`` — as ``guestsim trace`` prints them;
    * an ``Event`` has ``seq``, ``boot``, ``t_ms`` (virtual milliseconds), ``kind`` and
      ``fields``; ``event.get(name, default)`` reads a field;
    * kinds and their fields: ``boot`` (computer_name), ``agent_process`` (argv, user),
      ``agent_start`` (version), ``stage_start``/``stage_end`` (stage, success, reboot),
      ``plugin_start`` (plugin, stage), ``plugin_end`` (plugin, stage, success, status,
      reboot, error), ``plugin_skipped`` (plugin, reason), ``plugin_unavailable`` (path),
      ``metadata_service_probe`` (service, result, error), ``metadata_service`` (name,
      instance_id), ``config_drive_search`` (type, location, label, result, error),
      ``http`` (method, url, status, error), ``fault`` (index, method, url, status,
      error, delay, body), ``dhcp`` (server, requested, answered; waited_s when
      unanswered), ``os`` (call and its arguments: every change to the fake Windows),
      ``script`` (path, interpreter, exit_code), ``python_import`` (path, types),
      ``sleep`` (seconds), ``provisioning_report`` (state), ``reboot_requested``,
      ``reboot``, ``respawn`` (user), ``agent_done`` (success), ``agent_service_stopped``,
      ``agent_exit`` (exit_code, error), ``not_modelled`` (what), ``agent_hung`` (method, url),
      ``reboot_loop`` (boots), ``sysprep_reboot``, ``extra_boot``, ``power_loss`` (at,
      effect, call).

    Fresh for each test; its state is kept across the guest's reboots within ``run()``.
    """
    from guestsim.simulator.testing import GuestMachine

    name, source = _agent_choice(pytestconfig)
    return GuestMachine(agent=name or "guestsim", agent_source=source)


@pytest.fixture
def metadata_cloud(guest_machine: GuestMachine) -> MetadataCloud:
    """The cloud ``guest_machine`` sees: OpenStack with the bundled documents unless changed.

    Returns a :class:`guestsim.MetadataCloud`:

    * ``use(cloud_type, **documents)`` — serve another cloud (keys as in a scenario's ``cloud:``);
    * ``model`` — the cloud's documents and state (``model.meta_data["hostname"] = ...``);
    * ``fault(path, **spec)`` — inject a fault (``status=503, first=2``, ``error="hang"`` ...);
    * ``requests`` — every request sent to the cloud, in order (``method``, ``path``,
      ``status``, ``body``, ``headers``), those a fault answered included: their
      ``fault`` is the fault's index (``faulted`` true), ``status`` the fault's or None
      with ``error`` "refused", "reset" or "hang"; ``app.requests`` holds only what the
      cloud itself received.
    """
    from guestsim.simulator.testing import MetadataCloud

    return MetadataCloud(guest_machine)


@pytest.fixture
def config_drive(guest_machine: GuestMachine) -> ConfigDriveFactory:
    """Build a config-drive image and attach it to ``guest_machine``.

    ``config_drive(meta_data, *, user_data=None, fmt="iso", location="cdrom",
    layout="openstack", label=None, files=None) -> bytes`` — ``fmt`` iso, vfat, disk-mbr or
    disk-gpt; ``location`` cdrom or disk; ``layout`` openstack or nocloud. Returns the image.
    """
    from guestsim.simulator.testing import ConfigDriveFactory

    return ConfigDriveFactory(guest_machine)


@pytest.fixture
def guest_registry(guest_machine: GuestMachine) -> Registry:
    """The registry (HKLM and HKU) of ``guest_machine``, kept across the guest's reboots.

    ``get_value(key, name)``, ``set_value(key, name, data, type)``, ``subkeys(key)`` ...
    """
    return guest_machine.registry


@pytest.fixture
def guestsim_scenario(pytestconfig: pytest.Config) -> ScenarioRunner:
    """Run a scenario file: ``guestsim_scenario(path, seed=None) -> ScenarioOutcome``.

    The outcome has ``passed``, ``failures`` (unmet expectations) and ``result`` (boots,
    trace, final machine state).
    """
    from guestsim.simulator.testing import ScenarioRunner

    return ScenarioRunner(*_agent_choice(pytestconfig))


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> ScenarioOutcome:
    """The outcome of the scenario named by ``@pytest.mark.scenario(path)``.

    A relative path is taken from the test file's folder.
    """
    from guestsim.simulator.scenario import load_scenario, run_scenario

    marker = request.node.get_closest_marker("scenario")
    if marker is None or not marker.args:
        pytest.fail(
            "the scenario fixture needs @pytest.mark.scenario('file.yaml') on the test",
            pytrace=False,
        )
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = Path(request.node.path).parent / path
    return run_scenario(_chosen_agent(request.config, load_scenario(path)))
