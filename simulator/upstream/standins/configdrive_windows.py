"""``cloudbaseinit.metadata.services.osconfigdrive.windows``: the config-drive search.

Upstream's ``WindowsConfigDriveManager`` is what ``BaseConfigDriveService.load()`` (the
OpenStack and NoCloud config-drive services) gets from the config-drive factory. It tries
every (type, location) pair the service passes, in that order (types outer, locations
inner; the service sorts both, so no set order is involved), and the first pair that
yields a drive wins:

========================  =================================================================
``iso`` / ``cdrom``       CD-ROM drives with the label and the metadata file: copied
``iso`` / ``hdd``         physical disks holding a raw ISO9660 image (no label check)
``iso`` / ``partition``   partitions holding a raw ISO9660 image (no label check)
``vfat`` / ``hdd``        physical disks holding a FAT file system labelled as asked
``vfat`` / ``partition``  mounted volumes with the label and the metadata file: copied
========================  =================================================================

Whatever is found ends up in ``target_path``, a folder the manager makes under the
guest's temporary folder, which the service reads with ``open()`` and removes in
``cleanup()``. A pair that raises is logged as a warning and counts as "not found"; so is
each device that fails while a raw ISO is copied out of it.

Upstream extracts raw images with external programs: the ISO is copied into
``%TEMP%\\<uuid>.iso`` and unpacked by ``bsdtar``; FAT drives are read by ``mlabel`` and
``mcopy`` from ``mtools``. Here the same preconditions are checked on the guest (the
configured program must exist, ``mtools_path`` must be set), the ISO copy is really
written to and removed from the guest's temporary folder, and the programs' work is done
with guestsim's own readers (:mod:`guestsim.agent.configdrive`) over the guest's bytes.
The differences that remain:

* a damaged image extracts nothing (``bsdtar`` and ``mcopy`` keep the files they got to
  before the damage); ``mcopy``'s exit status is ignored upstream, so a damaged FAT drive
  still counts as found, with an empty folder;
* ``bsdtar`` names files after the Rock Ridge tree, the reader here after the Joliet tree
  when there is one (config drives carry the same names in both);
* empty folders of an image are not created.

Each pair also reports a ``config_drive_search`` trace event, as guestsim's agent does, so
the two agents' traces compare.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import ntpath
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from guestsim.agent.configdrive import MediaError, device_reader, fat, iso9660
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest
from guestsim.simulator.upstream.standins import disk

LOG = logging.getLogger("cloudbaseinit.metadata.services.osconfigdrive.windows")
# Upstream logs mtools' answers from its vfat helper module.
VFAT_LOG = logging.getLogger("cloudbaseinit.utils.windows.vfat")

ISO_SIGNATURE = b"CD001"
ISO_SIGNATURE_AT = 0x8001
# Upstream sizes a raw ISO from two little-endian 16-bit fields of the primary volume
# descriptor: the volume's block count (low half only) and its block size.
ISO_BLOCKS_AT = 0x8050
ISO_BLOCK_SIZE_AT = 0x8080
ISO_FIELD = 2
COPY_CHUNK = 1024 * 1024
# A raw ISO copy larger than this is not something a config drive needs; the simulator
# stops rather than hold gigabytes of a crafted image in memory.
MAX_ISO_COPY = 256 * 1024 * 1024
# What a failing bsdtar exits with.
BSDTAR_FAILURE = 1


def _upstream(name: str) -> Any:
    # Imported when needed: each upstream session brings its own modules and CONF.
    return importlib.import_module(f"cloudbaseinit.{name}")


def _conf() -> Any:
    return _upstream("conf").CONF


def _cloudbaseinit_error(message: str) -> Exception:
    error: Exception = _upstream("exception").CloudbaseInitException(message)
    return error


def _little_endian(data: bytes) -> int:
    return int.from_bytes(data[:ISO_FIELD], "little")


class WindowsConfigDriveManager:
    """Finds a config drive on the guest and copies its files into ``target_path``."""

    def __init__(self) -> None:
        # Upstream's base class makes the target folder (``tempfile.mkdtemp()``, on the
        # guest in a session); it is run as it is, so the folder is named as upstream's.
        base = _upstream("metadata.services.osconfigdrive.base")
        base.BaseConfigDriveManager.__init__(self)
        self.target_path: str
        self._os = guest.current().osutils
        # (label, type, location) of the pair being searched, for the trace events.
        self._pair: tuple[str, str, str] = ("", "", "")

    # --- the search ---------------------------------------------------------------------------

    @property
    def config_drive_type_location(self) -> Mapping[str, Callable[[str, str], bool]]:
        """``<location>_<type>`` -> the search of that pair; other pairs are skipped."""
        return {
            "cdrom_iso": self._get_config_drive_from_cdrom_drive,
            "hdd_iso": self._get_config_drive_from_raw_hdd,
            "hdd_vfat": self._get_config_drive_from_vfat,
            "partition_iso": self._get_config_drive_from_partition,
            "partition_vfat": self._get_config_drive_from_volume,
        }

    def get_config_drive_files(
        self,
        drive_label: str,
        metadata_file: str,
        searched_types: Iterable[str] | None = None,
        searched_locations: Iterable[str] | None = None,
    ) -> bool:
        """True once a pair found a drive (its files are then in ``target_path``)."""
        types = list(searched_types or [])
        locations = list(searched_locations or [])
        for kind, where in itertools.product(types, locations):
            LOG.debug(
                "Looking for Config Drive %(type)s in %(location)s with expected label "
                "%(drive_label)s",
                {"type": kind, "location": where, "drive_label": drive_label},
            )
            if self._search_pair(drive_label, metadata_file, kind, where):
                return True
        return False

    def _search_pair(self, drive_label: str, metadata_file: str, kind: str, where: str) -> bool:
        search = self.config_drive_type_location.get(f"{where}_{kind}")
        if search is None:
            LOG.debug(
                "Irrelevant type %(type)s in %(location)s location; skip",
                {"type": kind, "location": where},
            )
            return False
        self._pair = (drive_label, kind, where)
        try:
            found = bool(search(drive_label, metadata_file))
        except Exception as ex:
            LOG.warning(
                "Config type %(type)s not found in %(loc)s location; Error: '%(err)r'",
                {"type": kind, "loc": where, "err": ex},
            )
            self._report("error", error=f"{type(ex).__name__}: {ex}")
            return False
        self._report("found" if found else "not_found")
        return found

    def _report(self, result: str, **fields: object) -> None:
        label, kind, where = self._pair
        guest.current().events(
            "config_drive_search", label=label, type=kind, location=where, result=result, **fields
        )

    # --- mounted drives: CD-ROMs and volumes ----------------------------------------------------

    def _get_config_drive_from_cdrom_drive(self, drive_label: str, metadata_file: str) -> bool:
        return self._copy_first_mounted(self._os.get_cdrom_drives(), drive_label, metadata_file)

    def _get_config_drive_from_volume(self, drive_label: str, metadata_file: str) -> bool:
        return self._copy_first_mounted(self._os.get_volumes(), drive_label, metadata_file)

    def _copy_first_mounted(
        self, roots: Iterable[str], drive_label: str, metadata_file: str
    ) -> bool:
        for root in roots:
            if self._is_config_drive(root, drive_label, metadata_file):
                self._remove_empty_target()
                self._copy_tree(root, self.target_path)
                return True
        return False

    def _is_config_drive(self, root: str, drive_label: str, metadata_file: str) -> bool:
        label = self._os.get_volume_label(root)
        # Only the drive's label is lowered: the label asked for is compared as given.
        if label and label.lower() == drive_label and self._has_metadata(root, metadata_file):
            LOG.info("Config Drive found on %s", root)
            return True
        LOG.debug(
            "Looking for a Config Drive with label '%s' on '%s'. Found mismatching label '%s'.",
            drive_label,
            root,
            label,
        )
        return False

    def _has_metadata(self, root: str, metadata_file: str) -> bool:
        path = ntpath.join(root, metadata_file)
        if self._os.path_exists(path):
            return True
        LOG.debug("%s not found", path)
        return False

    def _remove_empty_target(self) -> None:
        """``os.rmdir`` of the target: the copy makes it afresh."""
        target = self.target_path
        if not self._os.is_dir(target):
            raise FileNotFoundError(2, "The system cannot find the file specified", target)
        if self._os.list_dir(target):
            raise OSError(145, "The directory is not empty", target)
        self._os.remove_path(target)

    def _copy_tree(self, source: str, target: str) -> None:
        """``shutil.copytree``: the target must not exist; folders before their files."""
        if self._os.path_exists(target):
            raise FileExistsError(183, "Cannot create a file when that file already exists", target)
        self._os.make_dirs(target)
        for name in sorted(self._os.list_dir(source), key=str.lower):
            here, there = ntpath.join(source, name), ntpath.join(target, name)
            if self._os.is_dir(here):
                self._copy_tree(here, there)
            else:
                self._os.write_file(there, self._os.read_file(here))

    # --- raw ISO images on disks and partitions -----------------------------------------------

    def _get_config_drive_from_raw_hdd(self, drive_label: str, metadata_file: str) -> bool:
        # No label check: the first raw ISO image that extracts is the config drive.
        return self._extract_iso_from_devices(map(disk.Disk, self._os.get_physical_disks()))

    def _get_config_drive_from_partition(self, drive_label: str, metadata_file: str) -> bool:
        # A disk whose layout cannot be read (a RAW one included) ends the whole pair.
        for disk_path in self._os.get_physical_disks():
            with disk.Disk(disk_path) as physical:
                partitions = physical.partitions()
            if self._extract_iso_from_devices(partitions):
                return True
        return False

    def _extract_iso_from_devices(self, devices: Iterable[disk.BaseDevice]) -> bool:
        """Copy out the first raw ISO of ``devices`` and extract it into the target; a
        device that fails is logged and the next one tried. The copy is removed after."""
        image_id = uuid.UUID(bytes=bytes(self._os.random_bytes(16)), version=4)
        iso_path = ntpath.join(self._os.get_temp_dir(), f"{image_id}.iso")
        extracted = False
        for device in devices:
            try:
                with device:
                    size = self._iso_size(device)
                    if size:
                        LOG.info("ISO9660 disk found on %s", device)
                        self._write_iso_file(device, iso_path, size)
                        self._extract_files_from_iso(iso_path)
                        extracted = True
                        break
            except Exception as ex:
                LOG.warning(
                    "ISO extraction failed on %(device)s with %(error)r",
                    {"device": device, "error": ex},
                )
                self._report("error", device=device.path, error=f"{type(ex).__name__}: {ex}")
        if self._os.path_exists(iso_path) and not self._os.is_dir(iso_path):
            self._os.remove_path(iso_path)
        return extracted

    @staticmethod
    def _iso_size(device: disk.BaseDevice) -> int | None:
        """The image size upstream trusts: blocks x block size from the primary volume
        descriptor; None when the device is removable, too small or not ISO9660."""
        if not device.fixed or not device.size > ISO_BLOCK_SIZE_AT + ISO_FIELD:
            return None

        def peek(offset: int, length: int) -> bytes:
            start = device.seek(offset)
            return device.read(length, skip=offset - start)

        if peek(ISO_SIGNATURE_AT, len(ISO_SIGNATURE)) != ISO_SIGNATURE:
            return None
        blocks = _little_endian(peek(ISO_BLOCKS_AT, ISO_FIELD))
        block_size = _little_endian(peek(ISO_BLOCK_SIZE_AT, ISO_FIELD))
        return blocks * block_size

    def _write_iso_file(self, device: disk.BaseDevice, iso_path: str, size: int) -> None:
        """The first ``size`` bytes of the device into the guest file ``iso_path`` (fewer
        when the device ends first, as a copy loop over ``ReadFile`` ends up with)."""
        if min(size, device.size) > MAX_ISO_COPY:
            raise NotModelled(f"copying a raw ISO image of {size} bytes from {device}")
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            start = device.seek(offset)
            data = device.read(min(COPY_CHUNK, size - offset), skip=offset - start)
            if not data:
                break
            chunks.append(data)
            offset += len(data)
        self._os.write_file(iso_path, b"".join(chunks))

    def _extract_files_from_iso(self, iso_path: str) -> None:
        """What ``bsdtar -xf <iso> -C <target>`` does, with its two ways of failing."""
        bsdtar = str(_conf().bsdtar_path)
        if not self._program_exists(bsdtar):
            raise _cloudbaseinit_error(f'Bsdtar path "{bsdtar}" does not exist.')
        image = bytes(self._os.read_file(iso_path))
        try:
            files = iso9660.read_iso_tree(lambda at, length: image[at : at + length], iso_path)
        except MediaError as ex:
            raise _cloudbaseinit_error(
                f'Failed to execute "bsdtar" from path "{bsdtar}" with exit code: '
                f"{BSDTAR_FAILURE}\n\nbsdtar: {type(ex).__name__}: {ex}"
            ) from ex
        self._write_files(files)

    # --- FAT file systems on raw disks ----------------------------------------------------------

    def _get_config_drive_from_vfat(self, drive_label: str, metadata_file: str) -> bool:
        for disk_path in self._os.get_physical_disks():
            if self._has_vfat_label(disk_path, drive_label):
                LOG.info("Config Drive found on disk %r", disk_path)
                self._copy_from_vfat(disk_path)
                return True
        return False

    def _mtools_program(self, name: str) -> str:
        """The mtools program to run; upstream refuses to go on without ``mtools_path``
        and a missing program fails to start."""
        folder = _conf().mtools_path
        if not folder:
            raise _cloudbaseinit_error(
                '"mtools_path" needs to be provided in order to access VFAT drives'
            )
        program = ntpath.join(str(folder), name)
        if not self._program_exists(program):
            raise FileNotFoundError(2, "The system cannot find the file specified", program)
        return program

    def _has_vfat_label(self, disk_path: str, drive_label: str) -> bool:
        """What ``mlabel -i <disk> -s`` answers: the label exactly as stored, which must be
        the asked label in lower or upper case."""
        self._mtools_program("mlabel.exe")
        try:
            label = fat.fat_volume_label(device_reader(self._os, disk_path), disk_path)
        except MediaError as ex:
            VFAT_LOG.debug("Could not retrieve label for VFAT drive path %r", disk_path)
            VFAT_LOG.debug("mlabel failed with error %r", f"mlabel: {ex}\r\n".encode())
            return False
        answer = f" Volume label is {label}" if label else " Volume has no label"
        VFAT_LOG.debug(
            "Obtained label information for drive %r: %r", disk_path, f"{answer}\r\n".encode()
        )
        return label is not None and label in (drive_label.lower(), drive_label.upper())

    def _copy_from_vfat(self, disk_path: str) -> None:
        """What ``mcopy -s -n -i <disk> ::/ .`` in the target does; its exit status is not
        looked at, so a damaged file system copies nothing and still counts as found."""
        self._mtools_program("mcopy.exe")
        try:
            files = fat.read_fat_tree(device_reader(self._os, disk_path), disk_path)
        except MediaError:
            return
        self._write_files(files)

    # --- shared -------------------------------------------------------------------------------

    def _program_exists(self, program: str) -> bool:
        # A relative program path resolves in the service's working folder, System32.
        path = (
            program if ntpath.isabs(program) else ntpath.join(self._os.get_system32_dir(), program)
        )
        return bool(self._os.path_exists(path))

    def _write_files(self, files: Mapping[str, bytes]) -> None:
        """An extracted tree (POSIX relative paths) into the target, over what is there."""
        for relative, data in sorted(files.items()):
            parts = relative.split("/")
            path = ntpath.join(self.target_path, *parts)
            if len(parts) > 1:
                self._os.make_dirs(ntpath.dirname(path))
            self._os.write_file(path, data)
