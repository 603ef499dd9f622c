"""What the ISO9660, FAT and partition readers share: the reader type, limits, bounded
reads and the file-name safety check."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from guestsim.agent.configdrive.errors import LimitExceeded, MediaError, TruncatedMedia, UnsafePath
from guestsim.agent.osutils import OSUtilsError

Reader = Callable[[int, int], bytes]
"""``(offset, length) -> bytes``; may return fewer bytes at the end of the device."""

MiB = 1024 * 1024
_CHUNK = MiB


@dataclass(frozen=True)
class Limits:
    """Resource ceilings for reading one medium. Exceeding one raises LimitExceeded."""

    max_files: int = 10_000
    max_depth: int = 32
    max_total_bytes: int = 64 * MiB
    max_file_bytes: int = 64 * MiB
    max_dirs: int = 10_000
    # Directory extents, FAT tables and Rock Ridge continuation areas read in total.
    max_metadata_bytes: int = 32 * MiB


DEFAULT_LIMITS = Limits()


class _DeviceReader(Protocol):
    def read_device(self, device_path: str, offset: int, length: int) -> bytes: ...


def device_reader(osutils: _DeviceReader, device_path: str) -> Reader:
    """A Reader over ``osutils.read_device`` for one device."""

    def read(offset: int, length: int) -> bytes:
        return osutils.read_device(device_path, offset, length)

    return read


def window(read: Reader, offset: int, size: int | None = None) -> Reader:
    """A Reader over ``size`` bytes of ``read`` starting at ``offset`` (e.g. a partition)."""

    def sub(sub_offset: int, length: int) -> bytes:
        if sub_offset < 0 or length <= 0:
            return b""
        if size is not None:
            length = min(length, size - sub_offset)
            if length <= 0:
                return b""
        return read(offset + sub_offset, length)

    return sub


class Device:
    """Exact, bounded reads over a Reader: short reads become TruncatedMedia."""

    def __init__(self, read: Reader, name: str) -> None:
        self._read = read
        self.name = name

    def read_upto(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the device)."""
        if offset < 0 or length < 0:
            raise MediaError(self.name, f"invalid read of {length} bytes at offset {offset}")
        if length == 0:
            return b""
        try:
            data = self._read(offset, length)
        except (OSError, OSUtilsError) as ex:
            raise MediaError(
                self.name, f"reading {length} bytes at offset {offset} failed: {ex}"
            ) from ex
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MediaError(self.name, f"the device reader returned {type(data).__name__}")
        return bytes(data[:length])

    def read(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``, read in bounded chunks."""
        parts: list[bytes] = []
        done = 0
        while done < length:
            step = min(_CHUNK, length - done)
            data = self.read_upto(offset + done, step)
            if len(data) != step:
                raise TruncatedMedia(
                    self.name,
                    f"{what}: the device ends at byte {offset + done + len(data)}, "
                    f"needed {length} bytes at offset {offset}",
                )
            parts.append(data)
            done += step
        return b"".join(parts)

    def require_end(self, end: int, what: str) -> None:
        """TruncatedMedia unless the device holds at least ``end`` bytes."""
        if end > 0 and len(self.read_upto(end - 1, 1)) != 1:
            raise TruncatedMedia(self.name, f"{what} spans {end} bytes but the device is shorter")


class Budget:
    """Counts what a read consumes against the Limits."""

    def __init__(self, limits: Limits, device: str) -> None:
        self.limits = limits
        self.device = device
        self.files = 0
        self.dirs = 0
        self.total_bytes = 0
        self.metadata_bytes = 0

    def _exceeded(self, what: str) -> LimitExceeded:
        return LimitExceeded(self.device, what)

    def add_file(self, path: str, size: int) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise self._exceeded(f"more than {self.limits.max_files} files")
        if size > self.limits.max_file_bytes:
            raise self._exceeded(
                f"file {path!r} is {size} bytes, over the {self.limits.max_file_bytes} limit"
            )
        self.total_bytes += size
        if self.total_bytes > self.limits.max_total_bytes:
            raise self._exceeded(f"files total more than {self.limits.max_total_bytes} bytes")

    def add_dir(self, depth: int) -> None:
        self.dirs += 1
        if self.dirs > self.limits.max_dirs:
            raise self._exceeded(f"more than {self.limits.max_dirs} directories")
        if depth > self.limits.max_depth:
            raise self._exceeded(f"directories nested deeper than {self.limits.max_depth}")

    def check_depth(self, path: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise self._exceeded(f"{path!r} is nested deeper than {self.limits.max_depth}")

    def add_metadata(self, size: int, what: str) -> None:
        self.metadata_bytes += size
        if self.metadata_bytes > self.limits.max_metadata_bytes:
            raise self._exceeded(
                f"{what}: metadata over the {self.limits.max_metadata_bytes} byte limit"
            )


# Windows device names are reserved whatever the extension ("NUL.txt" is the NUL device).
_RESERVED = re.compile(
    r"(?i)^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]"
    r"|conin\$|conout\$)(\..*)?$"
)
_FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)} | {"\x7f"}
MAX_NAME = 255


def check_name(name: str, device: str) -> str:
    """``name`` if it is one safe path component on Windows and POSIX, else UnsafePath.

    Refused: empty, ``.``/``..``, separators (``/``, ``\\``), drive letters and streams
    (``:``), NUL and control characters, characters Windows refuses (``<>"|?*``), a
    trailing space or dot (Windows strips them, so two names could alias), reserved
    device names (``CON``, ``NUL.txt`` ...) and names over 255 characters.
    """
    if not name:
        raise UnsafePath(device, "empty file name")
    if name in (".", ".."):
        raise UnsafePath(device, f"file name {name!r} refers to a directory itself")
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        raise UnsafePath(device, f"file name {name!r} contains {''.join(bad)!r}")
    if name[-1] in " .":
        raise UnsafePath(device, f"file name {name!r} ends with a space or a dot")
    if _RESERVED.match(name):
        raise UnsafePath(device, f"file name {name!r} is a reserved Windows device name")
    if len(name) > MAX_NAME:
        raise UnsafePath(device, f"file name of {len(name)} characters is too long")
    return name


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def le16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<H", data, offset)[0]
    return value


def le32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value
