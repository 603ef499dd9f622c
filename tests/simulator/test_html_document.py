"""The HTML report's document: what each boot changed, the events behind each failure, the
schema, and the same bytes for the same run."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import pytest

from guestsim.simulator.batch import run_records
from guestsim.simulator.evidence import explaining_events
from guestsim.simulator.explore import build_cut_machine, explore_power_loss
from guestsim.simulator.html.document import explore_document, run_document, trace_document
from guestsim.simulator.overrides import load_overrides
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import (
    Scenario,
    ScenarioOutcome,
    load_scenario,
    run_scenario,
)
from guestsim.simulator.statediff import machine_snapshot, state_changes
from guestsim.simulator.trace import Event, Trace
from guestsim.simulator.windows.certificates import StoredCertificate
from guestsim.simulator.windows.defaults import default_windows_state

LIBRARY = bundled("scenarios")
HOSTNAME = LIBRARY / "reboots" / "hostname-reboot-allowed.yaml"
OPENSTACK = LIBRARY / "clouds" / "openstack-happy-path.yaml"
STOCK = LIBRARY / "clouds" / "stock-conf-openstack.yaml"
CONFS = bundled("fixtures") / "confs"
PLUGINS_KEY = (
    "HKLM\\SOFTWARE\\Cloudbase Solutions\\Cloudbase-Init\\"
    "1c9b7d3e-5a2f-4e60-8b14-7f0d2c6a9e35\\Plugins"
)


@cache
def scenario(path: str) -> Scenario:
    return load_scenario(LIBRARY / path, LIBRARY)


def changes_of(outcome: ScenarioOutcome) -> dict[int, list[dict[str, Any]]]:
    assert outcome.result.state_changes is not None
    return {boot.number: boot.changes for boot in outcome.result.state_changes}


# --- what each boot changed ----------------------------------------------------------------------


def test_a_run_keeps_no_states_unless_asked() -> None:
    outcome = run_scenario(scenario("reboots/hostname-reboot-allowed.yaml"))
    assert outcome.result.state_changes is None
    assert outcome.record().state_changes is None


def test_the_renaming_boot_changes_name_and_plugin_status_and_the_next_boot_nothing() -> None:
    outcome = run_scenario(scenario("reboots/hostname-reboot-allowed.yaml"), keep_states=True)
    changes = changes_of(outcome)
    assert sorted(changes) == [1, 2]
    assert changes[2] == []
    assert {"path": ["computer_name"], "before": "WIN-OLDNAME", "after": "app-server-02"} in (
        changes[1]
    )
    assert {
        "path": ["registry", PLUGINS_KEY],
        "before": "absent",
        "after": {"SetHostNamePlugin": {"data": 1, "type": "REG_DWORD"}},
    } in changes[1]


def test_a_certificate_replaced_in_a_boot_shows_as_another_certificate() -> None:
    # Each snapshot names certificates by the order it meets them; two snapshots of one run
    # share the names, or a boot that swaps one certificate for another shows no change.
    state = default_windows_state()
    first = StoredCertificate(
        "LocalMachine", "My", "A" * 40, "CN=guest", "CN=guest", None, True, b"1", "self-signed"
    )
    state.certificates.certificates.append(first)
    names: dict[str, str] = {}
    before = machine_snapshot(state, names)
    state.certificates.certificates[-1] = dataclasses.replace(first, thumbprint="B" * 40)
    changes = state_changes(before, machine_snapshot(state, names))
    thumbprints = [c for c in changes if c["path"][-1] == "thumbprint"]
    assert len(thumbprints) == 1
    assert (thumbprints[0]["before"], thumbprints[0]["after"]) != ("certificate 1",) * 2


def test_a_password_shows_as_set_never_its_value() -> None:
    outcome = run_scenario(scenario("clouds/openstack-happy-path.yaml"), keep_states=True)
    password = outcome.result.state.find_user("Admin").password  # type: ignore[union-attr]
    assert password
    (user,) = [c for c in changes_of(outcome)[2] if c["path"] == ["users", "Admin"]]
    assert user["before"] == "absent"
    assert user["after"]["password"] == "set"
    assert password not in json.dumps([b.changes for b in outcome.result.state_changes or []])


def test_the_sysprep_pass_and_a_boot_the_power_cut_repeats_each_have_their_changes() -> None:
    overrides = load_overrides(
        conf=CONFS / "stock-cloudbase-init.conf",
        unattend_conf=CONFS / "stock-cloudbase-init-unattend.conf",
    )
    machine = scenario("clouds/stock-conf-openstack.yaml").build_machine(overrides=overrides)
    machine.keep_states = True
    machine.configure_power_loss(1)  # during the sysprep pass: Windows setup runs it again

    result = machine.run()

    assert result.state_changes is not None
    assert [boot.number for boot in result.state_changes] == [0, 0, 1]
    # The renamed machine comes from the pass that finished.
    assert any(c["path"] == ["computer_name"] for c in result.state_changes[1].changes)


def test_a_cut_run_keeps_the_boot_the_cut_adds() -> None:
    machine = build_cut_machine(scenario("reboots/hostname-reboot-allowed.yaml"), 1, None, True)
    result = machine.run()
    assert result.state_changes is not None
    assert [boot.number for boot in result.state_changes] == [b.number for b in result.boots]
    assert result.boots[0].outcome == "power_loss"


def test_records_with_their_changes_come_back_alike_from_worker_processes() -> None:
    scenarios = [
        scenario("reboots/hostname-reboot-allowed.yaml"),
        scenario("clouds/openstack-happy-path.yaml"),
    ]
    serial = list(run_records(scenarios, keep_states=True))
    parallel = list(run_records(scenarios, jobs=2, keep_states=True))
    assert [r.state_changes for r in parallel] == [r.state_changes for r in serial]
    assert run_document(parallel) == run_document(serial)


# --- the events that explain a failure -----------------------------------------------------------


def altered(path: str, **expect: Any) -> ScenarioOutcome:
    """The library scenario with some expectations contradicted: a failing run."""
    original = scenario(path)
    data = {**original.data, "expect": {**original.data["expect"], **expect}}
    outcome = run_scenario(dataclasses.replace(original, data=data))
    assert outcome.failures
    return outcome


def seqs(outcome: ScenarioOutcome, kind: str, **fields: Any) -> list[int]:
    return [
        e.seq
        for e in outcome.result.trace
        if e.kind == kind and all(e.get(k) == v for k, v in fields.items())
    ]


def explained(outcome: ScenarioOutcome) -> dict[str, list[int]]:
    return {f: explaining_events(f, outcome.result.trace.events) for f in outcome.failures}


def test_a_plugin_status_is_explained_by_that_plugins_runs() -> None:
    outcome = altered(
        "reboots/hostname-reboot-allowed.yaml", plugins={"SetHostNamePlugin": "absent"}
    )
    plugin = {"plugin": "SetHostNamePlugin"}
    assert explained(outcome) == {
        "plugins.SetHostNamePlugin: expected 'absent', got 'done'": sorted(
            seqs(outcome, "plugin_start", **plugin)
            + seqs(outcome, "plugin_end", **plugin)
            + seqs(outcome, "plugin_skipped", **plugin)
        )
    }


def test_a_registry_value_is_explained_by_its_writes() -> None:
    wanted = [{"key": PLUGINS_KEY, "name": "SetHostNamePlugin", "data": 2}]
    outcome = altered("reboots/hostname-reboot-allowed.yaml", registry=wanted)
    (events,) = explained(outcome).values()
    assert events == seqs(outcome, "os", call="set_registry_value", name="SetHostNamePlugin")
    assert len(events) == 1


def test_the_name_boots_and_metadata_service_are_explained_by_their_events() -> None:
    outcome = altered(
        "reboots/hostname-reboot-allowed.yaml",
        computer_name="other",
        boots=3,
        metadata_service="EC2Service",
    )
    found = {failure.partition(":")[0]: events for failure, events in explained(outcome).items()}
    assert found["computer_name"] == seqs(outcome, "os", call="set_host_name")
    assert found["boots"] == sorted(seqs(outcome, "reboot") + seqs(outcome, "agent_exit"))
    assert found["metadata_service"] == sorted(
        seqs(outcome, "metadata_service_probe") + seqs(outcome, "metadata_service")
    )


def test_users_and_requests_are_explained_by_the_calls_and_requests_naming_them() -> None:
    outcome = altered(
        "clouds/openstack-happy-path.yaml",
        users={"Admin": {"groups": ["Backup Operators"]}},
        requests=[{"method": "GET", "path": "/openstack/latest/meta_data.json", "count": 9}],
    )
    found = {failure.partition(" ")[0]: events for failure, events in explained(outcome).items()}
    user_events = found["users.Admin.groups:"]
    assert user_events and user_events == seqs(outcome, "os", username="Admin")
    meta_data = "http://169.254.169.254/openstack/latest/meta_data.json"
    assert found["requests[0]"] == seqs(outcome, "http", method="GET", url=meta_data)
    assert found["requests[0]"]


def test_a_file_is_explained_by_the_writes_to_its_path() -> None:
    path = "C:\\ProgramData\\app\\settings.ini"
    outcome = altered("user-data/cloud-config-write-files.yaml", files={path: {"content": "no"}})
    (events,) = [e for f, e in explained(outcome).items() if f.startswith("files.")]
    assert events
    assert all(outcome.result.trace.events[s].get("path") == path for s in events)


def test_a_missing_service_or_adapter_is_explained_by_the_calls_naming_it() -> None:
    events = [
        Event(0, 1, 0, "os", {"call": "create_service", "service": "agent.svc"}),
        Event(1, 1, 0, "os", {"call": "create_service", "service": "agent"}),
        Event(2, 1, 0, "os", {"call": "rename_network_adapter", "old_name": "Ethernet"}),
    ]
    assert explaining_events("services.agent.svc: does not exist", events) == [0]
    assert explaining_events("adapters.Ethernet: does not exist", events) == [2]
    assert explaining_events("services.agent.svc.start_mode: expected 'Manual'", events) == [0]


def test_what_no_event_explains_links_none() -> None:
    outcome = altered(
        "reboots/hostname-reboot-allowed.yaml",
        log={"present": ["no such line"]},
        state={"computer_name": "x"},
    )
    assert set(map(tuple, explained(outcome).values())) == {()}


def test_a_cut_diff_line_is_explained_by_the_writes_to_that_value() -> None:
    events = [
        Event(0, 1, 0, "os", {"call": "set_registry_value", "key": "HKLM\\A", "name": "x"}),
        Event(1, 1, 0, "os", {"call": "set_registry_value", "key": "HKLM\\A", "name": "y"}),
        Event(2, 1, 0, "os", {"call": "create_user", "username": "Admin"}),
    ]
    line = "machine registry / HKLM\\A / y: 1 in the reference run, 'absent' after the cut"
    assert explaining_events(line, events) == [1]
    assert explaining_events("machine users / admin: 'absent' in the reference run", events) == [2]
    assert explaining_events("cloud openstack / password: 'set' in the reference run", events) == []


# --- the document --------------------------------------------------------------------------------


@cache
def validator() -> jsonschema.Draft202012Validator:
    text = resources.files("guestsim.simulator").joinpath("schemas/html-report.schema.json")
    schema = json.loads(text.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def valid(document: dict[str, Any]) -> dict[str, Any]:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(document)]
    assert errors == []
    return document


def test_a_run_document_has_every_scenario_its_boots_changes_and_failures() -> None:
    failing = altered("reboots/hostname-reboot-allowed.yaml", computer_name="other")
    passing = run_scenario(scenario("clouds/openstack-happy-path.yaml"), keep_states=True)
    skipped = [(scenario("clouds/ec2-happy-path.yaml"), "its story does not take a user's conf")]
    document = valid(run_document([failing.record(), passing.record()], skipped))

    assert document["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    first, second, third = document["scenarios"]
    assert [first["id"], second["id"], third["id"]] == ["s0", "s1", "s2"]
    assert first["verdict"] == "fail"
    assert first["path"] == failing.scenario.path.as_posix()
    assert first["failures"] == [
        {
            "text": "computer_name: expected 'other', got 'app-server-02'",
            "events": seqs(failing, "os", call="set_host_name"),
        }
    ]
    assert [boot["changes"] for boot in first["timeline"]["boots"]] == [None, None]
    assert second["verdict"] == "pass"
    assert second["boots"] == 2
    assert second["outcome"] == "agent service stopped"
    assert [len(boot["changes"]) > 0 for boot in second["timeline"]["boots"]] == [True, True]
    assert third["verdict"] == "skip"
    assert third["timeline"] is None
    assert third["skip_reason"] == "its story does not take a user's conf"


def test_a_failures_events_are_the_ones_its_timeline_shows() -> None:
    # A fault is drawn as the request it answered; the metadata_service event as its probe.
    failing = altered(
        "failures/openstack-5xx-then-recovers.yaml", faults_injected=9, metadata_service="x"
    )
    (entry,) = valid(run_document([failing.record()]))["scenarios"]
    boots = entry["timeline"]["boots"]
    shown = {mark["seq"] for boot in boots for mark in boot["marks"]}
    failures = {f["text"].partition(":")[0]: f["events"] for f in entry["failures"]}
    assert failures["metadata_service"] == seqs(failing, "metadata_service_probe")
    faulted = [m["seq"] for b in boots for m in b["marks"] if m["fault"] is not None]
    assert failures["faults_injected"] == faulted
    assert len(faulted) == len(seqs(failing, "fault")) == 3
    assert set(faulted) <= shown


def test_a_trace_document_of_a_cut_run_shows_the_cut() -> None:
    loaded = scenario("reboots/hostname-reboot-allowed.yaml")
    result = build_cut_machine(loaded, 2, None, True).run()
    outcome = ScenarioOutcome(loaded, result, loaded.check(result))
    document = valid(trace_document(outcome.record()))
    assert document["kind"] == "trace"
    assert document["title"] == "guestsim trace reboots/hostname-reboot-allowed"
    (entry,) = document["scenarios"]
    assert entry["boots"] == result.boot_count
    boots = entry["timeline"]["boots"]
    assert [boot["number"] for boot in boots] == [boot.number for boot in result.boots]
    assert [mark["kind"] for mark in boots[0]["marks"]].count("power_loss") == 1
    assert all(boot["changes"] is not None for boot in entry["timeline"]["boots"])


def test_an_explore_document_has_a_matrix_and_every_cut_run() -> None:
    exploration = explore_power_loss(scenario("reboots/hostname-reboot-allowed.yaml"), None, True)
    document = valid(explore_document([exploration]))
    (matrix,) = document["explore"]
    assert matrix["scenario"] == "s0"
    assert [cut["index"] for cut in matrix["cuts"]] == list(range(1, len(exploration.cuts) + 1))
    cut_runs = {entry["id"]: entry for entry in document["scenarios"] if "cut_of" in entry}
    assert sorted(cut_runs) == sorted(cut["run"] for cut in matrix["cuts"])
    for cut in matrix["cuts"]:
        entry = cut_runs[cut["run"]]
        assert (entry["cut_of"], entry["cut"]) == ("s0", cut["index"])
        assert entry["verdict"] == ("pass" if cut["outcome"] == "converged" else "fail")
    assert document["summary"] == {"passed": 1, "failed": 0, "skipped": 0}


def test_an_exploration_keeps_no_runs_unless_asked() -> None:
    exploration = explore_power_loss(scenario("reboots/hostname-reboot-allowed.yaml"))
    assert exploration.reference is None
    assert all(cut.run is None for cut in exploration.cuts)
    document = valid(explore_document([exploration]))
    assert [entry["id"] for entry in document["scenarios"]] == ["s0"]
    assert all(cut["run"] is None for cut in document["explore"][0]["cuts"])


@pytest.mark.parametrize(
    "path", ["reboots/hostname-reboot-allowed.yaml", "failures/openstack-hang.yaml"]
)
def test_the_same_run_gives_the_same_document(path: str) -> None:
    def document() -> str:
        outcome = run_scenario(scenario(path), keep_states=True)
        return json.dumps(run_document([outcome.record()]), sort_keys=True)

    assert document() == document()


def test_a_trace_read_back_from_its_json_lines_is_the_same_trace() -> None:
    trace = run_scenario(scenario("clouds/openstack-happy-path.yaml")).result.trace
    again = Trace.from_jsonl(trace.to_jsonl())
    assert again.events == trace.events
