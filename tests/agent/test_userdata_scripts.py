"""User-data scripts: detection by header, temp files, interpreters, EC2 blocks, errors.

Scripts never run on the host: the fake Windows records each execution (``script``
events) and answers with the exit code the test declares for it.
"""

from __future__ import annotations

import re
import uuid

import pytest

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.windows.scripts import ScriptDeclaration, ScriptRunSpec
from tests.agent.test_userdata import (
    TEMP,
    declare,
    guest,
    interpreters,
    logged,
    os_calls,
    outcome,
    run_user_data,
    scripts,
)

POWERSHELL_64 = "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe"
POWERSHELL_32 = "C:\\Windows\\syswow64\\WindowsPowerShell\\v1.0\\powershell.exe"
OPTIONS = ["-ExecutionPolicy", "RemoteSigned", "-NonInteractive", "-File"]
TEMP_SCRIPT = re.compile(
    r"C:\\Windows\\Temp\\[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    r"(\.[a-z0-9]+)"
)


# --- detection by header -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "interpreter", "extension"),
    [
        (b"rem cmd\r\necho hi\r\n", "cmd", ".cmd"),
        (b"rem cmd\nnewline only\n", "cmd", ".cmd"),
        (b"rem\tcmd\t", "cmd", ".cmd"),
        (b"#!/usr/bin/env python\nprint(1)\n", "python", ".py"),
        (b"#! /usr/bin/env python\nprint(1)\n", "python", ".py"),
        (b"#!/usr/bin/env   python\n", "python", ".py"),
        # Quirk: only "#!/usr/bin/env python<whitespace>" means Python.
        (b"#!/usr/bin/env python3\nprint(1)\n", "bash", ".sh"),
        (b"#!/usr/bin/python\nprint(1)\n", "bash", ".sh"),
        (b"#!/usr/bin/env python", "bash", ".sh"),
        (b"#!/bin/bash\necho hi\n", "bash", ".sh"),
        (b"#!", "bash", ".sh"),
        (b"#ps1\nWrite-Output hi\n", "powershell", ".ps1"),
        (b"#ps1_sysnative\nWrite-Output hi\n", "powershell", ".ps1"),
        (b"#ps1_x86\nWrite-Output hi\n", "powershell_x86", ".ps1"),
        (b"#ps1_x86 Write-Output hi", "powershell_x86", ".ps1"),
    ],
)
def test_in_memory_user_data_is_detected_by_its_header(
    data: bytes, interpreter: str, extension: str
) -> None:
    result = run_user_data(data)
    (event,) = result.trace.of_kind("script")
    assert event.get("interpreter") == interpreter
    match = TEMP_SCRIPT.fullmatch(str(event.get("path")))
    assert match is not None, event.get("path")
    assert match.group(1) == extension
    # The temp file held exactly the user data and is gone afterwards.
    written = [e for e in os_calls(result, "write_file") if e.get("path") == event.get("path")]
    assert [e.get("size") for e in written] == [len(data)]
    assert not result.state.files.exists(str(event.get("path")))


@pytest.mark.parametrize(
    "data",
    [
        b"rem CMD\r\necho upper case\r\n",  # quirk: the tag is case-sensitive
        b"REM cmd\r\n",
        b"rem cmd",  # needs whitespace after the tag
        b" rem cmd\r\n",  # anchored at offset 0
        b"\xef\xbb\xbf#ps1\n",  # a byte-order mark is not skipped
        b"#PS1\nWrite-Output hi\n",
        b"#ps1",
        b"#ps1x\n",
        b"#ps1_x64\n",
        b"echo hello\r\n",
        b"\n#ps1\n",
    ],
)
def test_unrecognised_headers_are_a_warning_and_exit_code_0(data: bytes) -> None:
    result = run_user_data(data)
    assert result.trace.of_kind("script") == []
    assert logged(result, "Unsupported user_data format", "WARNING")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert os_calls(result, "write_file") == []


def test_the_header_table_is_evaluated_in_order() -> None:
    # A shebang wins over EC2 tags later in the data; cmd wins over everything.
    assert interpreters(run_user_data(b"#!/bin/sh\n<powershell>x</powershell>\n")) == ["bash"]
    assert interpreters(run_user_data(b"rem cmd #ps1\n<script>x</script>\n")) == ["cmd"]


def test_temp_names_are_uuid4_from_the_guests_random_generator() -> None:
    first = run_user_data(b"#ps1\n")
    second = run_user_data(b"#ps1\n")
    path = str(first.trace.of_kind("script")[0].get("path"))
    name = path.rsplit("\\", 1)[1].removesuffix(".ps1")
    assert uuid.UUID(name).version == 4
    # Seeded: the same machine gives the same name.
    assert path == second.trace.of_kind("script")[0].get("path")
    assert path.startswith(TEMP + "\\")


# --- interpreters and command lines --------------------------------------------------------


def test_powershell_sysnative_runs_the_64_bit_powershell_with_its_options() -> None:
    result = run_user_data(b"#ps1_sysnative\n")
    (event,) = result.trace.of_kind("script")
    assert event.get("args") == [POWERSHELL_64, *OPTIONS, event.get("path")]


def test_powershell_x86_runs_the_32_bit_powershell_from_syswow64() -> None:
    result = run_user_data(b"#ps1_x86\n")
    (event,) = result.trace.of_kind("script")
    assert event.get("interpreter") == "powershell_x86"
    assert event.get("args") == [POWERSHELL_32, *OPTIONS, event.get("path")]


def test_on_nano_server_powershell_gets_no_options() -> None:
    state = guest()
    state.version.nano_server = True
    result = run_user_data(b"#ps1\n", state=state)
    (event,) = result.trace.of_kind("script")
    assert event.get("args") == [POWERSHELL_64, event.get("path")]


@pytest.mark.parametrize(
    ("data", "program"),
    [(b"#!/usr/bin/env python\n", "python"), (b"#!/bin/bash\n", "bash")],
)
def test_python_and_bash_are_run_by_name_without_a_shell(data: bytes, program: str) -> None:
    result = run_user_data(data)
    (event,) = result.trace.of_kind("script")
    assert event.get("args") == [program, event.get("path")]


def test_cmd_scripts_are_run_by_their_path() -> None:
    result = run_user_data(b"rem cmd\r\n")
    (event,) = result.trace.of_kind("script")
    assert event.get("args") == [event.get("path")]


# --- results and errors --------------------------------------------------------------------


def test_output_is_logged_at_debug_and_the_exit_code_at_info() -> None:
    declaration = ScriptDeclaration(
        "chatty",
        marker="chatty",
        runs=(ScriptRunSpec(exit_code=7, stdout=b"out text", stderr=b"err text"),),
    )
    result = run_user_data(b"#ps1\n# chatty\n", [declaration])
    assert logged(result, "out text", "DEBUG")
    assert logged(result, "err text", "DEBUG")
    assert logged(result, "User_data script ended with return code: 7", "INFO")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)


def test_an_execution_error_is_a_warning_exit_code_0_and_the_temp_file_is_removed() -> None:
    declaration = ScriptDeclaration(
        "broken", marker="broken", runs=(ScriptRunSpec(error="The system cannot execute"),)
    )
    result = run_user_data(b"#ps1\n# broken\n", [declaration])
    (event,) = result.trace.of_kind("script")
    assert event.get("exit_code") is None
    assert logged(result, "An error occurred during user_data execution", "WARNING")
    assert logged(result, "User_data script ended with return code: 0", "INFO")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert not result.state.files.exists(str(event.get("path")))
    assert [e.get("path") for e in os_calls(result, "remove_path")] == [event.get("path")]


# --- EC2 format ------------------------------------------------------------------------------


def test_ec2_script_blocks_run_before_powershell_blocks_and_codes_are_summed() -> None:
    data = (
        b"<powershell>\n# ps-one\n</powershell>\n"
        b"<script>\nrem cmd-one\n</script>\n"
        b"<powershell># ps-two</powershell>\n"
        b"<script>rem cmd-two</script>\n"
    )
    result = run_user_data(
        data,
        [
            declare("ps-one", 1),
            declare("cmd-one", 10),
            declare("ps-two", 100),
            declare("cmd-two", 1000),
        ],
    )
    assert [e.get("declaration") for e in result.trace.of_kind("script")] == [
        "cmd-one",
        "cmd-two",
        "ps-one",
        "ps-two",
    ]
    assert interpreters(result) == ["cmd", "cmd", "powershell", "powershell"]
    assert logged(result, "User_data script ended with return code: 1111", "INFO")


def test_ec2_two_blocks_exiting_1001_sum_to_2002_which_does_not_reboot() -> None:
    data = b"<powershell># a</powershell><powershell># b</powershell>"
    result = run_user_data(
        data, [declare("a", 1001, marker="# a"), declare("b", 1001, marker="# b")]
    )
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.boot_count == 1


def test_ec2_codes_summing_to_1003_ask_for_reboot_and_rerun() -> None:
    data = b"<script>rem x</script><powershell># y</powershell>"
    result = run_user_data(
        data, [declare("x", 1001, 0, marker="rem x"), declare("y", 2, 0, marker="# y")]
    )
    assert outcome(result, boot=1) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, True)
    assert outcome(result, boot=2) == (PLUGIN_EXECUTION_DONE, False)


def test_ec2_blocks_are_stripped_and_empty_ones_skipped() -> None:
    data = (
        b"<powershell>\n\n  # body  \n\n</powershell>"
        b"<script>   \n </script><powershell></powershell>"
    )
    result = run_user_data(data)
    (event,) = result.trace.of_kind("script")
    assert result.state.scripts.runs[0].content == b"# body"
    assert event.get("interpreter") == "powershell"


def test_an_ec2_block_that_fails_contributes_nothing() -> None:
    failing = ScriptDeclaration("fails", marker="fails", runs=(ScriptRunSpec(error="no"),))
    data = b"<powershell># fails</powershell><powershell># works</powershell>"
    result = run_user_data(data, [failing, declare("works", 1002)])
    assert [e.get("declaration") for e in result.trace.of_kind("script")] == ["fails", "works"]
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)
    assert logged(result, "EC2", "ERROR")
    # Every block's temp file is gone.
    assert all(not result.state.files.exists(run.path) for run in result.state.scripts.runs)


def test_ec2_tags_are_case_sensitive() -> None:
    result = run_user_data(b"<PowerShell># x</PowerShell>")
    assert result.trace.of_kind("script") == []
    assert logged(result, "Unsupported user_data format", "WARNING")


def test_a_lone_ec2_tag_is_ec2_data_with_nothing_to_run() -> None:
    result = run_user_data(b"see </script> somewhere")
    assert result.trace.of_kind("script") == []
    assert logged(result, "User_data script ended with return code: 0", "INFO")
    assert logged(result, "Unsupported user_data format") == []


def test_script_events_name_the_declaration_and_run_number() -> None:
    result = run_user_data(b"#ps1\n# counted\n", [declare("counted", 1003, 0)])
    assert [(e.get("run"), e.get("exit_code")) for e in scripts(result, declaration="counted")] == [
        (1, 1003),
        (2, 0),
    ]
