"""Finding a config drive: every allowed (type, location) pair, in the published order.

Upstream 1.1.9 walks types ``iso`` then ``vfat`` and, for each, locations ``cdrom``,
``hdd``, ``partition`` (de-duplicated and sorted, so the order never depends on hash
seeds). The first pair that yields a drive wins; a failure of one pair is logged and
the search goes on.

What the search does to the guest follows upstream step for step, so the two agents'
traces line up:

* before anything is searched, an empty ``tmp`` + 8 random characters folder is made in
  the agent's temporary folder (the target); when nothing is found it stays there;
* a drive found on a mounted volume (CD-ROM or partition) replaces the empty target with
  a copy of the volume's tree: the target is removed, then made again by the copy, which
  creates each folder before what it holds, entries in case-insensitive name order;
* a raw ISO image (on a disk or in a partition) is first copied into
  ``%TEMP%\\<uuid4>.iso`` (one name for the raw-disk search, one per disk for the
  partition search), its files are then written into the target, and the copy is
  removed once those devices have been tried;
* a raw FAT disk's files are written straight into the target;
* the service removes the target in ``cleanup()``.

CD-ROM and mounted-volume candidates are read through the OS (label, files). Raw disks
and partitions are parsed here from their bytes. Upstream extracts those with
``bsdtar``/``mtools`` and so needs them installed; we parse the bytes ourselves but keep
the same preconditions (the tools must exist where the options say), because that is
what decides whether a real guest finds the drive.
"""

from __future__ import annotations

import logging
import ntpath
import uuid
from collections.abc import Callable
from typing import Protocol

from guestsim.agent.config import AgentConfig
from guestsim.agent.configdrive import errors, fat, iso9660, partitions
from guestsim.agent.configdrive._common import window
from guestsim.agent.osutils import OSUtils, OSUtilsError
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

TYPES = ("iso", "vfat")
LOCATIONS = ("cdrom", "hdd", "partition")
ISO_SIGNATURE_OFFSET = 0x8001
ISO_MIN_DEVICE_SIZE = 0x8082
# Windows services start in %SystemRoot%\system32; relative tool paths resolve there.
SERVICE_WORKING_DIR = "C:\\Windows\\system32"
# The target folder's name: a prefix and random characters from this alphabet, as the
# temporary folders Python makes are named.
TEMP_FOLDER_PREFIX = "tmp"
TEMP_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
TEMP_NAME_LENGTH = 8
# The raw ISO copy is read in chunks of this size; a copy larger than the ceiling is
# refused rather than held in memory.
ISO_COPY_CHUNK = 1024 * 1024
MAX_ISO_COPY_BYTES = 256 * 1024 * 1024

Tree = dict[str, bytes]


class ConfigDriveSearchError(Exception):
    """The configured search is invalid (an unknown type or location)."""


def search_order(context: AgentContext) -> list[tuple[str, str]]:
    return configured_search(context.conf)


def configured_search(conf: AgentConfig) -> list[tuple[str, str]]:
    """The (type, location) pairs a configuration has the agent probe, in probe order."""
    types = set(conf.get("types", "config_drive"))
    locations = set(conf.get("locations", "config_drive"))
    # The deprecated booleans default to True and add to the search: restricting it
    # means turning them off too, exactly as on a real guest.
    if conf.get("raw_hdd", "config_drive"):
        types.add("iso")
        locations.add("hdd")
    if conf.get("cdrom", "config_drive"):
        types.add("iso")
        locations.add("cdrom")
    if conf.get("vfat", "config_drive"):
        types.add("vfat")
        locations.add("hdd")
    unknown = sorted((types - set(TYPES)) | (locations - set(LOCATIONS)))
    if unknown:
        raise ConfigDriveSearchError(f"Unknown config drive types or locations: {unknown}")
    return [(kind, where) for kind in sorted(types) for where in sorted(locations)]


class RandomSource(Protocol):
    """Where random_name draws its bytes from: the OS boundary's random generator."""

    def random_bytes(self, count: int) -> bytes: ...


def random_name(source: RandomSource, length: int, alphabet: str = TEMP_NAME_ALPHABET) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` with the OS's random bytes
    (a byte that would favour the first characters is drawn again)."""
    accepted = 256 - 256 % len(alphabet)
    chars: list[str] = []
    while len(chars) < length:
        for byte in source.random_bytes(length - len(chars)):
            if byte < accepted:
                chars.append(alphabet[byte % len(alphabet)])
    return "".join(chars)


def make_temp_folder(osutils: OSUtils) -> str:
    """A new, empty folder ``tmp<8 random characters>`` in the temporary folder."""
    parent = osutils.get_temp_dir()
    while True:
        folder = ntpath.join(parent, TEMP_FOLDER_PREFIX + random_name(osutils, TEMP_NAME_LENGTH))
        if not osutils.path_exists(folder):
            osutils.make_dirs(folder)
            return folder


class ConfigDriveFinder:
    def __init__(
        self,
        context: AgentContext,
        label: str,
        metadata_file: str,
        validate: Callable[[bytes], object] | None = None,
    ) -> None:
        self.context = context
        self.osutils = context.osutils
        self.label = label
        # Relative to the drive root, with Windows separators.
        self.metadata_file = metadata_file.replace("/", "\\")
        self.validate = validate

    def _check_metadata(self, device: str, data: bytes | None) -> None:
        if data is None:
            raise errors.InvalidMetadata(device, f"no {self.metadata_file} on the drive")
        if self.validate is not None:
            try:
                self.validate(data)
            except ValueError as ex:
                raise errors.InvalidMetadata(device, f"{self.metadata_file}: {ex}") from ex

    def _checked_tree(self, device: str, tree: Tree) -> Tree:
        self._check_metadata(device, tree.get(self.metadata_file.replace("\\", "/")))
        return tree

    # --- the search ------------------------------------------------------------------------

    def find(self) -> str | None:
        """The folder holding the drive's files, or None when no candidate matched.

        The (empty) target folder is made first, whatever is found; when nothing is, it
        is left in place, as upstream leaves it.
        """
        handlers: dict[tuple[str, str], Callable[[str], bool]] = {
            ("iso", "cdrom"): self._cdrom_iso,
            ("iso", "hdd"): self._hdd_iso,
            ("iso", "partition"): self._partition_iso,
            ("vfat", "hdd"): self._hdd_vfat,
            ("vfat", "partition"): self._partition_vfat,
        }
        order = search_order(self.context)
        target = make_temp_folder(self.osutils)
        for kind, where in order:
            handler = handlers.get((kind, where))
            if handler is None:
                LOG.debug("Config drive type %s is not searched at %s", kind, where)
                continue
            try:
                found = handler(target)
            except (errors.MediaError, OSUtilsError, OSError, ValueError) as ex:
                LOG.warning("Config drive search %s/%s failed: %s", kind, where, ex)
                self._event(kind, where, "error", error=f"{type(ex).__name__}: {ex}")
                continue
            if not found:
                self._event(kind, where, "not_found")
                continue
            self._event(kind, where, "found")
            return target
        return None

    def _event(self, kind: str, where: str, result: str, **fields: object) -> None:
        self.context.events(
            "config_drive_search",
            label=self.label,
            type=kind,
            location=where,
            result=result,
            **fields,
        )

    # --- writing into the target -------------------------------------------------------------

    def _write_tree(self, target: str, tree: Tree) -> None:
        """An extracted tree into the target, over what is there: files in path order,
        each file's folder made just before it."""
        for relative, data in sorted(tree.items()):
            parts = relative.split("/")
            if len(parts) > 1:
                self.osutils.make_dirs(target + "\\" + "\\".join(parts[:-1]))
            self.osutils.write_file(target + "\\" + "\\".join(parts), data)

    def _replace_with_copy(self, root: str, target: str) -> None:
        """The empty target removed, then made again as a copy of the volume ``root``.

        Only an empty folder is removed (a missing one fails the listing); the copy may not
        mix with files an earlier search left there.
        """
        if self.osutils.list_dir(target):
            raise errors.MediaError(target, "the folder to copy the drive into is not empty")
        self.osutils.remove_path(target)
        self._copy_dir(root, target)

    def _copy_dir(self, source: str, target: str) -> None:
        # The folder first, then its entries in the case-insensitive order Windows lists.
        self.osutils.make_dirs(target)
        for name in sorted(self.osutils.list_dir(source), key=str.lower):
            path, destination = ntpath.join(source, name), ntpath.join(target, name)
            if self.osutils.is_dir(path):
                self._copy_dir(path, destination)
            else:
                self.osutils.write_file(destination, self.osutils.read_file(path))

    def _require_tool(self, option: str, tool: str | None = None) -> None:
        configured: str | None = self.context.conf.get(option)
        if not configured:
            raise errors.MediaError(f"{option} is not set")
        path = configured if tool is None else f"{configured.rstrip(chr(92))}\\{tool}"
        if not (len(path) > 1 and path[1] == ":") and not path.startswith("\\\\"):
            path = f"{SERVICE_WORKING_DIR}\\{path}"
        if not self.osutils.path_exists(path):
            raise errors.MediaError(f"{path} does not exist (option {option})")

    def _reader(self, device: str) -> Callable[[int, int], bytes]:
        return lambda offset, length: self.osutils.read_device(device, offset, length)

    # --- the candidates ----------------------------------------------------------------------

    def _label_matches(self, label: str | None) -> bool:
        return label is not None and label.lower() == self.label.lower()

    def _mounted(self, kind: str, where: str, roots: list[str], target: str) -> bool:
        """The first mounted volume with the label and valid metadata, copied out."""

        def probe(root: str) -> bool:
            if not self._label_matches(self.osutils.get_volume_label(root)):
                return False
            if not self.osutils.path_exists(root + self.metadata_file):
                return False
            self._check_metadata(root, self.osutils.read_file(root + self.metadata_file))
            return True

        for root in roots:
            if self._each_device(kind, where, [root], probe):
                self._replace_with_copy(root, target)
                return True
        return False

    def _cdrom_iso(self, target: str) -> bool:
        return self._mounted("iso", "cdrom", self.osutils.get_cdrom_drives(), target)

    def _each_device(
        self, kind: str, where: str, devices: list[str], probe: Callable[[str], bool]
    ) -> bool:
        """True once ``probe`` finds a drive on a device; a damaged one is reported, skipped."""
        for device in devices:
            try:
                if probe(device):
                    return True
            except errors.MediaError as ex:
                LOG.warning("Config drive candidate %s is unusable: %s", device, ex)
                self._event(kind, where, "error", device=device, error=f"{type(ex).__name__}: {ex}")
        return False

    # --- raw ISO images -------------------------------------------------------------------

    def _iso_copy_path(self) -> str:
        """Where a raw ISO image is copied before extraction: a uuid4 name in %TEMP%."""
        name = uuid.UUID(bytes=self.osutils.random_bytes(16), version=4)
        return ntpath.join(self.osutils.get_temp_dir(), f"{name}.iso")

    @staticmethod
    def _copy_image(read: Callable[[int, int], bytes], size: int) -> bytes:
        """The first ``size`` bytes of the device (fewer when it ends first)."""
        # Past the end of the device a read returns nothing.
        return b"".join(
            read(offset, min(ISO_COPY_CHUNK, size - offset))
            for offset in range(0, size, ISO_COPY_CHUNK)
        )

    def _raw_iso(
        self,
        device: str,
        read: Callable[[int, int], bytes],
        device_size: int,
        iso_path: str,
        target: str,
    ) -> bool:
        """A raw ISO image on ``device``: copied to ``iso_path``, then its files written
        into the target (after the bsdtar precondition and the metadata check)."""
        if device_size <= ISO_MIN_DEVICE_SIZE:
            return False
        if read(ISO_SIGNATURE_OFFSET, 5) != b"CD001":
            return False
        # The device holds the whole primary volume descriptor (checked above).
        size = iso9660.iso_image_size(read)
        if min(size, device_size) > MAX_ISO_COPY_BYTES:
            raise errors.LimitExceeded(
                device, f"the ISO image to copy is over {MAX_ISO_COPY_BYTES} bytes"
            )
        # Upstream copies exactly the computed size (nothing when it is 0) before
        # extracting the copy.
        image = self._copy_image(read, size)
        if size:
            self.osutils.write_file(iso_path, image)
        self._require_tool("bsdtar_path")

        def copied(offset: int, length: int) -> bytes:
            return image[offset : offset + length]

        tree = self._checked_tree(device, iso9660.read_iso_tree(copied, device))
        self._write_tree(target, tree)
        return True

    def _remove_iso_copy(self, iso_path: str) -> None:
        if self.osutils.path_exists(iso_path) and not self.osutils.is_dir(iso_path):
            self.osutils.remove_path(iso_path)

    def _hdd_iso(self, target: str) -> bool:
        iso_path = self._iso_copy_path()

        def probe(disk: str) -> bool:
            size = self.osutils.get_device_size(disk)
            return self._raw_iso(disk, self._reader(disk), size, iso_path, target)

        try:
            return self._each_device("iso", "hdd", self.osutils.get_physical_disks(), probe)
        finally:
            self._remove_iso_copy(iso_path)

    def _partition_iso(self, target: str) -> bool:
        def probe(disk: str) -> bool:
            read = self._reader(disk)
            size = self.osutils.get_device_size(disk)
            found = partitions.read_partitions(read, disk, size)
            # One copy name per disk, drawn once its partitions are known.
            iso_path = self._iso_copy_path()
            try:
                return self._each_partition(disk, found, iso_path, target)
            finally:
                self._remove_iso_copy(iso_path)

        return self._each_device("iso", "partition", self.osutils.get_physical_disks(), probe)

    def _each_partition(
        self, disk: str, found: list[partitions.Partition], iso_path: str, target: str
    ) -> bool:
        """The first partition of ``disk`` holding a raw ISO image; a damaged one is
        reported under its disk and the next partition tried."""
        read = self._reader(disk)
        for part in found:
            device = f"{disk} partition {part.index}"
            try:
                if self._raw_iso(
                    device, window(read, part.offset, part.size), part.size, iso_path, target
                ):
                    return True
            except errors.MediaError as ex:
                LOG.warning("Config drive candidate %s is unusable: %s", device, ex)
                self._event(
                    "iso", "partition", "error", device=disk, error=f"{type(ex).__name__}: {ex}"
                )
        return False

    # --- FAT --------------------------------------------------------------------------------

    def _hdd_vfat(self, target: str) -> bool:
        self._require_tool("mtools_path", "mlabel.exe")

        def probe(disk: str) -> bool:
            read = self._reader(disk)
            try:
                label = fat.fat_volume_label(read)
            except errors.NotThisFormat:
                return False
            # mlabel prints the label as stored; upstream accepts exactly upper or lower case.
            if label not in (self.label.upper(), self.label.lower()):
                return False
            self._write_tree(target, self._checked_tree(disk, fat.read_fat_tree(read, disk)))
            return True

        return self._each_device("vfat", "hdd", self.osutils.get_physical_disks(), probe)

    def _partition_vfat(self, target: str) -> bool:
        return self._mounted("vfat", "partition", self.osutils.get_volumes(), target)
