"""Partition tables of a raw disk: MBR primary entries, or GPT behind a protective MBR.

The table is parsed here directly (no library): it is a few fixed-size records, and the
hostile cases are only bounds (entry counts and sizes, extents past the disk) and
checksums (the GPT header and entry array CRC32s, computed with zlib).

* No ``55 AA`` signature at byte 510, a boot indicator other than 0x00/0x80 in any of the
  four entries, or a sector 0 that is itself a FAT boot sector (a superfloppy) -> no table,
  ``[]``.
* An entry of type 0xEE -> GPT: the header at LBA 1 (512-byte sectors, then 4096-byte
  sectors) must carry ``EFI PART``, a valid header CRC32 and ``my LBA`` 1; the entry array
  (at most 1 MiB, entries of 128..4096 bytes) must match its CRC32. A damaged primary GPT
  is CorruptMedia (the backup copy is not consulted).
* Otherwise MBR: the four primary entries; empty entries (type 0 or no sectors) and
  extended-partition containers (0x05, 0x0F, 0x85) are skipped.

``index`` numbers the returned partitions from 1 in table order, as Windows numbers
``\\Device\\Harddisk<d>\\Partition<p>``. ``type`` is ``"0x0c"``-style for MBR and the
lower-case type GUID for GPT. When ``device_size`` is given every partition must lie
within the device (CorruptMedia otherwise). An MBR partition may start at sector 0: an
isohybrid ISO describes itself that way, and reading it from offset 0 is harmless.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

from guestsim.agent.configdrive._common import Device, MiB, Reader, le32
from guestsim.agent.configdrive.errors import CorruptMedia, TruncatedMedia
from guestsim.agent.configdrive.fat import looks_like_fat_boot_sector

__all__ = ["Partition", "Reader", "read_partitions"]

SECTOR = 512
GPT_SIGNATURE = b"EFI PART"
GPT_HEADER_MIN = 92
MAX_ENTRY_ARRAY = MiB
PROTECTIVE = 0xEE
EXTENDED = (0x05, 0x0F, 0x85)


@dataclass(frozen=True)
class Partition:
    index: int
    offset: int
    size: int
    type: str


def _le64(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<Q", data, offset)[0]
    return value


def _check_extent(device: str, what: str, offset: int, size: int, device_size: int | None) -> None:
    if device_size is not None and offset + size > device_size:
        raise CorruptMedia(
            device, f"{what} ({size} bytes at {offset}) ends past the {device_size}-byte disk"
        )


def read_partitions(read: Reader, device: str, device_size: int | None = None) -> list[Partition]:
    """The partitions of the disk behind ``read``; ``[]`` when it has no partition table."""
    dev = Device(read, device)
    mbr = dev.read_upto(0, SECTOR)
    if len(mbr) < SECTOR or mbr[510:512] != b"\x55\xaa" or looks_like_fat_boot_sector(mbr):
        return []
    entries = [mbr[446 + 16 * slot : 462 + 16 * slot] for slot in range(4)]
    if any(entry[0] not in (0x00, 0x80) for entry in entries):
        return []
    if any(entry[4] == PROTECTIVE for entry in entries):
        return _gpt(dev, device_size)
    found: list[Partition] = []
    for slot, entry in enumerate(entries, start=1):
        kind, start, count = entry[4], le32(entry, 8), le32(entry, 12)
        if kind == 0 or count == 0 or kind in EXTENDED:
            continue
        offset, size = start * SECTOR, count * SECTOR
        _check_extent(device, f"MBR partition {slot}", offset, size, device_size)
        found.append(Partition(len(found) + 1, offset, size, f"0x{kind:02x}"))
    return found


def _gpt_header(dev: Device) -> tuple[bytes, int]:
    for sector in (SECTOR, 4096):
        header = dev.read_upto(sector, sector)
        if header[:8] == GPT_SIGNATURE:
            if len(header) < sector:
                raise TruncatedMedia(dev.name, "the disk ends inside the GPT header")
            return header, sector
    raise CorruptMedia(dev.name, "protective MBR without a GPT header at LBA 1")


def _gpt(dev: Device, device_size: int | None) -> list[Partition]:
    header, sector = _gpt_header(dev)
    header_size = le32(header, 12)
    if not GPT_HEADER_MIN <= header_size <= sector:
        raise CorruptMedia(dev.name, f"GPT header size {header_size} is invalid")
    crc = zlib.crc32(header[:16] + b"\x00\x00\x00\x00" + header[20:header_size])
    if crc != le32(header, 16):
        raise CorruptMedia(dev.name, "GPT header CRC32 mismatch")
    if _le64(header, 24) != 1:
        raise CorruptMedia(dev.name, "GPT header does not describe itself at LBA 1")
    first_usable, last_usable = _le64(header, 40), _le64(header, 48)
    array_lba, count, entry_size = _le64(header, 72), le32(header, 80), le32(header, 84)
    if entry_size < 128 or entry_size > 4096 or entry_size % 8:
        raise CorruptMedia(dev.name, f"GPT entry size {entry_size} is invalid")
    if count == 0 or count * entry_size > MAX_ENTRY_ARRAY:
        raise CorruptMedia(dev.name, f"GPT entry array of {count} x {entry_size} is invalid")
    if array_lba < 2:
        raise CorruptMedia(dev.name, f"GPT entry array at LBA {array_lba} overlaps the header")
    _check_extent(dev.name, "GPT entry array", array_lba * sector, count * entry_size, device_size)
    array = dev.read(array_lba * sector, count * entry_size, "GPT entry array")
    if zlib.crc32(array) != le32(header, 88):
        raise CorruptMedia(dev.name, "GPT entry array CRC32 mismatch")
    found: list[Partition] = []
    for number in range(count):
        entry = array[number * entry_size : (number + 1) * entry_size]
        if entry[:16] == bytes(16):
            continue
        first, last = _le64(entry, 32), _le64(entry, 40)
        what = f"GPT partition {number + 1}"
        if last < first or first < first_usable or last > last_usable or first < 2:
            raise CorruptMedia(dev.name, f"{what} spans invalid LBAs {first}..{last}")
        offset, size = first * sector, (last - first + 1) * sector
        _check_extent(dev.name, what, offset, size, device_size)
        kind = str(uuid.UUID(bytes_le=entry[:16]))
        found.append(Partition(len(found) + 1, offset, size, kind))
    return found
