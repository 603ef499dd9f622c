"""NTPClientPlugin's wait for ``w32time``: one second of guest time before every poll.

cloudbase-init 1.1.9 starts a stopped ``w32time`` and then sleeps a second before it reads
the service state again, even when the service is running at once; it gives up after 30
such waits. The guest's virtual clock shows each wait, so a boot that had to start the
service runs one second later than one where it was already running.
"""

from __future__ import annotations

import pytest

from guestsim.agent.osutils import SERVICE_START_MODE_AUTOMATIC, SERVICE_STATUS_RUNNING
from guestsim.simulator.machine import RunResult
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.state import WindowsState
from tests.builders import openstack_machine


def run_ntp(state: WindowsState | None = None) -> RunResult:
    machine, _ = openstack_machine(("ntp",), {"allow_reboot": False}, state=state)
    return machine.run()


def ntp_events(result: RunResult) -> list[Event]:
    """The trace from the plugin's start to its end (first boot)."""
    (start,) = [e for e in result.trace.of_kind("plugin_start") if e.boot == 1]
    (end,) = [e for e in result.trace.of_kind("plugin_end") if e.boot == 1]
    return [e for e in result.trace.events if start.seq <= e.seq <= end.seq]


def test_a_stopped_w32time_is_started_then_waited_for_one_second() -> None:
    result = run_ntp()

    events = ntp_events(result)
    steps = [
        (e.kind, e.get("call") or e.get("seconds"))
        for e in events
        if e.kind == "sleep" or (e.kind == "os" and e.get("service") == "w32time")
    ]
    assert steps == [
        ("os", "set_service_start_mode"),
        ("os", "start_service"),
        ("sleep", 1),
    ]
    assert events[-1].get("success") is True
    assert events[-1].t_ms - events[0].t_ms == 1000
    w32time = result.state.find_service("w32time")
    assert w32time is not None
    assert w32time.status == SERVICE_STATUS_RUNNING


def test_a_running_w32time_costs_no_wait() -> None:
    state = default_windows_state()
    w32time = state.find_service("w32time")
    assert w32time is not None
    w32time.start_mode = SERVICE_START_MODE_AUTOMATIC
    w32time.status = SERVICE_STATUS_RUNNING

    result = run_ntp(state)

    events = ntp_events(result)
    assert [e for e in events if e.kind == "sleep"] == []
    assert [e.get("call") for e in events if e.kind == "os" and e.get("service")] == []
    assert events[-1].t_ms == events[0].t_ms


def test_a_w32time_that_never_runs_fails_after_thirty_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A service whose start is accepted but that never reaches Running.
    monkeypatch.setattr(FakeOSUtils, "start_service", lambda self, name: None)

    result = run_ntp()

    events = ntp_events(result)
    assert [e.get("seconds") for e in events if e.kind == "sleep"] == [1] * 30
    assert events[-1].get("success") is False
    assert events[-1].get("error") == "RuntimeError: Service w32time did not start"
    assert events[-1].t_ms - events[0].t_ms == 30_000
