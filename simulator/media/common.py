"""What every image builder shares: the error type, the fixed clock and file-tree checks.

A *tree* is a mapping from POSIX relative paths (``openstack/latest/meta_data.json``) to
file contents. Directories are implied by the paths; an empty directory cannot be
expressed. The same tree must build as an ISO (ISO9660 + Joliet + Rock Ridge) and as FAT,
and Windows must see every name unchanged, so names are held to the rules all of them
share (see :func:`parse_tree`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from guestsim.simulator.errors import GuestsimError

# Every timestamp written into an image: 2000-01-01T00:00:00Z. Fixed so that the same
# input gives the same bytes on every host, in every time zone, at any time.
FIXED_TIMESTAMP = 946_684_800
FIXED_YEAR, FIXED_MONTH, FIXED_DAY = 2000, 1, 1

# Joliet's limit on one name, applied to every format so that one tree builds as all.
MAX_NAME_LENGTH = 64
# Windows cannot name files with these; Joliet forbids '*', '/', ':', ';', '?' and '\'.
FORBIDDEN_CHARACTERS = frozenset('"*/:;<>?\\|')


class MediaError(GuestsimError, ValueError):
    """An image cannot be built from this input (bad name, label, size...): one line."""


@dataclass(frozen=True)
class Tree:
    """A checked tree: every directory and every file, each sorted by path components."""

    directories: tuple[tuple[str, ...], ...]
    files: tuple[tuple[tuple[str, ...], bytes], ...]

    def nodes(self) -> list[tuple[tuple[str, ...], bytes | None]]:
        """Directories (data None) and files in path order: a parent precedes its children."""
        merged: list[tuple[tuple[str, ...], bytes | None]] = [(d, None) for d in self.directories]
        merged.extend(self.files)
        merged.sort(key=lambda node: node[0])
        return merged

    def digest(self, *context: str) -> bytes:
        """SHA-256 of the tree and ``context`` (e.g. the label): seeds serials and GUIDs."""
        sha = hashlib.sha256()
        for item in context:
            sha.update(item.encode("utf-8") + b"\0")
        for parts, data in self.files:
            name = "/".join(parts).encode("utf-8")
            sha.update(len(name).to_bytes(4, "little") + name)
            sha.update(len(data).to_bytes(8, "little") + data)
        return sha.digest()


def check_name(name: str, where: str) -> None:
    """One path component: printable ASCII, no Windows-forbidden characters, 1-64 long."""
    if name in ("", ".", ".."):
        raise MediaError(f"{where}: empty, '.' or '..' path component")
    if len(name) > MAX_NAME_LENGTH:
        raise MediaError(f"{where}: name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    bad = sorted({c for c in name if not " " <= c <= "~" or c in FORBIDDEN_CHARACTERS})
    if bad:
        raise MediaError(f"{where}: name {name!r} has characters not allowed: {''.join(bad)!r}")
    if name != name.strip() or name.endswith("."):
        raise MediaError(f"{where}: name {name!r} starts or ends with a space or ends with '.'")


def parse_tree(files: Mapping[str, bytes]) -> Tree:
    """Check a tree and list its directories and files.

    Raises :class:`MediaError` for an absolute path, an empty, ``.`` or ``..`` component,
    a bad name (:func:`check_name`), a path that is both a file and a directory, or two
    paths that differ only in case (Windows could not tell them apart).
    """
    directories: set[tuple[str, ...]] = set()
    entries: list[tuple[tuple[str, ...], bytes]] = []
    for path, data in files.items():
        if not isinstance(path, str):
            raise MediaError(f"{path!r}: a path must be a string")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MediaError(f"{path}: content must be bytes, not {type(data).__name__}")
        if path.startswith("/"):
            raise MediaError(f"{path}: path must be relative")
        parts = tuple(path.split("/"))
        for part in parts:
            check_name(part, path)
        entries.append((parts, bytes(data)))
        directories.update(parts[:end] for end in range(1, len(parts)))
    file_paths = {parts for parts, _ in entries}
    clash = sorted(directories & file_paths)
    if clash:
        raise MediaError(f"{'/'.join(clash[0])} is both a file and a directory")
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    for parts in sorted(directories | file_paths):
        other = seen.setdefault(tuple(part.casefold() for part in parts), parts)
        if other != parts:
            raise MediaError(f"{'/'.join(other)} and {'/'.join(parts)} differ only in case")
    entries.sort(key=lambda entry: entry[0])
    return Tree(tuple(sorted(directories)), tuple(entries))
