"""FAT12/FAT16 "superfloppy" images (no partition table), like Nova's vfat config drive.

The empty file system is laid out here (boot sector, two FATs, a fixed root directory
whose first entry is the volume label, attribute 0x08); pyfatfs then adds directories
and files: cluster allocation, data, 8.3 names, long (VFAT) names and directory entries.
Directory entries are made here with fixed timestamps, so pyfatfs never reads the clock.

* FAT12 up to 16 MiB, FAT16 above (to about 2 GiB); the smallest cluster size that keeps
  the cluster count clear of the FAT12/FAT16 boundary is chosen.
* The label is upper-cased (``config-2`` -> ``CONFIG-2``) and written to both the BPB
  and the root volume-label entry, with no long name, so ``mlabel -s`` prints exactly
  ``Volume label is CONFIG-2`` (padded with spaces, as for any FAT volume).
* The volume serial is derived from the label and the files; every timestamp is
  :data:`~guestsim.simulator.media.common.FIXED_TIMESTAMP`.
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Mapping
from typing import Any

from pyfatfs import PyFATException
from pyfatfs.EightDotThree import EightDotThree
from pyfatfs.FATDirectoryEntry import FATDirectoryEntry, FATLongDirectoryEntry
from pyfatfs.PyFat import PyFat

from guestsim.simulator.media.common import (
    FIXED_DAY,
    FIXED_MONTH,
    FIXED_YEAR,
    MediaError,
    Tree,
    parse_tree,
)

SECTOR = 512
MIB = 1024 * 1024
MIN_SIZE = 128 * 1024
MAX_SIZE = 2048 * MIB - 32 * MIB  # FAT16: fewer than 65525 clusters of 32 KiB
DEFAULT_MIN_SIZE = MIB
FAT12_MAX_SIZE = 16 * MIB
RESERVED_SECTORS = 1
FAT_COUNT = 2
ROOT_ENTRIES = 512
MEDIA = 0xF8  # fixed disk
_ENTRY = 32
_LFN_SLOT = 26  # bytes of name per long-name entry
_ENCODING = "ibm437"  # code page of 8.3 names
_ROOT_SECTORS = ROOT_ENTRIES * _ENTRY // SECTOR
# Keep clear of the cluster counts where readers disagree about FAT12 vs FAT16.
_MARGIN = 16
_FAT12_MAX_CLUSTERS = 4084 - _MARGIN
_FAT16_MIN_CLUSTERS = 4085 + _MARGIN
_FAT16_MAX_CLUSTERS = 65524 - _MARGIN
_FAT_DATE = (FIXED_YEAR - 1980) << 9 | FIXED_MONTH << 5 | FIXED_DAY
_FAT_TIME = 0  # 00:00:00
_LABEL = re.compile(r"[A-Z0-9 !#$%&'()\-@^_`{}~]{1,11}")
# Jump over the BPB to a halt loop: the volume is not bootable.
_BOOT_JUMP = b"\xeb\x3c\x90"
_BOOT_CODE = b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp hlt


def fat_label(label: str) -> str:
    """The label as FAT stores it: upper case, 1-11 characters valid in a short name."""
    upper = label.upper()
    if not _LABEL.fullmatch(upper) or upper != upper.strip():
        raise MediaError(
            f"FAT label {label!r}: use 1-11 characters of A-Z 0-9 and !#$%&'()-@^_`{{}}~, "
            "inner spaces allowed"
        )
    return upper


class Geometry:
    """Where everything lies in a FAT12/16 file system of ``total_sectors`` sectors."""

    def __init__(self, total_sectors: int) -> None:
        self.total_sectors = total_sectors
        self.fat_bits = 12 if total_sectors * SECTOR <= FAT12_MAX_SIZE else 16
        low, high = (
            (1, _FAT12_MAX_CLUSTERS)
            if self.fat_bits == 12
            else (_FAT16_MIN_CLUSTERS, _FAT16_MAX_CLUSTERS)
        )
        for shift in range(7):  # 1 to 64 sectors (32 KiB) per cluster
            self.sectors_per_cluster = 1 << shift
            self.fat_sectors = 1
            while True:
                self.clusters = (
                    total_sectors - RESERVED_SECTORS - _ROOT_SECTORS - FAT_COUNT * self.fat_sectors
                ) // self.sectors_per_cluster
                needed = math.ceil(math.ceil((self.clusters + 2) * self.fat_bits / 8) / SECTOR)
                if needed <= self.fat_sectors:
                    break
                self.fat_sectors = needed
            if low <= self.clusters <= high:
                return
        raise MediaError(f"no FAT12/16 layout for {total_sectors * SECTOR} bytes")

    @property
    def cluster_size(self) -> int:
        return self.sectors_per_cluster * SECTOR

    @property
    def root_offset(self) -> int:
        return (RESERVED_SECTORS + FAT_COUNT * self.fat_sectors) * SECTOR


def _needed_clusters(tree: Tree, cluster_size: int) -> tuple[int, int]:
    """(clusters for files and subdirectories, root directory entries); long names assumed."""

    def entries(name: str) -> int:
        return 1 + math.ceil(len(name) / 13)

    children: dict[tuple[str, ...], int] = {}
    clusters = 0
    for parts, data in tree.files:
        clusters += math.ceil(len(data) / cluster_size)
        children[parts[:-1]] = children.get(parts[:-1], 0) + entries(parts[-1])
    for parts in tree.directories:
        children[parts[:-1]] = children.get(parts[:-1], 0) + entries(parts[-1])
    for parts in tree.directories:
        clusters += max(1, math.ceil((2 + children.get(parts, 0)) * _ENTRY / cluster_size))
    return clusters, 1 + children.get((), 0)


def default_size(files: Mapping[str, bytes]) -> int:
    """The smallest of 1, 2, 4, 8... MiB that holds the files."""
    return _default_size(parse_tree(files))


def _check_root(tree: Tree) -> None:
    root_entries = _needed_clusters(tree, SECTOR)[1]
    if root_entries > ROOT_ENTRIES:
        raise MediaError(
            f"the top folder needs {root_entries} directory entries; FAT12/16 has {ROOT_ENTRIES}"
        )


def _default_size(tree: Tree) -> int:
    _check_root(tree)
    size = DEFAULT_MIN_SIZE
    while size <= MAX_SIZE:
        geometry = Geometry(size // SECTOR)
        if _needed_clusters(tree, geometry.cluster_size)[0] <= geometry.clusters:
            return size
        size *= 2
    raise MediaError(f"the files do not fit in a FAT16 file system of {MAX_SIZE} bytes or less")


def _empty_filesystem(geometry: Geometry, label: str, serial: int) -> bytearray:
    image = bytearray(geometry.total_sectors * SECTOR)
    small = geometry.total_sectors if geometry.total_sectors < 0x10000 else 0
    struct.pack_into(
        "<3s8sHBHBHHBHHHLLBBBL11s8s",
        image,
        0,
        _BOOT_JUMP,
        b"MSWIN4.1",
        SECTOR,
        geometry.sectors_per_cluster,
        RESERVED_SECTORS,
        FAT_COUNT,
        ROOT_ENTRIES,
        small,
        MEDIA,
        geometry.fat_sectors,
        63,  # sectors per track
        255,  # heads
        0,  # hidden sectors: none on a superfloppy (build_disk sets it for a partition)
        0 if small else geometry.total_sectors,
        0x80,  # drive number
        0,
        0x29,  # extended boot signature: serial, label and type follow
        serial,
        label.ljust(11).encode("ascii"),
        f"FAT{geometry.fat_bits}".ljust(8).encode("ascii"),
    )
    image[0x3E : 0x3E + len(_BOOT_CODE)] = _BOOT_CODE
    image[510:512] = b"\x55\xaa"
    # FAT[0] holds the media byte, FAT[1] end-of-chain (FAT16: clean shutdown, no errors).
    head = b"\xf8\xff\xff" if geometry.fat_bits == 12 else b"\xf8\xff\xff\xff"
    for index in range(FAT_COUNT):
        offset = (RESERVED_SECTORS + index * geometry.fat_sectors) * SECTOR
        image[offset : offset + len(head)] = head
    label_entry = _raw_entry(label.ljust(11).encode("ascii"), FATDirectoryEntry.ATTR_VOLUME_ID)
    image[geometry.root_offset : geometry.root_offset + _ENTRY] = label_entry
    return image


def _raw_entry(name: bytes, attr: int) -> bytes:
    return struct.pack(
        "<11sBBBHHHHHHHL", name, attr, 0, 0, _FAT_TIME, _FAT_DATE, _FAT_DATE, 0, _FAT_TIME,
        _FAT_DATE, 0, 0,
    )  # fmt: skip


def _entry(name: EightDotThree, attr: int, cluster: int = 0, size: int = 0) -> Any:
    entry = FATDirectoryEntry(
        DIR_Name=name,
        DIR_Attr=attr,
        DIR_NTRes=0,
        DIR_CrtTimeTenth=0,
        DIR_CrtTime=_FAT_TIME,
        DIR_CrtDate=_FAT_DATE,
        DIR_LstAccessDate=_FAT_DATE,
        DIR_FstClusHI=0,
        DIR_WrtTime=_FAT_TIME,
        DIR_WrtDate=_FAT_DATE,
        DIR_FstClusLO=0,
        DIR_FileSize=size,
    )
    entry.set_cluster(cluster)
    return entry


def _is_short_name(name: str) -> bool:
    """Whether ``name`` is its own 8.3 name (pyfatfs lets spaces pass; they are padding)."""
    return " " not in name and bool(EightDotThree.is_8dot3_conform(name, _ENCODING))


def _long_name(name: str, short: EightDotThree) -> Any:
    """The VFAT long-name entries for ``name``: UCS-2 in slots of 13 characters, the last
    NUL-terminated if room remains and padded with 0xFFFF, each with the 8.3 name's checksum."""
    encoded = name.encode("utf-16-le")
    if len(encoded) % _LFN_SLOT:
        encoded += b"\0\0"
    encoded += b"\xff" * (-len(encoded) % _LFN_SLOT)
    count = len(encoded) // _LFN_SLOT
    entries = FATLongDirectoryEntry()
    for index in range(count):
        chunk = encoded[index * _LFN_SLOT : (index + 1) * _LFN_SLOT]
        last = FATLongDirectoryEntry.LAST_LONG_ENTRY if index == count - 1 else 0
        entries.add_lfn_entry(
            LDIR_Ord=(index + 1) | last,
            LDIR_Name1=chunk[:10],
            LDIR_Attr=FATDirectoryEntry.ATTR_LONG_NAME,
            LDIR_Type=0,
            LDIR_Chksum=short.checksum(),
            LDIR_Name2=chunk[10:22],
            LDIR_FstClusLO=0,
            LDIR_Name3=chunk[22:],
        )
    return entries


def _named_entry(parent: Any, name: str, attr: int, cluster: int, size: int) -> Any:
    short = EightDotThree(encoding=_ENCODING)
    short.set_str_name(EightDotThree.make_8dot3_name(name, parent))
    entry = _entry(short, attr, cluster, size)
    if short.get_unpadded_filename() != name:
        entry.set_lfn_entry(_long_name(name, short))
    return entry


def _dot_entry(name: bytes, cluster: int) -> Any:
    short = EightDotThree()
    short.set_byte_name(name)
    return _entry(short, FATDirectoryEntry.ATTR_DIRECTORY, cluster)


class _KeepOpen(io.BytesIO):
    """pyfatfs closes its file when done; the image must outlive that."""

    def close(self) -> None:
        pass


def build_vfat(
    files: Mapping[str, bytes], label: str = "CONFIG-2", size: int | None = None
) -> bytes:
    """A FAT12/16 file system of ``size`` bytes (default: see :func:`default_size`).

    Raises :class:`~guestsim.simulator.media.common.MediaError` for a bad label or name, a size
    that is not a multiple of 512 or outside 128 KiB-2 GiB, or files that do not fit.
    """
    label = fat_label(label)
    tree = parse_tree(files)
    if size is None:
        size = _default_size(tree)
    if size % SECTOR or size < MIN_SIZE:
        raise MediaError(f"FAT size {size}: use a multiple of {SECTOR} of at least {MIN_SIZE}")
    if size > MAX_SIZE:
        raise MediaError(f"FAT size {size}: FAT16 with 32 KiB clusters holds at most {MAX_SIZE}")
    _check_root(tree)
    geometry = Geometry(size // SECTOR)
    if _needed_clusters(tree, geometry.cluster_size)[0] > geometry.clusters:
        raise MediaError(f"the files do not fit in a FAT file system of {size} bytes")
    serial = int.from_bytes(tree.digest("vfat", label)[:4], "little")
    stream = _KeepOpen(_empty_filesystem(geometry, label, serial))
    try:
        _add_tree(stream, tree)
    except PyFATException as ex:
        raise MediaError(f"cannot build the FAT file system: {ex}") from ex
    return stream.getvalue()


def _add_tree(stream: io.BytesIO, tree: Tree) -> None:
    fat = PyFat(encoding=_ENCODING)
    fat.set_fp(stream)
    directories: dict[tuple[str, ...], Any] = {(): fat.root_dir}
    # Per directory, names that are valid short names come first and keep them as is;
    # a long name is then given a short name that none of them holds. (A parent's path
    # sorts before its children's, so directories still precede their contents.)
    nodes = sorted(
        tree.nodes(),
        key=lambda node: (
            node[0][:-1],
            not _is_short_name(node[0][-1]),
            node[0][-1],
        ),
    )
    for parts, data in nodes:
        parent = directories[parts[:-1]]
        if data is None:
            cluster = fat.allocate_bytes(2 * _ENTRY, erase=True)[0]
            entry = _named_entry(parent, parts[-1], FATDirectoryEntry.ATTR_DIRECTORY, cluster, 0)
            entry.add_subdirectory(_dot_entry(b".          ", cluster))
            entry.add_subdirectory(
                _dot_entry(b"..         ", parent.get_cluster() if parts[:-1] else 0)
            )
            directories[parts] = entry
        else:
            cluster = 0
            if data:
                cluster = fat.allocate_bytes(len(data))[0]
                fat.write_data_to_cluster(data, cluster)
            entry = _named_entry(
                parent, parts[-1], FATDirectoryEntry.ATTR_ARCHIVE, cluster, len(data)
            )
        parent.add_subdirectory(entry)
    # Each directory's entries are written once all are known; one that outgrows its
    # first cluster has its cluster chain extended here.
    for parts in sorted(directories, key=len, reverse=True):
        fat.update_directory_entry(directories[parts])
    fat.flush_fat()
    fat.close()
