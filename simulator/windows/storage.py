"""Disks, partitions, volumes and CD-ROM media of the fake Windows.

Physical disks are raw image bytes the agent can read through the OS boundary
(``\\\\.\\PHYSICALDRIVE<n>``). Volumes are what Windows mounts: the system volume, FAT
partitions of attached disks, and CD-ROM media; each has a volume GUID path and maybe a
drive letter, and its files are visible through the guest filesystem. What Windows would
show of an image is read here with pycdlib / pyfatfs — deliberately not with the agent's
own readers, so that a bug in those is not mirrored by the world they are tested against.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pycdlib
from pyfatfs.PyFatFS import PyFatBytesIOFS

from simulator.windows.state import Drive, WindowsState

LOG = logging.getLogger(__name__)

SECTOR = 512
# Derives stable volume GUIDs so that traces are identical on every run.
_GUID_NAMESPACE = uuid.UUID("6f1d0c52-3a9e-4d7b-8c21-5b0e9f4a7d13")
SYSTEM_DISK_SIZE = 64 * 1024**3


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
    state.files.make_dirs(root)
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


def add_system_disk(state: WindowsState) -> None:
    """Disk 0 with the NTFS system volume C:, as every guest has."""
    mbr = bytearray(SECTOR)
    entry = bytearray(16)
    entry[4] = 0x07  # NTFS
    start, sectors = 2048, SYSTEM_DISK_SIZE // SECTOR - 2048
    entry[8:12] = start.to_bytes(4, "little")
    entry[12:16] = sectors.to_bytes(4, "little")
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    state.disks.append(Disk(bytes(mbr), SYSTEM_DISK_SIZE))
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
