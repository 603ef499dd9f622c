"""The guest's disks as seen by Windows: an in-memory tree with Windows path rules.

Names are case-insensitive and keep the case they were created with; ``\\`` and ``/`` both
separate; a path starts at a drive (``C:\\``) or a volume (``\\\\?\\Volume{...}\\``). Each
operation walks a dict per folder, so it costs microseconds: a boot makes hundreds of them
and an exhaustive sweep runs thousands of boots. (pyfakefs, which held the guest disk
before, spent 0.1-0.7 ms on the path rules of each call: more than the agent's own work.)
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

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

_VOLUME_PREFIX = "\\\\?\\volume{"


@dataclass
class _File:
    name: str
    data: bytes = b""


@dataclass
class _Folder:
    name: str
    # Keyed by the lower-case name: Windows compares names without case.
    entries: dict[str, _File | _Folder] = field(default_factory=dict)


def _error(code: int, path: str) -> OSError:
    # OSError picks the subclass from the code (FileNotFoundError, PermissionError ...), as
    # Python on Windows raises for the same errors.
    return OSError(code, _MESSAGES[code], path)


_MESSAGES = {
    errno.ENOENT: "No such file or directory",
    errno.EEXIST: "File exists",
    errno.EACCES: "Permission denied",
    errno.ENOTDIR: "Not a directory",
    errno.ENOTEMPTY: "Directory not empty",
}


def _split(path: str) -> tuple[str, list[str]]:
    """The root (``c:`` or ``\\\\?\\volume{...}``, lower case) and the names below it."""
    unified = path.replace("/", "\\")
    if unified[1:2] == ":" and unified[:1].isalpha():
        root, rest = unified[:2].lower(), unified[2:]
    elif unified.lower().startswith(_VOLUME_PREFIX) and "}" in unified:
        end = unified.index("}") + 1
        root, rest = unified[:end].lower(), unified[end:]
    else:
        # UNC shares, device paths, paths without a drive: this guest has none of those.
        raise _error(errno.ENOENT, path)
    names: list[str] = []
    for name in rest.split("\\"):
        if name in ("", "."):
            continue
        if name == "..":
            if names:
                names.pop()
            continue
        names.append(name)
    return root, names


class GuestFilesystem:
    """Never touches the host: every byte lives in this object, kept across reboots."""

    def __init__(self) -> None:
        self._roots: dict[str, _Folder] = {}
        self.add_root(SYSTEM_DRIVE)
        for path in _BASE_DIRS:
            self.make_dirs(path)

    # --- lookups ---------------------------------------------------------------------------

    def _find(self, path: str) -> _File | _Folder | None:
        try:
            root, names = _split(path)
        except OSError:
            return None
        entry: _File | _Folder | None = self._roots.get(root)
        for name in names:
            if not isinstance(entry, _Folder):
                return None
            entry = entry.entries.get(name.lower())
        return entry

    def _folder(self, path: str) -> _Folder:
        entry = self._find(path)
        if entry is None:
            raise _error(errno.ENOENT, path)
        if not isinstance(entry, _Folder):
            raise _error(errno.ENOTDIR, path)
        return entry

    def _parent(self, path: str) -> tuple[_Folder, str]:
        """The folder that holds ``path`` and the last name; the folder must exist."""
        root, names = _split(path)
        if not names:
            raise _error(errno.EACCES, path)
        folder = self._roots.get(root)
        for name in names[:-1]:
            entry = folder.entries.get(name.lower()) if folder is not None else None
            folder = entry if isinstance(entry, _Folder) else None
        if folder is None:
            raise _error(errno.ENOENT, path)
        return folder, names[-1]

    def exists(self, path: str) -> bool:
        return self._find(path) is not None

    def is_dir(self, path: str) -> bool:
        return isinstance(self._find(path), _Folder)

    def list_dir(self, path: str) -> list[str]:
        return sorted(entry.name for entry in self._folder(path).entries.values())

    def read(self, path: str) -> bytes:
        entry = self._find(path)
        if entry is None:
            raise _error(errno.ENOENT, path)
        if isinstance(entry, _Folder):
            raise _error(errno.EACCES, path)
        return entry.data

    def walk(self, path: str) -> Iterator[tuple[str, list[str]]]:
        """Each folder under ``path`` (itself first) with its file names, folders sorted."""
        stack = [(path.rstrip("\\/") or path, self._folder(path))]
        while stack:
            folder_path, folder = stack.pop()
            files = sorted(e.name for e in folder.entries.values() if isinstance(e, _File))
            yield folder_path, files
            folders = sorted(
                (e for e in folder.entries.values() if isinstance(e, _Folder)),
                key=lambda e: e.name.lower(),
                reverse=True,
            )
            stack.extend((f"{folder_path}\\{sub.name}", sub) for sub in folders)

    def files_under(self, path: str) -> list[str]:
        """Every file below ``path``, as full paths in case-insensitive order."""
        paths = [f"{folder}\\{name}" for folder, names in self.walk(path) for name in names]
        return sorted(paths, key=str.lower)

    # --- changes ---------------------------------------------------------------------------

    def add_root(self, root: str) -> None:
        """Make a drive (``D:``) or volume (``\\\\?\\Volume{...}``) reachable, empty if new."""
        key, names = _split(root)
        if names:
            raise ValueError(f"not a drive or volume root: {root!r}")
        self._roots.setdefault(key, _Folder(key.upper() if len(key) == 2 else key))

    def make_dirs(self, path: str) -> None:
        root, names = _split(path)
        folder = self._roots.get(root)
        if folder is None:
            # Windows has no drive to create it on: "the system cannot find the path".
            raise _error(errno.ENOENT, path)
        for depth, name in enumerate(names, 1):
            entry = folder.entries.get(name.lower())
            if entry is None:
                entry = folder.entries[name.lower()] = _Folder(name)
            elif not isinstance(entry, _Folder):
                # A file where a folder should be: named itself, it exists; on the way,
                # the path cannot be found.
                raise _error(errno.EEXIST if depth == len(names) else errno.ENOENT, path)
            folder = entry

    def write(self, path: str, data: bytes, append: bool = False) -> None:
        folder, name = self._parent(path)
        entry = folder.entries.get(name.lower())
        if isinstance(entry, _Folder):
            raise _error(errno.EACCES, path)
        if entry is None:
            folder.entries[name.lower()] = _File(name, bytes(data))
        else:
            entry.data = entry.data + bytes(data) if append else bytes(data)

    def remove(self, path: str) -> None:
        """Delete a file, or a folder with everything in it."""
        folder, name = self._parent(path)
        if folder.entries.pop(name.lower(), None) is None:
            raise _error(errno.ENOENT, path)

    def clear_temp(self) -> None:
        self._folder(TEMP_DIR).entries.clear()

    def snapshot(self) -> dict[str, str]:
        """Every file's path mapped to the SHA-256 of its bytes, in a stable order."""
        return {
            path: hashlib.sha256(self.read(path)).hexdigest()
            for path in self.files_under(f"{SYSTEM_DRIVE}\\")
        }
