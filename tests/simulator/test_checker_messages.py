"""The scenario checker's failure lines, key by key, against real runs.

Each test runs a machine (or a bundled scenario) and judges it with an ``expect`` block of
its own, asserting the exact lines a user reads: the key, what was expected, what the run
gave. Where the checker has a default (a request without a method, a user without
``exists``) or reads the state through a path, the test pins what that default or path
means.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)
from guestsim.simulator.expectations import check_expectations, outcome_of
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.overrides import Overrides
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from tests.builders import (
    INSTANCE_ID,
    openstack_machine,
    register_metadata_service,
    register_plugin,
)

GAP = "not modelled by the simulated Windows: running 'w32tm.exe'"
PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"


class TimeResyncPlugin(Plugin):
    """Asks the fake Windows for a program it does not model (``w32tm.exe``)."""

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        self.osutils.execute_system32_process(["w32tm.exe", "/resync"])
        raise AssertionError("unreachable: the fake Windows does not model w32tm.exe")


class EarlyTimeResyncPlugin(TimeResyncPlugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_NETWORKING


class AlwaysRebootPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, True


class NoInstanceIdService(MetadataService):
    """Loads, then fails to give an instance id: the agent run aborts (a crash)."""

    def load(self) -> bool:
        return True

    def get_instance_id(self) -> str | None:
        raise RuntimeError("no instance id today")


@cache
def scenario_run(relative: str) -> RunResult:
    return run_scenario(load_scenario(bundled("scenarios") / Path(relative))).result


@cache
def openstack_run() -> RunResult:
    """hostname, createuser, password: two boots, user Admin in Administrators and Users."""
    machine, _ = openstack_machine()
    return machine.run()


# --- outcome ----------------------------------------------------------------------------------


def test_a_gap_of_the_fake_windows_after_a_reboot_is_the_outcome_not_modelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine(("hostname", register_plugin(monkeypatch, TimeResyncPlugin)))
    result = machine.run()
    assert [boot.outcome for boot in result.boots] == ["reboot", "not_modelled"]
    assert check_expectations({"outcome": "not_modelled", "boots": 2}, result) == []
    assert check_expectations({"boots": 2}, result) == [
        f"outcome: expected 'stopped', got 'not_modelled' (boot 2: {GAP})"
    ]


def test_a_run_that_stops_cleanly_has_the_default_outcome() -> None:
    result = openstack_run()
    assert check_expectations({"boots": 2}, result) == []
    assert check_expectations({"outcome": "crashed", "boots": 2}, result) == [
        "outcome: expected 'crashed', got 'stopped'"
    ]


def test_a_run_stopped_by_a_gap_in_the_unattend_pass_is_judged_without_boots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = {"plugins": [register_plugin(monkeypatch, EarlyTimeResyncPlugin)]}
    machine = Machine(
        config_from_options({"DEFAULT": {"plugins": []}}, "cloudbase-init.conf"),
        unattend_conf=config_from_options({"DEFAULT": options}, "cloudbase-init-unattend.conf"),
    )
    result = machine.run()
    assert result.boots == []
    assert result.findings == [f"unattend pass: {GAP}"]
    # Whatever outcome such a run has, the checker judges the other keys and quotes the
    # finding whenever the outcome is not the expected one.
    outcome = outcome_of(result)
    assert check_expectations({"outcome": outcome, "boots": 1}, result) == [
        "boots: expected 1, got 0"
    ]
    assert check_expectations({"outcome": "reboot_loop", "boots": 0}, result) == [
        f"outcome: expected 'reboot_loop', got {outcome!r} (unattend pass: {GAP})"
    ]


def test_an_outcome_mismatch_quotes_every_finding_and_findings_match_any_of_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = {"metadata_services": [register_metadata_service(monkeypatch, NoInstanceIdService)]}
    conf = config_from_options({"DEFAULT": options}, "cloudbase-init.conf")
    result = Machine(conf, unattend_conf=conf).run()
    crash = "the agent crashed: RuntimeError: no instance id today"
    assert result.findings == [f"unattend pass: {crash}", f"boot 1: {crash}"]
    assert (
        check_expectations(
            {"outcome": "crashed", "boots": 1, "findings": ["unattend pass", "boot 1:"]}, result
        )
        == []
    )
    assert check_expectations({"boots": 1, "findings": ["boot 2:"]}, result) == [
        f"outcome: expected 'stopped', got 'crashed' (unattend pass: {crash}; boot 1: {crash})",
        f"findings: no finding mentions 'boot 2:' (got {result.findings})",
    ]


# --- plugins ----------------------------------------------------------------------------------


def test_a_plugin_status_neither_done_nor_next_boot_is_reported_with_its_value() -> None:
    state = default_windows_state()
    state.registry.create_key(PLUGINS_KEY)
    state.registry.set_value(PLUGINS_KEY, "LegacyPlugin", 7, RegType.REG_DWORD)
    machine, _ = openstack_machine(("hostname",), state=state)
    result = machine.run()
    assert check_expectations(
        {"boots": 2, "plugins": {"LegacyPlugin": "done", "SetHostNamePlugin": "done"}}, result
    ) == ["plugins.LegacyPlugin: expected 'done', got 'unknown value 7'"]


# --- users ------------------------------------------------------------------------------------


def test_a_user_without_an_exists_key_is_expected_to_exist() -> None:
    result = openstack_run()
    assert check_expectations({"boots": 2, "users": {"Admin": {}, "Ghost": {}}}, result) == [
        "users.Ghost.exists: expected True, got False"
    ]


def test_every_user_is_judged_after_one_fails_or_is_rightly_absent() -> None:
    result = openstack_run()
    expect = {
        "boots": 2,
        "users": {
            "Admin": {"exists": False},
            "Administrator": {"exists": False},
            "Ghost": {"exists": False},
            "Nobody": {},
        },
    }
    assert check_expectations(expect, result) == [
        "users.Admin.exists: expected False, got True",
        "users.Administrator.exists: expected False, got True",
        "users.Nobody.exists: expected True, got False",
    ]


def test_a_missing_group_names_exactly_the_groups_the_user_is_in() -> None:
    result = openstack_run()
    expect = {
        "boots": 2,
        "users": {
            "admin": {"groups": ["administrators", "Remote Desktop Users"]},
            "Administrator": {"groups": ["Users"]},
        },
    }
    assert check_expectations(expect, result) == [
        "users.Administrator.groups: not a member of ['Users']; member of ['Administrators']",
        "users.admin.groups: not a member of ['Remote Desktop Users'];"
        " member of ['Administrators', 'Users']",
    ]


def test_group_names_and_user_names_are_matched_whatever_their_case() -> None:
    result = openstack_run()
    expect = {"boots": 2, "users": {"ADMIN": {"groups": ["ADMINISTRATORS", "users"]}}}
    assert check_expectations(expect, result) == []


def test_password_flags_are_reported_against_the_account() -> None:
    result = openstack_run()
    expect = {
        "boots": 2,
        "users": {
            "Admin": {"password_expired": True, "has_password": False},
            "Guest": {"password_expired": False, "has_password": True},
        },
    }
    assert check_expectations(expect, result) == [
        "users.Admin.password_expired: expected True, got False",
        "users.Admin.has_password: expected False, got True",
        "users.Guest.has_password: expected True, got False",
    ]


# --- requests ---------------------------------------------------------------------------------

PASSWORD = "/openstack/2013-04-04/password"


def test_a_request_without_a_method_counts_every_method() -> None:
    result = openstack_run()
    expect: dict[str, Any] = {
        "boots": 2,
        "requests": [
            {"path": PASSWORD, "count": 2},
            {"path": PASSWORD, "method": "POST", "count": 1},
            {"path": PASSWORD, "count": 3},
            {"path": PASSWORD, "method": "PUT"},
            {"path": PASSWORD, "status": 404},
            {"path": "/openstack/latest/meta_data.json", "method": "GET", "status": 200},
        ],
    }
    assert check_expectations(expect, result) == [
        f"requests[2] ANY {PASSWORD}: expected 3 request(s), got 2",
        f"requests[3] PUT {PASSWORD}: expected at least one request, got none",
        f"requests[4] ANY {PASSWORD}: expected at least one request, got none",
    ]


def test_a_request_with_headers_matches_only_requests_carrying_them() -> None:
    result = openstack_run()
    expect: dict[str, Any] = {
        "boots": 2,
        "requests": [
            {"path": PASSWORD, "headers": {"content-length": "344"}, "count": 1},
            {"path": PASSWORD, "headers": {"Content-Length": "344"}, "count": 2},
            {"path": PASSWORD, "method": "GET", "headers": {"Content-Length": "1"}},
            {"path": PASSWORD, "headers": {}, "count": 2},
        ],
    }
    assert check_expectations(expect, result) == [
        f"requests[1] ANY {PASSWORD} with {{'Content-Length': '344'}}:"
        " expected 2 request(s), got 1",
        f"requests[2] GET {PASSWORD} with {{'Content-Length': '1'}}:"
        " expected at least one request, got none",
    ]


# --- adapters and services -------------------------------------------------------------------


def test_every_missing_adapter_and_service_is_reported() -> None:
    result = openstack_run()
    expect: dict[str, Any] = {
        "boots": 2,
        "adapters": {"Ethernet 2": {}, "Ethernet 3": {"mtu": 1500}, "ethernet": {}},
        "services": {"nosuch": {}, "W32Time": {}, "WinRM": {"start_mode": "Disabled"}, "zz": {}},
    }
    assert check_expectations(expect, result) == [
        "adapters.Ethernet 2: does not exist",
        "adapters.Ethernet 3: does not exist",
        "services.WinRM.start_mode: expected 'Disabled', got 'Automatic'",
        "services.nosuch: does not exist",
        "services.zz: does not exist",
    ]


# --- script runs ------------------------------------------------------------------------------


def test_script_run_failures_name_the_match_the_interpreter_and_every_run() -> None:
    result = scenario_run("user-data/script-headers.yaml")
    ran = [f"{run.interpreter} {run.path}" for run in result.state.scripts.runs]
    assert [line.split(" ", 1)[0] for line in ran] == ["cmd", "powershell_x86", "bash"]
    expect: dict[str, Any] = {
        "boots": 1,
        "script_runs": [
            {"match": "from-bash", "count": 2},
            {"match": "from-bash", "interpreter": "cmd", "count": 0},
            {"match": "from-bash", "interpreter": "cmd"},
            {"match": "from-x86", "interpreter": "powershell_x86"},
            {"match": "from-upper"},
            {"match": "from-x86", "interpreter": "powershell", "count": 1},
        ],
    }
    assert check_expectations(expect, result) == [
        f"script_runs[0] 'from-bash': expected 2 run(s), got 1 (runs: {ran})",
        f"script_runs[2] 'from-bash' (cmd): expected at least one run, got none (runs: {ran})",
        f"script_runs[4] 'from-upper': expected at least one run, got none (runs: {ran})",
        f"script_runs[5] 'from-x86' (powershell): expected 1 run(s), got 0 (runs: {ran})",
    ]


# --- state paths ------------------------------------------------------------------------------

ACL_PATH = "c:\\app"
BLOB = "C:\\data\\blob.bin"
TEST_KEY = "HKLM\\SOFTWARE\\GuestsimTest"


def prepared_state() -> WindowsState:
    state = default_windows_state()
    state.scripts.path_acls[ACL_PATH] = ("S-1-5-32-544", "S-1-5-18")
    state.scripts.path_owners[ACL_PATH] = "Administrators"
    state.registry.create_key(TEST_KEY)
    state.registry.set_value(TEST_KEY, "Answer", 42, RegType.REG_DWORD)
    state.files.make_dirs("C:\\data")
    state.files.write(BLOB, b"\xff\xfeok")
    return state


@cache
def prepared_run() -> RunResult:
    machine, _ = openstack_machine(state=prepared_state())
    return machine.run()


def judge_state(paths: dict[str, Any]) -> list[str]:
    return check_expectations({"boots": 2, "state": paths}, prepared_run())


def test_state_mapping_keys_are_matched_whatever_their_case() -> None:
    assert judge_state({"scripts.path_owners.C:\\APP": "Administrators"}) == []
    assert judge_state({"scripts.path_owners.C:\\other": "Administrators"}) == [
        "state.scripts.path_owners.C:\\other: no such field in the final machine state"
    ]


def test_state_list_indexes_count_from_either_end_and_stop_at_its_bounds() -> None:
    assert (
        judge_state(
            {
                "users.0.name": "Administrator",
                "users.-1.name": "Admin",
                "users.-3.name": "Administrator",
                "users.2.name": "Admin",
            }
        )
        == []
    )
    assert judge_state({"users.3": {}, "users.-4": {}, "users.-": {}, "users.name": {}}) == [
        "state.users.3: no such field in the final machine state",
        "state.users.-4: no such field in the final machine state",
        "state.users.-: no such field in the final machine state",
        "state.users.name: no such field in the final machine state",
    ]


def test_state_digits_index_only_lists_and_tuples() -> None:
    assert judge_state({"computer_name.0": "w", "version.1": 1, "users.X0": {}}) == [
        "state.computer_name.0: no such field in the final machine state",
        "state.version.1: no such field in the final machine state",
        "state.users.X0: no such field in the final machine state",
    ]


def test_state_tuples_are_indexed_and_compared_as_lists() -> None:
    path = f"scripts.path_acls.{ACL_PATH}"
    assert judge_state({path: ["S-1-5-32-544", "S-1-5-18"], f"{path}.-1": "S-1-5-18"}) == []
    assert judge_state({f"{path}.2": "S-1-5-18", path: ["S-1-5-18"]}) == [
        f"state.{path}.2: no such field in the final machine state",
        f"state.{path}: expected ['S-1-5-18'], got ['S-1-5-32-544', 'S-1-5-18']",
    ]


def test_state_dataclasses_are_compared_as_plain_mappings() -> None:
    admin = {
        "name": "Admin",
        "rid": 1000,
        "password": None,
        "password_never_expires": True,
        "password_expired": False,
        "full_name": None,
        "disabled": False,
        "expires": None,
    }
    user = prepared_run().state.find_user("Admin")
    assert user is not None
    admin["password"] = user.password
    assert judge_state({"users.2": admin}) == []
    assert judge_state({"users.2": {"name": "Admin"}}) == [
        f"state.users.2: expected {{'name': 'Admin'}}, got {admin!r}"
    ]


def test_state_enums_are_compared_and_shown_by_their_value() -> None:
    path = "registry._hives.hklm.subkeys.software.subkeys.guestsimtest.values.answer"
    assert judge_state({path: ["Answer", {"data": 42, "type": "REG_DWORD"}]}) == []
    assert judge_state({f"{path}.1": {"data": 41, "type": "REG_DWORD"}}) == [
        f"state.{path}.1: expected {{'data': 41, 'type': 'REG_DWORD'}},"
        " got {'data': 42, 'type': 'REG_DWORD'}"
    ]


def test_a_state_path_to_a_class_yields_the_class_itself() -> None:
    result = prepared_run()
    assert judge_state({"version.__class__": "WindowsVersion"}) == [
        f"state.version.__class__: expected 'WindowsVersion', got {type(result.state.version)!r}"
    ]


# --- files ------------------------------------------------------------------------------------


def test_a_file_without_an_exists_key_is_expected_and_a_folder_is_no_file() -> None:
    expect: dict[str, Any] = {
        "boots": 2,
        "files": {
            BLOB: {},
            "C:\\data": {},
            "C:\\data\\missing.txt": {"content": "x"},
            "C:\\data\\gone.txt": {"exists": False},
            "C:\\other.txt": {},
        },
    }
    assert check_expectations(expect, prepared_run()) == [
        "files.C:\\data.exists: expected True, got False",
        "files.C:\\data\\missing.txt.exists: expected True, got False",
        "files.C:\\other.txt.exists: expected True, got False",
    ]


def test_file_content_that_is_not_utf8_is_shown_with_replacement_characters() -> None:
    result = prepared_run()
    assert (
        check_expectations({"boots": 2, "files": {BLOB: {"content": "\ufffd\ufffdok"}}}, result)
        == []
    )
    assert check_expectations({"boots": 2, "files": {BLOB: {"content": "ok"}}}, result) == [
        f"files.{BLOB}.content: expected 'ok', got '\ufffd\ufffdok'"
    ]


# --- config drives ----------------------------------------------------------------------------

TRUNCATED = "config-drives/configdrive-truncated-iso-on-disk.yaml"


def test_config_drive_errors_quote_every_search_error() -> None:
    result = scenario_run(TRUNCATED)
    errors = [
        str(event.get("error"))
        for event in result.trace.of_kind("config_drive_search")
        if event.get("result") == "error"
    ]
    assert (
        errors
        == [
            "TruncatedMedia: \\\\.\\PHYSICALDRIVE1: the volume spans 145408 bytes but the device"
            " is shorter"
        ]
        * 2
    )
    expect = {
        "boots": 2,
        "config_drive_found": "iso/hdd",
        "config_drive_errors": ["TruncatedMedia", "PHYSICALDRIVE1", "not_found", "iso"],
    }
    assert check_expectations(expect, result) == [
        f"config_drive_errors: no search error mentions 'not_found' (got {errors})",
        f"config_drive_errors: no search error mentions 'iso' (got {errors})",
    ]


def test_config_drive_found_names_the_drive_or_none() -> None:
    result = scenario_run(TRUNCATED)
    assert check_expectations({"boots": 2, "config_drive_found": "iso/cdrom"}, result) == [
        "config_drive_found: expected 'iso/cdrom', got 'iso/hdd'"
    ]
    assert check_expectations({"boots": 2, "config_drive_found": "iso/hdd"}, openstack_run()) == [
        "config_drive_found: expected 'iso/hdd', got None"
    ]


def test_config_drive_found_in_a_single_boot_is_judged() -> None:
    createuser = "cloudbaseinit.plugins.windows.createuser.CreateUserPlugin"
    conf = config_from_options({"DEFAULT": {"plugins": [createuser]}}, "cloudbase-init.conf")
    scenario = load_scenario(bundled("scenarios") / "config-drives" / "configdrive-iso-cdrom.yaml")
    result = run_scenario(scenario, overrides=Overrides(conf=conf)).result
    assert result.boot_count == 1
    assert check_expectations({"boots": 1, "config_drive_found": "iso/cdrom"}, result) == []
    assert check_expectations({"boots": 1, "config_drive_found": "vfat/cdrom"}, result) == [
        "config_drive_found: expected 'vfat/cdrom', got 'iso/cdrom'"
    ]


# --- virtual time -----------------------------------------------------------------------------


def test_virtual_time_at_least_accepts_exactly_the_time_the_run_took() -> None:
    result = openstack_run()
    assert result.trace.events[-1].t_ms == 48000
    assert check_expectations({"boots": 2, "virtual_seconds_at_least": 48}, result) == []
    assert check_expectations({"boots": 2, "virtual_seconds_at_least": 48.5}, result) == [
        "virtual time: expected at least 48.5 s, got 48.0 s"
    ]


def test_virtual_time_is_read_at_the_last_event_of_a_reboot_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine, _ = openstack_machine((register_plugin(monkeypatch, AlwaysRebootPlugin),), max_boots=2)
    result = machine.run()
    *_, before, last = result.trace.events
    assert (last.kind, last.t_ms) == ("reboot_loop", 90000)
    assert before.t_ms < last.t_ms
    assert (
        check_expectations(
            {"outcome": "reboot_loop", "boots": 2, "virtual_seconds_at_least": 90}, result
        )
        == []
    )
