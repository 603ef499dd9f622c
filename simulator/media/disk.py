"""Raw disk images with an MBR or GPT partition table holding one file-system image.

The partition starts at 1 MiB (LBA 2048 with 512-byte sectors) and is exactly as long as
the file system, rounded up to whole sectors; the disk ends on a MiB boundary.

Partition types:

============  ======================================  ======================================
file system   MBR type                                GPT type
============  ======================================  ======================================
FAT12         ``0x01`` FAT12                          Microsoft basic data
FAT16         ``0x0E`` FAT16 (LBA)                    Microsoft basic data
FAT32         ``0x0C`` FAT32 (LBA)                    Microsoft basic data
ISO9660/any   ``0x07`` IFS (the MBR counterpart of    Microsoft basic data
              basic data; Windows scans it, Linux
              probes it by content)
============  ======================================  ======================================

GPT: protective MBR (one ``0xEE`` entry), primary header at LBA 1 with 128 entries of 128
bytes from LBA 2, backup entries and header at the end of the disk, CRC32s as the UEFI
specification defines them. Disk and partition GUIDs are UUIDv5 of the file system's
SHA-256, so the same file system gives the same disk. The partition is named after the
file system's label. MBR: the disk signature comes from the same digest.

When the file system is FAT, its BPB "hidden sectors" field is set to the partition's
start, as a formatter writing into a partition would.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from typing import Literal

from guestsim.simulator.media.common import MediaError

PartitionTable = Literal["mbr", "gpt"]
Filesystem = Literal["iso9660", "fat12", "fat16", "fat32", "unknown"]

SECTOR = 512
START_LBA = 2048  # 1 MiB
ALIGNMENT = 2048  # sectors
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ENTRY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // SECTOR  # 32
GPT_HEADER_SIZE = 92
GPT_REVISION = 0x00010000
MICROSOFT_BASIC_DATA = uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
MBR_TYPES: dict[Filesystem, int] = {
    "fat12": 0x01,
    "fat16": 0x0E,
    "fat32": 0x0C,
    "iso9660": 0x07,
    "unknown": 0x07,
}
PROTECTIVE_TYPE = 0xEE
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "guestsim:guestsim.simulator.media.disk")
_GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_GPT_ENTRY = struct.Struct("<16s16sQQQ72s")
_MBR_ENTRY = struct.Struct("<B3sB3sII")


def detect_filesystem(image: bytes) -> Filesystem:
    """What a file-system image holds, from its signatures."""
    if image[0x8001:0x8006] == b"CD001":
        return "iso9660"
    if image[510:512] == b"\x55\xaa":
        if image[0x36:0x3B] == b"FAT12":
            return "fat12"
        if image[0x36:0x3B] == b"FAT16":
            return "fat16"
        if image[0x52:0x57] == b"FAT32":
            return "fat32"
    return "unknown"


def filesystem_label(image: bytes) -> str:
    """The label in the ISO primary volume descriptor or the FAT BPB; '' if none."""
    kind = detect_filesystem(image)
    if kind == "iso9660":
        raw = image[0x8028:0x8048]
    elif kind in ("fat12", "fat16"):
        raw = image[0x2B:0x36]
    elif kind == "fat32":
        raw = image[0x47:0x52]
    else:
        return ""
    label = raw.decode("ascii", "replace").strip()
    return "" if label == "NO NAME" else label


def chs(lba: int) -> bytes:
    """The 3-byte CHS address of ``lba`` (255 heads, 63 sectors); FE FF FF past cylinder 1023."""
    heads, sectors = 255, 63
    cylinder = lba // (heads * sectors)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head = (lba // sectors) % heads
    sector = lba % sectors + 1
    return bytes([head, sector | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def mbr_entry(kind: int, first_lba: int, sectors: int, bootable: bool = False) -> bytes:
    """One 16-byte MBR partition entry."""
    return _MBR_ENTRY.pack(
        0x80 if bootable else 0x00,
        chs(first_lba),
        kind,
        chs(first_lba + sectors - 1),
        first_lba,
        sectors,
    )


def _mbr(entry: bytes, signature: int) -> bytes:
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 0x1B8, signature)
    sector[0x1BE : 0x1BE + len(entry)] = entry
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _gpt_header(
    disk_guid: uuid.UUID,
    my_lba: int,
    alternate_lba: int,
    last_usable: int,
    entries_lba: int,
    entries_crc: int,
) -> bytes:
    def pack(crc: int) -> bytes:
        return _GPT_HEADER.pack(
            b"EFI PART",
            GPT_REVISION,
            GPT_HEADER_SIZE,
            crc,
            0,
            my_lba,
            alternate_lba,
            2 + GPT_ENTRY_SECTORS,
            last_usable,
            disk_guid.bytes_le,
            entries_lba,
            GPT_ENTRIES,
            GPT_ENTRY_SIZE,
            entries_crc,
        )

    header = pack(zlib.crc32(pack(0)))
    return header + bytes(SECTOR - len(header))


def _patch_hidden_sectors(image: bytearray, kind: Filesystem) -> None:
    if kind in ("fat12", "fat16", "fat32"):
        struct.pack_into("<I", image, 0x1C, START_LBA)
    if kind == "fat32":
        backup = struct.unpack_from("<H", image, 0x32)[0]
        if backup and (backup + 1) * SECTOR <= len(image):
            struct.pack_into("<I", image, backup * SECTOR + 0x1C, START_LBA)


def build_disk(
    filesystem_image: bytes,
    table: PartitionTable | str,
    *,
    name: str | None = None,
    mbr_type: int | None = None,
) -> bytes:
    """A disk image whose one partition, at 1 MiB, holds ``filesystem_image``.

    ``name`` is the GPT partition name (default: the file system's label); ``mbr_type``
    overrides the MBR partition type chosen from the file system (see the module doc).
    """
    if table not in ("mbr", "gpt"):
        raise MediaError(f"partition table {table!r}: use 'mbr' or 'gpt'")
    if not filesystem_image:
        raise MediaError("the file-system image is empty")
    kind = detect_filesystem(filesystem_image)
    partition = bytearray(filesystem_image)
    _patch_hidden_sectors(partition, kind)
    partition.extend(bytes(-len(partition) % SECTOR))
    sectors = len(partition) // SECTOR
    tail = GPT_ENTRY_SECTORS + 1 if table == "gpt" else 0
    total = -(-(START_LBA + sectors + tail) // ALIGNMENT) * ALIGNMENT
    if total > 0xFFFFFFFF:
        raise MediaError("the file system is too large for this disk layout")
    digest = hashlib.sha256(filesystem_image).hexdigest()
    disk = bytearray(total * SECTOR)
    disk[START_LBA * SECTOR : START_LBA * SECTOR + len(partition)] = partition
    last_lba = total - 1
    if table == "mbr":
        signature = int(digest[:8], 16) or 1
        kind_byte = MBR_TYPES[kind] if mbr_type is None else mbr_type
        if not 0 < kind_byte < 0x100:
            raise MediaError(f"MBR partition type {kind_byte}: use 1-255")
        disk[:SECTOR] = _mbr(mbr_entry(kind_byte, START_LBA, sectors), signature)
        return bytes(disk)

    label = filesystem_label(filesystem_image) if name is None else name
    encoded_label = label.encode("utf-16-le")
    if len(encoded_label) > 72:
        raise MediaError(f"GPT partition name {label!r} is longer than 36 UTF-16 units")
    disk_guid = uuid.uuid5(_GUID_NAMESPACE, f"disk:{digest}")
    partition_guid = uuid.uuid5(_GUID_NAMESPACE, f"partition:{digest}")
    entries = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    _GPT_ENTRY.pack_into(
        entries,
        0,
        MICROSOFT_BASIC_DATA.bytes_le,
        partition_guid.bytes_le,
        START_LBA,
        START_LBA + sectors - 1,
        0,
        encoded_label,
    )
    entries_crc = zlib.crc32(entries)
    last_usable = last_lba - GPT_ENTRY_SECTORS - 1
    backup_entries_lba = last_lba - GPT_ENTRY_SECTORS
    protective = mbr_entry(PROTECTIVE_TYPE, 1, min(total - 1, 0xFFFFFFFF))
    disk[:SECTOR] = _mbr(protective, 0)
    disk[SECTOR : 2 * SECTOR] = _gpt_header(disk_guid, 1, last_lba, last_usable, 2, entries_crc)
    disk[2 * SECTOR : 2 * SECTOR + len(entries)] = entries
    backup_at = backup_entries_lba * SECTOR
    disk[backup_at : backup_at + len(entries)] = entries
    disk[last_lba * SECTOR :] = _gpt_header(
        disk_guid, last_lba, 1, last_usable, backup_entries_lba, entries_crc
    )
    return bytes(disk)
