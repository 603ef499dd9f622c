"""What the pytest fixtures hand out: a guest machine, its cloud, config drives, a runner.

Usable without pytest too: ``GuestMachine().run()`` boots a fresh simulated Windows guest.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guestsim.agent.config import AgentConfig, config_from_options, load_config
from guestsim.simulator.clouds import (
    CLOUD_TYPES,
    CloudApp,
    DocumentSource,
    attach_to_machine,
    build_clouds,
)
from guestsim.simulator.clouds.base import Exchange
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.drives import PARTITION_OFFSET
from guestsim.simulator.errors import GuestsimError
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import AgentProgram, Machine, RunResult
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.registry import Registry
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.storage import PartitionSpec, attach_cdrom, attach_disk

_PLUGIN_PREFIXES = ("cloudbaseinit.plugins.common.", "cloudbaseinit.plugins.windows.")


class UnknownPlugin(GuestsimError, ValueError):
    """``use_plugins`` was given a class name no cloudbase-init plugin has."""


class GuestMachine:
    """A simulated Windows guest with the agent installed, not yet powered on."""

    def __init__(self, agent: str = "guestsim", agent_source: Path | None = None) -> None:
        # "upstream": the published cloudbase-init boots instead of guestsim's agent.
        self.agent = agent
        self.agent_source = agent_source
        self.state: WindowsState = default_windows_state()
        self.options: dict[str, dict[str, Any]] = {"DEFAULT": {}}
        # A conf file read by load_conf(); ``options`` apply on top of it.
        self.conf_file: AgentConfig | None = None
        self.clouds: list[CloudApp] = []
        self.faults: list[Fault] = []
        self.dhcp_servers: list[DhcpServer] = []
        self.seed = 0
        self.max_boots = 10
        self.result: RunResult | None = None

    @property
    def registry(self) -> Registry:
        return self.state.registry

    def configure(self, group: str = "DEFAULT", **options: Any) -> GuestMachine:
        """Set agent options, as a ``cloudbase-init.conf`` group would (over a loaded file)."""
        self.options.setdefault(group, {}).update(options)
        return self

    def load_conf(self, path: str | os.PathLike[str]) -> GuestMachine:
        """Boot with a real ``cloudbase-init.conf`` (read as the agent reads it); options
        given by ``configure``/``use_plugins``, before or after, apply on top of it.

        Raises :class:`guestsim.agent.config.ConfigFileError` (unreadable, not INI) or
        ``ConfigValueError`` (a value of the wrong type), both ``ConfigError`` and naming
        the file (and line); unknown options are warnings, in ``conf.warnings``.
        """
        self.conf_file = load_config(path)
        return self

    @property
    def conf(self) -> AgentConfig:
        """The configuration the next ``run()`` boots with."""
        if self.conf_file is None:
            return config_from_options(self.options, "guest_machine")
        return self.conf_file.with_overrides(self.options)

    def use_plugins(self, *plugins: str) -> GuestMachine:
        """The plugin list, by upstream path or bare class name (``"SetHostNamePlugin"``)."""
        return self.configure(plugins=[_plugin_path(name) for name in plugins])

    def _agent_program(self) -> AgentProgram | None:
        if self.agent == "guestsim":
            return None
        if self.agent != "upstream":
            raise ValueError(f"agent must be 'guestsim' or 'upstream', not {self.agent!r}")
        from guestsim.simulator.upstream import UpstreamAgent

        return UpstreamAgent(self.agent_source)

    def run(self) -> RunResult:
        """Boot until the agent stops asking for reboots; the state is kept for inspection."""
        machine = Machine(
            self.conf,
            state=self.state,
            clouds=self.clouds,
            dhcp_servers=self.dhcp_servers,
            seed=self.seed,
            max_boots=self.max_boots,
            faults=self.faults,
            agent=self._agent_program(),
        )
        self.result = machine.run()
        return self.result


def _plugin_path(name: str) -> str:
    from guestsim.agent.plugins.registry import LEGACY_ALIASES, UPSTREAM_PLUGINS

    if "." in name:
        known = name in UPSTREAM_PLUGINS or name in LEGACY_ALIASES
        if known or not name.startswith("cloudbaseinit.plugins."):
            return name  # an upstream path, or a module of the user's own
        # (configure(plugins=[...]) passes any path as written, for the agent to refuse.)
        class_name = name.rpartition(".")[2]
        hint = _did_you_mean(class_name)
        if any(path.rpartition(".")[2] == class_name for path in UPSTREAM_PLUGINS):
            hint = f"; {class_name} is " + " or ".join(
                repr(path) for path in UPSTREAM_PLUGINS if path.endswith("." + class_name)
            )
        raise UnknownPlugin(f"no cloudbase-init plugin at {name!r}{hint}")

    matches = [path for path in UPSTREAM_PLUGINS if path.rpartition(".")[2] == name]
    if not matches:
        raise UnknownPlugin(f"no cloudbase-init plugin class named {name!r}{_did_you_mean(name)}")
    # Where upstream has both a common and a Windows variant, the Windows one is meant.
    return sorted(matches, key=lambda path: path.startswith(_PLUGIN_PREFIXES[0]))[0]


def _did_you_mean(name: str) -> str:
    from guestsim.agent.plugins.registry import UPSTREAM_PLUGINS

    classes = {
        path.rpartition(".")[2].lower(): path.rpartition(".")[2] for path in UPSTREAM_PLUGINS
    }
    wanted = name.lower()
    exact = [key for key in (wanted, wanted + "plugin") if key in classes]
    close = exact[:1] or difflib.get_close_matches(wanted, classes, n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(classes[key]) for key in close) + "?"


class MetadataCloud:
    """The cloud a guest machine sees; OpenStack with the bundled documents unless changed."""

    def __init__(self, machine: GuestMachine) -> None:
        self.machine = machine
        self.apps: list[CloudApp] = []
        self.use("openstack")

    def use(self, cloud_type: str, **documents: Any) -> CloudApp:
        """Serve ``cloud_type`` instead, with documents as a scenario's ``cloud:`` would give."""
        if cloud_type not in CLOUD_TYPES:
            raise ValueError(f"unknown cloud {cloud_type!r}; one of {', '.join(CLOUD_TYPES)}")
        for app in self.apps:
            self.machine.clouds.remove(app)
        source = DocumentSource(cloud_type, {"type": cloud_type, **documents})
        self.apps = build_clouds(source)
        self.machine.clouds.extend(self.apps)
        attach_to_machine(self.machine.state, source)
        return self.apps[0]

    @property
    def app(self) -> CloudApp:
        return self.apps[0]

    @property
    def model(self) -> Any:
        return getattr(self.app, "model", None)

    @property
    def requests(self) -> list[Exchange]:
        """Every request routed to this cloud, in order, including those a fault answered
        before they reached it (``fault`` is the fault's index, ``faulted`` true; ``status``
        the fault's, or None with ``error`` "refused", "reset" or "hang").
        ``app.requests`` holds only what the cloud itself received."""
        return [request for app in self.apps for request in app.exchanges]

    def fault(self, path: str, **spec: Any) -> Fault:
        """Inject a fault (see :class:`guestsim.simulator.faults.Fault`) on matching requests."""
        fault = Fault(path, **spec)
        self.machine.faults.append(fault)
        return fault


class ConfigDriveFactory:
    """Builds config-drive images and attaches them to the guest machine."""

    def __init__(self, machine: GuestMachine) -> None:
        self.machine = machine

    def __call__(
        self,
        meta_data: Mapping[str, Any] | None = None,
        *,
        user_data: bytes | None = None,
        fmt: str = "iso",
        location: str = "cdrom",
        layout: str = "openstack",
        label: str | None = None,
        files: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """Attach a drive (``location`` cdrom or disk); returns the image bytes."""
        from guestsim.simulator import media

        if files is None:
            if layout == "nocloud":
                files = media.nocloud_layout(meta_data or {"instance-id": "iid-test"}, user_data)
            else:
                meta = dict(meta_data or {"uuid": "test-instance", "hostname": "test-host"})
                files = media.openstack_layout(meta_data=meta, user_data=user_data)
        filesystem = "vfat" if fmt.startswith("disk-") else fmt
        default_label = "cidata" if layout == "nocloud" else "config-2"
        label = label or (default_label.upper() if filesystem == "vfat" else default_label)
        image = media.build_image(dict(files), filesystem, label)
        if location == "cdrom":
            attach_cdrom(self.machine.state, image)
            return image
        partitions: list[PartitionSpec] = []
        if fmt.startswith("disk-"):
            partitions = [PartitionSpec(PARTITION_OFFSET, len(image))]
            image = media.build_disk(image, fmt.removeprefix("disk-"))
        attach_disk(self.machine.state, image, partitions)
        return image


class ScenarioRunner:
    """Runs scenario files: ``runner(path, seed=None) -> ScenarioOutcome``."""

    def __init__(self, agent: str | None = None, agent_source: Path | None = None) -> None:
        self.agent = agent
        self.agent_source = agent_source

    def __call__(self, path: str | Path, seed: int | None = None) -> ScenarioOutcome:
        scenario = load_scenario(path)
        if self.agent is not None:
            scenario = scenario.with_agent(self.agent, self.agent_source)
        return run_scenario(scenario, seed)
