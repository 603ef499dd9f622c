"""LocalScriptsPlugin: scripts from a guest folder, their order, the aggregate status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.scripts import AddUser, CreateFile, ScriptDeclaration, ScriptRunSpec
from tests.agent.test_userdata import (
    LS,
    TEMP,
    declare,
    failed,
    guest,
    logged,
    outcome,
    scripts,
    stored_status,
)
from tests.builders import openstack_machine

FOLDER = "C:\\Scripts"


def run_local_scripts(
    files: Mapping[str, bytes],
    declarations: Iterable[ScriptDeclaration] = (),
    options: Mapping[str, Any] | None = None,
    plugins: Sequence[str] = (LS,),
) -> RunResult:
    state = guest(declarations, {f"{FOLDER}\\{name}": data for name, data in files.items()})
    machine, _ = openstack_machine(
        plugins=plugins,
        options={"local_scripts_path": FOLDER, **(options or {})},
        state=state,
    )
    return machine.run()


def ran(result: RunResult, boot: int | None = None) -> list[str]:
    """Names of the files run, in order (file name relative to the scripts folder)."""
    return [
        str(e.get("path")).removeprefix(FOLDER + "\\")
        for e in result.trace.of_kind("script")
        if boot is None or e.boot == boot
    ]


def test_without_local_scripts_path_nothing_runs() -> None:
    machine, _ = openstack_machine(plugins=(LS,), state=guest())
    result = machine.run()
    assert outcome(result, "LocalScriptsPlugin") == (PLUGIN_EXECUTION_DONE, False)
    assert result.trace.of_kind("script") == []


def test_a_missing_folder_fails_the_plugin() -> None:
    machine, _ = openstack_machine(
        plugins=(LS,), options={"local_scripts_path": "C:\\Nowhere"}, state=guest()
    )
    result = machine.run()
    assert failed(result, "LocalScriptsPlugin")
    assert stored_status(result, "LocalScriptsPlugin") is None


def test_scripts_run_in_plain_string_order_of_their_paths() -> None:
    files = {
        "b.cmd": b"rem b\r\n",
        "a.ps1": b"# a\r\n",
        "Z.cmd": b"rem Z\r\n",
        "_x.py": b"print('x')\n",
        "A.sh": b"echo A\n",
        "10.cmd": b"rem 10\r\n",
        "9.cmd": b"rem 9\r\n",
    }
    result = run_local_scripts(files)
    # Upper case sorts before lower case, digits are not numbers, '_' after upper case.
    assert ran(result) == ["10.cmd", "9.cmd", "A.sh", "Z.cmd", "_x.py", "a.ps1", "b.cmd"]


def test_subfolders_are_not_entered() -> None:
    result = run_local_scripts({"top.cmd": b"rem\r\n", "sub\\inner.cmd": b"rem\r\n"})
    assert ran(result) == ["top.cmd"]


def test_the_extension_decides_before_the_header() -> None:
    files = {
        "a.ps1": b"#ps1_x86\n# 64-bit anyway\n",
        "b.cmd": b"#!/bin/bash\n",
        "c.py": b"rem cmd\r\n",
        "d.sh": b"#ps1\n",
        "e.exe": b"MZ\x90\x00",
        "F.PS1": b"# upper-case extension\n",
    }
    result = run_local_scripts(files)
    pairs = zip(ran(result), scripts(result), strict=True)
    assert [(name, e.get("interpreter")) for name, e in pairs] == [
        ("F.PS1", "powershell"),
        ("a.ps1", "powershell"),
        ("b.cmd", "cmd"),
        ("c.py", "python"),
        ("d.sh", "bash"),
        ("e.exe", "exe"),
    ]
    # Files recognised by extension run in place: no temporary copy.
    assert all(str(e.get("path")).startswith(FOLDER) for e in scripts(result))


def test_a_file_without_known_extension_runs_by_its_header_from_a_temp_copy() -> None:
    result = run_local_scripts({"setup.txt": b"#ps1_x86\n# by header\n"})
    (event,) = scripts(result)
    assert event.get("interpreter") == "powershell_x86"
    assert str(event.get("path")).startswith(TEMP) and str(event.get("path")).endswith(".ps1")
    assert result.state.files.list_dir(TEMP) == []
    assert result.state.files.exists(f"{FOLDER}\\setup.txt")


def test_a_file_nothing_recognises_is_skipped_with_exit_code_0() -> None:
    result = run_local_scripts({"readme.txt": b"notes\n"})
    assert scripts(result) == []
    assert logged(
        result, f"No valid extension or header found in the userdata: {FOLDER}\\readme.txt"
    )
    assert outcome(result, "LocalScriptsPlugin") == (PLUGIN_EXECUTION_DONE, False)


def test_each_script_logs_its_exit_code() -> None:
    result = run_local_scripts({"a.cmd": b"rem a\r\n"}, [declare("rem a", 3)])
    assert logged(result, f'Script "{FOLDER}\\a.cmd" ended with exit code: 3', "INFO")


def test_the_worst_status_wins_and_1002_runs_again_every_boot() -> None:
    files = {"a.cmd": b"rem a\r\n", "b.cmd": b"rem b\r\n"}
    result = run_local_scripts(
        files, [declare("rem a", 1002), declare("rem b", 0)], plugins=(LS, "hostname")
    )
    # Unlike multipart user data, a later 0 does not hide the earlier 1002.
    assert outcome(result, "LocalScriptsPlugin", boot=1) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    assert stored_status(result, "LocalScriptsPlugin") == PLUGIN_EXECUTE_ON_NEXT_BOOT
    # The host name reboot gives a second boot, where every script runs again.
    assert ran(result, boot=1) == ["a.cmd", "b.cmd"]
    assert ran(result, boot=2) == ["a.cmd", "b.cmd"]


def test_the_first_script_asking_for_a_reboot_is_the_last_to_run() -> None:
    files = {"a.cmd": b"rem a\r\n", "b.cmd": b"rem b\r\n", "c.cmd": b"rem c\r\n"}
    result = run_local_scripts(files, [declare("rem a", 1002), declare("rem b", 1001)])
    assert ran(result, boot=1) == ["a.cmd", "b.cmd"]
    # Max status (2 from a.cmd) with b.cmd's reboot: the plugin runs again next boot.
    assert outcome(result, "LocalScriptsPlugin", boot=1) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, True)


def test_1001_leaves_the_later_scripts_never_run_for_this_instance() -> None:
    files = {"a.cmd": b"rem a\r\n", "b.cmd": b"rem b\r\n", "c.cmd": b"rem c\r\n"}
    result = run_local_scripts(files, [declare("rem b", 1001)])
    assert outcome(result, "LocalScriptsPlugin", boot=1) == (PLUGIN_EXECUTION_DONE, True)
    assert result.boot_count == 2
    assert ran(result) == ["a.cmd", "b.cmd"]  # boot 2 skips the plugin as done


def test_1003_reruns_every_script_after_the_reboot() -> None:
    files = {"a.cmd": b"rem a\r\n", "b.cmd": b"rem b\r\n", "c.cmd": b"rem c\r\n"}
    result = run_local_scripts(files, [declare("rem b", 1003, 0)])
    assert ran(result, boot=1) == ["a.cmd", "b.cmd"]
    assert ran(result, boot=2) == ["a.cmd", "b.cmd", "c.cmd"]
    assert outcome(result, "LocalScriptsPlugin", boot=2) == (PLUGIN_EXECUTION_DONE, False)


def test_an_execution_error_is_a_warning_and_exit_code_0() -> None:
    broken = ScriptDeclaration("broken", marker="rem a", runs=(ScriptRunSpec(error="denied"),))
    result = run_local_scripts({"a.cmd": b"rem a\r\n", "b.cmd": b"rem b\r\n"}, [broken])
    assert logged(result, "An error occurred during file execution: 'denied'", "WARNING")
    assert ran(result) == ["a.cmd", "b.cmd"]
    assert outcome(result, "LocalScriptsPlugin") == (PLUGIN_EXECUTION_DONE, False)


def test_script_effects_reach_the_machine() -> None:
    declaration = ScriptDeclaration(
        "provision",
        path="C:\\Scripts\\provision.ps1",
        runs=(
            ScriptRunSpec(
                effects=(
                    CreateFile("C:\\Provision\\done.txt", b"ok"),
                    AddUser("deploy", "P@ssw0rd-1", ("Administrators",)),
                )
            ),
        ),
    )
    result = run_local_scripts({"provision.ps1": b"# provision\n"}, [declaration])
    assert result.state.files.read("C:\\Provision\\done.txt") == b"ok"
    group = result.state.find_group("Administrators")
    assert group is not None and "deploy" in group.members
