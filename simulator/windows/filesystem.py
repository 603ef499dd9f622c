"""The guest's disks as seen by Windows: an in-memory pyfakefs tree with Windows paths."""

from __future__ import annotations

import hashlib
from typing import Any

from pyfakefs import fake_filesystem, fake_open, fake_os
from pyfakefs.fake_filesystem import OSType

SYSTEM_DRIVE = "C:"
WINDOWS_DIR = "C:\\Windows"
TEMP_DIR = "C:\\Windows\\Temp"

_BASE_DIRS = (
    "C:\\Windows\\System32",
    "C:\\Windows\\SysWOW64",
    TEMP_DIR,
    "C:\\Users",
    "C:\\Program Files",
    "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\conf",
    "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\bin",
    # The installer creates it empty; the stock conf's local_scripts_path points here.
    "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\LocalScripts",
    "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\log",
)


class GuestFilesystem:
    """Never touches the host: every byte lives in this object, kept across reboots."""

    def __init__(self) -> None:
        self.fs = fake_filesystem.FakeFilesystem(path_separator="\\")
        self.fs.os = OSType.WINDOWS
        self.os: Any = fake_os.FakeOsModule(self.fs)
        self._open: Any = fake_open.FakeFileOpen(self.fs)
        for path in _BASE_DIRS:
            self.fs.create_dir(path)

    def exists(self, path: str) -> bool:
        return bool(self.os.path.exists(path))

    def is_dir(self, path: str) -> bool:
        return bool(self.os.path.isdir(path))

    def list_dir(self, path: str) -> list[str]:
        return sorted(self.os.listdir(path))

    def make_dirs(self, path: str) -> None:
        self.os.makedirs(path, exist_ok=True)

    def read(self, path: str) -> bytes:
        with self._open(path, "rb") as handle:
            data: bytes = handle.read()
        return data

    def write(self, path: str, data: bytes, append: bool = False) -> None:
        with self._open(path, "ab" if append else "wb") as handle:
            handle.write(data)

    def remove(self, path: str) -> None:
        if self.os.path.isdir(path):
            for name in self.os.listdir(path):
                self.remove(self.os.path.join(path, name))
            self.os.rmdir(path)
        else:
            self.os.remove(path)

    def clear_temp(self) -> None:
        for name in self.list_dir(TEMP_DIR):
            self.remove(f"{TEMP_DIR}\\{name}")

    def snapshot(self) -> dict[str, str]:
        """Every file's path mapped to the SHA-256 of its bytes, in a stable order."""
        files: dict[str, str] = {}
        for root, _dirs, names in self.os.walk(f"{SYSTEM_DRIVE}\\"):
            for name in names:
                path = self.os.path.join(root, name)
                files[path] = hashlib.sha256(self.read(path)).hexdigest()
        return dict(sorted(files.items(), key=lambda item: item[0].lower()))
