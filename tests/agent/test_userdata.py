"""UserDataPlugin on a simulated guest: fetching, decoding, saving and dispatching user data.

Every test boots a machine and asserts what a user of the guest would see: the plugin's
``plugin_end`` event (status stored, reboot flag, success), the stored status, the scripts
the fake Windows ran (``script`` events and its run log), files and the agent's log.
Script detection and execution details are in ``test_userdata_scripts.py``, multipart
in ``test_userdata_multipart.py``.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.plugins.base import PLUGIN_EXECUTE_ON_NEXT_BOOT, PLUGIN_EXECUTION_DONE
from guestsim.agent.userdata.exitcodes import get_plugin_return_value
from guestsim.simulator.clouds import DocumentSource, attach_to_machine, build_clouds
from guestsim.simulator.clouds.ec2 import EC2Cloud
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.scripts import ScriptDeclaration, ScriptRunSpec
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState
from tests.builders import FIXTURES, INSTANCE_ID, openstack_machine

UD = "cloudbaseinit.plugins.common.userdata.UserDataPlugin"
LS = "cloudbaseinit.plugins.common.localscripts.LocalScriptsPlugin"
PLUGINS_KEY = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
TEMP = "C:\\Windows\\Temp"
EC2_SERVICE = "cloudbaseinit.metadata.services.ec2service.EC2Service"


# --- helpers shared by the user-data test modules ------------------------------------------


def declare(name: str, *exit_codes: int, marker: str | None = None, **kw: Any) -> ScriptDeclaration:
    """A script found by ``marker`` (default: its name) exiting with these codes in turn."""
    runs = tuple(ScriptRunSpec(exit_code=code) for code in exit_codes)
    if not any(key in kw for key in ("path", "sha256")):
        marker = marker or name
    return ScriptDeclaration(name, marker=marker, runs=kw.pop("runs", runs), **kw)


def guest(
    declarations: Iterable[ScriptDeclaration] = (), files: Mapping[str, bytes] | None = None
) -> WindowsState:
    state = default_windows_state()
    state.scripts.declarations = list(declarations)
    for path, content in (files or {}).items():
        state.files.make_dirs(path.rsplit("\\", 1)[0])
        state.files.write(path, content)
    return state


def run_user_data(
    user_data: bytes | None,
    declarations: Iterable[ScriptDeclaration] = (),
    options: Mapping[str, Any] | None = None,
    plugins: Sequence[str] = (UD,),
    state: WindowsState | None = None,
    max_boots: int = 10,
) -> RunResult:
    machine, _ = openstack_machine(
        plugins=plugins,
        options=options,
        user_data=user_data,
        state=state if state is not None else guest(declarations),
        max_boots=max_boots,
    )
    return machine.run()


def ends(result: RunResult, plugin: str = "UserDataPlugin") -> list[Event]:
    return [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]


def outcome(result: RunResult, plugin: str = "UserDataPlugin", boot: int = 1) -> tuple[Any, Any]:
    """(status, reboot) the plugin returned in that boot; it must have succeeded."""
    events = [e for e in ends(result, plugin) if e.boot == boot]
    assert len(events) == 1, events
    assert events[0].get("success") is True, events[0]
    return events[0].get("status"), events[0].get("reboot")


def failed(result: RunResult, plugin: str = "UserDataPlugin") -> bool:
    return any(e.get("success") is False for e in ends(result, plugin))


def stored_status(result: RunResult, plugin: str = "UserDataPlugin") -> Any:
    registry = result.state.registry
    if not registry.key_exists(PLUGINS_KEY):
        return None
    values = {name.lower(): value.data for name, value in registry.values(PLUGINS_KEY)}
    return values.get(plugin.lower())


def scripts(result: RunResult, **fields: Any) -> list[Event]:
    return [
        e
        for e in result.trace.of_kind("script")
        if all(e.get(name) == value for name, value in fields.items())
    ]


def interpreters(result: RunResult) -> list[str]:
    return [str(e.get("interpreter")) for e in result.trace.of_kind("script")]


def logged(result: RunResult, fragment: str, level: str | None = None) -> list[str]:
    return [
        line for line in result.log if fragment in line and (level is None or f" {level} " in line)
    ]


def os_calls(result: RunResult, call: str) -> list[Event]:
    return [e for e in result.trace.of_kind("os") if e.get("call") == call]


# --- fetching and decoding ------------------------------------------------------------------


def test_no_user_data_is_done_without_running_anything() -> None:
    result = run_user_data(None)  # the metadata service answers 404
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert stored_status(result) == PLUGIN_EXECUTION_DONE
    assert result.trace.of_kind("script") == []


def test_empty_user_data_is_done_without_running_anything() -> None:
    result = run_user_data(b"")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.trace.of_kind("script") == []
    assert logged(result, "User data content length") == []


def test_the_content_length_is_logged_at_debug() -> None:
    data = b"rem cmd\r\necho hello\r\n"
    result = run_user_data(data)
    assert logged(result, f"User data content length: {len(data)}", "DEBUG")


def test_gzipped_user_data_is_gunzipped_once_and_run() -> None:
    script = b"#ps1\n# gzipped script\nexit 1002\n"
    result = run_user_data(gzip.compress(script, mtime=0), [declare("gzipped script", 1002)])
    assert interpreters(result) == ["powershell"]
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


def test_twice_gzipped_user_data_is_only_gunzipped_once_and_fails_on_its_header() -> None:
    # One gunzip leaves gzip bytes, whose first paragraph is not UTF-8 text.
    script = b"#ps1\nexit 0\n"
    result = run_user_data(gzip.compress(gzip.compress(script, mtime=0), mtime=0))
    assert failed(result)
    assert result.trace.of_kind("script") == []


def _cloud_run(
    cloud_type: str, spec: dict[str, Any], service: str, declarations: Iterable[ScriptDeclaration]
) -> RunResult:
    source = DocumentSource(cloud_type, {"type": cloud_type, **spec})
    state = guest(declarations)
    attach_to_machine(state, source)
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [service], "plugins": [UD]}}, "test"
    )
    return Machine(conf, state=state, clouds=build_clouds(source)).run()


def _gce_metadata(attributes: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (FIXTURES / "clouds" / "gce" / "metadata.json").read_text()
    )
    document["instance"]["attributes"].update(attributes)
    return document


@pytest.mark.parametrize("gzipped", [False, True], ids=["base64", "gzip+base64"])
def test_gce_base64_user_data_is_decoded_then_gunzipped(gzipped: bool) -> None:
    script = b"#ps1_x86\n# gce script\nexit 1002\n"
    payload = gzip.compress(script, mtime=0) if gzipped else script
    attributes = {
        "user-data": base64.b64encode(payload).decode(),
        "user-data-encoding": "base64",
    }
    result = _cloud_run(
        "gce",
        {"metadata": _gce_metadata(attributes)},
        "cloudbaseinit.metadata.services.gceservice.GCEService",
        [declare("gce script", 1002)],
    )
    assert interpreters(result) == ["powershell_x86"]
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


def test_ec2_gzipped_user_data_is_gunzipped_and_run() -> None:
    script = b"<powershell>\n# ec2 gzipped\nexit 1002\n</powershell>\n"
    source = DocumentSource("ec2", {"type": "ec2"})
    clouds = build_clouds(source)
    cloud = clouds[0]
    assert isinstance(cloud, EC2Cloud)
    cloud.model.user_data = gzip.compress(script, mtime=0)
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [EC2_SERVICE], "plugins": [UD]}}, "test"
    )
    result = Machine(conf, state=guest([declare("ec2 gzipped", 1002)]), clouds=clouds).run()
    assert scripts(result, declaration="ec2 gzipped", interpreter="powershell")
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


# --- saving ----------------------------------------------------------------------------------


def test_userdata_save_path_expands_variables_and_writes_the_bytes() -> None:
    data = b"rem cmd\r\necho saved\r\n"
    result = run_user_data(data, options={"userdata_save_path": "%SystemDrive%\\ud\\user-data"})
    files = result.state.files
    assert files.read("C:\\ud\\user-data") == data
    # The folder is created, then restricted to SYSTEM and Administrators.
    assert result.state.scripts.path_acls["c:\\ud"] == ("S-1-5-18", "S-1-5-32-544")
    assert [e.get("path") for e in os_calls(result, "set_path_admin_acls")] == ["C:\\ud"]
    # ... and the user data still runs.
    assert interpreters(result) == ["cmd"]


def test_an_existing_saved_file_is_taken_over_and_replaced() -> None:
    state = guest(files={"C:\\ud\\user-data": b"old contents"})
    result = run_user_data(
        b"rem cmd\r\nnew\r\n", options={"userdata_save_path": "C:\\ud\\user-data"}, state=state
    )
    assert result.state.files.read("C:\\ud\\user-data") == b"rem cmd\r\nnew\r\n"
    assert result.state.scripts.path_owners["c:\\ud\\user-data"] == "NT AUTHORITY\\SYSTEM"
    calls = [e.get("call") for e in result.trace.of_kind("os")]
    assert calls.index("take_path_ownership") < calls.index("remove_path")
    # The existing folder's ACLs are reset on every save, as the reference states it.
    assert result.state.scripts.path_acls["c:\\ud"] == ("S-1-5-18", "S-1-5-32-544")


def test_a_relative_save_path_resolves_from_the_service_working_folder() -> None:
    result = run_user_data(b"rem cmd\r\n", options={"userdata_save_path": "ud\\user-data"})
    assert result.state.files.read("C:\\Windows\\system32\\ud\\user-data") == b"rem cmd\r\n"


def test_a_save_folder_that_is_a_file_fails_the_plugin() -> None:
    state = guest(files={"C:\\ud": b"not a folder"})
    result = run_user_data(
        b"rem cmd\r\n", options={"userdata_save_path": "C:\\ud\\user-data"}, state=state
    )
    assert failed(result)
    assert stored_status(result) is None
    assert result.trace.of_kind("script") == []


def test_process_userdata_false_saves_but_runs_nothing() -> None:
    result = run_user_data(
        b"#ps1\nexit 1003\n",
        options={"userdata_save_path": "C:\\ud\\user-data", "process_userdata": False},
    )
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.files.read("C:\\ud\\user-data") == b"#ps1\nexit 1003\n"
    assert result.trace.of_kind("script") == []


# --- dispatch --------------------------------------------------------------------------------


def test_a_header_that_is_not_utf8_fails_the_plugin_and_it_runs_again_next_boot() -> None:
    machine, _ = openstack_machine(
        plugins=(UD, "hostname"), user_data=b"#ps1\n\xff\xfe broken\n", state=guest()
    )
    result = machine.run()
    assert failed(result)
    assert logged(result, "No header could be found", "ERROR")
    assert stored_status(result) is None  # nothing stored: the next boot tries again
    assert result.boot_count == 2
    assert [e.boot for e in ends(result)] == [1, 2]


def test_bytes_after_the_first_paragraph_need_not_be_utf8() -> None:
    result = run_user_data(b"rem cmd\r\necho one\n\n\xff\xfe binary tail\n")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert interpreters(result) == ["cmd"]


def test_the_multipart_marker_is_case_sensitive() -> None:
    data = b'content-type: multipart/mixed; boundary="b"\n\n--b\n\n#ps1\n--b--\n'
    result = run_user_data(data)
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.trace.of_kind("script") == []
    assert logged(result, "Unsupported user_data format", "WARNING")
    assert logged(result, "Userdata plugin not found") == []


def test_the_multipart_marker_counts_only_in_the_first_paragraph() -> None:
    data = b"#ps1\n# script first\n\nContent-Type: multipart/mixed\n"
    result = run_user_data(data, [declare("script first", 1002)])
    assert interpreters(result) == ["powershell"]
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        b"\r\n  -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    ],
    ids=["at-start", "after-whitespace"],
)
def test_a_certificate_is_not_executed(data: bytes) -> None:
    result = run_user_data(data)
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.trace.of_kind("script") == []
    assert logged(result, "Unsupported user_data format") == []


def test_unrecognised_user_data_is_a_warning_and_done() -> None:
    result = run_user_data(b"just some text\n")
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert logged(result, "Unsupported user_data format", "WARNING")


def test_cloud_config_user_data_goes_to_the_cloud_config_plugin() -> None:
    data = b"#cloud-config\nwrite_files:\n  - path: C:\\cc\\hello.txt\n    content: hi\n"
    result = run_user_data(data)
    assert outcome(result) == (PLUGIN_EXECUTION_DONE, False)
    assert result.state.files.read("C:\\cc\\hello.txt") == b"hi"
    assert result.trace.of_kind("script") == []


def test_cloud_config_must_start_at_the_first_byte() -> None:
    result = run_user_data(b" #cloud-config\nwrite_files: []\n")
    assert logged(result, "Unsupported user_data format", "WARNING")


def test_cloud_config_without_its_user_data_plugin_fails_the_plugin() -> None:
    only_shell = ["cloudbaseinit.plugins.common.userdataplugins.shellscript.ShellScriptPlugin"]
    result = run_user_data(b"#cloud-config\n{}\n", options={"user_data_plugins": only_shell})
    assert failed(result)


def test_a_jinja_template_is_rendered_before_dispatch() -> None:
    data = b"## template: jinja\n#ps1\n# rendered for {{ v1.instance_id }}\nexit 1002\n"
    result = run_user_data(data, [declare("rendered", 1002, marker=f"for {INSTANCE_ID}")])
    assert scripts(result, declaration="rendered", interpreter="powershell")
    assert outcome(result) == (PLUGIN_EXECUTE_ON_NEXT_BOOT, False)


# --- exit codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        (0, (1, False)),
        (1, (1, False)),
        (1000, (1, False)),
        (1001, (1, True)),
        (1002, (2, False)),
        (1003, (2, True)),
        (1004, (1, False)),
        (-1001, (1, False)),
        (2002, (1, False)),
        ("1001", (1, True)),
        (1003.0, (2, True)),
        (None, (1, False)),
        ("not a number", (1, False)),
        (object(), (1, False)),
        (float("nan"), (1, False)),
    ],
)
def test_exit_code_mapping(exit_code: Any, expected: tuple[int, bool]) -> None:
    assert get_plugin_return_value(exit_code) == expected


@pytest.mark.parametrize(
    ("exit_code", "status", "reboot"),
    [
        (0, PLUGIN_EXECUTION_DONE, False),
        (1, PLUGIN_EXECUTION_DONE, False),
        (1001, PLUGIN_EXECUTION_DONE, True),
        (1002, PLUGIN_EXECUTE_ON_NEXT_BOOT, False),
        (1003, PLUGIN_EXECUTE_ON_NEXT_BOOT, True),
        (1004, PLUGIN_EXECUTION_DONE, False),
    ],
)
def test_a_scripts_exit_code_is_the_plugins_result(
    exit_code: int, status: int, reboot: bool
) -> None:
    result = run_user_data(b"#ps1\n# the script\n", [declare("the script", exit_code, 0)])
    assert outcome(result) == (status, reboot)
    assert logged(result, f"User_data script ended with return code: {exit_code}", "INFO")


def test_1001_reboots_once_and_never_runs_again() -> None:
    result = run_user_data(b"#ps1\n# once\n", [declare("once", 1001)])
    assert result.boot_count == 2
    assert [e.boot for e in scripts(result, declaration="once")] == [1]
    assert stored_status(result) == PLUGIN_EXECUTION_DONE


def test_1003_runs_again_after_the_reboot_until_it_exits_0() -> None:
    result = run_user_data(b"#ps1\n# converge\n", [declare("converge", 1003, 1003, 0)])
    assert result.boot_count == 3
    assert [e.get("exit_code") for e in scripts(result, declaration="converge")] == [1003, 1003, 0]
    assert stored_status(result) == PLUGIN_EXECUTION_DONE


def test_1003_forever_is_a_reboot_loop() -> None:
    result = run_user_data(b"#ps1\n# forever\n", [declare("forever", 1003)], max_boots=4)
    assert result.reboot_loop
    assert len(scripts(result, declaration="forever")) == 4


def test_1002_without_reboot_runs_again_at_the_next_boot() -> None:
    machine, _ = openstack_machine(
        plugins=(UD, "hostname"),
        user_data=b"#ps1\n# again\n",
        state=guest([declare("again", 1002)]),
    )
    result = machine.run()
    # The host name change reboots once; the script runs in both boots.
    assert [e.boot for e in scripts(result, declaration="again")] == [1, 2]
    assert stored_status(result) == PLUGIN_EXECUTE_ON_NEXT_BOOT
