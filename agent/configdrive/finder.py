"""Finding a config drive: every allowed (type, location) pair, in the published order.

Upstream 1.1.9 walks types ``iso`` then ``vfat`` and, for each, locations ``cdrom``,
``hdd``, ``partition`` (de-duplicated and sorted, so the order never depends on hash
seeds). The first pair that yields a drive wins; a failure of one pair is logged and
the search goes on. What is found is copied into a fresh folder under the agent's
temporary folder, which the service removes in ``cleanup()``.

CD-ROM and mounted-volume candidates are read through the OS (label, files). Raw disks
and partitions are parsed here from their bytes. Upstream extracts those with
``bsdtar``/``mtools`` and so needs them installed; we parse the bytes ourselves but keep
the same preconditions (the tools must exist where the options say), because that is
what decides whether a real guest finds the drive.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from guestsim.agent.configdrive import errors, fat, iso9660, partitions
from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

TYPES = ("iso", "vfat")
LOCATIONS = ("cdrom", "hdd", "partition")
ISO_SIGNATURE_OFFSET = 0x8001
ISO_MIN_DEVICE_SIZE = 0x8082
# Windows services start in %SystemRoot%\system32; relative tool paths resolve there.
SERVICE_WORKING_DIR = "C:\\Windows\\system32"

Tree = dict[str, bytes]


class ConfigDriveSearchError(Exception):
    """The configured search is invalid (an unknown type or location)."""


def search_order(context: AgentContext) -> list[tuple[str, str]]:
    conf = context.conf
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
        """The folder holding the drive's files, or None when no candidate matched."""
        handlers: dict[tuple[str, str], Callable[[], Tree | str | None]] = {
            ("iso", "cdrom"): self._cdrom_iso,
            ("iso", "hdd"): self._hdd_iso,
            ("iso", "partition"): self._partition_iso,
            ("vfat", "hdd"): self._hdd_vfat,
            ("vfat", "partition"): self._partition_vfat,
        }
        for kind, where in search_order(self.context):
            handler = handlers.get((kind, where))
            if handler is None:
                LOG.debug("Config drive type %s is not searched at %s", kind, where)
                continue
            try:
                found = handler()
            except (errors.MediaError, OSUtilsError, OSError, ValueError) as ex:
                LOG.warning("Config drive search %s/%s failed: %s", kind, where, ex)
                self._event(kind, where, "error", error=f"{type(ex).__name__}: {ex}")
                continue
            if found is None:
                self._event(kind, where, "not_found")
                continue
            folder = found if isinstance(found, str) else self._extract(found)
            self._event(kind, where, "found")
            return folder
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

    def _new_folder(self) -> str:
        name = uuid.UUID(bytes=self.osutils.random_bytes(16), version=4)
        folder = f"{self.osutils.get_temp_dir()}\\{name}"
        self.osutils.make_dirs(folder)
        return folder

    def _extract(self, tree: Tree) -> str:
        folder = self._new_folder()
        for relative, data in sorted(tree.items()):
            parts = relative.split("/")
            if len(parts) > 1:
                self.osutils.make_dirs(folder + "\\" + "\\".join(parts[:-1]))
            self.osutils.write_file(folder + "\\" + "\\".join(parts), data)
        return folder

    def _copy_volume(self, root: str) -> str:
        folder = self._new_folder()
        self._copy_dir(root.rstrip("\\"), folder)
        return folder

    def _copy_dir(self, source: str, target: str) -> None:
        for name in self.osutils.list_dir(source + "\\"):
            path, destination = f"{source}\\{name}", f"{target}\\{name}"
            if self.osutils.is_dir(path):
                self.osutils.make_dirs(destination)
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

    def _reader(self, device: str, base: int = 0) -> Callable[[int, int], bytes]:
        return lambda offset, length: self.osutils.read_device(device, base + offset, length)

    # --- the candidates ----------------------------------------------------------------------

    def _label_matches(self, label: str | None) -> bool:
        return label is not None and label.lower() == self.label.lower()

    def _mounted(self, kind: str, where: str, roots: list[str]) -> str | None:
        """The first mounted volume with the label and valid metadata, copied out."""

        def probe(root: str) -> Tree | None:
            if not self._label_matches(self.osutils.get_volume_label(root)):
                return None
            if not self.osutils.path_exists(root + self.metadata_file):
                return None
            self._check_metadata(root, self.osutils.read_file(root + self.metadata_file))
            return {}

        for root in roots:
            if self._each_device(kind, where, [root], probe) is not None:
                return self._copy_volume(root)
        return None

    def _cdrom_iso(self) -> str | None:
        return self._mounted("iso", "cdrom", self.osutils.get_cdrom_drives())

    def _raw_iso(self, device: str, read: Callable[[int, int], bytes]) -> Tree | None:
        if read(ISO_SIGNATURE_OFFSET, 5) != b"CD001":
            return None
        self._require_tool("bsdtar_path")
        size = iso9660.iso_image_size(read)

        def bounded(offset: int, length: int) -> bytes:
            # Upstream copies exactly the computed size before extracting it.
            return read(offset, max(0, min(length, size - offset)))

        return self._checked_tree(device, iso9660.read_iso_tree(bounded, device))

    def _each_device(
        self, kind: str, where: str, devices: list[str], probe: Callable[[str], Tree | None]
    ) -> Tree | None:
        """The first device ``probe`` finds a drive on; a damaged one is reported, skipped."""
        for device in devices:
            try:
                tree = probe(device)
            except errors.MediaError as ex:
                LOG.warning("Config drive candidate %s is unusable: %s", device, ex)
                self._event(kind, where, "error", device=device, error=f"{type(ex).__name__}: {ex}")
                continue
            if tree is not None:
                return tree
        return None

    def _hdd_iso(self) -> Tree | None:
        def probe(disk: str) -> Tree | None:
            if self.osutils.get_device_size(disk) <= ISO_MIN_DEVICE_SIZE:
                return None
            return self._raw_iso(disk, self._reader(disk))

        return self._each_device("iso", "hdd", self.osutils.get_physical_disks(), probe)

    def _partition_iso(self) -> Tree | None:
        def probe(disk: str) -> Tree | None:
            read = self._reader(disk)
            size = self.osutils.get_device_size(disk)
            for part in partitions.read_partitions(read, disk, size):
                device = f"{disk} partition {part.index}"
                tree = self._raw_iso(device, self._reader(disk, part.offset))
                if tree is not None:
                    return tree
            return None

        return self._each_device("iso", "partition", self.osutils.get_physical_disks(), probe)

    def _hdd_vfat(self) -> Tree | None:
        self._require_tool("mtools_path", "mlabel.exe")

        def probe(disk: str) -> Tree | None:
            read = self._reader(disk)
            try:
                label = fat.fat_volume_label(read)
            except errors.NotThisFormat:
                return None
            # mlabel prints the label as stored; upstream accepts exactly upper or lower case.
            if label in (self.label.upper(), self.label.lower()):
                return self._checked_tree(disk, fat.read_fat_tree(read, disk))
            return None

        return self._each_device("vfat", "hdd", self.osutils.get_physical_disks(), probe)

    def _partition_vfat(self) -> str | None:
        return self._mounted("vfat", "partition", self.osutils.get_volumes())
