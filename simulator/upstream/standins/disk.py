"""``cloudbaseinit.utils.windows.disk``: raw disks and partitions, over the fake Windows.

Upstream opens ``\\\\.\\PHYSICALDRIVE<n>`` and ``\\\\?\\GLOBALROOT\\Device\\Harddisk<n>\\
Partition<p>`` with ``CreateFileW`` and asks them for their geometry and layout with
``DeviceIoControl``. Two callers use it: the config-drive search (raw ISO images on disks
and partitions: ``Disk``/``Partition`` opened, ``seek``/``read``, ``size``, ``fixed``,
``partitions()``) and ``BCDConfigPlugin`` (``Disk(path, allow_write=True).set_unique_id()``).

Here the bytes come from the fake's ``read_device``, the partition style from
``get_disk_partition_style`` and the partition table is parsed with guestsim's own reader
(:mod:`guestsim.agent.configdrive.partitions`); a new disk id is written with
``set_disk_unique_id``. What a real disk would add is simplified, deliberately:

* the geometry's size is the device's exact size (a real disk reports whole cylinders)
  and every disk of the fake is fixed media with 512-byte sectors;
* a read past the end of the device comes back short (as ``ReadFile`` at the end of a
  file), never as an error;
* an MBR layout lists the primary partitions only (no extended containers, no logical
  drives) and numbers them from 1 in table order.
"""

from __future__ import annotations

import importlib
import re
import types
import uuid
from typing import Any, Self

from guestsim.agent.configdrive import MediaError, device_reader
from guestsim.agent.configdrive.partitions import Partition as TableEntry
from guestsim.agent.configdrive.partitions import read_partitions
from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.upstream import guest

SECTOR_SIZE = 512
PHYSICAL_DRIVE = "\\\\.\\PHYSICALDRIVE{}"
PARTITION_PATH = "\\\\?\\GLOBALROOT\\Device\\Harddisk{}\\Partition{}"
# What upstream's layout structure calls the styles (PARTITION_STYLE_*).
PARTITION_STYLES = {"MBR": 0, "GPT": 1, "RAW": 2}
_DISK_NUMBER = re.compile(r"(?:disk|drive)(\d+)", re.IGNORECASE)
_PARTITION = re.compile(r"harddisk(\d+)\\partition(\d+)$", re.IGNORECASE)
# The Win32 messages upstream's WindowsCloudbaseInitException would format in.
_NOT_FOUND = "The system cannot find the file specified."
_ACCESS_DENIED = "Access is denied."
_NOT_OPEN = "The handle is invalid."


def _exceptions() -> types.ModuleType:
    # Imported when needed: each upstream session brings its own module and classes.
    return importlib.import_module("cloudbaseinit.exception")


def windows_error(message: str) -> Exception:
    """Upstream's ``WindowsCloudbaseInitException`` carrying ``message``.

    Its constructor asks ``ctypes.GetLastError()`` (Windows only) for the text to format
    in, so the instance is made without it: the type and the message are what a caller
    and the log see.
    """
    cls = _exceptions().WindowsCloudbaseInitException
    error: Exception = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def _fake() -> Any:
    return guest.current().osutils


def read_layout(disk_path: str) -> tuple[str, list[TableEntry]]:
    """The style (``MBR``, ``GPT``, ``RAW``) and partitions of a physical disk.

    Raises upstream's Windows error when the disk does not exist or its table cannot be
    read (where ``IOCTL_DISK_GET_DRIVE_LAYOUT_EX`` fails on a real guest).
    """
    osutils = _fake()
    try:
        style = str(osutils.get_disk_partition_style(disk_path))
        if style == "RAW":
            return style, []
        size = int(osutils.get_device_size(disk_path))
        return style, read_partitions(device_reader(osutils, disk_path), disk_path, size)
    except (OSUtilsError, MediaError) as ex:
        raise windows_error(f"Cannot get disk layout: {str(ex)!r}") from ex


class BaseDevice:
    """A device opened for sector-aligned reads, as upstream's ``BaseDevice``."""

    def __init__(self, path: str, allow_write: bool = False) -> None:
        self._path = path
        self._allow_write = allow_write
        self._opened = False
        self._sector_size: int | None = None
        self._disk_size: int | None = None
        self._position = 0
        # Where the bytes are read: a physical disk and the offset of this device on it.
        self._backing: tuple[str, int] | None = None
        self.fixed: bool | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._path}>"

    @property
    def path(self) -> str:
        """The device path it opens (for guestsim's trace; upstream keeps it private)."""
        return self._path

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _resolve(self) -> tuple[str, int, int]:
        """(physical disk, offset on it, size) of this device; raises when it is absent."""
        try:
            return self._path, 0, int(_fake().get_device_size(self._path))
        except OSUtilsError as ex:
            raise windows_error(f"Cannot open file: {_NOT_FOUND!r}") from ex

    def open(self) -> None:
        disk_path, offset, size = self._resolve()
        self._backing = (disk_path, offset)
        self._opened = True
        self._position = 0
        self._sector_size, self._disk_size, self.fixed = SECTOR_SIZE, size, True

    def close(self) -> None:
        self._opened = False
        self._backing = None

    def _require_open(self, what: str) -> tuple[str, int]:
        if not self._opened or self._backing is None:
            raise windows_error(f"{what}: {_NOT_OPEN!r}")
        return self._backing

    def seek(self, offset: int) -> int:
        """Move to the sector holding ``offset``; returns where the device now is."""
        self._require_open("Seek error")
        sector = self._sector_size or SECTOR_SIZE
        self._position = (int(offset) // sector) * sector
        return self._position

    def read(self, size: int, skip: int = 0) -> bytes:
        """``size`` bytes after skipping ``skip`` from the current sector (whole sectors
        are read, as the device allows nothing else); short at the end of the device."""
        disk_path, base = self._require_open("Read exception")
        sector = self._sector_size or SECTOR_SIZE
        wanted = size + skip
        whole = -(-wanted // sector) * sector
        available = max(0, min(whole, (self._disk_size or 0) - self._position))
        try:
            data = bytes(_fake().read_device(disk_path, base + self._position, available))
        except OSUtilsError as ex:
            raise windows_error(f"Read exception: {str(ex)!r}") from ex
        self._position += len(data)
        return data[skip:wanted]

    @property
    def size(self) -> int:
        raise NotImplementedError


class Disk(BaseDevice):
    """A physical disk: its bytes, its partitions and its unique id."""

    PARTITION_ENTRY_UNUSED = 0
    PARTITION_STYLE_MBR = PARTITION_STYLES["MBR"]
    PARTITION_STYLE_GPT = PARTITION_STYLES["GPT"]

    @property
    def size(self) -> int:
        return self._disk_size or 0

    def partitions(self) -> list[Partition]:
        """The disk's partitions, each to be opened on its own.

        A disk without a partition table (a raw ISO, a blank disk) has the RAW style,
        which upstream refuses with an error rather than answering "none".
        """
        self._require_open("Cannot get disk layout")
        style, entries = read_layout(self._path)
        if style not in ("MBR", "GPT"):
            raise _exceptions().CloudbaseInitException(
                f"Invalid partition style {PARTITION_STYLES.get(style, style)!r}"
            )
        match = _DISK_NUMBER.search(self._path)
        if match is None:
            # Upstream reads the number out of the path too, and fails on such a path.
            raise AttributeError("'NoneType' object has no attribute 'group'")
        return [
            Partition(PARTITION_PATH.format(match.group(1), entry.index), entry.size)
            for entry in entries
        ]

    def set_unique_id(self, unique_id: Any = None) -> None:
        """A new MBR signature (random when not given) or GPT disk id for the disk."""
        self._require_open("Cannot get disk layout")
        osutils = _fake()
        style = str(osutils.get_disk_partition_style(self._path))
        if style == "MBR":
            if not unique_id:
                unique_id = guest.current().rng.randint(-(2**31), 2**31 - 1)
            value = f"{int(unique_id) & 0xFFFFFFFF:08X}"
        elif style == "GPT":
            if not unique_id:
                unique_id = uuid.UUID(bytes=bytes(osutils.random_bytes(16)), version=4)
            value = str(unique_id)
        else:
            raise _exceptions().InvalidStateException(
                "A unique id can be set on MBR or GPT partitions only"
            )
        if not self._allow_write:
            raise windows_error(f"Cannot set disk layout: {_ACCESS_DENIED!r}")
        try:
            osutils.set_disk_unique_id(self._path, value)
        except OSUtilsError as ex:
            raise windows_error(f"Cannot set disk layout: {str(ex)!r}") from ex


class Partition(BaseDevice):
    """One partition of a physical disk, named by its GLOBALROOT device path."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__(path)
        self._partition_size = size

    @property
    def size(self) -> int:
        return self._partition_size

    def _resolve(self) -> tuple[str, int, int]:
        match = _PARTITION.search(self._path)
        if match is not None:
            disk_path = PHYSICAL_DRIVE.format(match.group(1))
            number = int(match.group(2))
            try:
                _, entries = read_layout(disk_path)
            except Exception as ex:
                raise windows_error(f"Cannot open file: {_NOT_FOUND!r}") from ex
            for entry in entries:
                if entry.index == number:
                    return disk_path, entry.offset, entry.size
        raise windows_error(f"Cannot open file: {_NOT_FOUND!r}")
