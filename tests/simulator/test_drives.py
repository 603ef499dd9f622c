"""The fake Windows' logical drives: letters, labels, kinds, and the files on them.

What the agent sees through :class:`FakeOSUtils` (drive roots, CD-ROM drives, volume labels,
files under ``<letter>:\\``) for drives attached to a :class:`WindowsState`, and that they
stay plugged in across reboots.
"""

from __future__ import annotations

import random

import pytest

from guestsim.agent.config import config_from_options
from guestsim.simulator.machine import Machine
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive, drive_letter
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import WindowsState


def fake_os(state: WindowsState) -> FakeOSUtils:
    hooks = MachineHooks(
        sleep=lambda seconds: None,
        reboot=lambda: None,
        service_stopped=lambda name: None,
        run_as_user=lambda args, user: 0,
    )
    return FakeOSUtils(state, Trace(), random.Random(0), hooks)


def test_a_fresh_machine_has_only_the_system_drive() -> None:
    osutils = fake_os(default_windows_state())
    assert osutils.get_logical_drives() == ["C:\\"]
    assert osutils.get_cdrom_drives() == []
    assert osutils.get_volume_label("C:\\") == "Windows"


def test_attached_drives_are_listed_in_letter_order_whatever_the_attach_order() -> None:
    state = default_windows_state()
    state.attach_drive(Drive("F", "DATA", "fixed"))
    state.attach_drive(Drive("D", "config-2", "cdrom"))
    state.attach_drive(Drive("E", None, "cdrom"))
    osutils = fake_os(state)
    assert osutils.get_logical_drives() == ["C:\\", "D:\\", "E:\\", "F:\\"]
    assert osutils.get_cdrom_drives() == ["D:\\", "E:\\"]


@pytest.mark.parametrize("spec", ["D:\\", "D:", "d:\\", "d", "D:/"])
def test_the_volume_label_is_found_however_the_drive_is_written(spec: str) -> None:
    state = default_windows_state()
    state.attach_drive(Drive("D", "config-2", "cdrom"))
    assert fake_os(state).get_volume_label(spec) == "config-2"


def test_a_drive_without_label_or_an_absent_drive_has_no_label() -> None:
    state = default_windows_state()
    state.attach_drive(Drive("E", None, "cdrom"))
    osutils = fake_os(state)
    assert osutils.get_volume_label("E:\\") is None
    assert osutils.get_volume_label("Z:\\") is None
    assert osutils.get_volume_label("not a drive") is None


def test_files_of_a_drive_are_read_through_the_guest_filesystem() -> None:
    state = default_windows_state()
    state.attach_drive(
        Drive("D", "cidata", "cdrom"),
        {"meta-data": b"instance-id: i-1\n", "openstack/latest/user_data": b"#ps1\n"},
    )
    osutils = fake_os(state)
    assert osutils.path_exists("D:\\meta-data")
    assert osutils.read_file("D:\\meta-data") == b"instance-id: i-1\n"
    assert osutils.read_file("d:\\OpenStack\\latest\\user_data") == b"#ps1\n"
    assert osutils.is_dir("D:\\openstack\\latest")
    assert osutils.list_dir("D:\\") == ["meta-data", "openstack"]
    # Nothing leaks onto the system drive.
    assert not osutils.path_exists("C:\\meta-data")


def test_a_drive_that_is_not_attached_does_not_exist() -> None:
    osutils = fake_os(default_windows_state())
    assert not osutils.path_exists("D:\\")
    assert not osutils.path_exists("D:\\E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag")


def test_an_empty_drive_has_an_existing_empty_root() -> None:
    state = default_windows_state()
    state.attach_drive(Drive("E", "EMPTY", "fixed"))
    osutils = fake_os(state)
    assert osutils.is_dir("E:\\")
    assert osutils.list_dir("E:\\") == []


def test_a_letter_can_be_attached_only_once() -> None:
    state = default_windows_state()
    with pytest.raises(ValueError, match="already attached"):
        state.attach_drive(Drive("C", "Other", "fixed"))
    state.attach_drive(Drive("D"))
    with pytest.raises(ValueError, match="already attached"):
        state.attach_drive(Drive("D", kind="cdrom"))


@pytest.mark.parametrize(
    ("letter", "kind"), [("d", "fixed"), ("DD", "fixed"), ("1", "fixed"), ("D", "floppy")]
)
def test_a_drive_needs_one_upper_case_letter_and_a_known_kind(letter: str, kind: str) -> None:
    with pytest.raises(ValueError):
        Drive(letter, None, kind)  # type: ignore[arg-type]


def test_a_file_path_must_name_a_file_under_the_root() -> None:
    state = default_windows_state()
    with pytest.raises(ValueError, match="relative to a drive root"):
        state.attach_drive(Drive("D"), {"\\": b""})


@pytest.mark.parametrize(
    ("spec", "letter"),
    [("C", "C"), ("c:", "C"), ("E:\\", "E"), ("e:/", "E"), ("CD", None), ("", None), (":", None)],
)
def test_drive_letter_parsing(spec: str, letter: str | None) -> None:
    assert drive_letter(spec) == letter


def test_drives_and_their_files_stay_attached_across_reboots() -> None:
    state = default_windows_state()
    state.computer_name = "ALREADY-NAMED"
    state.attach_drive(Drive("D", "config-2", "cdrom"), {"marker.txt": b"kept"})
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [], "plugins": [], "stop_service_on_exit": False}},
        "test",
    )
    machine = Machine(conf, state=state)
    machine.boot(1)
    machine.boot(2)
    assert [d.root for d in machine.state.drives] == ["C:\\", "D:\\"]
    assert machine.state.files.read("D:\\marker.txt") == b"kept"
