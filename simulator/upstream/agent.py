"""The published agent as a machine's agent program: one run in one upstream session.

:class:`UpstreamAgent` does for cloudbase-init what guestsim's own agent program does for
``guestsim.agent``: started once per agent process (each boot, each respawn), it runs
``InitManager().configure_host()`` with the scenario's configuration, on the fake Windows,
the simulated clouds and virtual time. It reports the same trace events as guestsim's agent
(stages, plugins, the metadata service, the reboot request) by watching upstream's own
methods, so the two agents' traces can be compared event for event.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from guestsim.agent.config import AgentConfig
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.upstream import guest
from guestsim.simulator.upstream.loading import PACKAGE, upstream_modules

UPSTREAM_LOGGER = PACKAGE
# Read only by upstream's log setup (files, the serial port), which a run never calls: its
# log goes to the machine's log like guestsim's agent's.
LOGGING_OPTIONS = frozenset(
    {"debug", "log_dir", "log_file", "logfile", "logdir", "logging_serial_port_settings",
     "verbose", "use_stderr", "use_syslog", "log_date_format", "log_config_append",
     "log_config"}
)  # fmt: skip


class UpstreamAgent:
    """The published agent (``source``: a checkout or fork; None: the installed one)."""

    name = "upstream"

    def __init__(self, source: str | Path | None = None) -> None:
        self.source = source
        self._package: types.ModuleType | None = None
        # The log handlers a boot's agent process starts with (see _process_logging).
        self._log_handlers: list[logging.Handler] | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """Upstream imported for one machine's run, and taken away again after it."""
        with upstream_modules(self.source) as package:
            self._package = package
            try:
                yield
            finally:
                self._package = None

    def __call__(self, context: AgentContext, argv: Sequence[str]) -> None:
        if self._package is None:
            with self.session():
                self(context, argv)
            return
        import importlib

        init = importlib.import_module(f"{PACKAGE}.init")
        metadata_factory = importlib.import_module(f"{PACKAGE}.metadata.factory")
        version = importlib.import_module(f"{PACKAGE}.version")
        conf_module = importlib.import_module(f"{PACKAGE}.conf")
        seed = int.from_bytes(context.osutils.random_bytes(8), "big")
        process = guest.GuestProcess(
            osutils=context.osutils,
            dhcp=context.dhcp,
            argv=list(argv),
            events=context.events,
            version=_version(version),
            rng=random.Random(seed),
        )
        with (
            self._process_logging(),
            guest.running(process),
            _configured(conf_module.CONF, context.conf, argv),
            _observed(init.InitManager, context.events),
            _observed_discovery(metadata_factory, context.events),
            _watching_done(context.events),
        ):
            self._configure_host(init)

    @contextmanager
    def _process_logging(self) -> Iterator[None]:
        """Each agent process logs to the machine's log from its start, as the service's
        entry point sets logging up in every process: a respawned child's parent has
        released (and closed) its handlers before it starts the child."""
        logger = logging.getLogger(UPSTREAM_LOGGER)
        before = list(logger.handlers)
        if self._log_handlers is None:
            self._log_handlers = before
            try:
                yield
            finally:
                self._log_handlers = None
            return
        logger.handlers[:] = self._log_handlers
        try:
            yield
        finally:
            logger.handlers[:] = before

    @staticmethod
    def _configure_host(init: types.ModuleType) -> None:
        """What the published agent's service runs (apart so benchmarks can time it)."""
        init.InitManager().configure_host()


def _version(module: types.ModuleType) -> str:
    try:
        return str(module.get_version())
    except Exception:
        # A source tree without installed metadata (a fork checked out beside us).
        return "unknown"


def _oslo_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_oslo_literal(item) for item in value]
    return _oslo_literal(value)


def _oslo_literal(value: Any) -> Any:
    """A string oslo.config's ``$`` substitution (which it applies to overrides too) turns
    back into ``value``: guestsim's conf reader has already resolved the references."""
    if not isinstance(value, str) or "$" not in value:
        return value
    # oslo.config first reads a backslash and a dollar as "$$", so a dollar after a
    # backslash is written that way (the backslash before it is kept); any other as "$$".
    return re.sub(r"\$", lambda m: "\\$" if value[: m.start()].endswith("\\") else "$$", value)


@contextmanager
def _configured(conf: Any, options: AgentConfig, argv: Sequence[str]) -> Iterator[None]:
    """oslo.config's object parsed from the process's command line (never from host
    files) with the scenario's options on top; put back for the parent of a respawn."""
    from oslo_config import cfg

    # reset(), not clear(): another process's overrides (the unattend pass's options, a
    # respawned child's reset_service_password=False) must not outlive it.
    conf.reset()
    # Never the host's environment (oslo.config reads OS_<GROUP>__<OPTION> variables).
    conf(
        list(argv[1:]),
        project="cloudbase-init",
        default_config_files=[],
        default_config_dirs=[],
        use_env=False,
    )
    for group, name, value in options.explicit_items():
        if group == "DEFAULT" and name in LOGGING_OPTIONS:
            continue
        try:
            conf.set_override(name, _oslo_value(value), group=None if group == "DEFAULT" else group)
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            # An option this agent does not register: ignored, as in its config file.
            continue
    # Not restored afterwards: a respawned child's parent only exits, and the session's
    # end discards the whole object.
    yield


def _stage_name(stage: object) -> str:
    return str(stage)


@contextmanager
def _observed(manager: Any, events: Callable[..., None]) -> Iterator[None]:
    """Report stage and plugin events from upstream's own InitManager methods."""
    if getattr(manager, "_guestsim_observed", False):
        # A respawned child process inside the parent's run: already reporting.
        yield
        return
    handle_stage = manager._handle_plugins_stage
    exec_plugin = manager._exec_plugin
    check_requirements = manager._check_plugin_os_requirements
    stages: list[str] = []

    @functools.wraps(handle_stage)
    def observed_stage(self: Any, osutils: Any, service: Any, instance_id: Any, stage: Any) -> Any:
        if service is not None:
            events("metadata_service", name=service.get_name(), instance_id=instance_id)
        stages.append(_stage_name(stage))
        events("stage_start", stage=stages[-1])
        try:
            success, reboot = handle_stage(self, osutils, service, instance_id, stage)
        finally:
            name = stages.pop()
        events("stage_end", stage=name, success=success, reboot=bool(reboot))
        return success, reboot

    @functools.wraps(check_requirements)
    def observed_requirements(self: Any, osutils: Any, plugin: Any) -> bool:
        supported = bool(check_requirements(self, osutils, plugin))
        if not supported:
            platform, _ = plugin.get_os_requirements()
            reason = "platform" if platform and platform != "win32" else "os_version"
            events("plugin_skipped", stage=stages[-1], plugin=plugin.get_name(), reason=reason)
        return supported

    @functools.wraps(exec_plugin)
    def observed_plugin(
        self: Any, osutils: Any, service: Any, plugin: Any, instance_id: Any, shared: Any
    ) -> Any:
        name, stage = plugin.get_name(), stages[-1]
        execute = plugin.execute
        started: list[bool] = []
        returned: list[tuple[Any, Any]] = []

        def observed_execute(service: Any, shared_data: Any) -> Any:
            started.append(True)
            events("plugin_start", stage=stage, plugin=name)
            try:
                status, reboot = execute(service, shared_data)
            except Exception as ex:
                events(
                    "plugin_end",
                    stage=stage,
                    plugin=name,
                    success=False,
                    status=None,
                    reboot=None,
                    error=f"{type(ex).__name__}: {ex}",
                )
                raise
            returned.append((status, reboot))
            return status, reboot

        plugin.execute = observed_execute
        try:
            result = exec_plugin(self, osutils, service, plugin, instance_id, shared)
        finally:
            del plugin.execute
        # After upstream has stored the plugin's status, as guestsim's agent reports it:
        # the status write belongs to the plugin's run.
        for status, reboot in returned:
            events(
                "plugin_end",
                stage=stage,
                plugin=name,
                success=True,
                status=status,
                reboot=bool(reboot),
            )
        if not started:
            events("plugin_skipped", stage=stage, plugin=name, reason="done")
        return result

    manager._guestsim_observed = True
    manager._handle_plugins_stage = observed_stage
    manager._exec_plugin = observed_plugin
    manager._check_plugin_os_requirements = observed_requirements
    try:
        yield
    finally:
        manager._handle_plugins_stage = handle_stage
        manager._exec_plugin = exec_plugin
        manager._check_plugin_os_requirements = check_requirements
        del manager._guestsim_observed


_REPORTS = {
    "provisioning_started": "started",
    "provisioning_completed": "completed",
    "provisioning_failed": "failed",
}


@contextmanager
def _observed_discovery(factory: Any, events: Callable[..., None]) -> Iterator[None]:
    """Report a failed discovery, and each provisioning report the found service makes."""
    discover = factory.get_metadata_service
    if getattr(discover, "_guestsim_observed", False):
        yield
        return

    @functools.wraps(discover)
    def observed_discovery() -> Any:
        try:
            service = discover()
        except Exception:
            events("metadata_service", name=None, instance_id=None)
            raise
        for method, state in _REPORTS.items():
            setattr(service, method, _reporting(getattr(service, method), state, events))
        return service

    observed_discovery._guestsim_observed = True  # type: ignore[attr-defined]
    factory.get_metadata_service = observed_discovery
    try:
        yield
    finally:
        factory.get_metadata_service = discover


def _reporting(
    report: Callable[[], Any], state: str, events: Callable[..., None]
) -> Callable[[], Any]:
    @functools.wraps(report)
    def reported() -> Any:
        events("provisioning_report", state=state)
        return report()

    return reported


class _DoneWatcher(logging.Handler):
    """Upstream says "Plugins execution done" where guestsim's agent reports agent_done."""

    def __init__(self, events: Callable[..., None]) -> None:
        super().__init__(logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Plugins execution done":
            self.events("agent_done", success=None)


@contextmanager
def _watching_done(events: Callable[..., None]) -> Iterator[None]:
    logger = logging.getLogger(f"{PACKAGE}.init")
    if any(isinstance(handler, _DoneWatcher) for handler in logger.handlers):
        # A respawned child process inside the parent's run: already watching.
        yield
        return
    handler = _DoneWatcher(events)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
