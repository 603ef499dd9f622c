"""MIME multipart user data: parts in order, the result of the last part, part handlers, heat."""

from __future__ import annotations

import pytest

from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.scripts import ScriptDeclaration, ScriptRunSpec
from tests.agent.test_userdata import (
    TEMP,
    declare,
    failed,
    interpreters,
    logged,
    outcome,
    run_user_data,
    scripts,
)

Part = tuple[str, str | None, bytes]
SHELL = "text/x-shellscript"
UD_PLUGINS = "cloudbaseinit.plugins.common.userdataplugins."
HANDLER_CODE = b"# guestsim part handler\ndef list_types(): ...\ndef handle_part(*a): ...\n"


def mime(*parts: Part, boundary: str = "==guestsim==") -> bytes:
    """A multipart/mixed document; each part is (content type, file name or None, body)."""
    lines = [
        f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode(),
        b"MIME-Version: 1.0",
        b"",
    ]
    for content_type, filename, body in parts:
        lines.append(f"--{boundary}".encode())
        lines.append(f"Content-Type: {content_type}".encode())
        if filename is not None:
            lines.append(f'Content-Disposition: attachment; filename="{filename}"'.encode())
        lines += [b"", body]
    lines.append(f"--{boundary}--".encode())
    return b"\n".join(lines) + b"\n"


def shell(name: str, marker: str) -> Part:
    return (SHELL, name, f"#ps1\n# {marker}\n".encode())


def handler_part(name: str = "handler.py") -> Part:
    return ("text/part-handler", name, HANDLER_CODE)


def handler(*types: str, runs: tuple[ScriptRunSpec, ...] = ()) -> ScriptDeclaration:
    return ScriptDeclaration(
        "handler", marker="guestsim part handler", runs=runs, part_handler_types=types
    )


def part_events(result: RunResult) -> list[tuple[object, object]]:
    """(content type or event, file name) of each call to a part handler."""
    return [
        (e.get("part_event"), e.get("args")[2] if e.get("args") else None)
        for e in result.trace.of_kind("script")
        if e.get("interpreter") == "part_handler"
    ]


# --- walking the parts ---------------------------------------------------------------------


def test_shell_script_parts_run_in_order_from_temp_files_named_after_the_part() -> None:
    data = mime(
        ("text/x-shellscript", "01-first.cmd", b"rem first\r\n"),
        ("text/x-shellscript", "02-second.ps1", b"# second\r\n"),
    )
    result = run_user_data(data)
    events = result.trace.of_kind("script")
    assert [e.get("path") for e in events] == [f"{TEMP}\\01-first.cmd", f"{TEMP}\\02-second.ps1"]
    # Extension first: a .ps1 part runs in PowerShell without any header.
    assert interpreters(result) == ["cmd", "powershell"]
    assert not result.state.files.exists(f"{TEMP}\\01-first.cmd")
    assert not result.state.files.exists(f"{TEMP}\\02-second.ps1")
    assert logged(result, f'Script "{TEMP}\\02-second.ps1" ended with exit code: 0', "INFO")


def test_a_shell_script_part_without_known_extension_is_run_by_its_header() -> None:
    result = run_user_data(mime(("text/x-shellscript", "setup", b"#ps1_x86\n# by header\n")))
    (event,) = result.trace.of_kind("script")
    assert event.get("interpreter") == "powershell_x86"
    # Run from a temporary copy with the executor's extension; both files are gone.
    assert str(event.get("path")).endswith(".ps1")
    assert event.get("path") != f"{TEMP}\\setup"
    assert result.state.files.list_dir(TEMP) == []


def test_a_shell_script_part_nothing_recognises_is_exit_code_0() -> None:
    result = run_user_data(mime(("text/x-shellscript", "notes.txt", b"plain text\n")))
    assert result.trace.of_kind("script") == []
    assert logged(result, "No valid extension or header found in the userdata", "DEBUG")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)


def test_a_part_exiting_1001_stops_the_walk_and_later_parts_never_run() -> None:
    data = mime(shell("a.ps1", "part-a"), shell("b.ps1", "part-b"), shell("c.ps1", "part-c"))
    result = run_user_data(data, [declare("part-b", 1001)])
    assert [e.get("declaration") for e in result.trace.of_kind("script")] == [None, "part-b"]
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, True)
    assert result.boot_count == 2
    assert scripts(result, path=f"{TEMP}\\c.ps1") == []


def test_a_part_exiting_1003_reboots_and_the_whole_document_runs_again() -> None:
    data = mime(shell("a.ps1", "part-a"), shell("b.ps1", "part-b"), shell("c.ps1", "part-c"))
    result = run_user_data(data, [declare("part-b", 1003, 0)])
    paths = [
        (e.boot, str(e.get("path")).rsplit("\\", 1)[1]) for e in result.trace.of_kind("script")
    ]
    assert paths == [(1, "a.ps1"), (1, "b.ps1"), (2, "a.ps1"), (2, "b.ps1"), (2, "c.ps1")]
    assert outcome(result, boot=1) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, True)
    assert outcome(result, boot=2) == (PLUGIN_EXECUTION_DONE, False)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((1002, 0), (PLUGIN_EXECUTION_DONE, False)),
        ((0, 1002), (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)),
        ((1002, 1002), (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)),
        ((1002, 1), (PLUGIN_EXECUTION_DONE, False)),
    ],
)
def test_the_result_is_the_last_parts_not_the_worst(
    codes: tuple[int, int], expected: tuple[int, bool]
) -> None:
    data = mime(shell("a.ps1", "part-a"), shell("b.ps1", "part-b"))
    result = run_user_data(data, [declare("part-a", codes[0]), declare("part-b", codes[1])])
    assert outcome(result) == expected


def test_cloud_boothook_parts_are_not_supported() -> None:
    result = run_user_data(mime(("text/cloud-boothook", None, b"#!/bin/sh\necho hi\n")))
    assert logged(result, "text/cloud-boothook content is currently not supported", "INFO")
    assert result.trace.of_kind("script") == []


def test_an_unknown_content_type_is_logged_and_its_result_counts_as_done() -> None:
    data = mime(shell("a.ps1", "part-a"), ("text/plain", None, b"hello\n"))
    result = run_user_data(data, [declare("part-a", 1002)])
    assert logged(result, "Userdata plugin not found for content type: text/plain", "INFO")
    # The plain text part comes last, so the 1002 of the script before it is lost.
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)


def test_a_part_that_raises_counts_as_exit_code_0_and_the_walk_goes_on() -> None:
    # A shell-script part without a file name cannot be saved: the part fails.
    data = mime(shell("a.ps1", "part-a"), (SHELL, None, b"#ps1\n"), shell("c.ps1", "part-c"))
    result = run_user_data(data, [declare("part-a", 1002), declare("part-c", 1002)])
    assert [e.get("declaration") for e in result.trace.of_kind("script")] == ["part-a", "part-c"]
    assert logged(result, "Could not process the text/x-shellscript part", "ERROR")
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


def test_a_failing_last_part_makes_the_result_done() -> None:
    data = mime(shell("a.ps1", "part-a"), (SHELL, None, b"#ps1\n"))
    result = run_user_data(data, [declare("part-a", 1002)])
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)


def test_a_shell_script_execution_error_is_a_warning() -> None:
    broken = ScriptDeclaration("broken", marker="broken", runs=(ScriptRunSpec(error="denied"),))
    result = run_user_data(mime(shell("a.ps1", "broken")), [broken])
    assert logged(result, "An error occurred during file execution: 'denied'", "WARNING")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert not result.state.files.exists(f"{TEMP}\\a.ps1")


def test_nested_multiparts_are_walked_depth_first() -> None:
    inner = mime(shell("b.ps1", "part-b"), shell("c.ps1", "part-c"), boundary="==inner==")
    _, _, body = inner.partition(b"\n\n")
    inner_part: Part = ('multipart/mixed; boundary="==inner=="', None, body)
    data = mime(shell("a.ps1", "part-a"), inner_part, shell("d.ps1", "part-d"))
    result = run_user_data(data)
    names = [str(e.get("path")).rsplit("\\", 1)[1] for e in result.trace.of_kind("script")]
    assert names == ["a.ps1", "b.ps1", "c.ps1", "d.ps1"]


def test_user_data_plugins_selects_the_handlers() -> None:
    only_boothook = [f"{UD_PLUGINS}cloudboothook.CloudBootHookPlugin"]
    result = run_user_data(mime(shell("a.ps1", "a")), options={"user_data_plugins": only_boothook})
    assert result.trace.of_kind("script") == []
    assert logged(result, f"Userdata plugin not found for content type: {SHELL}", "INFO")
    assert logged(result, "Userdata plugin not found for content type: multipart/mixed", "INFO")


def test_an_unknown_user_data_plugin_path_fails_the_plugin() -> None:
    plugins = [f"{UD_PLUGINS}shellscript.ShellScriptPlugin", f"{UD_PLUGINS}nosuch.NoSuchPlugin"]
    result = run_user_data(mime(shell("a.ps1", "a")), options={"user_data_plugins": plugins})
    assert failed(result)
    assert result.trace.of_kind("script") == []


def test_a_cloud_config_part_goes_to_cloud_config() -> None:
    config = b"#cloud-config\nwrite_files:\n  - path: C:\\cc\\part.txt\n    content: from part\n"
    result = run_user_data(mime(("text/cloud-config", None, config), shell("z.ps1", "z")))
    assert result.state.files.read("C:\\cc\\part.txt") == b"from part"
    assert interpreters(result) == ["powershell"]


# --- part handlers ---------------------------------------------------------------------------


def test_a_part_handler_takes_over_its_types_with_begin_and_end_events() -> None:
    data = mime(
        handler_part(),
        ("text/x-custom", "one.dat", b"payload one"),
        ("text/x-other", "two.dat", b"payload two"),
        ("text/x-custom", "three.dat", b"payload three"),
    )
    result = run_user_data(data, [handler("text/x-custom", "text/x-other")])
    assert part_events(result) == [
        ("__begin__", ""),
        ("__begin__", ""),
        ("text/x-custom", "one.dat"),
        ("text/x-other", "two.dat"),
        ("text/x-custom", "three.dat"),
        ("__end__", ""),  # once per distinct handler
    ]
    (imported,) = result.trace.of_kind("python_import")
    assert imported.get("path") == f"{TEMP}\\handler.py"
    # The handler's file stays in %TEMP%.
    assert result.state.files.read(f"{TEMP}\\handler.py") == HANDLER_CODE
    assert logged(result, "Adding part handler for content type: text/x-custom", "INFO")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)


def test_a_part_handler_cannot_take_a_type_a_plugin_owns() -> None:
    data = mime(handler_part(), shell("a.ps1", "part-a"))
    result = run_user_data(data, [handler(SHELL), declare("part-a", 1002)])
    assert logged(result, f"Not adding part handler for content type {SHELL}", "INFO")
    assert part_events(result) == []
    assert scripts(result, declaration="part-a", interpreter="powershell")
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


def test_handlers_get_no_end_event_when_a_part_asks_for_a_reboot() -> None:
    data = mime(handler_part(), ("text/x-custom", "x", b"x"), shell("r.ps1", "reboots"))
    result = run_user_data(data, [handler("text/x-custom"), declare("reboots", 1001)])
    boot1 = [event for event, _ in part_events(result)]
    assert boot1 == ["__begin__", "text/x-custom"]
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, True)


def test_a_part_handler_that_is_not_a_python_file_is_a_part_error() -> None:
    data = mime(handler_part("handler.txt"), ("text/x-custom", "x", b"x"))
    result = run_user_data(data, [handler("text/x-custom")])
    assert logged(result, "Could not process the text/part-handler part", "ERROR")
    assert logged(result, "Userdata plugin not found for content type: text/x-custom", "INFO")
    assert part_events(result) == []


def test_a_module_without_list_types_and_handle_part_registers_nothing() -> None:
    data = mime(handler_part(), ("text/x-custom", "x", b"x"))
    result = run_user_data(data)  # the module is not declared: it defines nothing
    assert result.trace.of_kind("python_import")
    assert logged(result, "Userdata plugin not found for content type: text/x-custom", "INFO")


def test_a_handler_raising_on_a_part_counts_as_exit_code_0() -> None:
    runs = (ScriptRunSpec(), ScriptRunSpec(error="handler blew up"), ScriptRunSpec())
    data = mime(
        handler_part(),
        shell("a.ps1", "part-a"),
        ("text/x-custom", "x", b"x"),
        shell("c.ps1", "part-c"),
    )
    result = run_user_data(
        data, [handler("text/x-custom", runs=runs), declare("part-a", 1002), declare("part-c", 0)]
    )
    assert logged(result, "Could not process the text/x-custom part", "ERROR")
    assert [event for event, _ in part_events(result)] == ["__begin__", "text/x-custom", "__end__"]
    assert scripts(result, declaration="part-c")


# --- heat ------------------------------------------------------------------------------------


def test_heat_cfn_userdata_is_saved_and_run_as_user_data() -> None:
    data = mime(
        ("text/x-cfninitdata", "cfn-init-data", b'{"AWS::CloudFormation::Init": {}}'),
        ("text/x-cfninitdata", "cfn-userdata", b"#ps1\n# heat script\n"),
    )
    result = run_user_data(data, [declare("heat script", 1002)])
    files = result.state.files
    assert files.read("C:\\cfn\\cfn-init-data") == b'{"AWS::CloudFormation::Init": {}}'
    assert files.read("C:\\cfn\\cfn-userdata") == b"#ps1\n# heat script\n"
    # Only cfn-userdata runs; as in-memory user data, from a temp copy.
    (event,) = result.trace.of_kind("script")
    assert event.get("declaration") == "heat script"
    assert str(event.get("path")).startswith(TEMP)
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


def test_heat_config_dir_is_configurable() -> None:
    data = mime(("text/x-cfninitdata", "cfn-metadata-server", b"http://heat\n"))
    result = run_user_data(data, options={"heat_config_dir": "C:\\heat\\conf"})
    assert result.state.files.read("C:\\heat\\conf\\cfn-metadata-server") == b"http://heat\n"
    assert result.trace.of_kind("script") == []
