"""The timeline: boots cut into phases that follow one another in virtual time, plugin runs,
metadata probes and the marks a picture shows, and the text `guestsim trace` prints from them.

The text must show where the time went: a metadata service found after minutes of retries
shows those minutes on the discovery phase, not `0.0s` on every stage. The model's shape is
checked over every scenario of the library and over every way a run can be cut short.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover
from guestsim.simulator.timeline import BootRun, build_timeline, render_timeline
from guestsim.simulator.trace import Trace
from tests.builders import library_outcome

LIBRARY = bundled("scenarios")
PATHS = discover([LIBRARY])
META_DATA_URL = "http://169.254.169.254/openstack/latest/meta_data.json"
PASSWORD_URL = "http://169.254.169.254/openstack/2013-04-04/password"
# Events that shape boots, phases and plugin runs instead of being marks of their own.
STRUCTURE = {
    "boot",
    "agent_process",
    "agent_start",
    "agent_done",
    "agent_service_stopped",
    "stage_start",
    "stage_end",
    "plugin_start",
    "plugin_end",
    "plugin_skipped",
    "plugin_unavailable",
    "metadata_service",
    "reboot_requested",
    "fault",  # paired with the http event it answered
}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def timeline(name: str) -> list[BootRun]:
    return build_timeline(library_outcome(LIBRARY / f"{name}.yaml").result.trace)


def trace_of(*events: tuple[float, str, dict[str, Any]]) -> Trace:
    """A trace from (virtual seconds, kind, fields); a ``boot`` event's ``number`` field
    numbers the events from it on."""
    now = [0]
    trace = Trace(clock_ms=lambda: now[0])
    for seconds, kind, fields in events:
        now[0] = round(seconds * 1000)
        if kind == "boot":
            trace.boot = fields["number"]
            trace.emit(kind)
        else:
            trace.emit(kind, **fields)
    return trace


# --- guestsim trace: where the time went -------------------------------------------------------


def test_trace_shows_the_wireserver_wait_in_the_discovery_phase() -> None:
    result = invoke("trace", "clouds/azure-wireserver-fallback")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Boot 1 at 0.0s: ran 528.0s, metadata service AzureService"
    assert lines[3] == (
        "  metadata discovery                      525.0s  found AzureService; 2 requests, "
        "75 DHCP requests (75 unanswered, waited 375.0s for answers), "
        "waited 150.0s in 75 sleeps"
    )
    assert lines[4] == (
        "    AzureService                          525.0s  loaded: 1 request, "
        "75 DHCP requests (75 unanswered, waited 375.0s for answers), "
        "waited 150.0s in 75 sleeps"
    )
    assert lines[5] == "  MAIN                                      0.0s  ok"
    assert lines[8] == (
        "  agent                                     3.0s  waited 3.0s, "
        "stop_service service=cloudbase-init, agent exited with 0"
    )


def test_the_wireserver_wait_is_drawn_as_dhcp_timeouts_and_sleeps() -> None:
    # The picture draws each unanswered DHCP request as a span until its timeout, so the
    # discovery lane's 525 s are covered by the marks that explain them.
    (boot,) = timeline("clouds/azure-wireserver-fallback")
    (discovery,) = [phase for phase in boot.phases if phase.kind == "discovery"]
    assert discovery.end_ms is not None
    waits = [m for m in boot.marks if m.phase == discovery.name and m.kind in ("dhcp", "sleep")]
    assert {m.kind for m in waits} == {"dhcp", "sleep"}
    assert sum(m.end_ms - m.start_ms for m in waits) == discovery.end_ms - discovery.start_ms
    assert discovery.probes[0].waited_ms == 525_000


def test_trace_shows_the_retries_of_each_metadata_service_tried() -> None:
    result = invoke("trace", "failures/openstack-5xx-beyond-retries")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:6] == [
        "  PRE_NETWORKING                            0.0s  ok",
        "  PRE_METADATA_DISCOVERY                    0.0s  ok",
        "  metadata discovery                       20.0s  found EmptyMetadataService; "
        "7 requests (6 faults), waited 20.0s in 5 sleeps",
        "    HttpService                            20.0s  not loaded: "
        "7 requests (6 faults), waited 20.0s in 5 sleeps",
        "    EmptyMetadataService                    0.0s  loaded",
    ]


def test_trace_shows_the_reboot_between_boots_and_how_each_ended() -> None:
    result = invoke("trace", "reboots/rtc-utc-reboot-in-pre-networking")
    lines = result.output.splitlines()
    assert lines[:5] == [
        "Boot 1 at 0.0s: ran 1.0s, metadata service none",
        "  PRE_NETWORKING                            1.0s  ok, reboot requested",
        "    NTPClientPlugin                         1.0s  ok status=1 reboot=True; "
        "waited 1.0s, 5 OS changes",
        "  agent                                     0.0s  reboot, asked for by NTPClientPlugin, "
        "agent exited with 0",
        "  ended: reboot",
    ]
    assert "Boot 2 at 46.0s, 45.0s after boot 1 ended: ran 0.0s, metadata service HttpService" in (
        lines
    )


def test_trace_shows_a_respawn_as_the_agents_own_phase() -> None:
    lines = invoke("trace", "reboots/service-password-respawn").output.splitlines()
    assert lines[1] == (
        "  agent                                     0.0s  5 OS changes, "
        "respawn as .\\cloudbase-init (new service credentials)"
    )
    assert lines[-3].endswith("respawned agent exited with 0, agent exited with 0")


def test_trace_events_still_lists_every_event() -> None:
    result = invoke("trace", "failures/openstack-5xx-beyond-retries", "--events")
    events = [line for line in result.output.splitlines() if line.startswith("    boot 1 ")]
    assert len(events) == len(
        library_outcome(LIBRARY / "failures/openstack-5xx-beyond-retries.yaml").result.trace.events
    )


def test_trace_json_has_the_phases_the_marks_and_the_events() -> None:
    result = invoke("trace", "failures/openstack-5xx-beyond-retries", "--format", "json")
    document = json.loads(result.output)
    [boot] = document["boots"]
    assert [(p["name"], p["start_ms"], p["end_ms"]) for p in boot["phases"]] == [
        ("PRE_NETWORKING", 0, 0),
        ("PRE_METADATA_DISCOVERY", 0, 0),
        ("metadata discovery", 0, 20000),
        ("MAIN", 20000, 20000),
        ("agent", 20000, 23000),
    ]
    discovery = boot["phases"][2]
    assert discovery["verdict"] == "EmptyMetadataService"
    assert discovery["probes"][0] == {
        "service": "HttpService",
        "result": "not_loaded",
        "start_ms": 0,
        "end_ms": 20000,
        "requests": 7,
        "faults": 6,
        "waited_ms": 20000,
        "seq": 25,
        "start_seq": 6,  # the stage_end of PRE_METADATA_DISCOVERY: the discovery's start
    }
    assert (discovery["start_seq"], discovery["end_seq"]) == (6, 28)
    faulted = [m for m in boot["marks"] if m["fault"] is not None]
    assert len(faulted) == 6
    assert faulted[0] == {
        "kind": "http",
        "seq": 9,  # the http event; the fault event before it is paired with it
        "start_ms": 0,
        "end_ms": 0,
        "label": f"GET {META_DATA_URL} -> 500 (fault: status 500)",
        "phase": "metadata discovery",
        "plugin": None,
        "fault": "status 500",
        "bad": True,
        "end_seq": 9,
    }
    assert [m["end_ms"] - m["start_ms"] for m in boot["marks"] if m["kind"] == "sleep"] == [
        4000
    ] * 5 + [3000]
    # A sleep ends at the next event, where the virtual clock has moved on by its seconds.
    events = {e["seq"]: e for e in document["events"]}
    for sleep in [m for m in boot["marks"] if m["kind"] == "sleep"]:
        assert sleep["end_seq"] == sleep["seq"] + 1
        assert events[sleep["end_seq"]]["t_ms"] == sleep["end_ms"]
    assert (boot["first_seq"], boot["last_seq"]) == (0, document["events"][-1]["seq"])
    assert document["events"][0]["kind"] == "boot"


def test_a_power_cut_interrupts_the_phase_and_the_plugin_it_happened_in() -> None:
    result = invoke(
        "trace", "clouds/openstack-happy-path", "--power-loss-at", "8", "--format", "json"
    )
    first = json.loads(result.output)["boots"][0]
    main = first["phases"][-1]
    assert (main["name"], main["end_ms"], main["verdict"]) == ("MAIN", None, "interrupted")
    assert [(p["plugin"], p["outcome"], p["end_ms"]) for p in main["plugins"]] == [
        ("SetHostNamePlugin", "running", None)
    ]
    cut = first["marks"][-1]
    assert (cut["kind"], cut["phase"], cut["plugin"], cut["bad"]) == (
        "power_loss",
        "MAIN",
        "SetHostNamePlugin",
        True,
    )
    assert cut["label"] == "power cut at side effect 8 (set_registry_value)"
    assert first["ended_with"] == "power lost at side effect 8 (set_registry_value)"


def test_a_hung_request_is_a_fault_with_no_answer_then_the_hang() -> None:
    [boot] = timeline("failures/openstack-hang")
    request, hang = boot.marks[-2:]
    assert request.label == f"GET {PASSWORD_URL} -> no answer (fault: error hang)"
    assert (request.kind, request.fault, request.bad) == ("http", "error hang", True)
    assert (hang.kind, hang.label, hang.plugin) == (
        "hung",
        f"agent hung on GET {PASSWORD_URL}",
        "SetUserPasswordPlugin",
    )
    assert boot.ended_with == f"agent hung on GET {PASSWORD_URL}"
    assert boot.phases[-1].verdict == "interrupted"


def test_a_delayed_answer_lasts_from_the_request_to_the_answer() -> None:
    trace = trace_of(
        (0, "boot", {"number": 1}),
        (0, "fault", {"index": 0, "method": "GET", "url": META_DATA_URL, "delay": 30}),
        (30, "http", {"method": "GET", "url": META_DATA_URL, "status": 200}),
    )
    [mark] = build_timeline(trace)[0].marks
    assert (mark.start_ms, mark.end_ms, mark.fault) == (0, 30000, "delay 30 s")
    assert mark.label == f"GET {META_DATA_URL} -> 200 (fault: delay 30 s)"


def test_the_reboot_loop_is_noted_at_the_end_of_the_last_boot_not_after_the_reboot() -> None:
    boots = timeline("user-data/cloud-config-runcmd-reboot-loop")
    last = boots[-1]
    assert (last.number, last.start_ms, last.end_ms, last.ended_with) == (
        4,
        135000,
        135000,
        "reboot loop",
    )
    assert (last.marks[-1].kind, last.marks[-1].start_ms) == ("reboot_loop", 135000)


def test_a_sysprep_pass_cut_short_runs_again_as_boot_0() -> None:
    trace = trace_of(
        (0, "boot", {"number": 0}),
        (0, "agent_process", {"argv": ["cloudbase-init"], "user": "SYSTEM"}),
        (0, "stage_start", {"stage": "PRE_NETWORKING"}),
        (0, "power_loss", {"at": 1, "effect": "os", "call": "set_host_name"}),
        (45, "boot", {"number": 0}),
        (45, "agent_process", {"argv": ["cloudbase-init"], "user": "SYSTEM"}),
        (45, "agent_exit", {"exit_code": 0}),
        (45, "sysprep_reboot", {}),
        (90, "boot", {"number": 1}),
    )
    boots = build_timeline(trace)
    assert [(b.number, b.start_ms, b.ended_with) for b in boots] == [
        (0, 0, "power lost at side effect 1 (set_host_name)"),
        (0, 45000, "agent exited with 0; end of the sysprep pass"),
        (1, 90000, "agent still running"),
    ]
    assert [m.label for m in boots[1].marks] == [
        "agent exited with 0",
        "Windows restarts after the sysprep (specialize) pass",
    ]
    text = render_timeline(trace)
    assert "Boot 0 (sysprep pass) at 45.0s, 45.0s after boot 0 ended: ran 0.0s" in text


def test_a_respawn_without_its_event_is_marked_at_the_child_process() -> None:
    """Upstream's agent respawns without saying so: the second process in a boot says it."""
    trace = trace_of(
        (0, "boot", {"number": 1}),
        (0, "agent_process", {"argv": ["cloudbase-init"], "user": "cloudbase-init"}),
        (0, "agent_process", {"argv": ["cloudbase-init", "--x"], "user": "cloudbase-init"}),
        (0, "agent_exit", {"exit_code": 0}),
        (0, "agent_exit", {"exit_code": 0}),
    )
    [boot] = build_timeline(trace)
    assert [(m.kind, m.label) for m in boot.marks] == [
        ("respawn", "respawn: cloudbase-init --x as cloudbase-init"),
        ("exit", "respawned agent exited with 0"),
        ("exit", "agent exited with 0"),
    ]


def test_a_plugin_that_cannot_be_imported_is_a_skipped_run() -> None:
    trace = trace_of(
        (0, "boot", {"number": 1}),
        (0, "stage_start", {"stage": "MAIN"}),
        (0, "plugin_unavailable", {"stage": "MAIN", "path": "x.y.NoSuch", "reason": "import"}),
        (0, "stage_end", {"stage": "MAIN", "success": True, "reboot": False}),
    )
    [main] = build_timeline(trace)[0].phases
    [run] = main.plugins
    assert (run.plugin, run.outcome, run.reason, run.seq) == (
        "NoSuch",
        "skipped",
        "not importable",
        2,
    )


def test_a_crash_fails_the_agent_phase_and_says_why() -> None:
    trace = trace_of(
        (0, "boot", {"number": 1}),
        (0, "agent_process", {"argv": ["cloudbase-init"], "user": "SYSTEM"}),
        (2, "agent_exit", {"exit_code": 1, "error": "RuntimeError: boom"}),
    )
    [boot] = build_timeline(trace)
    [phase] = boot.phases
    assert (phase.name, phase.start_ms, phase.end_ms, phase.verdict) == ("agent", 0, 2000, "failed")
    assert boot.ended_with == "agent crashed: RuntimeError: boom"
    assert boot.marks[-1].bad


# --- properties over the library ---------------------------------------------------------------


def check_boot(boot: BootRun) -> None:
    """Phases in time order, each starting where the previous ended, covering the boot; only
    the last may be interrupted (it then lasts until the boot's end)."""
    assert boot.phases, boot
    assert boot.phases[0].start_ms == boot.start_ms
    at = boot.start_ms
    for index, phase in enumerate(boot.phases):
        assert phase.start_ms == at, (boot.number, phase)
        if phase.end_ms is None:
            assert index == len(boot.phases) - 1, (boot.number, phase)
            assert phase.verdict == "interrupted"
        at = boot.end_ms if phase.end_ms is None else phase.end_ms
        assert at >= phase.start_ms
        assert (phase.kind == "stage") or not phase.plugins
        assert (phase.kind == "discovery") or not phase.probes
    assert at == boot.end_ms
    total = sum(boot.end_ms if p.end_ms is None else p.end_ms for p in boot.phases) - sum(
        p.start_ms for p in boot.phases
    )
    assert total == boot.end_ms - boot.start_ms
    names = {p.name for p in boot.phases}
    for mark in boot.marks:
        assert mark.phase in names, mark
        assert boot.start_ms <= mark.start_ms <= mark.end_ms, mark
    check_seqs(boot)


def check_seqs(boot: BootRun) -> None:
    """The same in event order: the phases cover the boot's seqs without gaps, and every
    plugin run, probe and mark lies within the seqs of its phase, its edges in order."""
    assert boot.first_seq <= boot.last_seq
    assert boot.phases[0].start_seq == boot.first_seq
    at = boot.first_seq
    ranges: dict[str, list[tuple[int, int]]] = {}
    for phase in boot.phases:
        assert phase.start_seq == at, (boot.number, phase)
        assert (phase.end_seq is None) == (phase.end_ms is None), phase
        at = boot.last_seq if phase.end_seq is None else phase.end_seq
        assert phase.start_seq <= at <= boot.last_seq, phase
        ranges.setdefault(phase.name, []).append((phase.start_seq, at))
        for run in phase.plugins:
            assert phase.start_seq <= run.seq <= at, run
            if run.end_seq is not None:
                assert run.seq < run.end_seq <= at, run
        for probe in phase.probes:
            assert phase.start_seq <= probe.start_seq < probe.seq <= at, probe
    assert at == boot.last_seq
    seqs = [m.seq for m in boot.marks]
    assert seqs == sorted(seqs)
    for mark in boot.marks:
        assert mark.seq <= mark.end_seq <= boot.last_seq, mark
        assert (mark.end_seq == mark.seq) or mark.end_ms > mark.start_ms, mark
        assert any(a <= mark.seq and mark.end_seq <= b for a, b in ranges[mark.phase]), mark


def check_trace(trace: Trace) -> None:
    boots = build_timeline(trace)
    for boot in boots:
        check_boot(boot)
    runs = [r.seq for b in boots for p in b.phases for r in p.plugins]
    assert sorted(runs) == [
        e.seq for e in trace if e.kind in ("plugin_start", "plugin_skipped", "plugin_unavailable")
    ]
    marked = {m.seq for b in boots for m in b.marks}
    unmarked = {e.kind for e in trace if e.seq not in marked} - STRUCTURE
    assert not unmarked, unmarked


def test_every_library_run_has_contiguous_phases_and_a_run_per_plugin() -> None:
    for path in PATHS:
        check_trace(library_outcome(path).result.trace)


def test_every_event_kind_of_the_recorded_traces_is_a_mark_or_structure() -> None:
    recorded = Path(__file__).parents[1] / "scenarios" / "traces"
    kinds = {
        json.loads(line)["kind"]
        for path in sorted(recorded.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line
    }
    marked = {
        kind
        for path in PATHS
        for boot in build_timeline(library_outcome(path).result.trace)
        for kind in [m.kind for m in boot.marks]
    }
    assert kinds - STRUCTURE <= {
        "http",
        "sleep",
        "dhcp",
        "metadata_service_probe",
        "config_drive_search",
        "os",
        "script",
        "python_import",
        "reboot",
        "respawn",
        "agent_exit",
        "agent_hung",
        "reboot_loop",
        "provisioning_report",
    }
    assert marked <= {
        "http",
        "sleep",
        "dhcp",
        "probe",
        "config_drive",
        "os",
        "script",
        "reboot",
        "respawn",
        "power_loss",
        "exit",
        "hung",
        "not_modelled",
        "extra_boot",
        "reboot_loop",
        "provisioning",
    }


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_run_cut_short_anywhere_still_has_contiguous_phases(data: st.DataObject) -> None:
    """A power cut, a hang or a crash can end a boot after any event: the timeline of every
    prefix of a library run keeps its shape."""
    path = data.draw(st.sampled_from(PATHS))
    events = library_outcome(path).result.trace.events
    keep = data.draw(st.integers(min_value=1, max_value=len(events)))
    prefix = Trace()
    prefix.events = events[:keep]
    check_trace(prefix)
