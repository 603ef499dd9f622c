"""The machine: virtual guest time, state across reboots, gaps in the simulation."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import OSUtils
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData
from guestsim.simulator.clock import DEFAULT_EPOCH
from guestsim.simulator.machine import REBOOT_DURATION_S
from tests.builders import openstack_machine, register_plugin

CLOCK_FILE = "C:\\clock.txt"


class ClockReadingPlugin(Plugin):
    """Writes what the guest's clock says before and after a 10 s sleep, and the host's."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        before = self.osutils.utc_now().isoformat()
        self.osutils.sleep(10)
        after = self.osutils.utc_now()
        host = time.time()
        self.osutils.write_file(
            CLOCK_FILE, f"{before} {after.isoformat()} {after.timestamp()} {host}".encode()
        )
        return PLUGIN_EXECUTION_DONE, False


class GapPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        self.osutils.firewall_remove_rule("never opened", 1234, "TCP")
        return PLUGIN_EXECUTION_DONE, False


def test_the_agent_sees_guest_time_and_sleeping_costs_no_real_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine(
        ("hostname", register_plugin(monkeypatch, ClockReadingPlugin)),
        {"stop_service_on_exit": False},
    )
    started = time.time()
    result = machine.run()
    assert time.time() - started < 5

    before, after, epoch_seconds, host = result.state.files.read(CLOCK_FILE).decode().split()
    # Only the guest's clock is virtual: the process clock is never patched.
    assert started <= float(host) <= time.time()
    # Boot 2 starts one reboot after power-on; the plugin then sleeps 10 guest seconds.
    boot_two = DEFAULT_EPOCH + dt.timedelta(seconds=REBOOT_DURATION_S)
    assert dt.datetime.fromisoformat(before) == boot_two
    assert dt.datetime.fromisoformat(after) == boot_two + dt.timedelta(seconds=10)
    assert float(epoch_seconds) == (boot_two + dt.timedelta(seconds=10)).timestamp()
    assert result.trace.events[-1].t_ms == (REBOOT_DURATION_S + 10) * 1000


def test_the_host_clock_is_untouched_after_a_run() -> None:
    machine, _ = openstack_machine()
    machine.run()
    assert abs(dt.datetime.now(dt.UTC) - DEFAULT_EPOCH) > dt.timedelta(days=1)


def test_an_unmodelled_os_call_stops_the_run_with_a_finding_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine(("createuser", register_plugin(monkeypatch, GapPlugin)))
    result = machine.run()
    assert result.boots[-1].outcome == "not_modelled"
    assert result.findings == [
        "boot 1: not modelled by the simulated Windows: "
        "OSUtils.firewall_remove_rule of a port that is not open"
    ]
    (gap,) = result.trace.of_kind("not_modelled")
    assert gap.get("what") == "OSUtils.firewall_remove_rule of a port that is not open"
    # The gap is not mistaken for a plugin failure of the guest.
    assert not [e for e in result.trace.of_kind("plugin_end") if e.get("success") is False]


def test_fake_windows_implements_the_whole_os_boundary() -> None:
    from guestsim.simulator.windows.osutils import FakeOSUtils

    protocol_methods = {
        name for name in vars(OSUtils) if not name.startswith("_") and callable(vars(OSUtils)[name])
    }
    missing = {name for name in protocol_methods if not callable(getattr(FakeOSUtils, name, None))}
    assert protocol_methods and not missing


def test_persistent_state_survives_reboots_and_temp_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine(("hostname", "createuser"))
    machine.state.files.write("C:\\Windows\\Temp\\scratch.txt", b"x")
    machine.state.files.write("C:\\kept.txt", b"y")
    result = machine.run()
    assert result.boot_count == 2
    assert not result.state.files.exists("C:\\Windows\\Temp\\scratch.txt")
    assert result.state.files.read("C:\\kept.txt") == b"y"
    assert result.state.files.exists("C:\\Users\\Admin")
