"""Paths real Windows treats specially: refused as Windows refuses them, or ``not_modelled``.

A drive the guest has no disk for is not found, as on Windows; ``\\\\?\\C:\\...`` is the
same file as ``C:\\...``. UNC shares, the device namespace, device names (``NUL``,
``COM1.txt``) and alternate data streams are not modelled: the call stops the run with a
``not_modelled`` finding naming the path, rather than passing for an ordinary file. Both
agents meet the same rules, since the published one's ``open``/``os`` reach the same
fake Windows.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from guestsim.simulator.errors import NotModelled, ScenarioError
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.windows.filesystem import GuestFilesystem
from tests.simulator.test_fake_windows import make_guest
from tests.upstream.conftest import UPSTREAM_MISSING

NOT_MODELLED = {
    "NUL": "device name NUL",
    "C:\\NUL": "device name NUL",
    "C:\\Windows\\Temp\\con": "device name con",
    "C:\\COM1": "device name COM1",
    "C:\\LPT1": "device name LPT1",
    "C:\\nul.txt": "device name nul",
    "C:\\Logs\\LPT1.log": "device name LPT1",
    "C:\\nul .txt": "device name nul",
    "C:\\CONOUT$": "device name CONOUT$",
    "C:\\NUL\\x": "device name NUL",
    "C:\\a.txt:stream": "alternate data stream (a.txt:stream)",
    "C:\\file.txt:stream:$DATA": "alternate data stream (file.txt:stream:$DATA)",
    "C:\\x:stream": "alternate data stream (x:stream)",
    "C:\\Windows\\Temp\\a.txt::$DATA": "alternate data stream",
    "\\\\server\\share": "UNC path",
    "\\\\server\\share\\x.txt": "UNC path",
    "//server/share/x.txt": "UNC path",
    "\\\\?\\UNC\\server\\share\\x.txt": "UNC path",
    "\\\\.\\C:\\x.txt": "device-namespace path",
    "\\\\.\\PHYSICALDRIVE0": "device-namespace path",
    "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1\\x": "path to no drive or volume",
    "C:x.txt": "drive-relative path",
    "\\\\?\\C:\\a\\..\\b.txt": "taken literally",
    "\\\\?\\C:\\a.txt.": "taken literally",
    "\\\\?\\C:/a.txt": "'/' (not a separator there)",
}


@pytest.mark.parametrize(("path", "what"), NOT_MODELLED.items(), ids=NOT_MODELLED.keys())
def test_each_call_on_a_path_the_guest_has_no_model_of_stops_naming_it(
    path: str, what: str
) -> None:
    guest = make_guest()
    calls: dict[str, Callable[[], object]] = {
        "path_exists": lambda: guest.os.path_exists(path),
        "is_dir": lambda: guest.os.is_dir(path),
        "list_dir": lambda: guest.os.list_dir(path),
        "read_file": lambda: guest.os.read_file(path),
        "write_file": lambda: guest.os.write_file(path, b"x"),
        "make_dirs": lambda: guest.os.make_dirs(path),
        "remove_path": lambda: guest.os.remove_path(path),
    }
    for name, call in calls.items():
        with pytest.raises(NotModelled) as stopped:
            call()
        assert repr(path) in stopped.value.what, name
        assert what in stopped.value.what, name
    # Stopped before the call took effect: no change traced, nothing written.
    assert guest.os_events() == []


def test_a_drive_the_guest_has_no_disk_for_is_not_found_as_on_windows() -> None:
    # Python on Windows: FileNotFoundError, errno ENOENT, for a file on a missing drive
    # (the fake's other "cannot find" errors are the same).
    guest = make_guest()
    assert not guest.os.path_exists("D:\\x.txt")
    assert not guest.os.is_dir("D:\\")
    for call in (
        lambda: guest.os.write_file("D:\\x.txt", b"x"),
        lambda: guest.os.write_file("D:\\", b"x"),  # the root itself, too
        lambda: guest.os.read_file("D:\\x.txt"),
        lambda: guest.os.list_dir("D:\\"),
        lambda: guest.os.make_dirs("D:\\folder"),
        lambda: guest.os.remove_path("D:\\x.txt"),
        lambda: guest.os.remove_path("D:\\"),
    ):
        with pytest.raises(FileNotFoundError) as missing:
            call()
        assert missing.value.errno == errno.ENOENT


def test_the_long_path_prefix_names_the_same_file_literally() -> None:
    drive = GuestFilesystem()
    drive.make_dirs("\\\\?\\C:\\Data")
    drive.write("\\\\?\\C:\\Data\\a.txt", b"one")
    assert drive.read("C:\\data\\A.TXT") == b"one"
    assert drive.list_dir("\\\\?\\c:\\DATA") == ["a.txt"]
    # Taken literally, a device's name is an ordinary file (reachable only so).
    drive.write("\\\\?\\C:\\Data\\nul", b"two")
    assert drive.read("\\\\?\\C:\\Data\\NUL") == b"two"
    assert drive.list_dir("C:\\Data") == ["a.txt", "nul"]


def test_trailing_dots_and_spaces_are_dropped_from_names_as_win32_does() -> None:
    drive = GuestFilesystem()
    drive.write("C:\\a.txt.", b"x")
    drive.make_dirs("C:\\Logs \\Old...")
    assert drive.read("C:\\a.txt  ") == b"x"
    assert drive.list_dir("C:\\") == sorted(["Logs", "Program Files", "Users", "Windows", "a.txt"])
    assert drive.is_dir("C:\\Logs\\Old")


@pytest.mark.parametrize("name", ["a?b", "a*", "a<b", "a>b", 'a"b', "a|b", "a\tb"])
def test_a_name_windows_refuses_is_an_invalid_argument(name: str) -> None:
    drive = GuestFilesystem()
    assert not drive.exists(f"C:\\{name}")
    with pytest.raises(OSError) as refused:
        drive.write(f"C:\\{name}", b"x")
    assert refused.value.errno == errno.EINVAL


def test_volume_paths_keep_working() -> None:
    drive = GuestFilesystem()
    volume = "\\\\?\\Volume{f63e8700-0348-5d98-a5a7-217501b993bc}"
    drive.add_root(volume)
    drive.write(f"{volume}\\meta_data.json", b"{}")
    assert drive.read(f"{volume}\\META_DATA.json") == b"{}"
    assert drive.list_dir(f"{volume}\\") == ["meta_data.json"]


# --- both agents, through a scenario ------------------------------------------------------

SCENARIO = """\
description: cloud-config write_files to {path}
cloud:
  type: openstack
  meta_data: {{uuid: 5e1c2a9b-7d34-4f80-a6b2-3c9d8e0f1a27, hostname: web-01}}
  user_data: |
    #cloud-config
    write_files:
      - path: '{path}'
        content: "hello"
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.userdata.UserDataPlugin]
expect:
  boots: 1
  outcome: {outcome}
"""

AGENTS = [
    "guestsim",
    pytest.param(
        "upstream",
        marks=pytest.mark.skipif(UPSTREAM_MISSING, reason="the published agent is not installed"),
    ),
]


def _run(tmp_path: Path, program: str, path: str, outcome: str) -> ScenarioOutcome:
    from guestsim.simulator.upstream import UpstreamAgent

    file = tmp_path / "scenario.yaml"
    file.write_text(SCENARIO.format(path=path, outcome=outcome), encoding="utf-8")
    agent = UpstreamAgent() if program == "upstream" else None
    return run_scenario(load_scenario(file), agent=agent)


@pytest.mark.parametrize("program", AGENTS)
@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("NUL", "device name NUL"),
        ("C:\\ProgramData\\nul.txt", "'C:\\\\ProgramData\\\\nul.txt': the device name nul"),
        ("C:\\a.txt:stream", "'C:\\\\a.txt:stream': an alternate data stream"),
        ("\\\\server\\share\\x.txt", "UNC path"),
    ],
)
def test_writing_a_device_a_stream_or_a_share_is_a_not_modelled_finding_naming_it(
    tmp_path: Path, program: str, path: str, named: str
) -> None:
    # A gap is never an expected outcome: the scenario expects "stopped" and is told why not.
    outcome = _run(tmp_path, program, path, "stopped")
    (failure,) = outcome.failures
    assert "got 'not_modelled'" in failure and named in failure
    (gap,) = outcome.result.trace.of_kind("not_modelled")
    assert named in gap.get("what")


@pytest.mark.parametrize("program", AGENTS)
def test_writing_to_a_missing_drive_fails_with_the_windows_error(
    tmp_path: Path, program: str
) -> None:
    outcome = _run(tmp_path, program, "D:\\x.txt", "stopped")
    assert outcome.failures == []
    errors = [line for line in outcome.result.log if " ERROR " in line]
    assert len(errors) == 1
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'D:\\\\'" in errors[0]


@pytest.mark.parametrize("program", AGENTS)
def test_writing_through_the_long_path_prefix_writes_the_file(tmp_path: Path, program: str) -> None:
    outcome = _run(tmp_path, program, "\\\\?\\C:\\ProgramData\\long.txt", "stopped")
    assert outcome.failures == []
    files = outcome.result.state.files
    assert files.read("C:\\ProgramData\\long.txt").replace(b"\r\n", b"\n") == b"hello"


@pytest.mark.parametrize(
    ("section", "entry"),
    [
        ("machine", 'files: {"C:\\\\ProgramData\\\\nul.txt": "x"}'),
        ("expect", 'files: {"C:\\\\a.txt:stream": {exists: false}}'),
        ("expect", 'folders: {"C:\\\\Logs\\\\CON": {exists: false}}'),
    ],
)
def test_a_scenario_naming_a_path_the_guest_cannot_hold_is_refused_when_loaded(
    tmp_path: Path, section: str, entry: str
) -> None:
    text = SCENARIO.format(path="C:\\x.txt", outcome="stopped")
    text = text + f"  {entry}\n" if section == "expect" else text + f"machine:\n  {entry}\n"
    file = tmp_path / "scenario.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(file)
    assert refused.value.field == f"{section}.{entry.split(':')[0]}"
    assert "not modelled by the simulated Windows" in refused.value.message
