"""Injected faults: what the agent sees, what the trace records, what it costs in time."""

from __future__ import annotations

import pytest

from guestsim.simulator.faults import Fault, FaultPlan, parse_fault
from guestsim.simulator.trace import Event
from tests.builders import openstack_machine

META = "/openstack/latest/meta_data.json"


def run(*faults: Fault, **options: object):
    machine, cloud = openstack_machine(("createuser",), {"allow_reboot": False, **options})
    machine.gateway.faults = FaultPlan(faults)
    return machine.run(), cloud


def meta_http(result) -> list[Event]:
    """The ``http`` events of the metadata document (each boot's route check GETs the
    base URL first; no fault here matches it)."""
    return [e for e in result.trace.of_kind("http") if str(e.get("url")).endswith(META)]


def http_statuses(result) -> list[object]:
    return [e.get("status") for e in meta_http(result)]


def test_first_n_failures_then_recovery_cost_virtual_retries_only() -> None:
    result, cloud = run(Fault(META, status=502, first=2))
    assert http_statuses(result)[:3] == [502, 502, 200]
    assert [e.get("seconds") for e in result.trace.of_kind("sleep")][:2] == [4.0, 4.0]
    assert [(r.path, r.status) for r in cloud.requests][:2] == [("/", 200), (META, 200)]
    assert result.state.find_user("Admin") is not None


@pytest.mark.parametrize("error", ["refused", "reset"])
def test_connection_errors_are_retried_then_the_service_is_not_loaded(error: str) -> None:
    result, cloud = run(Fault(META, error=error))
    http = meta_http(result)
    assert len(http) == 6 and {e.get("error") for e in http} == {error}
    assert [r.path for r in cloud.requests] == ["/"]
    assert result.trace.of_kind("metadata_service")[-1].get("name") is None


@pytest.mark.parametrize("body", ["truncated", "malformed", "empty"])
def test_a_broken_meta_data_body_fails_the_load_without_crashing(body: str) -> None:
    result, _ = run(Fault(META, body=body))
    (probe,) = result.trace.of_kind("metadata_service_probe")
    assert probe.get("result") == "not_loaded"
    assert result.boots[-1].outcome == "stopped"
    # A 200 with a bad body is not retried: the load itself decides.
    assert len(result.trace.of_kind("fault")) == 1


def test_a_delay_advances_guest_time() -> None:
    result, _ = run(Fault(META, delay=30, first=1))
    (fault,) = result.trace.of_kind("fault")
    first_http = meta_http(result)[0]
    assert first_http.t_ms - fault.t_ms == 30_000


def test_a_delay_beyond_the_hang_budget_is_a_hang() -> None:
    machine, _ = openstack_machine(("createuser",))
    machine.gateway.faults = FaultPlan([Fault(META, delay=3600)])
    result = machine.run()
    assert result.boots[-1].outcome == "hung"
    assert result.findings == [f"boot 1: agent hung on GET http://169.254.169.254{META}"]


def test_faults_match_by_method_host_and_glob_and_count_hits() -> None:
    plan = FaultPlan(
        [
            Fault("/a/*", method="POST", first=1),
            Fault("/a/*", host="10.*"),
        ]
    )
    assert plan.match("POST", "169.254.169.254", "/a/b") == (0, plan.faults[0])
    assert plan.match("POST", "169.254.169.254", "/a/b") is None
    assert plan.match("GET", "10.1.1.1:8080", "/a/b") == (1, plan.faults[1])
    assert plan.match("GET", "10.1.1.1", "/b") is None


def test_parse_fault_reads_the_command_line_form() -> None:
    assert parse_fault("/openstack/*:status=503,first=2") == Fault(
        "/openstack/*", status=503, first=2
    )
    assert parse_fault("/x:error=hang,delay=1.5") == Fault("/x", error="hang", delay=1.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openstack:status=1", "must start with '/'"),
        ("/x:colour=red", "is not name=value"),
        ("/x:status=abc", "status must be int"),
        ("/x:error=boom", "error must be one of"),
    ],
)
def test_parse_fault_rejects_nonsense_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)
