"""Scenario files: load and validate a YAML story, build its machine, run it, judge it."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from guestsim.agent.config import AgentConfig, ConfigError, config_from_options, load_config
from guestsim.simulator.clouds import cloud_schema
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.overrides import Overrides

if TYPE_CHECKING:
    # Loading and listing scenarios must stay cheap: the world is imported when built.
    from guestsim.simulator.machine import AgentProgram, Machine, RunResult

SCENARIO_SUFFIXES = (".yaml", ".yml")


def _schema() -> dict[str, Any]:
    text = (
        resources.files("guestsim.simulator").joinpath("schemas/scenario.schema.json").read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


_VALIDATOR = jsonschema.Draft202012Validator(_schema())

# libyaml's parser, which PyYAML's wheels include, reads the library about five times
# faster than the pure-Python one and builds the same data (test_scenario_files.py).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    data: dict[str, Any]
    conf: AgentConfig

    @property
    def seed(self) -> int:
        seed: int = self.data.get("seed", 0)
        return seed

    @property
    def folder(self) -> str:
        return self.path.parent.name

    @property
    def cloud_type(self) -> str:
        """The simulated cloud's type, or "none" when no cloud answers."""
        cloud_type: str = (self.data.get("cloud") or {}).get("type", "none")
        return cloud_type

    @property
    def overridable(self) -> tuple[str, ...]:
        return tuple(self.data.get("overridable", ()))

    @property
    def agent_program(self) -> tuple[str, Path | None]:
        """Which agent runs (``guestsim`` or ``upstream``) and, for upstream, the source
        folder of a checkout or fork (None: the installed package)."""
        agent = self.data.get("agent") or {}
        source = agent.get("source")
        return agent.get("program", "guestsim"), (self.path.parent / source) if source else None

    @property
    def expectations(self) -> dict[str, Any]:
        """What the run must show: the story's ``expect``, with ``upstream.expect`` on top
        when the published agent runs it."""
        expect: dict[str, Any] = self.data["expect"]
        if self.agent_program[0] == "upstream" and "upstream" in self.data:
            return {**expect, **self.data["upstream"]["expect"]}
        return expect

    @property
    def upstream_difference(self) -> str | None:
        """Why the published agent's run of this story differs (``upstream.reason``)."""
        upstream = self.data.get("upstream")
        return str(upstream["reason"]) if upstream else None

    def agent_options(self) -> list[str]:
        """The command-line options that run this scenario's agent, for replay commands."""
        program, source = self.agent_program
        if program == "guestsim":
            return []
        return ["--agent", program, *(["--agent-source", source.as_posix()] if source else [])]

    def with_agent(self, program: str, source: Path | None = None) -> Scenario:
        """The same scenario run by another agent (``guestsim run --agent``)."""
        agent = {**(self.data.get("agent") or {}), "program": program}
        agent.pop("source", None)
        if source is not None:
            agent["source"] = str(source.resolve())
        return dataclasses.replace(self, data={**self.data, "agent": agent})

    def skip_reason(self, overrides: Overrides) -> str | None:
        """Why this scenario cannot run with ``overrides``, or None when it can."""
        refused = [part for part in overrides.parts if part not in self.overridable]
        if refused:
            return f"its story does not take a user's {' or '.join(refused)}"
        return None

    def effective_conf(self, overrides: Overrides | None = None) -> AgentConfig:
        """The scenario's configuration, or the user's with the options this story keeps."""
        if overrides is None or overrides.conf is None:
            return self.conf
        kept: dict[str, dict[str, Any]] = {}
        for option in self.data["agent"].get("keep", []):
            group, _, name = option.rpartition(".")
            group = group or "DEFAULT"
            kept.setdefault(group, {})[name] = self.conf.get(name, group)
        return overrides.conf.with_overrides(kept)

    def build_machine(
        self,
        seed: int | None = None,
        transport: str = "inprocess",
        overrides: Overrides | None = None,
        agent: AgentProgram | None = None,
    ) -> Machine:
        """The scenario's world (machine, clouds, DHCP, faults), powered off."""
        from guestsim.simulator.world import agent_program, build_machine

        return build_machine(self, seed, transport, overrides, agent or agent_program(self))

    def check(self, result: RunResult, conf: AgentConfig | None = None) -> list[str]:
        conf = conf or self.conf
        expect = self.expectations
        if result.unattend is not None:
            # An unattend pass may do the story's work (and its reboot) during sysprep, so
            # the number of normal boots no longer says anything about the story.
            expect = {key: value for key, value in expect.items() if key != "boots"}
        from guestsim.simulator.expectations import check_expectations

        failures = check_expectations(expect, result)
        if not conf.get("allow_reboot"):
            failures = [
                f"{failure} (the configuration has allow_reboot = false)"
                if failure.startswith("boots:") and result.boot_count < expect.get("boots", 0)
                else failure
                for failure in failures
            ]
        listed = {path.rpartition(".")[2] for path in conf.get("plugins")}
        # Say so when an expectation fails because the configuration lacks the plugin: with
        # a user's conf that is the usual reason.
        return [
            f"{failure} (the configuration does not list {plugin})"
            if (plugin := _plugin_named(failure)) and plugin not in listed
            else failure
            for failure in failures
        ]


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise ScenarioError(str(path), f"cannot read: {ex}") from ex
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(ex, "problem", None) or str(ex)
        raise ScenarioError(str(path), f"{where}invalid YAML: {problem}") from ex
    if not isinstance(data, dict):
        raise ScenarioError(str(path), "a scenario must be a YAML mapping")
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        field = _field_path(error)
        message = error.message
        if field == "expect" and error.validator == "minProperties":
            # A scenario that only counts boots would pass for almost any agent.
            message = "needs 'boots' and at least one more expectation"
        raise ScenarioError(str(path), message, field)
    if data.get("cloud"):
        _validate_cloud(path, data["cloud"])
    return Scenario(
        name=data.get("name", path.stem),
        path=path,
        description=data["description"],
        data=data,
        conf=_load_agent_config(path, data["agent"]),
    )


@functools.cache
def _cloud_validator(cloud_type: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(cloud_schema(cloud_type))


def _validate_cloud(path: Path, spec: dict[str, Any]) -> None:
    error = jsonschema.exceptions.best_match(_cloud_validator(spec["type"]).iter_errors(spec))
    if error is not None:
        parts = ["cloud", *(str(part) for part in error.absolute_path)]
        raise ScenarioError(str(path), error.message, ".".join(parts))


def _load_agent_config(path: Path, spec: dict[str, Any]) -> AgentConfig:
    try:
        if "conf" in spec:
            conf = load_config(path.parent / spec["conf"])
            if "options" in spec:
                conf = conf.with_overrides(spec["options"])
            return conf
        return config_from_options(spec.get("options", {}), f"{path}: agent.options")
    except ConfigError as ex:
        raise ScenarioError(str(path), str(ex), "agent") from ex


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files named directly or found (recursively, sorted) under folders."""
    found: list[Path] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            found.extend(
                sorted(
                    (p for p in entry.rglob("*") if p.suffix in SCENARIO_SUFFIXES),
                    key=lambda p: p.as_posix(),
                )
            )
        elif entry.is_file():
            found.append(entry)
        else:
            raise ScenarioError(str(entry), "no such file or folder")
    return found


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario: Scenario
    result: RunResult
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    def record(self) -> RunRecord:
        """What the reports keep of this run."""
        return RunRecord(
            self.scenario, self.failures, self.result.boot_count, self.result.trace.to_jsonl()
        )


@dataclass(frozen=True)
class RunRecord:
    """A scenario's verdict, boots and trace: small and picklable, so it can come back
    from a worker process (``guestsim run --jobs``) exactly as a run in this one gives it."""

    scenario: Scenario
    failures: list[str]
    boot_count: int
    trace_jsonl: str

    @property
    def passed(self) -> bool:
        return not self.failures


def _plugin_named(failure: str) -> str | None:
    for prefix in ("plugins.", "plugin_runs."):
        if failure.startswith(prefix):
            return failure[len(prefix) :].split(":", 1)[0]
    return None


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    transport: str = "inprocess",
    overrides: Overrides | None = None,
    agent: AgentProgram | None = None,
) -> ScenarioOutcome:
    result = scenario.build_machine(seed, transport, overrides, agent).run()
    return ScenarioOutcome(
        scenario, result, scenario.check(result, scenario.effective_conf(overrides))
    )


def run_all(paths: Sequence[Path], seed: int | None = None) -> list[ScenarioOutcome]:
    return [run_scenario(load_scenario(path), seed) for path in paths]
