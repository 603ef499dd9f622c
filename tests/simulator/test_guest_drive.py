"""The guest's drives keep Windows' path rules.

guestsim's own store is checked operation by operation against pyfakefs in its Windows
mode (the store guestsim used before, kept here as the reference): any sequence of
writes, reads, folder creations, listings and removals on paths spelled with either
separator and any letter case gives the same answers and the same errors.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from pyfakefs import fake_filesystem, fake_open, fake_os
from pyfakefs.fake_filesystem import OSType

from guestsim.simulator.windows.filesystem import TEMP_DIR, GuestFilesystem


class PyfakefsDrive:
    """The reference: the same operations on pyfakefs' emulation of Windows."""

    def __init__(self) -> None:
        self.fs = fake_filesystem.FakeFilesystem(path_separator="\\")
        self.fs.os = OSType.WINDOWS
        self.os: Any = fake_os.FakeOsModule(self.fs)
        self.open: Any = fake_open.FakeFileOpen(self.fs)
        self.fs.create_dir("C:\\Windows\\Temp")

    def exists(self, path: str) -> bool:
        return bool(self.os.path.exists(path))

    def is_dir(self, path: str) -> bool:
        return bool(self.os.path.isdir(path))

    def list_dir(self, path: str) -> list[str]:
        return sorted(self.os.listdir(path))

    def make_dirs(self, path: str) -> None:
        self.os.makedirs(path, exist_ok=True)

    def read(self, path: str) -> bytes:
        with self.open(path, "rb") as handle:
            return bytes(handle.read())

    def write(self, path: str, data: bytes, append: bool = False) -> None:
        with self.open(path, "ab" if append else "wb") as handle:
            handle.write(data)

    def remove(self, path: str) -> None:
        if self.os.path.isdir(path):
            for name in self.os.listdir(path):
                self.remove(self.os.path.join(path, name))
            self.os.rmdir(path)
        else:
            self.os.remove(path)


NAMES = st.sampled_from(["a", "A", "b", "Temp", "x.txt", "X.TXT"])
SEPARATORS = st.sampled_from(["\\", "/"])


@st.composite
def paths(draw: st.DrawFn) -> str:
    names = draw(st.lists(NAMES, min_size=1, max_size=4))
    drive = draw(st.sampled_from(["C:", "c:"]))
    separator = draw(SEPARATORS)
    return drive + separator + separator.join(names)


def outcome(call: Any, *args: Any) -> Any:
    try:
        return ("ok", call(*args))
    except IsADirectoryError:
        # pyfakefs raises it for writing ("wb") over a folder but PermissionError for
        # appending ("ab"); Windows refuses both with "access denied", as the store does.
        return ("error", "PermissionError")
    except OSError as ex:
        return ("error", type(ex).__name__)


class SameAnswersAsPyfakefs(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = GuestFilesystem()
        self.store.remove("C:\\Windows")  # start both from the same tree
        self.store.remove("C:\\Users")
        self.store.remove("C:\\Program Files")
        self.store.make_dirs(TEMP_DIR)
        self.reference = PyfakefsDrive()

    def same(self, method: str, path: str, *args: Any) -> None:
        ours = outcome(getattr(self.store, method), path, *args)
        # The store is given "/" as drawn, the reference only "\\": Windows treats both
        # alike, and pyfakefs recurses without end removing a missing "C:/a/a/a/a".
        theirs = outcome(getattr(self.reference, method), path.replace("/", "\\"), *args)
        if method != "list_dir" and theirs == ("error", "NotADirectoryError"):
            # A path through a file: pyfakefs answers as POSIX does; Windows cannot find
            # the path (only listing a file as a folder is "not a directory" there).
            theirs = ("error", "FileNotFoundError")
        assert ours == theirs, f"{method}({path!r}): guestsim {ours}, pyfakefs {theirs}"

    @rule(path=paths(), data=st.binary(max_size=8), append=st.booleans())
    def write(self, path: str, data: bytes, append: bool) -> None:
        self.same("write", path, data, append)

    @rule(path=paths())
    def make_dirs(self, path: str) -> None:
        self.same("make_dirs", path)

    @rule(path=paths())
    def remove(self, path: str) -> None:
        self.same("remove", path)

    @rule(path=paths())
    def look(self, path: str) -> None:
        for method in ("exists", "is_dir", "read", "list_dir"):
            self.same(method, path)


TestSameAnswersAsPyfakefs = SameAnswersAsPyfakefs.TestCase
TestSameAnswersAsPyfakefs.settings = settings(max_examples=150, stateful_step_count=20)


def test_names_keep_their_first_spelling_and_match_in_any_case() -> None:
    drive = GuestFilesystem()
    drive.make_dirs("C:/Data/Logs")
    drive.write("c:\\DATA\\logs\\Run.LOG", b"one")
    drive.write("C:\\data\\LOGS\\run.log", b"two", append=False)
    assert drive.list_dir("C:\\data") == ["Logs"]
    assert drive.list_dir("C:\\Data\\Logs") == ["Run.LOG"]
    assert drive.read("C:/DATA/LOGS/RUN.LOG") == b"two"


def test_dot_names_are_resolved_as_windows_does_and_never_climb_above_the_root() -> None:
    drive = GuestFilesystem()
    drive.make_dirs("C:\\a\\b")
    drive.write("C:\\a\\.\\b\\..\\x", b"x")
    assert drive.read("C:\\a\\x") == b"x"
    assert drive.read("C:\\..\\..\\a\\x") == b"x"


def test_volume_paths_and_drive_letters_are_separate_roots() -> None:
    drive = GuestFilesystem()
    volume = "\\\\?\\Volume{f63e8700-0348-5d98-a5a7-217501b993bc}"
    drive.add_root(volume)
    drive.make_dirs(f"{volume}\\openstack\\latest")
    drive.write(f"{volume}\\openstack\\latest\\meta_data.json", b"{}")
    assert drive.read(f"{volume.upper()}\\OpenStack\\latest\\meta_data.json") == b"{}"
    assert not drive.exists("C:\\openstack")
    assert drive.files_under(volume) == [f"{volume}\\openstack\\latest\\meta_data.json"]


@pytest.mark.parametrize(
    "path",
    ["D:\\x", "D:\\", "relative\\x", "\\rooted-without-drive", ""],
)
def test_paths_this_guest_has_no_drive_for_are_not_found(path: str) -> None:
    # pyfakefs made up a drive for "D:\\x"; Windows answers "cannot find the path".
    drive = GuestFilesystem()
    assert not drive.exists(path)
    with pytest.raises(FileNotFoundError):
        drive.write(path, b"x")
    with pytest.raises(FileNotFoundError):
        drive.make_dirs(path)


def test_an_added_drive_starts_empty_and_holds_files() -> None:
    drive = GuestFilesystem()
    drive.add_root("D:\\")
    assert drive.list_dir("d:") == []
    drive.make_dirs("D:\\openstack")
    assert drive.is_dir("d:/OPENSTACK")


def test_snapshot_lists_every_file_of_the_system_drive_in_case_insensitive_order() -> None:
    drive = GuestFilesystem()
    drive.write("C:\\b.txt", b"b")
    drive.make_dirs("C:\\A")
    drive.write("C:\\A\\z", b"z")
    snapshot = drive.snapshot()
    assert list(snapshot) == ["C:\\A\\z", "C:\\b.txt"]
    assert snapshot["C:\\b.txt"] == (
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
    )


def test_clearing_temp_keeps_the_folder_and_everything_else() -> None:
    drive = GuestFilesystem()
    drive.make_dirs(f"{TEMP_DIR}\\sub")
    drive.write(f"{TEMP_DIR}\\sub\\x", b"x")
    drive.write("C:\\keep", b"k")
    drive.clear_temp()
    assert drive.list_dir(TEMP_DIR) == []
    assert drive.read("C:\\keep") == b"k"
