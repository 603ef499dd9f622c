"""Simulated script execution on the fake Windows, and the scenario keys that drive it.

Guest scripts never run on the host: a script's behaviour is what the scenario declares
(matched by path glob, SHA-256 or marker), executions are ``script`` trace events and
entries of ``ScriptsState.runs``, and effects go through the fake's own traced methods.
"""

from __future__ import annotations

import hashlib
import random
import textwrap
from pathlib import Path

import pytest

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.errors import NotModelled, ScenarioError
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.scripts import (
    AddUser,
    CreateFile,
    ScriptDeclaration,
    ScriptRunSpec,
    SetHostName,
    SetRegistryValue,
    declaration_from_spec,
)
from guestsim.simulator.windows.state import WindowsState

SCRIPT = "C:\\Scripts\\setup.ps1"
POWERSHELL_64 = "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe"


def fake(
    *declarations: ScriptDeclaration,
    files: dict[str, bytes] | None = None,
    state: WindowsState | None = None,
) -> FakeOSUtils:
    state = state or default_windows_state()
    state.scripts.declarations = list(declarations)
    for path, data in (files or {}).items():
        state.files.make_dirs(path.rsplit("\\", 1)[0])
        state.files.write(path, data)

    def refuse(*_: object) -> None:
        raise AssertionError("not expected")

    hooks = MachineHooks(
        sleep=lambda _: None, reboot=refuse, service_stopped=refuse, run_as_user=lambda *_: 0
    )
    return FakeOSUtils(state, Trace(), random.Random(0), hooks)


def events(osutils: FakeOSUtils, kind: str = "script") -> list[dict[str, object]]:
    return [dict(e.fields) for e in osutils.trace.of_kind(kind)]


# --- matching and run sequences ------------------------------------------------------------


def test_an_undeclared_script_exits_0_with_no_effect() -> None:
    osutils = fake(files={SCRIPT: b"# anything\n"})
    files_before = osutils.state.files.snapshot()
    assert osutils.execute_powershell_script(SCRIPT) == (b"", b"", 0)
    (event,) = events(osutils)
    assert event["declaration"] is None and event["run"] == 1 and event["exit_code"] == 0
    assert event["interpreter"] == "powershell"
    assert event["sha256"] == hashlib.sha256(b"# anything\n").hexdigest()
    assert osutils.state.files.snapshot() == files_before
    assert events(osutils, "os") == []


@pytest.mark.parametrize(
    "declaration",
    [
        ScriptDeclaration("d", path="c:\\scripts\\*.PS1"),
        ScriptDeclaration("d", path="C:\\*"),
        ScriptDeclaration("d", sha256=hashlib.sha256(b"# marker-x\n").hexdigest().upper()),
        ScriptDeclaration("d", marker="marker-x"),
        ScriptDeclaration("d", path="*.ps1", marker="marker-x"),
    ],
    ids=["glob-case-insensitive", "glob-crosses-folders", "sha256", "marker", "path-and-marker"],
)
def test_declarations_match_by_path_glob_sha256_or_marker(declaration: ScriptDeclaration) -> None:
    osutils = fake(declaration, files={SCRIPT: b"# marker-x\n"})
    osutils.execute_powershell_script(SCRIPT)
    assert events(osutils)[0]["declaration"] == "d"


@pytest.mark.parametrize(
    "declaration",
    [
        ScriptDeclaration("d", path="C:\\Other\\*"),
        ScriptDeclaration("d", marker="MARKER-X"),  # markers are case-sensitive
        ScriptDeclaration("d", sha256="0" * 64),
        ScriptDeclaration("d", path="*.ps1", marker="absent"),  # every matcher must match
    ],
)
def test_declarations_that_do_not_match(declaration: ScriptDeclaration) -> None:
    osutils = fake(declaration, files={SCRIPT: b"# marker-x\n"})
    osutils.execute_powershell_script(SCRIPT)
    assert events(osutils)[0]["declaration"] is None


def test_the_first_matching_declaration_applies() -> None:
    first = ScriptDeclaration("first", marker="x", runs=(ScriptRunSpec(exit_code=1),))
    second = ScriptDeclaration("second", marker="x", runs=(ScriptRunSpec(exit_code=2),))
    osutils = fake(first, second, files={SCRIPT: b"x"})
    assert osutils.execute_powershell_script(SCRIPT)[2] == 1


def test_the_nth_execution_uses_the_nth_run_and_the_last_repeats() -> None:
    runs = tuple(ScriptRunSpec(exit_code=code, stdout=f"run {code}".encode()) for code in (7, 8))
    osutils = fake(ScriptDeclaration("d", marker="x", runs=runs), files={SCRIPT: b"x"})
    results = [osutils.execute_powershell_script(SCRIPT) for _ in range(4)]
    assert [code for _, _, code in results] == [7, 8, 8, 8]
    assert results[0][0] == b"run 7"
    assert [e["run"] for e in events(osutils)] == [1, 2, 3, 4]
    assert osutils.state.scripts.run_counts == {"d": 4}


def test_run_numbers_count_per_declaration_across_scripts_and_reboots() -> None:
    state = default_windows_state()
    declaration = ScriptDeclaration("d", marker="x", runs=(ScriptRunSpec(1), ScriptRunSpec(2)))
    first = fake(declaration, files={SCRIPT: b"x", "C:\\Other\\b.cmd": b"x"}, state=state)
    first.execute_powershell_script(SCRIPT)
    state.power_on()  # a reboot keeps the state, and so the count
    second = fake(declaration, state=state)
    assert second.execute_process(["C:\\Other\\b.cmd"])[2] == 2
    assert [run.run for run in state.scripts.runs] == [1, 2]


def test_a_declaration_without_runs_behaves_like_the_default() -> None:
    osutils = fake(ScriptDeclaration("d", marker="x"), files={SCRIPT: b"x"})
    assert osutils.execute_powershell_script(SCRIPT) == (b"", b"", 0)
    assert events(osutils)[0]["declaration"] == "d"


# --- effects --------------------------------------------------------------------------------


def test_effects_change_the_machine_through_traced_calls() -> None:
    effects = (
        CreateFile("C:\\Deploy\\logs\\out.txt", b"hello"),
        SetRegistryValue("HKLM\\SOFTWARE\\Contoso", "Ready", "REG_DWORD", 1),
        AddUser("svc-app", "Secr3t-Passw0rd", ("Administrators",)),
        SetHostName("app-01"),
    )
    declaration = ScriptDeclaration("d", marker="x", runs=(ScriptRunSpec(effects=effects),))
    osutils = fake(declaration, files={SCRIPT: b"x"})
    osutils.execute_powershell_script(SCRIPT)
    state = osutils.state
    assert state.files.read("C:\\Deploy\\logs\\out.txt") == b"hello"
    assert state.registry.get_value("HKLM\\SOFTWARE\\Contoso", "Ready").data == 1
    assert state.registry.get_value("HKLM\\SOFTWARE\\Contoso", "Ready").type is RegType.REG_DWORD
    assert state.find_user("svc-app") is not None
    group = state.find_group("Administrators")
    assert group is not None and "svc-app" in group.members
    # The new name applies at the next boot, as Windows does.
    assert state.pending_computer_name == "app-01"
    calls = [e["call"] for e in events(osutils, "os")]
    assert calls == [
        "make_dirs",
        "write_file",
        "set_registry_value",
        "create_user",
        "add_user_to_local_group",
        "add_user_to_local_group",
        "set_host_name",
    ]
    # The effects follow the script event in the trace.
    kinds = [e.kind for e in osutils.trace.events]
    assert kinds[0] == "script"


def test_an_error_run_raises_without_exit_code_or_effects() -> None:
    run = ScriptRunSpec(effects=(CreateFile("C:\\x.txt", b"x"),), error="Access is denied")
    osutils = fake(ScriptDeclaration("d", marker="x", runs=(run,)), files={SCRIPT: b"x"})
    with pytest.raises(OSUtilsError, match="Access is denied"):
        osutils.execute_powershell_script(SCRIPT)
    (event,) = events(osutils)
    assert event["exit_code"] is None and event["error"] == "Access is denied"
    assert not osutils.state.files.exists("C:\\x.txt")
    assert osutils.state.scripts.runs[0].error == "Access is denied"


# --- interpreters and command lines --------------------------------------------------------


def test_powershell_command_lines_follow_the_sysnative_rules() -> None:
    osutils = fake(files={SCRIPT: b"x"})
    osutils.execute_powershell_script(SCRIPT, sysnative=True)
    osutils.execute_powershell_script(SCRIPT, sysnative=False)
    first, second = events(osutils)
    options = ["-ExecutionPolicy", "RemoteSigned", "-NonInteractive", "-File", SCRIPT]
    assert first["args"] == [POWERSHELL_64, *options]
    assert first["interpreter"] == "powershell"
    assert second["args"] == [
        "C:\\Windows\\syswow64\\WindowsPowerShell\\v1.0\\powershell.exe",
        *options,
    ]
    assert second["interpreter"] == "powershell_x86"


class _Wow64Agent(FakeOSUtils):
    """A 32-bit agent on 64-bit Windows: the sysnative alias exists for it."""

    def check_sysnative_dir_exists(self) -> bool:
        return True


def test_sysnative_powershell_comes_from_the_sysnative_alias_when_it_exists() -> None:
    plain = fake(files={SCRIPT: b"x"})
    osutils = _Wow64Agent(plain.state, plain.trace, plain.rng, plain.hooks)
    osutils.execute_powershell_script(SCRIPT, sysnative=True)
    (event,) = events(osutils)
    assert isinstance(event["args"], list)
    assert event["args"][0] == "C:\\Windows\\sysnative\\WindowsPowerShell\\v1.0\\powershell.exe"
    assert event["interpreter"] == "powershell"


def test_nano_server_powershell_has_no_options() -> None:
    state = default_windows_state()
    state.version.nano_server = True
    osutils = fake(files={SCRIPT: b"x"}, state=state)
    osutils.execute_powershell_script(SCRIPT)
    assert events(osutils)[0]["args"] == [POWERSHELL_64, SCRIPT]


@pytest.mark.parametrize(
    ("args", "shell", "interpreter"),
    [
        (["python", "C:\\s\\a.py"], False, "python"),
        (["bash", "C:\\s\\a.py"], False, "bash"),
        (["C:\\s\\a.cmd"], True, "cmd"),
        (["C:\\s\\a.bat"], True, "cmd"),
        (["C:\\s\\a.exe"], True, "exe"),
    ],
)
def test_interpreters_are_recognised_from_the_command_line(
    args: list[str], shell: bool, interpreter: str
) -> None:
    osutils = fake(files={args[-1]: b"x"})
    osutils.execute_process(args, shell=shell)
    assert events(osutils)[0]["interpreter"] == interpreter
    assert events(osutils)[0]["path"] == args[-1]


def test_a_missing_script_for_an_interpreter_is_not_modelled() -> None:
    with pytest.raises(NotModelled, match="python running"):
        fake().execute_process(["python", "C:\\missing.py"], shell=False)


@pytest.mark.parametrize("program", ["C:\\missing.cmd", "C:\\missing.exe"])
def test_a_missing_program_file_cannot_be_started(program: str) -> None:
    with pytest.raises(FileNotFoundError):
        fake().execute_process([program])


def test_system_programs_still_go_to_the_system_commands() -> None:
    osutils = fake()
    with pytest.raises(NotModelled, match=r"execute_process: running 'cmd\.exe'"):
        osutils.execute_process(["cmd.exe", "/c", "dir"])
    out = osutils.execute_process(["sc.exe", "triggerinfo", "w32time", "delete"])
    assert out[2] == 0
    assert events(osutils) == []


def test_powershell_with_a_command_instead_of_a_file_is_not_modelled() -> None:
    with pytest.raises(NotModelled, match=r"powershell\.exe"):
        fake().execute_process([POWERSHELL_64, "-Command", "Get-Date", "-NoProfile"])


# --- part handler modules ------------------------------------------------------------------


def test_only_python_files_import() -> None:
    with pytest.raises(ImportError):
        fake(files={"C:\\t\\h.txt": b"x"}).load_python_module("C:\\t\\h.txt")


def test_an_undeclared_module_imports_and_defines_nothing() -> None:
    osutils = fake(files={"C:\\t\\h.py": b"x"})
    module = osutils.load_python_module("C:\\t\\h.py")
    assert not hasattr(module, "list_types") and not hasattr(module, "handle_part")
    assert events(osutils, "python_import") == [
        {"path": "C:\\t\\h.py", "declaration": None, "types": None}
    ]


def test_a_declared_part_handler_lists_types_and_its_calls_are_script_runs() -> None:
    runs = (ScriptRunSpec(effects=(CreateFile("C:\\h.log", b"begin"),)), ScriptRunSpec(error="x"))
    declaration = ScriptDeclaration(
        "h", marker="handler", runs=runs, part_handler_types=("text/x-a", "text/x-b")
    )
    osutils = fake(declaration, files={"C:\\t\\h.pyc": b"handler"})
    module = osutils.load_python_module("C:\\t\\h.pyc")
    assert module.list_types() == ["text/x-a", "text/x-b"]
    module.handle_part(None, "__begin__", None, None)
    assert osutils.state.files.read("C:\\h.log") == b"begin"
    with pytest.raises(RuntimeError, match="x"):
        module.handle_part(None, "text/x-a", "part.txt", b"payload")
    assert [(e["interpreter"], e["part_event"], e["run"]) for e in events(osutils)] == [
        ("part_handler", "__begin__", 1),
        ("part_handler", "text/x-a", 2),
    ]


# --- ACLs and ownership --------------------------------------------------------------------


def test_admin_acls_and_ownership_are_recorded_and_traced() -> None:
    osutils = fake(files={"C:\\ud\\user-data": b"x"})
    osutils.set_path_admin_acls("C:\\ud")
    osutils.take_path_ownership("C:\\ud\\user-data")
    scripts = osutils.state.scripts
    assert scripts.path_acls == {"c:\\ud": ("S-1-5-18", "S-1-5-32-544")}
    assert scripts.path_owners == {"c:\\ud\\user-data": "NT AUTHORITY\\SYSTEM"}
    assert [e["call"] for e in events(osutils, "os")] == [
        "set_path_admin_acls",
        "take_path_ownership",
    ]


def test_acls_and_ownership_of_a_missing_path_fail() -> None:
    osutils = fake()
    with pytest.raises(OSUtilsError):
        osutils.set_path_admin_acls("C:\\nowhere")
    with pytest.raises(OSUtilsError):
        osutils.take_path_ownership("C:\\nowhere")


def test_ownership_for_a_named_user_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        fake(files={"C:\\a": b""}).take_path_ownership("C:\\a", "Admin")


# --- scenario keys ---------------------------------------------------------------------------


def test_declarations_from_scenario_specs() -> None:
    spec = {
        "marker": "m",
        "runs": [
            {
                "exit_code": 1003,
                "stdout": "out",
                "effects": [
                    {"create_file": {"path": "C:\\a.txt", "content": "é"}},
                    {"registry": {"key": "HKLM\\SOFTWARE\\X", "name": "n", "data": "v"}},
                    {"add_user": {"name": "u", "password": "p"}},
                    {"set_host_name": "h"},
                ],
            },
            {"error": "boom"},
        ],
    }
    declaration = declaration_from_spec(spec, 3)
    assert declaration.name == "scripts[3]"
    first, second = declaration.runs
    assert first.exit_code == 1003 and first.stdout == b"out"
    assert first.effects == (
        CreateFile("C:\\a.txt", "é".encode()),
        SetRegistryValue("HKLM\\SOFTWARE\\X", "n", "REG_SZ", "v"),
        AddUser("u", "p"),
        SetHostName("h"),
    )
    assert second.error == "boom" and second.exit_code == 0


def write_scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SCENARIO = """\
description: LocalScripts files placed by the scenario, one declared.
machine:
  files:
    'C:\\Scripts\\a.cmd': "rem a\\r\\n"
    'C:\\Scripts\\b.ps1': "# b\\n"
cloud:
  type: openstack
  meta_data: {uuid: 11111111-2222-4333-8444-555555555555, hostname: sc}
scripts:
  - name: b-script
    path: 'C:\\Scripts\\b.ps1'
    runs:
      - exit_code: 1002
        effects:
          - create_file: {path: 'C:\\out\\b.txt', content: from b}
agent:
  options:
    DEFAULT:
      local_scripts_path: 'C:\\Scripts'
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.localscripts.LocalScriptsPlugin]
expect:
  boots: 1
  plugins: {LocalScriptsPlugin: next_boot}
  script_runs:
    - {match: b-script, count: 1, interpreter: powershell}
    - {match: 'rem a', count: 1, interpreter: cmd}
    - {match: '*\\a.cmd'}
    - {match: '*.py', count: 0}
  files:
    'C:\\out\\b.txt': {exists: true, content: from b}
    'C:\\Scripts\\a.cmd': {content: "rem a\\r\\n"}
    'C:\\out\\missing.txt': {exists: false}
"""


def test_a_scenario_with_files_scripts_and_script_expectations_passes(tmp_path: Path) -> None:
    outcome = run_scenario(load_scenario(write_scenario(tmp_path, SCENARIO)))
    assert outcome.failures == []


def test_unmet_script_and_file_expectations_are_reported(tmp_path: Path) -> None:
    text = SCENARIO
    for old, new in (
        (
            "{match: b-script, count: 1, interpreter: powershell}",
            "{match: b-script, count: 2, interpreter: cmd}",
        ),
        ("{exists: true, content: from b}", "{content: other}"),
        ("{match: '*.py', count: 0}", "{match: '*.py'}"),
        ("'C:\\out\\missing.txt': {exists: false}", "'C:\\out\\missing.txt': {exists: true}"),
    ):
        assert old in text
        text = text.replace(old, new)
    outcome = run_scenario(load_scenario(write_scenario(tmp_path, text)))
    assert len(outcome.failures) == 4, outcome.failures
    joined = "\n".join(outcome.failures)
    assert "script_runs[0] 'b-script' (cmd): expected 2 run(s), got 0" in joined
    assert "script_runs[3] '*.py': expected at least one run, got none" in joined
    assert "files.C:\\out\\b.txt.content: expected 'other', got 'from b'" in joined
    assert "files.C:\\out\\missing.txt.exists: expected True, got False" in joined


@pytest.mark.parametrize(
    ("replace", "by", "field"),
    [
        ("    path: 'C:\\Scripts\\b.ps1'\n", "", "scripts.0"),
        (
            "          - create_file: {path: 'C:\\out\\b.txt', content: from b}",
            "          - {create_file: {path: 'C:\\x'}, set_host_name: x}",
            "scripts.0.runs.0.effects.0",
        ),
        ("'C:\\Scripts\\a.cmd': \"rem a\\r\\n\"", "'Scripts\\a.cmd': x", "machine.files"),
        (
            "{match: '*.py', count: 0}",
            "{match: '*.py', interpreter: cscript}",
            "expect.script_runs.3.interpreter",
        ),
    ],
    ids=["no-matcher", "two-effect-kinds", "relative-file-path", "unknown-interpreter"],
)
def test_invalid_script_keys_name_the_field(
    tmp_path: Path, replace: str, by: str, field: str
) -> None:
    assert replace in SCENARIO
    with pytest.raises(ScenarioError) as raised:
        load_scenario(write_scenario(tmp_path, SCENARIO.replace(replace, by)))
    assert raised.value.field is not None and raised.value.field.startswith(field)


def test_duplicate_script_names_are_refused(tmp_path: Path) -> None:
    text = SCENARIO.replace("scripts:\n", "scripts:\n  - {name: b-script, marker: x}\n")
    with pytest.raises(ScenarioError, match="duplicate script name 'b-script'"):
        load_scenario(write_scenario(tmp_path, text)).build_machine()
