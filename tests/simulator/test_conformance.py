"""Comparing two agents' runs of one world (``guestsim diff`` / ``conformance``), without the
published agent: hand-built runs, and guestsim's agent standing in for the other one."""

from __future__ import annotations

import importlib.machinery
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator import cli as cli_module
from guestsim.simulator.cli import cli, main
from guestsim.simulator.conformance import (
    ABSENT,
    FACETS,
    compare,
    compare_runs,
    normalise,
    same,
    without_randomness,
)
from guestsim.simulator.conformance_report import (
    WIDTH,
    conformance_document,
    diff_document,
    diff_lines,
    item_text,
    totals_line,
)
from guestsim.simulator.machine import GUESTSIM_AGENT, BootRecord, RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import UserAccount

REBOOTS = bundled("scenarios") / "reboots"
HOSTNAME = REBOOTS / "hostname-reboot-allowed.yaml"
KEY = r"HKLM\SOFTWARE\Cloudbase Solutions\Cloudbase-Init\id-1\Plugins"

Events = list[tuple[int, str, dict[str, Any]]]


def _story(status: Any = 1, moved: bool = False, temp: str = "C:\\Temp\\a1b2c3.ps1") -> Events:
    """One boot: SetHostNamePlugin renames the machine and asks for a reboot."""
    during_plugin = [(1, "os", {"call": "set_host_name", "name": "web-01"})]
    return [
        (1, "boot", {"computer_name": "WIN-1"}),
        (1, "agent_process", {"argv": ["cloudbase-init"], "user": "SYSTEM"}),
        (1, "stage_start", {"stage": "MAIN"}),
        (1, "metadata_service", {"name": "HttpService", "instance_id": "id-1"}),
        *([] if not moved else during_plugin),
        (1, "plugin_start", {"stage": "MAIN", "plugin": "SetHostNamePlugin"}),
        *(during_plugin if not moved else []),
        (1, "os", {"call": "write_file", "path": temp, "size": 3, "append": False}),
        (1, "os", {"call": "remove_path", "path": temp}),
        (1, "http", {"method": "GET", "url": "http://169.254.169.254/", "status": 200}),
        (1, "sleep", {"seconds": 1}),
        (
            1,
            "plugin_end",
            {"stage": "MAIN", "plugin": "SetHostNamePlugin", "success": True, "status": status}
            | {"reboot": True},
        ),
        (1, "os", {"call": "set_registry_value", "key": KEY, "name": "SetHostNamePlugin"}),
        (1, "stage_end", {"stage": "MAIN", "success": True, "reboot": True}),
        (1, "reboot", {}),
    ]


def _run(events: Events, step_ms: int = 0, users: Sequence[str] = ()) -> RunResult:
    ticks = iter(range(0, 10**9, step_ms or 1))
    trace = Trace((lambda: next(ticks)) if step_ms else (lambda: 0))
    for boot, kind, fields in events:
        trace.boot = boot
        trace.emit(kind, **fields)
    state = default_windows_state()
    for number, name in enumerate(users):
        state.users.append(UserAccount(name=name, rid=2000 + number))
    return RunResult([BootRecord(1, "reboot", 0, "SetHostNamePlugin")], trace, state, [])


def _differing(ours: RunResult, theirs: RunResult) -> list[str]:
    return compare_runs("x/y", "x/y.yaml", ours, theirs).differing


def test_runs_apart_only_in_time_sequence_numbers_and_other_events_are_identical() -> None:
    with_extra = _story()
    with_extra.insert(3, (1, "dhcp", {"server": "10.0.0.1", "requested": [42]}))
    with_extra.insert(5, (1, "agent_done", {"success": None}))

    diff = compare_runs("x/y", "x/y.yaml", _run(_story()), _run(with_extra, step_ms=250))

    assert diff.identical
    assert all(diff.facets[facet].identical for facet in FACETS)


def test_another_plugin_status_differs_in_plugins_only_and_the_divergence_names_it() -> None:
    diff = compare_runs("x/y", "x/y.yaml", _run(_story(status=1)), _run(_story(status=2)))

    assert diff.differing == ["plugins"]
    first = diff.facets["plugins"].first_divergence
    assert first is not None
    assert first.index == 4  # stage_start, metadata_service, start, end
    assert first.guestsim["plugin"] == first.upstream["plugin"] == "SetHostNamePlugin"
    assert (first.guestsim["status"], first.upstream["status"]) == (1, 2)
    assert first.differing_fields() == ["status"]
    lines = diff_lines(diff)
    start = lines.index("      plugins: first divergence at item 4 (of 5 | 5)")
    column = " " * 10  # the left side is padded to 43 characters
    assert lines[start + 2 : start + 5] == [
        f"      #4    boot 1 MAIN SetHostNamePlugin end{column}| boot 1 MAIN SetHostNamePlugin end",
        f"            reboot=true status=1 success=true{column}| reboot=true status=2 success=true",
        "            differs in: status",
    ]


def test_a_boolean_is_not_the_number_one() -> None:
    assert same(1, 1.0) and not same(True, 1) and not same([True], [1])
    assert not same({"a": 1}, {"a": True}) and same({"a": [1, None]}, {"a": [1, None]})

    assert _differing(_run(_story(status=1)), _run(_story(status=True))) == ["plugins"]


def test_a_change_made_by_another_plugin_differs_even_in_the_same_order() -> None:
    diff = compare_runs("x/y", "x/y.yaml", _run(_story()), _run(_story(moved=True)))

    assert diff.differing == ["os"]
    first = diff.facets["os"].first_divergence
    assert first is not None
    assert (first.guestsim["during"], first.upstream["during"]) == ("SetHostNamePlugin", "MAIN")
    # A status written after the plugin's end event is still the plugin's.
    assert normalise(_run(_story()))["os"][-1]["during"] == "SetHostNamePlugin"


def test_the_final_state_differs_by_path() -> None:
    diff = compare_runs("x/y", "x/y.yaml", _run(_story()), _run(_story(), users=["Admin"]))

    assert diff.differing == ["state"]
    first = diff.facets["state"].first_divergence
    assert first is not None
    assert first.index == "machine / users / Admin"
    assert first.guestsim is ABSENT and first.upstream["name"] == "Admin"
    assert diff_document([diff])["scenarios"][0]["facets"]["state"]["first_divergence"] == {
        "index": "machine / users / Admin",
        "upstream": first.upstream,
    }


def test_a_sequence_that_ends_early_shows_nothing_on_its_side() -> None:
    shorter = [event for event in _story() if event[1] != "sleep"]
    diff = compare_runs("x/y", "x/y.yaml", _run(_story()), _run(shorter))

    verdict = diff.facets["sleeps"]
    assert diff.differing == ["sleeps"] and verdict.sizes == (1, 0)
    assert verdict.first_divergence is not None and verdict.first_divergence.upstream is ABSENT
    assert item_text("sleeps", ABSENT) == "(nothing)"
    assert diff_document([diff])["scenarios"][0]["facets"]["sleeps"] == {
        "identical": False,
        "items": {"guestsim": 1, "upstream": 0},
        "first_divergence": {
            "index": 1,
            "guestsim": {"boot": 1, "during": "SetHostNamePlugin", "seconds": 1},
        },
        "next": [],
    }


def test_what_changes_with_the_seed_is_named_by_order_and_the_rest_still_compares() -> None:
    def facets(temp: str, status: int = 1) -> dict[str, Any]:
        return normalise(_run(_story(status=status, temp=temp)))

    ours = without_randomness(facets("C:\\Temp\\a1b2.ps1"), [facets("C:\\Temp\\77ff.ps1")])
    same_extension = without_randomness(facets("C:\\Temp\\c3d4.ps1"), [facets("C:\\Temp\\e5.ps1")])
    other_extension = without_randomness(facets("C:\\Temp\\c3d4.cmd"), [facets("C:\\Temp\\e5.cmd")])

    written, removed = ours["os"][1], ours["os"][2]
    assert written["path"] == removed["path"] == "C:\\Temp\\<random 1, 4 chars>.ps1"
    assert all(verdict.identical for verdict in compare(ours, same_extension).values())
    assert [f for f, v in compare(ours, other_extension).items() if not v.identical] == ["os"]
    # Without probes (or where no probe differs) nothing is replaced.
    unprobed = without_randomness(facets("C:\\Temp\\a1b2.ps1"), [])
    assert unprobed["os"][1]["path"] == "C:\\Temp\\a1b2.ps1"
    # A difference between the agents that the seed does not explain still shows.
    theirs = without_randomness(facets("C:\\Temp\\9999.ps1", 2), [facets("C:\\Temp\\8.ps1", 2)])
    assert [f for f, v in compare(ours, theirs).items() if not v.identical] == ["plugins"]
    # Random values of another form (length) differ too.
    longer = without_randomness(facets("C:\\Temp\\9999a.ps1"), [facets("C:\\Temp\\8.ps1")])
    assert longer["os"][1]["path"] == "C:\\Temp\\<random 1, 5 chars>.ps1"
    assert [f for f, v in compare(ours, longer).items() if not v.identical] == ["os"]


def test_divergences_stay_within_the_terminal_width_and_nothing_is_cut() -> None:
    long_key = KEY + "\\" + "Sub" * 40
    theirs = _story()
    theirs[-3] = (1, "os", {"call": "set_registry_value", "key": long_key, "name": "X"})
    diff = compare_runs("x/y", "x/y.yaml", _run(_story()), _run(theirs, users=["Admin" * 30]))

    lines = diff_lines(diff)
    assert max(len(line) for line in lines) <= WIDTH
    assert "Sub" * 40 in "".join(line.split("| ")[-1] for line in lines)


def test_the_conformance_document_follows_its_schema() -> None:
    schema = json.loads(
        resources.files("guestsim.simulator")
        .joinpath("schemas/conformance-report.schema.json")
        .read_text()
    )
    diffs = [
        compare_runs("a/same", "a/same.yaml", _run(_story()), _run(_story())),
        compare_runs("a/other", "a/other.yaml", _run(_story()), _run(_story(status=2))),
        compare_runs("b/third", "b/third.yaml", _run(_story()), _run(_story())),
    ]

    document = conformance_document(diffs)

    jsonschema.validate(document, schema)
    assert document["summary"] == {
        "scenarios": 3,
        "identical": 2,
        "percent": 66.7,
        "facets": {"boots": 3, "plugins": 2, "os": 3, "http": 3, "sleeps": 3, "state": 3},
    }
    assert document["scenarios"][1] == {
        "name": "a/other",
        "path": "a/other.yaml",
        "identical": False,
        "facets": {f: f != "plugins" for f in FACETS},
    }
    assert totals_line(diffs) == "2/3 scenarios identical on every facet (66.7 %)"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "summary": {"scenarios": 3}}, schema)


# --- the command line, with guestsim's agent (or a drifting copy) as the other agent ---------


class _Drifting:
    """guestsim's agent with one more sleep at the end of each agent process."""

    name = "drifting"

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def __call__(self, context: AgentContext, argv: Sequence[str]) -> None:
        GUESTSIM_AGENT(context, argv)
        context.osutils.sleep(7)


@pytest.fixture
def other_agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The agent ``diff``/``conformance`` compare with: guestsim's own unless a test says."""
    chosen: list[Any] = [GUESTSIM_AGENT]
    monkeypatch.setattr(cli_module, "_upstream_agent", lambda source: chosen[0])
    yield chosen


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_diff_of_an_agent_with_itself_is_identical_everywhere(other_agent: list[Any]) -> None:
    result = invoke("diff", str(HOSTNAME))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "SAME  reboots/hostname-reboot-allowed",
        "      boots    same  2 items",
        "      plugins  same  17 items",
        "      os       same  3 items",
        "      http     same  4 items",
        "      sleeps   same  1 item",
        "      state    same",
        "1/1 scenarios identical on every facet (100 %)",
    ]


def test_diff_shows_the_first_divergence_side_by_side_and_exits_1(
    other_agent: list[Any],
) -> None:
    other_agent[0] = _Drifting()

    result = invoke("diff", str(HOSTNAME))

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "DIFF  reboots/hostname-reboot-allowed"
    assert [line.split()[:2] for line in lines[1:7]] == [
        [facet, "DIFF" if facet == "sleeps" else "same"] for facet in FACETS
    ]
    assert "      sleeps: first divergence at item 1 (of 1 | 3)" in lines
    assert any(line.endswith("| boot 1 [agent] seconds=7") for line in lines)
    assert lines[-1] == "0/1 scenarios identical on every facet (0 %)"


def test_diff_json_has_every_facet_and_the_divergence(other_agent: list[Any]) -> None:
    other_agent[0] = _Drifting()

    result = invoke("diff", "-k", "hostname-reboot-allowed", "--json")

    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    [scenario] = document["scenarios"]
    assert scenario["name"] == "reboots/hostname-reboot-allowed"
    assert scenario["facets"]["sleeps"]["first_divergence"] == {
        "index": 1,
        "guestsim": {"boot": 2, "during": "agent", "seconds": 3},
        "upstream": {"boot": 1, "during": "agent", "seconds": 7},
    }
    assert document["summary"]["identical"] == 0


def test_conformance_prints_a_table_named_as_list_names_scenarios(
    other_agent: list[Any],
) -> None:
    listed = invoke("list", str(REBOOTS))
    names = [line.split()[0] for line in listed.output.splitlines()[1:-1]]

    result = invoke("conformance", str(REBOOTS))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["scenario", *FACETS]
    assert [line.split()[0] for line in lines[1:-2]] == names
    assert all(line.split()[1:] == ["same"] * len(FACETS) for line in lines[1:-2])
    assert lines[-1] == f"{len(names)}/{len(names)} scenarios identical on every facet (100 %)"


def test_conformance_json_validates_and_fail_under_sets_the_bar(other_agent: list[Any]) -> None:
    schema = json.loads(
        resources.files("guestsim.simulator")
        .joinpath("schemas/conformance-report.schema.json")
        .read_text()
    )
    other_agent[0] = _Drifting()

    strict = invoke("conformance", "-k", "hostname-reboot", "--json")
    lenient = invoke("conformance", "-k", "hostname-reboot", "--json", "--fail-under", "0")

    assert (strict.exit_code, lenient.exit_code) == (1, 0)
    document = json.loads(strict.output)
    jsonschema.validate(document, schema)
    assert [s["name"] for s in document["scenarios"]] == [
        "reboots/hostname-reboot-allowed",
        "reboots/hostname-reboot-disallowed",
    ]
    assert document["summary"]["percent"] == 0.0


def test_diff_needs_a_scenario_and_refuses_bad_selections(
    other_agent: list[Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["diff"], ["diff", "no/such/file.yaml"], ["conformance", "-k", "(nothing"]):
        monkeypatch.setattr(sys, "argv", ["guestsim", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        _, err = capsys.readouterr()
        assert exited.value.code == 2, (args, err)
        assert "Traceback" not in err


def test_without_the_published_agent_diff_says_how_to_install_it_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finder = importlib.machinery.PathFinder.find_spec

    def hidden(name: str, path: Any = None, target: Any = None) -> Any:
        return None if name == "cloudbaseinit" else finder(name, path, target)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", hidden)
    for command in ("diff", "conformance"):
        monkeypatch.setattr(sys, "argv", ["guestsim", command, str(HOSTNAME)])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        assert exited.value.code == 2
        assert out == ""
        assert err.count("\n") == 1 and 'pip install "guestsim[upstream]"' in err
        assert "Traceback" not in err


def test_an_agent_source_without_the_package_is_refused(tmp_path: Path) -> None:
    result = invoke("diff", str(HOSTNAME), "--agent-source", str(tmp_path))

    assert result.exit_code == 2
    assert "no cloudbaseinit package there" in result.output
