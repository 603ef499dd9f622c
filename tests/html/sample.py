"""Report documents written by hand, as the contract (section 2) has them: for the renderer's
tests, independent of the runs that build real ones.

* :func:`sample_document` -- a passing 2-boot scenario, a failing one (an injected fault, a
  failed plugin, hostile guest text), a skipped one and an exploration with a few cuts;
* :func:`big_document` -- many scenarios of many boots, for size and load time.
"""

from __future__ import annotations

import copy
from typing import Any

HOSTILE = "</script><img src=x onerror=alert(1)><b>bold</b>"
HOSTILE_URL = (
    "http://169.254.169.254/openstack/latest/user_data?</script><img src=x onerror=alert(1)>"
)
PLUGINS_KEY = "HKLM\\SOFTWARE\\Cloudbase Solutions\\Cloudbase-Init\\i-0abc\\Plugins"


def plugin(
    name: str,
    stage: str,
    start: int,
    end: int | None,
    seq: int,
    *,
    status: int | None = 1,
    reboot: bool | None = False,
    outcome: str = "ok",
    reason: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "plugin": name,
        "stage": stage,
        "start_ms": start,
        "end_ms": end,
        "status": status if outcome in ("ok", "failed") else None,
        "reboot": reboot if outcome in ("ok", "failed") else None,
        "outcome": outcome,
        "reason": reason,
        "error": error,
        "seq": seq,
        "end_seq": None if end is None or outcome == "skipped" else seq + 1,
    }


def skipped(name: str, stage: str, at: int, seq: int) -> dict[str, Any]:
    return plugin(name, stage, at, at, seq, outcome="skipped", reason="done")


def phase(
    name: str,
    kind: str,
    start: int,
    end: int | None,
    verdict: str = "ok",
    *,
    reboot: bool = False,
    plugins: list[dict[str, Any]] | None = None,
    probes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "start_ms": start,
        "end_ms": end,
        "verdict": verdict,
        "reboot": reboot,
        "plugins": plugins or [],
        "probes": probes or [],
    }


def probe(
    service: str,
    result: str,
    start: int,
    end: int,
    seq: int,
    *,
    requests: int = 1,
    faults: int = 0,
    waited: int = 0,
) -> dict[str, Any]:
    return {
        "service": service,
        "result": result,
        "start_ms": start,
        "end_ms": end,
        "requests": requests,
        "faults": faults,
        "waited_ms": waited,
        "seq": seq,
    }


def mark(
    kind: str,
    seq: int,
    start: int,
    label: str,
    phase: str,
    *,
    end: int | None = None,
    plugin: str | None = None,
    fault: str | None = None,
    bad: bool = False,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "seq": seq,
        "start_ms": start,
        "end_ms": start if end is None else end,
        "label": label,
        "phase": phase,
        "plugin": plugin,
        "fault": fault,
        "bad": bad,
    }


def boot(
    number: int,
    start: int,
    end: int,
    phases: list[dict[str, Any]],
    marks: list[dict[str, Any]],
    *,
    service: str | None = "HttpService",
    ended_with: str = "agent service stopped",
    changes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "number": number,
        "start_ms": start,
        "end_ms": end,
        "phases": phases,
        "marks": marks,
        "metadata_service": service,
        "ended_with": ended_with,
        "changes": changes,
    }


def scenario(
    identifier: str,
    name: str,
    verdict: str,
    boots: list[dict[str, Any]] | None,
    *,
    failures: list[dict[str, Any]] | None = None,
    skip_reason: str | None = None,
) -> dict[str, Any]:
    last = boots[-1] if boots else None
    return {
        "id": identifier,
        "name": name,
        "path": f"scenarios/{name}.yaml",
        "verdict": verdict,
        "skip_reason": skip_reason,
        "boots": len(boots) if boots else 0,
        "outcome": last["ended_with"] if last else None,
        "virtual_ms": last["end_ms"] if last else 0,
        "failures": failures or [],
        "timeline": None if boots is None else {"boots": boots},
    }


MAIN_PLUGINS = [
    "SetHostNamePlugin",
    "NetworkConfigPlugin",
    "CreateUserPlugin",
    "SetUserPasswordPlugin",
    "SetUserSSHPublicKeysPlugin",
    "UserDataPlugin",
]


def passing_boots(base: int = 0, seq: int = 0) -> list[dict[str, Any]]:
    """Two boots: the first renames the machine and asks for a reboot, the second runs the
    rest (some plugins skipped as done)."""
    s = seq
    b1_main = [
        plugin("SetHostNamePlugin", "MAIN", base + 8000, base + 8000, s + 20, reboot=True),
    ]
    boot1 = boot(
        1,
        base,
        base + 11000,
        [
            phase("agent", "agent", base, base + 500),
            phase("PRE_NETWORKING", "stage", base + 500, base + 600),
            phase("PRE_METADATA_DISCOVERY", "stage", base + 600, base + 700),
            phase(
                "metadata discovery",
                "discovery",
                base + 700,
                base + 8000,
                "HttpService",
                probes=[probe("HttpService", "loaded", base + 700, base + 8000, s + 9, requests=3)],
            ),
            phase("MAIN", "stage", base + 8000, base + 8100, reboot=True, plugins=b1_main),
            phase("agent", "agent", base + 8100, base + 11000),
        ],
        [
            mark("dhcp", s + 7, base + 700, "DHCP: option 245 answered", "metadata discovery"),
            mark(
                "http",
                s + 8,
                base + 700,
                "GET http://169.254.169.254/openstack/latest/meta_data.json → 200",
                "metadata discovery",
            ),
            mark(
                "sleep", s + 12, base + 1000, "sleep 4.0 s", "metadata discovery", end=base + 5000
            ),
            mark(
                "os",
                s + 21,
                base + 8000,
                "set_computer_name app-server-02",
                "MAIN",
                plugin="SetHostNamePlugin",
            ),
            mark(
                "os",
                s + 22,
                base + 8000,
                f"set_registry_value {PLUGINS_KEY} SetHostNamePlugin = 1",
                "MAIN",
                plugin="SetHostNamePlugin",
            ),
            mark("reboot", s + 30, base + 11000, "reboot (SetHostNamePlugin)", "agent"),
        ],
        ended_with="reboot",
        changes=[
            {"path": ["computer_name"], "before": "WIN-OLDNAME", "after": "app-server-02"},
            {
                "path": ["registry", PLUGINS_KEY],
                "before": "absent",
                "after": {"SetHostNamePlugin": {"data": 1, "type": "REG_DWORD"}},
            },
        ],
    )
    b2 = base + 12000
    main2 = [skipped("SetHostNamePlugin", "MAIN", b2 + 3000, s + 40)]
    t = b2 + 3000
    for index, name in enumerate(MAIN_PLUGINS[1:]):
        main2.append(
            plugin(name, "MAIN", t, t + 500 * index, s + 41 + 2 * index, status=1 if index else 2)
        )
        t += 500 * index
    boot2 = boot(
        2,
        b2,
        t + 3000,
        [
            phase("agent", "agent", b2, b2 + 1000),
            phase("PRE_NETWORKING", "stage", b2 + 1000, b2 + 1000),
            phase("PRE_METADATA_DISCOVERY", "stage", b2 + 1000, b2 + 1000),
            phase(
                "metadata discovery",
                "discovery",
                b2 + 1000,
                b2 + 3000,
                "HttpService",
                probes=[probe("HttpService", "loaded", b2 + 1000, b2 + 3000, s + 38)],
            ),
            phase("MAIN", "stage", b2 + 3000, t, plugins=main2),
            phase("agent", "agent", t, t + 3000),
        ],
        [
            mark("respawn", s + 35, b2, "agent process started (respawn 1)", "agent"),
            mark(
                "os",
                s + 50,
                b2 + 3600,
                "create_user Admin",
                "MAIN",
                plugin="CreateUserPlugin",
            ),
            mark(
                "script",
                s + 60,
                t - 800,
                "run userdata script (powershell) exit 0",
                "MAIN",
                plugin="UserDataPlugin",
            ),
            mark("exit", s + 70, t + 3000, "agent exited with 0", "agent"),
        ],
        changes=[
            {"path": ["users", "Admin"], "before": "absent", "after": {"password": "set"}},
        ],
    )
    return [boot1, boot2]


def failing_boots() -> list[dict[str, Any]]:
    """One boot: the metadata service answers 500 twice (injected), waits, then a plugin fails
    and the power is cut."""
    fault = "status 500"
    main = [
        plugin("SetHostNamePlugin", "MAIN", 530000, 530000, 30),
        plugin(
            "UserDataPlugin",
            "MAIN",
            530000,
            540000,
            32,
            outcome="failed",
            status=None,
            error=f"ValueError: bad user data {HOSTILE}",
        ),
        plugin("LocalScriptsPlugin", "MAIN", 540000, None, 40, status=None, outcome="running"),
    ]
    return [
        boot(
            1,
            0,
            545000,
            [
                phase("agent", "agent", 0, 0),
                phase("PRE_NETWORKING", "stage", 0, 0),
                phase("PRE_METADATA_DISCOVERY", "stage", 0, 0),
                phase(
                    "metadata discovery",
                    "discovery",
                    0,
                    530000,
                    "HttpService",
                    probes=[
                        probe("ConfigDriveService", "not_loaded", 0, 5000, 8),
                        probe(
                            "HttpService",
                            "loaded",
                            5000,
                            530000,
                            11,
                            requests=3,
                            faults=2,
                            waited=520000,
                        ),
                    ],
                ),
                phase("MAIN", "stage", 530000, None, "interrupted", plugins=main),
            ],
            [
                mark("probe", 8, 0, "ConfigDriveService: not_loaded", "metadata discovery"),
                mark("config_drive", 9, 0, "no config drive found", "metadata discovery"),
                mark(
                    "http",
                    12,
                    5000,
                    f"GET {HOSTILE_URL} → 500 (fault: {fault})",
                    "metadata discovery",
                    fault=fault,
                    bad=True,
                ),
                mark("sleep", 13, 5000, "sleep 260.0 s", "metadata discovery", end=265000),
                mark(
                    "http",
                    14,
                    265000,
                    "GET http://169.254.169.254/openstack → 500 (fault: status 500)",
                    "metadata discovery",
                    fault=fault,
                    bad=True,
                ),
                mark("sleep", 15, 265000, "sleep 260.0 s", "metadata discovery", end=525000),
                mark(
                    "http",
                    16,
                    525000,
                    "GET http://169.254.169.254/openstack → 200",
                    "metadata discovery",
                ),
                mark(
                    "os",
                    31,
                    530000,
                    "set_computer_name web-01",
                    "MAIN",
                    plugin="SetHostNamePlugin",
                ),
                mark(
                    "script",
                    33,
                    531000,
                    f"run userdata script: {HOSTILE}",
                    "MAIN",
                    plugin="UserDataPlugin",
                    bad=True,
                ),
                mark(
                    "power_loss",
                    45,
                    545000,
                    "power cut at side effect 7 (set_registry_value)",
                    "MAIN",
                    plugin="LocalScriptsPlugin",
                    bad=True,
                ),
            ],
            ended_with="power lost at side effect 7 (set_registry_value)",
            changes=[
                {"path": ["computer_name"], "before": "WIN-OLDNAME", "after": "web-01"},
                {"path": ["files", f"C:\\{HOSTILE}.txt"], "before": "absent", "after": HOSTILE},
            ],
        )
    ]


def sample_document() -> dict[str, Any]:
    """A run of three scenarios (pass, fail, skip) and an exploration of the passing one."""
    passing = scenario("s0", "reboots/hostname-reboot-allowed", "pass", passing_boots())
    failing = scenario(
        "s1",
        f"clouds/slow-metadata-{HOSTILE}",
        "fail",
        failing_boots(),
        failures=[
            {
                "text": f"plugins.UserDataPlugin: expected 'done', got 'absent' {HOSTILE}",
                "events": [12, 33, 45],
            },
            {"text": "hostname: expected 'web-02', got 'web-01'", "events": [31]},
            {"text": "requests: no event explains this one", "events": []},
        ],
    )
    skip = scenario(
        "s2",
        "clouds/needs-upstream",
        "skip",
        None,
        skip_reason=f"needs --agent upstream {HOSTILE}",
    )
    entries = [passing, failing, skip]
    outcomes = ["converged", "converged", "diverged", "reboot_loop", "converged", "crashed"]
    cuts = []
    for index, outcome in enumerate(outcomes, start=1):
        run = copy.deepcopy(passing)
        run.update(
            id=f"s0c{index}",
            name=f"{passing['name']} cut {index}",
            verdict="pass" if outcome == "converged" else "fail",
            cut_of="s0",
            cut=index,
        )
        if outcome != "converged":
            run["failures"] = [{"text": f"cut {index}: {outcome}", "events": [22]}]
        entries.append(run)
        cuts.append(
            {
                "index": index,
                "effect": None if index == 6 else f"os: set_registry_value {HOSTILE}",
                "plugin": "SetHostNamePlugin" if index < 4 else "agent",
                "outcome": outcome,
                "boots": 2 + (outcome == "reboot_loop") * 3,
                "diff": [] if outcome == "converged" else [f"computer_name: {HOSTILE}"],
                "finding": None if outcome == "converged" else f"{outcome}-{index}",
                "run": f"s0c{index}",
            }
        )
    return {
        "version": 1,
        "kind": "explore",
        "title": f"guestsim sample {HOSTILE}",
        "agent": "guestsim",
        "summary": {"passed": 1, "failed": 1, "skipped": 1},
        "scenarios": entries,
        "explore": [
            {
                "scenario": "s0",
                "side_effects": len(outcomes),
                "cuts": cuts,
                "findings": [
                    {
                        "id": c["finding"],
                        "outcome": c["outcome"],
                        "cuts": [c["index"]],
                        "known": False,
                    }
                    for c in cuts
                    if c["finding"]
                ],
            }
        ],
    }


def big_document(count: int = 90, boots_each: int = 3) -> dict[str, Any]:
    """``count`` scenarios (every fifth failing), each of about ``boots_each`` boots: the size of
    the library's report and more."""
    entries = []
    for number in range(count):
        boots: list[dict[str, Any]] = []
        base = 0
        while len(boots) < boots_each:
            pair = passing_boots(base, seq=len(boots) * 100)
            for b in pair:
                b["number"] = len(boots) + 1
            boots.extend(pair)
            base = boots[-1]["end_ms"] + 1000
        boots = boots[:boots_each]
        failing = number % 5 == 4
        entries.append(
            scenario(
                f"s{number}",
                f"library/scenario-{number:03d}",
                "fail" if failing else "pass",
                boots,
                failures=[{"text": f"hostname: expected 'x{number}', got 'y'", "events": [21]}]
                if failing
                else None,
            )
        )
    failed = sum(1 for e in entries if e["verdict"] == "fail")
    return {
        "version": 1,
        "kind": "run",
        "title": "guestsim run (big)",
        "agent": "guestsim",
        "summary": {"passed": count - failed, "failed": failed, "skipped": 0},
        "scenarios": entries,
        "explore": None,
    }
