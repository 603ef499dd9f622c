"""Disks, partitions, volumes and CD-ROM media of the fake Windows.

Physical disks are raw image bytes the agent can read through the OS boundary
(``\\\\.\\PHYSICALDRIVE<n>``). Volumes are what Windows mounts: the system volume, FAT
partitions of attached disks, and CD-ROM media; each has a volume GUID path and maybe a
drive letter, and its files are visible through the guest filesystem. What Windows would
show of an image is read here with pycdlib / pyfatfs — deliberately not with the agent's
own readers, so that a bug in those is not mirrored by the world they are tested against.

Layout and numbering, as the storage manager sees them (see ``extend_volumes`` in
``simulator/windows/osutils/volumes.py``):

* A disk-backed volume is one partition: ``offset`` and ``size`` on its disk. The space
  between the end of a partition and the next partition on the same disk (or the end of
  the disk's usable area: the whole disk for MBR, up to the backup GPT for GPT) is free.
  The system disk is 64 GiB with a 40 GiB ``C:`` partition, so 24 GiB (less the 1 MiB
  before the partition) is free for extending, as on a VM whose disk was enlarged.
* VDS names disk-backed volumes ``\\\\?\\GLOBALROOT\\Device\\HarddiskVolume<N>``, N counting
  from 1 over the disk-backed volumes in the order they were attached: ``C:`` is
  ``HarddiskVolume1`` (the fake has no "System Reserved" partition before it). CD-ROM
  media are not numbered.
* WSM (Nano Server) numbers every volume from 1 in ``WindowsState.volumes`` order, CD-ROM
  media included (they have no partition, so there is nothing to extend on them).
* A partition's number is its rank by offset among the volumes of its disk, from 1.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pycdlib
from pyfatfs.PyFatFS import PyFatBytesIOFS

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows.disks import Disk, Drive, Volume
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.volumes import as_folder, install_registry_defaults

LOG = logging.getLogger(__name__)

SECTOR = 512
MIB = 1024**2
GIB = 1024**3
# Derives stable volume GUIDs so that traces are identical on every run.
_GUID_NAMESPACE = uuid.UUID("6f1d0c52-3a9e-4d7b-8c21-5b0e9f4a7d13")
SYSTEM_DISK_SIZE = 64 * GIB
# C: as installed: smaller than its disk, leaving unallocated space to extend into.
SYSTEM_PARTITION_SIZE = 40 * GIB
PARTITION_START = MIB  # partitions begin at 1 MiB, as Windows aligns them
MBR_NTFS = 0x07
_MBR_TABLE = 446
_MBR_ENTRY = 16
_GPT_SIGNATURE = b"EFI PART"
VDS_VOLUME_PREFIX = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume"


@dataclass(frozen=True)
class PartitionSpec:
    offset: int
    size: int


def _guid(name: str) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, name))


def next_free_letter(state: WindowsState) -> str:
    used = {drive.letter for drive in state.drives}
    for letter in "DEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in used:
            return letter
    raise ValueError("no free drive letter")


def _write_tree(state: WindowsState, root: str, files: dict[str, bytes]) -> None:
    state.files.add_root(root)
    for relative, data in sorted(files.items()):
        parts = [part for part in relative.split("/") if part]
        if len(parts) > 1:
            state.files.make_dirs(root + "\\".join(parts[:-1]))
        state.files.write(root + "\\".join(parts), data)


# --- what Windows' file-system drivers show of an image ---------------------------------------


def read_iso_as_windows(image: bytes) -> tuple[str | None, dict[str, bytes]] | None:
    """The label and files Windows shows for an ISO9660 image (Joliet names if present)."""
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(image))
        joliet = iso.has_joliet()
        facade = iso.get_joliet_facade() if joliet else iso.get_iso9660_facade()
        label_source = iso.joliet_vd if joliet else iso.pvd
        raw_label = label_source.volume_identifier if label_source is not None else b""
        label = (
            raw_label.decode("utf-16-be") if joliet else raw_label.decode("ascii", "replace")
        ).strip() or None
        files: dict[str, bytes] = {}
        for root, _dirs, names in iso.walk(**{"joliet_path" if joliet else "iso_path": "/"}):
            for name in names:
                path = f"{root.rstrip('/')}/{name}"
                out = io.BytesIO()
                facade.get_file_from_iso_fp(out, path)
                clean = path.lstrip("/") if joliet else path.lstrip("/").split(";")[0].rstrip(".")
                files[clean] = out.getvalue()
        return label, files
    except Exception as ex:
        LOG.debug("ISO image is not readable by Windows: %s", ex)
        return None
    finally:
        try:
            iso.close()
        except Exception:
            LOG.debug("closing an unreadable ISO failed")


def read_fat_as_windows(image: bytes) -> tuple[str | None, dict[str, bytes]] | None:
    """The label and files Windows shows for a FAT file system (long names)."""
    try:
        fs = PyFatBytesIOFS(io.BytesIO(image))
    except Exception as ex:
        LOG.debug("FAT image is not readable by Windows: %s", ex)
        return None
    try:
        files = {path.lstrip("/"): fs.readbytes(path) for path in fs.walk.files("/")}
        label = _fat_label(image)
        return label, files
    except Exception as ex:
        LOG.debug("FAT image is not readable by Windows: %s", ex)
        return None
    finally:
        fs.close()


def _fat_label(image: bytes) -> str | None:
    # Windows reports the root directory's volume-label entry; the BPB copy is a fallback.
    bytes_per_sector = int.from_bytes(image[11:13], "little") or SECTOR
    reserved = int.from_bytes(image[14:16], "little")
    fats = image[16]
    root_entries = int.from_bytes(image[17:19], "little")
    fat_size = int.from_bytes(image[22:24], "little")
    root_start = (reserved + fats * fat_size) * bytes_per_sector
    for index in range(root_entries):
        entry = image[root_start + 32 * index : root_start + 32 * (index + 1)]
        if len(entry) < 32 or entry[0] == 0:
            break
        if entry[0] != 0xE5 and entry[11] == 0x08:
            return entry[:11].decode("ascii", "replace").rstrip() or None
    bpb_label = image[0x2B:0x36].decode("ascii", "replace").rstrip()
    return None if bpb_label in ("", "NO NAME") else bpb_label


# --- attaching ----------------------------------------------------------------------------------


def _mbr(entries: Sequence[tuple[int, int, int]]) -> bytes:
    """A master boot record with ``(type, first sector, sector count)`` entries."""
    mbr = bytearray(SECTOR)
    for slot, (kind, start, sectors) in enumerate(entries):
        entry = bytearray(_MBR_ENTRY)
        entry[4] = kind
        entry[8:12] = start.to_bytes(4, "little")
        entry[12:16] = sectors.to_bytes(4, "little")
        position = _MBR_TABLE + slot * _MBR_ENTRY
        mbr[position : position + _MBR_ENTRY] = entry
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def add_system_disk(state: WindowsState) -> None:
    """Disk 0 with the NTFS system volume C:, as every guest has, and Windows installed on it.

    The installation's storage settings (system-managed page file, TRIM on, no SAN policy
    value) are written to the registry here, because they come with the system volume.
    """
    start, sectors = PARTITION_START // SECTOR, SYSTEM_PARTITION_SIZE // SECTOR
    state.disks.append(Disk(_mbr([(MBR_NTFS, start, sectors)]), SYSTEM_DISK_SIZE))
    state.volumes.append(
        Volume(
            _guid("disk0:1"),
            "Windows",
            letter="C",
            disk=0,
            offset=start * SECTOR,
            size=sectors * SECTOR,
            filesystem="NTFS",
        )
    )
    install_registry_defaults(state.registry)


def attach_cdrom(state: WindowsState, iso: bytes | None, letter: str | None = None) -> Drive:
    """A CD-ROM drive; ``iso`` None is an empty drive (no media)."""
    letter = letter or next_free_letter(state)
    index = sum(1 for drive in state.drives if drive.kind == "cdrom")
    shown = read_iso_as_windows(iso) if iso is not None else None
    label = shown[0] if shown else None
    drive = Drive(letter, label, "cdrom")
    state.drives.append(drive)
    if shown is not None:
        _write_tree(state, drive.root, shown[1])
    if iso is not None:
        state.volumes.append(
            Volume(
                _guid(f"cdrom{index}"),
                label,
                letter=letter,
                size=len(iso),
                filesystem="CDFS" if shown else None,
            )
        )
        state.cdrom_media[letter] = iso
    return drive


def attach_disk(
    state: WindowsState,
    image: bytes,
    partitions: Sequence[PartitionSpec] = (),
    letters: Sequence[str | None] = (),
    size: int | None = None,
) -> int:
    """A physical disk holding ``image``; FAT partitions are mounted as volumes."""
    number = len(state.disks)
    state.disks.append(Disk(image, max(size or 0, len(image))))
    for index, partition in enumerate(partitions, start=1):
        letter = letters[index - 1] if index - 1 < len(letters) else None
        content = image[partition.offset : partition.offset + partition.size]
        shown = read_fat_as_windows(content)
        volume = Volume(
            _guid(f"disk{number}:{index}"),
            shown[0] if shown else None,
            letter=letter,
            disk=number,
            offset=partition.offset,
            size=partition.size,
            filesystem="FAT" if shown else None,
        )
        state.volumes.append(volume)
        if letter is not None:
            state.drives.append(Drive(letter, volume.label, "fixed"))
        if shown is not None:
            _write_tree(state, volume.root, shown[1])
    return number


def attach_ntfs_disk(
    state: WindowsState,
    size: int,
    label: str | None,
    letter: str | None = None,
    partition_size: int | None = None,
    files: Mapping[str, bytes] | None = None,
) -> int:
    """A data disk with one NTFS partition at 1 MiB (by default filling the disk).

    Its volume is mounted at ``letter`` if given; ``files`` (paths relative to the volume
    root, ``/`` or ``\\``) are what it holds. Returns the disk number.
    """
    number = len(state.disks)
    start = PARTITION_START // SECTOR
    part_size = size - PARTITION_START if partition_size is None else partition_size
    if part_size <= 0 or part_size % SECTOR or PARTITION_START + part_size > size:
        raise ValueError(f"a {part_size}-byte partition does not fit a {size}-byte disk")
    state.disks.append(Disk(_mbr([(MBR_NTFS, start, part_size // SECTOR)]), size))
    volume = Volume(
        _guid(f"disk{number}:1"),
        label,
        letter=letter,
        disk=number,
        offset=PARTITION_START,
        size=part_size,
        filesystem="NTFS",
    )
    state.volumes.append(volume)
    if letter is not None:
        state.drives.append(Drive(letter, label, "fixed"))
    tree = {path.replace("\\", "/"): data for path, data in (files or {}).items()}
    _write_tree(state, volume.root, tree)
    return number


def mount_volume(state: WindowsState, volume: Volume, folder: str) -> str:
    """Mount ``volume`` on an (empty, created if needed) folder; returns the mount point."""
    point = as_folder(folder)
    if any(known.lower() == point.lower() for known in state.volume_config.mount_points):
        raise ValueError(f"{point} is already a mount point")
    state.files.make_dirs(point.rstrip("\\"))
    state.volume_config.mount_points[point] = volume.guid
    return point


# --- layout: free space, numbering, resizing -------------------------------------------------


def usable_end(disk: Disk) -> int:
    """Where a disk's partitionable area ends: before the backup GPT, or the disk's end."""
    header = disk.read(SECTOR, SECTOR)
    if header[:8] == _GPT_SIGNATURE:
        last_usable_lba = int.from_bytes(header[48:56], "little")
        return min(disk.size, (last_usable_lba + 1) * SECTOR)
    return disk.size


def free_space_after(state: WindowsState, volume: Volume) -> int:
    """Bytes of unallocated space directly after a disk-backed volume's partition."""
    if volume.disk is None:
        return 0
    end = volume.offset + volume.size
    following = [
        other.offset
        for other in state.volumes
        if other.disk == volume.disk and other.offset >= end and other.guid != volume.guid
    ]
    limit = min(following) if following else usable_end(state.disks[volume.disk])
    return max(0, limit - end)


def harddisk_volume_number(state: WindowsState, volume: Volume) -> int:
    """N of the volume's ``HarddiskVolume<N>`` device name (disk-backed volumes only)."""
    backed = [v.guid for v in state.volumes if v.disk is not None]
    return backed.index(volume.guid) + 1


def vds_volume_name(state: WindowsState, volume: Volume) -> str:
    return f"{VDS_VOLUME_PREFIX}{harddisk_volume_number(state, volume)}"


def partition_number(state: WindowsState, volume: Volume) -> int:
    """The volume's partition number on its disk, from 1 in offset order."""
    offsets = sorted(v.offset for v in state.volumes if v.disk == volume.disk)
    return offsets.index(volume.offset) + 1


def resize_volume(state: WindowsState, volume: Volume, new_size: int) -> Volume:
    """Grow a partition and its volume in place: the partition table and the volume record."""
    if volume.disk is None:
        raise ValueError("CD-ROM media have no partition to resize")
    disk = state.disks[volume.disk]
    table = bytearray(disk.read(0, SECTOR))
    if usable_end(disk) != disk.size or table[510:512] != b"\x55\xaa":
        raise NotModelled("resizing a partition that is not in an MBR partition table")
    start = volume.offset // SECTOR
    for slot in range(4):
        position = _MBR_TABLE + slot * _MBR_ENTRY
        entry = table[position : position + _MBR_ENTRY]
        if entry[4] and int.from_bytes(entry[8:12], "little") == start:
            table[position + 12 : position + 16] = (new_size // SECTOR).to_bytes(4, "little")
            break
    else:
        raise NotModelled("resizing a partition missing from the MBR partition table")
    data = bytes(table) + disk.data[SECTOR:]
    state.disks[volume.disk] = dataclasses.replace(disk, data=data)
    resized = dataclasses.replace(volume, size=new_size)
    position = next(i for i, v in enumerate(state.volumes) if v.guid == volume.guid)
    state.volumes[position] = resized
    return resized
