"""Expectations and machine set-up users asked for (issue 14): folders, local groups, log
lines, services' start mode and status before the first boot, adapters with DHCP off or
disconnected without an address."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.expectations import check_expectations
from guestsim.simulator.machine import RunResult
from guestsim.simulator.scenario import load_scenario, run_scenario

HTTP = "cloudbaseinit.metadata.services.httpservice.HttpService"
NTP = "cloudbaseinit.plugins.windows.ntpclient.NTPClientPlugin"
MTU = "cloudbaseinit.plugins.common.mtu.MTUPlugin"
CREATEUSER = "cloudbaseinit.plugins.windows.createuser.CreateUserPlugin"


def scenario_file(tmp_path: Path, plugins: list[str], **sections: Any) -> Path:
    data: dict[str, Any] = {
        "description": "a test story",
        "cloud": {"type": "openstack", "meta_data": {"uuid": "i-1", "hostname": "web-01"}},
        "agent": {"options": {"DEFAULT": {"metadata_services": [HTTP], "plugins": plugins}}},
        "expect": {"boots": 1, "outcome": "stopped"},
    }
    data.update(sections)
    path = tmp_path / "story.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(tmp_path: Path, plugins: list[str], **sections: Any) -> RunResult:
    return run_scenario(load_scenario(scenario_file(tmp_path, plugins, **sections))).result


def check(result: RunResult, **expect: Any) -> list[str]:
    return check_expectations({"boots": result.boot_count, **expect}, result)


# --- folders ----------------------------------------------------------------------------


def test_files_do_not_cover_folders_and_folders_does(tmp_path: Path) -> None:
    result = run(tmp_path, [], machine={"files": {"C:\\app\\conf\\a.ini": "x"}})
    # `files` is about files: a folder is not one.
    assert check(result, files={"C:\\app\\conf": {"exists": True}}) == [
        "files.C:\\app\\conf.exists: expected True, got False"
    ]
    assert check(result, folders={"C:\\app\\conf": {"exists": True}}) == []
    assert check(result, folders={"C:\\app": {}, "C:\\nowhere": {"exists": False}}) == []
    assert check(result, folders={"C:\\app\\conf\\a.ini": {"exists": True}}) == [
        "folders.C:\\app\\conf\\a.ini.exists: expected True, got False"
    ]
    assert check(result, folders={"C:\\app": {"exists": False}}) == [
        "folders.C:\\app.exists: expected False, got True"
    ]


# --- local groups -----------------------------------------------------------------------


def test_groups_exist_and_have_exactly_their_members(tmp_path: Path) -> None:
    result = run(tmp_path, [CREATEUSER])
    assert (
        check(
            result,
            groups={
                "administrators": {"exists": True, "members": ["admin", "Administrator"]},
                "Users": {"members": ["Admin"]},
                "Remote Desktop Users": {"members": []},
                "Backup Operators": {"exists": False},
            },
        )
        == []
    )
    assert check(
        result,
        groups={
            "Administrators": {"members": ["Administrator"]},
            "Backup Operators": {"members": []},
            "Users": {"exists": False},
        },
    ) == [
        "groups.Administrators.members: expected ['Administrator'], got ['Admin', 'Administrator']",
        "groups.Backup Operators.exists: expected True, got False",
        "groups.Users.exists: expected False, got True",
    ]


# --- log lines --------------------------------------------------------------------------


def test_log_lines_present_and_absent_as_case_insensitive_globs(tmp_path: Path) -> None:
    result = run(tmp_path, [CREATEUSER])
    assert any("Plugins execution done" in line for line in result.log)
    assert (
        check(
            result,
            log={
                "present": [
                    "Plugins execution done",
                    "plugins EXECUTION done",
                    "Executing plugin '*'",
                ],
                "absent": ["*error*", "Traceback"],
            },
        )
        == []
    )
    failures = check(
        result, log={"present": ["No such line", "[e]xecuting*stage 'X'"], "absent": ["*plugin*"]}
    )
    assert failures[:2] == [
        "log.present: no log line matches 'No such line'",
        "log.present: no log line matches \"[e]xecuting*stage 'X'\"",
    ]
    first = next(line for line in result.log if "plugin" in line.lower())
    count = sum("plugin" in line.lower() for line in result.log)
    assert failures[2] == f"log.absent: {count} log line(s) match '*plugin*', the first: {first!r}"


def test_a_failed_run_logs_an_error_line(tmp_path: Path) -> None:
    result = run(tmp_path, [CREATEUSER], cloud=None)
    assert check(result, log={"present": ["*ERROR*No metadata service found"]}) == []
    assert check(result, log={"absent": ["* error *"]}) != []


# --- services before the first boot -----------------------------------------------------


def test_a_service_s_start_mode_and_status_are_set_before_the_first_boot(tmp_path: Path) -> None:
    machine = {
        "services": {
            "w32time": {"start_mode": "Disabled", "status": "Stopped"},
            "MyDelayedAgent": {"start_mode": "Automatic", "status": "Stopped"},
            "MyTriggered": {
                "display_name": "Triggered",
                "start_mode": "Manual",
                "status": "Running",
            },
        }
    }
    scenario = load_scenario(scenario_file(tmp_path, [], machine=machine))
    state = scenario.build_machine().state
    w32time = state.find_service("w32time")
    assert w32time is not None and w32time.start_mode == "Disabled"
    state.power_on()
    named = ("w32time", "MyDelayedAgent", "MyTriggered")
    assert [(s.name, s.start_mode, s.status) for s in state.services if s.name in named] == [
        ("w32time", "Disabled", "Stopped"),
        ("MyDelayedAgent", "Automatic", "Stopped"),
        ("MyTriggered", "Manual", "Running"),
    ]
    triggered = state.find_service("MyTriggered")
    assert triggered is not None and triggered.display_name == "Triggered"


def test_the_ntp_plugin_enables_and_starts_a_disabled_time_service(tmp_path: Path) -> None:
    machine = {"services": {"w32time": {"start_mode": "Disabled", "status": "Stopped"}}}
    result = run(tmp_path, [NTP], machine=machine)
    trace_calls = [(e.get("call"), e.get("start_mode")) for e in result.trace.of_kind("os")]
    assert ("set_service_start_mode", "Automatic") in trace_calls
    assert (
        check(result, services={"w32time": {"start_mode": "Automatic", "status": "Running"}}) == []
    )


def test_a_disabled_service_cannot_be_running_at_boot_nor_the_agent_s_be_set_up(
    tmp_path: Path,
) -> None:
    machine = {"services": {"w32time": {"start_mode": "Disabled", "status": "Running"}}}
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario_file(tmp_path, [], machine=machine))
    assert error.value.field == "machine.services.w32time.status"
    assert error.value.message == "'Stopped' was expected"
    machine = {"services": {"Cloudbase-Init": {"start_mode": "Manual"}}}
    with pytest.raises(ScenarioError, match=r"machine\.services\.Cloudbase-Init: the agent.s own"):
        load_scenario(scenario_file(tmp_path, [], machine=machine)).build_machine()


# --- adapters: DHCP off, disconnected ---------------------------------------------------

ADAPTERS = [
    {"name": "Ethernet", "mac": "52:54:00:12:34:56", "address": "10.0.0.15", "dhcp": False},
    {"name": "Ethernet 2", "mac": "52:54:00:12:34:57", "connected": False},
    {
        "name": "Ethernet 3",
        "mac": "52:54:00:12:34:58",
        "address": "10.0.1.20",
        "dhcp_server": "10.0.1.1",
    },
]
DHCP = [{"address": "10.0.0.1", "mtu": 1450}, {"address": "10.0.1.1", "mtu": 9000}]


def test_adapters_with_dhcp_off_or_disconnected(tmp_path: Path) -> None:
    result = run(tmp_path, [MTU], machine={"adapters": ADAPTERS}, dhcp=DHCP)
    adapters = {
        a.name: (a.address, a.dhcp_enabled, a.connected, a.mtu) for a in result.state.adapters
    }
    assert adapters == {
        "Ethernet": ("10.0.0.15", False, True, 1500),
        "Ethernet 2": ("", True, False, 1500),
        "Ethernet 3": ("10.0.1.20", True, True, 9000),
    }
    assert [e.get("server") for e in result.trace.of_kind("dhcp")] == ["10.0.1.1"]
    assert (
        check(
            result,
            adapters={
                "Ethernet": {"dhcp": False, "address": "10.0.0.15", "mtu": 1500},
                "Ethernet 2": {"connected": False, "address": ""},
                "Ethernet 3": {"dhcp": True, "mtu": 9000},
            },
        )
        == []
    )
    assert check(result, adapters={"Ethernet 2": {"connected": True}}) == [
        "adapters.Ethernet 2.connected: expected True, got False"
    ]


@pytest.mark.parametrize(
    ("adapter", "field", "fragment"),
    [
        (
            {"connected": False, "address": "10.0.0.9"},
            "machine.adapters.0.address",
            "None was expected",
        ),
        (
            {"connected": False, "dhcp_server": "10.0.0.1"},
            "machine.adapters.0.dhcp_server",
            "None was expected",
        ),
        (
            {"dhcp": False, "address": "10.0.0.9", "dhcp_server": "10.0.0.1"},
            "machine.adapters.0.dhcp_server",
            "None was expected",
        ),
        ({}, "machine.adapters.0", "'address' is a required property"),
    ],
)
def test_adapter_set_ups_that_cannot_be_are_refused(
    tmp_path: Path, adapter: dict[str, Any], field: str, fragment: str
) -> None:
    spec = {"name": "Ethernet", "mac": "52:54:00:12:34:56", **adapter}
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario_file(tmp_path, [], machine={"adapters": [spec]}))
    assert error.value.field == field and fragment in error.value.message


def test_the_new_keys_are_in_the_schema() -> None:
    from importlib import resources

    text = resources.files("guestsim.simulator").joinpath("schemas/scenario.schema.json")
    schema = json.loads(text.read_text())
    expect = schema["$defs"]["expect_fields"]["properties"]
    assert {"folders", "groups", "log"} <= set(expect)
    assert {"dhcp", "connected", "address"} <= set(
        expect["adapters"]["additionalProperties"]["properties"]
    )
    assert "services" in schema["$defs"]["machine"]["properties"]
