"""Small builders for machines used across the tests."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata import factory
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins import registry
from guestsim.agent.plugins.base import Plugin
from guestsim.simulator.clock import DEFAULT_EPOCH
from guestsim.simulator.clouds.base import CloudApp
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.dhcp import DhcpServer
from guestsim.simulator.faults import Fault, FaultPlan
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import WindowsState

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INSTANCE_ID = "7d3f1a52-0c4e-4b8e-9a61-2f5c8d9e0b13"
HTTP_SERVICE = "cloudbaseinit.metadata.services.httpservice.HttpService"
PLUGIN = {
    "mtu": "cloudbaseinit.plugins.common.mtu.MTUPlugin",
    "ntp": "cloudbaseinit.plugins.windows.ntpclient.NTPClientPlugin",
    "hostname": "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin",
    "createuser": "cloudbaseinit.plugins.windows.createuser.CreateUserPlugin",
    "password": "cloudbaseinit.plugins.common.setuserpassword.SetUserPasswordPlugin",
}


def public_key() -> str:
    return (FIXTURES / "keys" / "test-rsa-2048.pub").read_text().strip()


def meta_data(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "uuid": INSTANCE_ID,
        "hostname": "web-01.novalocal",
        "name": "web-01",
        "public_keys": {"test": public_key()},
    }
    document.update(overrides)
    return document


def openstack_machine(
    plugins: Sequence[str] = ("hostname", "createuser", "password"),
    options: Mapping[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    *,
    user_data: bytes | None = None,
    password: str = "",
    dhcp_servers: Sequence[DhcpServer] = (),
    state: WindowsState | None = None,
    seed: int = 0,
    max_boots: int = 10,
    clouds: Sequence[CloudApp] | None = None,
) -> tuple[Machine, OpenStackCloud]:
    """A machine on a simulated OpenStack; ``plugins`` are keys of PLUGIN or full paths."""
    defaults: dict[str, Any] = {
        "metadata_services": [HTTP_SERVICE],
        "plugins": [PLUGIN.get(name, name) for name in plugins],
    }
    defaults.update(options or {})
    conf = config_from_options({"DEFAULT": defaults}, "test")
    cloud = OpenStackCloud(
        OpenStackModel(
            meta_data=document if document is not None else meta_data(),
            user_data=user_data,
            password=password,
        )
    )
    machine = Machine(
        conf,
        state=state,
        clouds=[cloud] if clouds is None else clouds,
        dhcp_servers=dhcp_servers,
        seed=seed,
        max_boots=max_boots,
    )
    return machine, cloud


def register_plugin(monkeypatch: pytest.MonkeyPatch, cls: type[Plugin]) -> str:
    """Make a module-level test plugin class loadable by the real plugin loader.

    Returns the made-up upstream path to put in ``plugins``; the mapping is undone when
    the test ends. The path's last part is the class's qualified name, so two classes
    that share a ``__name__`` (and so a registry status) still get distinct paths.
    """
    path = f"cloudbaseinit.plugins.common.guestsimtest.{cls.__qualname__}"
    monkeypatch.setitem(registry.UPSTREAM_PLUGINS, path, f"{cls.__module__}:{cls.__qualname__}")
    return path


def register_metadata_service(monkeypatch: pytest.MonkeyPatch, cls: type[MetadataService]) -> str:
    """Like :func:`register_plugin`, for a metadata service class; returns its path."""
    path = f"cloudbaseinit.metadata.services.guestsimtest.{cls.__qualname__}"
    monkeypatch.setitem(factory.UPSTREAM_SERVICES, path, f"{cls.__module__}:{cls.__qualname__}")
    return path


def standalone_osutils(
    sleeps: list[float],
    state: WindowsState | None = None,
    seed: int = 0,
    now: dt.datetime = DEFAULT_EPOCH,
) -> FakeOSUtils:
    """A fake Windows for calling agent code directly, its clock standing at ``now``; it
    records the sleeps asked for."""

    def refuse(*_: object) -> NoReturn:
        raise AssertionError("not expected from a metadata service")

    hooks = MachineHooks(
        sleep=sleeps.append,
        reboot=refuse,
        service_stopped=refuse,
        run_as_user=refuse,
        now=lambda: now,
    )
    return FakeOSUtils(state or default_windows_state(), Trace(), random.Random(seed), hooks)


@contextmanager
def serving(apps: Sequence[CloudApp], faults: Sequence[Fault] = ()) -> Iterator[Trace]:
    """Serve cloud apps in-process."""
    trace = Trace()
    with InProcessTransport(Gateway(list(apps), trace, FaultPlan(faults))).serving():
        yield trace


def module_log(result: RunResult, module: str) -> list[str]:
    """The agent's log lines of one plugin module, as ``LEVEL message``."""
    prefix = f" agent.plugins.{module}: "
    return [line.split(" ", 2)[2].replace(prefix, " ", 1) for line in result.log if prefix in line]


@functools.cache
def library_outcome(path: Path) -> ScenarioOutcome:
    """One run of a bundled scenario per test process, for the tests that only read it.

    Several properties are checked over every scenario of the library (its trace is the
    recorded one, each expectation can fail, ...); they share this run rather than each
    running the library again. Never change what it returns.
    """
    return run_scenario(load_scenario(path))
