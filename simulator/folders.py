"""Reading a user's folder into memory, bounded: metadata trees and config-drive sources.

A scenario may name a folder (``cloud.tree``, a config drive's ``image.folder``) and
``guestsim serve --tree`` takes one on the command line. Whatever is in it, reading it must
stay inside it and stay small, so :func:`read_folder`:

* follows a symbolic link only when its target stays inside the folder; a link out of it,
  a dangling link or a link loop is an error, as is anything but files and folders (a
  FIFO, a device, a socket), so nothing outside the folder is ever opened;
* refuses a file over :data:`MAX_FILE_BYTES`, a folder over :data:`MAX_TOTAL_BYTES` or
  :data:`MAX_ENTRIES` entries (files and folders, hidden ones included), and nesting deeper
  than :data:`MAX_DEPTH`, by the sizes the file system reports and again while reading (a
  file that grows is cut off, not read);
* reads names as UTF-8 only; files and folders are visited in sorted order, so the same
  folder gives the same mapping on every host.

Every refusal is a :class:`FolderError` naming the file; callers turn it into their own
typed error (a :class:`~guestsim.simulator.errors.ScenarioError` naming the scenario field).
"""

from __future__ import annotations

import stat
from pathlib import Path

from guestsim.simulator.errors import GuestsimError

MIB = 1024 * 1024
MAX_FILE_BYTES = 16 * MIB
MAX_TOTAL_BYTES = 64 * MIB
MAX_ENTRIES = 10_000
MAX_DEPTH = 32


class FolderError(GuestsimError):
    """A folder cannot be read safely: one line naming the file and the reason."""


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count} bytes"


def read_folder(
    path: Path,
    *,
    hidden: bool = True,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> dict[str, bytes]:
    """Every file under ``path``, keyed by its POSIX path relative to ``path``.

    With ``hidden`` false, files and folders whose names start with ``.`` (``.gitkeep``,
    ``.DS_Store``) are left out. Empty folders are left out. Raises :class:`FolderError`.
    """
    try:
        root = path.resolve(strict=True)
    except (OSError, RuntimeError) as ex:
        raise FolderError(f"{path}: no such folder") from ex
    if not root.is_dir():
        raise FolderError(f"{path}: not a folder")
    files: dict[str, bytes] = {}
    total = 0
    entries = 0

    def read(entry: Path, shown: Path, size: int) -> bytes:
        if size > max_file_bytes:
            raise FolderError(
                f"{shown}: {size} bytes, more than the {_size(max_file_bytes)} a file may have"
            )
        if total + size > max_total_bytes:
            raise FolderError(
                f"{shown}: the folder holds more than {_size(max_total_bytes)} in all"
            )
        try:
            with entry.open("rb") as handle:
                data = handle.read(max_file_bytes + 1)
        except OSError as ex:
            raise FolderError(f"{shown}: cannot read: {ex.strerror}") from ex
        if len(data) > max_file_bytes:
            raise FolderError(f"{shown}: more than the {_size(max_file_bytes)} a file may have")
        return data

    def visit(folder: Path, relative: str, ancestors: frozenset[Path], depth: int) -> None:
        nonlocal total, entries
        if depth > MAX_DEPTH:
            raise FolderError(f"{path / relative}: folders nested more than {MAX_DEPTH} deep")
        try:
            names = sorted(child.name for child in folder.iterdir())
        except OSError as ex:
            raise FolderError(f"{path / relative}: cannot list: {ex.strerror}") from ex
        entries += len(names)
        if entries > max_entries:
            raise FolderError(
                f"{path / relative}: the folder holds more than {max_entries} files and folders"
            )
        for name in names:
            shown = path / f"{relative}{name}"
            try:
                name.encode("utf-8")
            except UnicodeEncodeError as ex:
                raise FolderError(f"{shown!s}: the name is not UTF-8") from ex
            if not hidden and name.startswith("."):
                continue
            entry = folder / name
            if entry.is_symlink():
                try:
                    target = entry.resolve(strict=True)
                except (OSError, RuntimeError) as ex:
                    # A loop of links also ends here (ELOOP, or RuntimeError before 3.13).
                    raise FolderError(f"{shown}: dangling symbolic link or link loop") from ex
                if not target.is_relative_to(root):
                    raise FolderError(f"{shown}: symbolic link points outside {path}")
                entry = target
            try:
                status = entry.stat()
            except OSError as ex:
                raise FolderError(f"{shown}: cannot read: {ex.strerror}") from ex
            mode, size = status.st_mode, status.st_size
            if stat.S_ISDIR(mode):
                if entry in ancestors:
                    raise FolderError(f"{shown}: symbolic link loop")
                visit(entry, f"{relative}{name}/", ancestors | {entry}, depth + 1)
            elif stat.S_ISREG(mode):
                data = read(entry, shown, size)
                total += len(data)
                files[f"{relative}{name}"] = data
            else:
                raise FolderError(f"{shown}: not a regular file or folder")

    visit(root, "", frozenset({root}), 1)
    return files
