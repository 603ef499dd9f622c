"""Drives, physical disks and volumes of the fake Windows, as plain data.

``WindowsState`` lists them; attaching, mounting and resizing them is whole-machine work
in :mod:`guestsim.simulator.windows.storage`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DriveKind = Literal["cdrom", "fixed"]
DRIVE_KINDS: tuple[DriveKind, ...] = ("cdrom", "fixed")
SYSTEM_DRIVE_LETTER = "C"
_DRIVE_SPEC = re.compile(r"([A-Za-z])(?::(?:[\\/])?)?")


@dataclass(frozen=True)
class Drive:
    """A logical drive: its letter, volume label (None: no label) and kind.

    Its files live in the guest filesystem under ``<letter>:\\``.
    """

    letter: str
    label: str | None = None
    kind: DriveKind = "fixed"

    def __post_init__(self) -> None:
        if not re.fullmatch("[A-Z]", self.letter):
            raise ValueError(f"drive letter must be one of A-Z, got {self.letter!r}")
        if self.kind not in DRIVE_KINDS:
            raise ValueError(f"drive kind must be one of {DRIVE_KINDS}, got {self.kind!r}")

    @property
    def root(self) -> str:
        return f"{self.letter}:\\"


def drive_letter(spec: str) -> str | None:
    """The upper-case letter of ``"d"``, ``"D:"``, ``"D:\\"`` or ``"d:/"``; None otherwise."""
    match = _DRIVE_SPEC.fullmatch(spec)
    return match.group(1).upper() if match else None


@dataclass(frozen=True)
class Disk:
    """A physical disk; bytes past ``data`` and up to ``size`` read as zeros."""

    data: bytes
    size: int

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        chunk = self.data[offset:end]
        return chunk + bytes(end - offset - len(chunk))


@dataclass(frozen=True)
class Volume:
    guid: str
    label: str | None
    letter: str | None = None
    disk: int | None = None  # index in ``WindowsState.disks``; None for CD-ROM media
    offset: int = 0
    size: int = 0
    filesystem: str | None = None  # "NTFS", "FAT", "CDFS", or None when unreadable

    @property
    def path(self) -> str:
        return f"\\\\?\\Volume{{{self.guid}}}\\"

    @property
    def root(self) -> str:
        """Where its files are seen: the drive letter's root, else the GUID path."""
        return f"{self.letter}:\\" if self.letter else self.path
