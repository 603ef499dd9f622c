"""The boot flow against a reference model of §1.5, for arbitrary plugin behaviour.

Three MAIN plugins each follow a script of outcomes, one per run (the last repeats):
DONE or NEXT_BOOT, with or without a reboot request, or an exception. Whatever the scripts
and allow_reboot, the simulated machine must boot as often, run each plugin as often and
leave the same statuses in the registry as the model says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import Plugin, PluginResult, SharedData
from guestsim.simulator.windows.defaults import default_windows_state
from tests.builders import INSTANCE_ID, openstack_machine, register_plugin

SCRIPT_DIR = "C:\\guestsim-test"
MAX_BOOTS = 6
Outcome = tuple[int, bool] | None  # (status, reboot), or None for "raises"


class _Scripted(Plugin):
    """Plays the outcome script stored in the guest, counting its runs in the guest too."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        name = type(self).__name__
        script = json.loads(self.osutils.read_file(f"{SCRIPT_DIR}\\{name}.json"))
        counter = f"{SCRIPT_DIR}\\{name}.runs"
        runs = int(self.osutils.read_file(counter)) if self.osutils.path_exists(counter) else 0
        self.osutils.write_file(counter, str(runs + 1).encode())
        outcome = script[min(runs, len(script) - 1)]
        if outcome is None:
            raise RuntimeError(f"{name} fails on run {runs + 1}")
        return outcome[0], outcome[1]


class AlphaPlugin(_Scripted):
    pass


class BetaPlugin(_Scripted):
    pass


class GammaPlugin(_Scripted):
    pass


PLUGINS = (AlphaPlugin, BetaPlugin, GammaPlugin)


@dataclass
class Expected:
    boots: int
    runs: dict[str, int]
    statuses: dict[str, int | None]
    loop: bool


def model(scripts: dict[str, list[Outcome]], allow_reboot: bool) -> Expected:
    statuses: dict[str, int | None] = {name: None for name in scripts}
    runs = {name: 0 for name in scripts}
    boots = 0
    while True:
        if boots == MAX_BOOTS:
            return Expected(boots, runs, statuses, True)
        boots += 1
        reboot = False
        for name, script in scripts.items():
            if statuses[name] == 1:
                continue
            outcome = script[min(runs[name], len(script) - 1)]
            runs[name] += 1
            if outcome is None:
                continue
            statuses[name] = outcome[0]
            if outcome[1] and allow_reboot:
                reboot = True
                break
        if not reboot:
            return Expected(boots, runs, statuses, False)


OUTCOMES = st.one_of(st.none(), st.tuples(st.sampled_from([1, 2]), st.booleans()))
SCRIPTS = st.lists(OUTCOMES, min_size=1, max_size=4)


@pytest.fixture(scope="module")
def plugin_paths() -> Iterator[list[str]]:
    # Module scope: hypothesis runs many examples per test, and function-scoped fixtures
    # would not be reset between them.
    monkeypatch = pytest.MonkeyPatch()
    yield [register_plugin(monkeypatch, cls) for cls in PLUGINS]
    monkeypatch.undo()


@settings(max_examples=60)
@given(scripts=st.tuples(SCRIPTS, SCRIPTS, SCRIPTS), allow_reboot=st.booleans())
def test_the_machine_matches_the_model(
    plugin_paths: list[str], scripts: tuple[list[Outcome], ...], allow_reboot: bool
) -> None:
    named = {cls.__name__: script for cls, script in zip(PLUGINS, scripts, strict=True)}
    state = default_windows_state()
    state.files.make_dirs(SCRIPT_DIR)
    for name, script in named.items():
        state.files.write(f"{SCRIPT_DIR}\\{name}.json", json.dumps(script).encode())
    machine, _ = openstack_machine(
        tuple(plugin_paths), {"allow_reboot": allow_reboot}, state=state, max_boots=MAX_BOOTS
    )
    result = machine.run()
    expected = model(named, allow_reboot)

    assert result.boot_count == expected.boots
    assert result.reboot_loop is expected.loop
    key = f"HKLM\\SOFTWARE\\Cloudbase Solutions\\Cloudbase-Init\\{INSTANCE_ID}\\Plugins"
    for name in named:
        counter = f"{SCRIPT_DIR}\\{name}.runs"
        runs = int(result.state.files.read(counter)) if result.state.files.exists(counter) else 0
        assert runs == expected.runs[name], name
        stored = (
            [v.data for n, v in result.state.registry.values(key) if n == name]
            if (result.state.registry.key_exists(key))
            else []
        )
        assert (stored[0] if stored else None) == expected.statuses[name], name
