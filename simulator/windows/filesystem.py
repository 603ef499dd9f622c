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
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

from guestsim.simulator.errors import NotModelled

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


def _size(entry: _File | _Folder) -> int:
    if isinstance(entry, _File):
        return len(entry.data)
    return sum(_size(child) for child in entry.entries.values())


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
    errno.EINVAL: "Invalid argument",
}


# Names Win32 opens as a device in any folder, with any extension (``nul.txt``) or trailing
# spaces: Windows 11 narrowed the rule, so which ones a file is depends on the version.
_DEVICE_NAME = re.compile(
    r"(con|prn|aux|nul|conin\$|conout\$|(?:com|lpt)[1-9\u00b9\u00b2\u00b3]) *(?:\.|$)", re.I
)
_DEVICE_START = frozenset(["con", "prn", "aux", "nul", "com", "lpt"])
# No file or folder name can hold these; ":" is taken apart as a stream name below.
_INVALID_NAME = re.compile(r'[<>"|?*\x00-\x1f]')
_SPECIAL = re.compile(r'[<>"|?*:\x00-\x1f]')


def _not_modelled(path: str, what: str) -> NotModelled:
    return NotModelled(f"guest path {path!r}: {what}")


def _split(path: str) -> tuple[str, list[str]]:
    """The root (``c:`` or ``\\\\?\\volume{...}``, lower case) and the names below it.

    As Win32 reads a path: ``.`` and ``..`` are resolved and trailing dots and spaces
    dropped from each name, except after ``\\\\?\\``, which takes the names literally.
    What the guest has no model of stops the run with ``NotModelled`` naming the path:
    UNC shares (``\\\\server\\share``, ``\\\\?\\UNC\\``), other device-namespace paths
    (``\\\\.\\``, ``\\\\?\\GLOBALROOT``), drive-relative paths (``C:name``), device names
    (``NUL``, ``COM1.txt``) and alternate data streams (``a.txt:stream``). A name with a
    character Windows refuses (``<>"|?*``, control characters) is ``EINVAL``, as Windows
    refuses it; a path with no drive at all (relative) is not found.
    """
    unified = path.replace("/", "\\")
    lowered = unified.lower()
    literal = False
    if lowered.startswith(_VOLUME_PREFIX) and "}" in unified:
        end = unified.index("}") + 1
        root, rest = unified[:end].lower(), unified[end:]
    elif lowered.startswith("\\\\?\\"):
        rest = unified[4:]
        if _is_drive(rest) and rest[2:3] in ("\\", ""):
            if "/" in path:
                raise _not_modelled(path, "a \\\\?\\ path with '/' (not a separator there)")
            # The long-path prefix: the same file as without it, its names taken literally.
            root, rest, literal = rest[:2].lower(), rest[2:], True
        elif rest.lower().startswith("unc\\"):
            raise _not_modelled(path, "a UNC path (network share); the guest has no shares")
        else:
            raise _not_modelled(path, "a \\\\?\\ path to no drive or volume")
    elif lowered.startswith("\\\\.\\"):
        raise _not_modelled(path, "a device-namespace path (\\\\.\\)")
    elif unified.startswith("\\\\"):
        raise _not_modelled(path, "a UNC path (network share); the guest has no shares")
    elif _is_drive(unified):
        root, rest = unified[:2].lower(), unified[2:]
        if rest and not rest.startswith("\\"):
            raise _not_modelled(path, "a drive-relative path (from the drive's current folder)")
    else:
        # No drive: a relative or rooted path, not found once its names are checked.
        root, rest = None, unified
    special = _SPECIAL.search(rest) is not None  # rare: look for it name by name
    names: list[str] = []
    for name in rest.split("\\"):
        if literal:
            if name in (".", "..") or name[-1:] in (".", " "):
                raise _not_modelled(path, f"a \\\\?\\ path with the name {name!r} taken literally")
        elif name == "..":
            if names:
                names.pop()
            continue
        elif name[-1:] in (".", " "):
            name = name.rstrip(". ")  # "a.txt." and "a.txt " are "a.txt"; "." is nothing
        if name == "":
            continue
        if special:
            if ":" in name:
                raise _not_modelled(path, f"an alternate data stream ({name})")
            if _INVALID_NAME.search(name):
                raise _error(errno.EINVAL, path)
        if not literal and name[:3].lower() in _DEVICE_START:
            device = _DEVICE_NAME.match(name)
            if device is not None:
                raise _not_modelled(path, f"the device name {device.group(1)}")
        names.append(name)
    if root is None:
        # Nothing resolves it against a current folder (the published agent's shims do).
        raise _error(errno.ENOENT, path)
    return root, names


def not_modelled_reason(path: str) -> str | None:
    """Why the simulated Windows has no model of ``path``; None when it has one (for
    checking a scenario's paths before its run)."""
    try:
        _split(path)
    except NotModelled as gap:
        return gap.what
    except OSError:
        pass
    return None


def _is_drive(path: str) -> bool:
    return path[1:2] == ":" and path[:1].isascii() and path[:1].isalpha()


class GuestFilesystem:
    """Never touches the host: every byte lives in this object, kept across reboots."""

    def __init__(self) -> None:
        self._roots: dict[str, _Folder] = {}
        # What every file on every drive holds together (the guest's used disk space).
        self.used_bytes = 0
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
        folder = self._roots.get(root)
        if folder is None:
            # No such drive: Windows cannot find the path, even to the root itself.
            raise _error(errno.ENOENT, path)
        if not names:
            raise _error(errno.EACCES, path)
        for name in names[:-1]:
            entry = folder.entries.get(name.lower()) if folder is not None else None
            folder = entry if isinstance(entry, _Folder) else None
        if folder is None:
            raise _error(errno.ENOENT, path)
        return folder, names[-1]

    def check_modelled(self, path: str) -> None:
        """Raise ``NotModelled`` for a path the guest has no model of (see ``_split``)."""
        with suppress(OSError):  # a path Windows refuses is answered by the operation
            _split(path)

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
            self.used_bytes += len(data)
        else:
            self.used_bytes += len(data) if append else len(data) - len(entry.data)
            entry.data = entry.data + bytes(data) if append else bytes(data)

    def remove(self, path: str) -> None:
        """Delete a file, or a folder with everything in it."""
        folder, name = self._parent(path)
        entry = folder.entries.pop(name.lower(), None)
        if entry is None:
            raise _error(errno.ENOENT, path)
        self.used_bytes -= _size(entry)

    def clear_temp(self) -> None:
        temp = self._folder(TEMP_DIR)
        self.used_bytes -= _size(temp)
        temp.entries.clear()

    def size_of(self, path: str) -> int:
        """The bytes of the file at ``path`` (0: no file there)."""
        entry = self._find(path)
        return len(entry.data) if isinstance(entry, _File) else 0

    def snapshot(self) -> dict[str, str]:
        """Every file's path mapped to the SHA-256 of its bytes, in a stable order."""
        return {
            path: hashlib.sha256(self.read(path)).hexdigest()
            for path in self.files_under(f"{SYSTEM_DRIVE}\\")
        }
