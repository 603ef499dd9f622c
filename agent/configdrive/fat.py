"""A small, defensive reader of FAT12/16/32 filesystems (long file names included).

Why not pyfatfs
---------------
pyfatfs 1.1.0 was tried first, through a read-only file object over the image, on a
valid FAT12 image with long names and on crafted variants of it:

* a FAT chain that loops (cluster 2 -> 2) never returns: ``get_cluster_chain`` keeps no
  visited set, so both the lazy and the eager loader spin (killed after 5 s);
* a subdirectory entry pointing at its parent's cluster makes the eager loader
  (``lazy_load=False``) raise ``RecursionError`` and the lazy one walk forever;
* a chain pointing past the FAT is silently cut short: a damaged file comes back as a
  short file instead of an error;
* 500 random mutations of the metadata gave, besides its own ``PyFATException``, the
  ``fs`` package's ``InvalidCharsInPath`` and ``ResourceNotFound``, warnings, and 3 more
  hangs; and it applies no file-name policy (``..``, ``C:x``, NUL pass through).

A FAT reader that needs only the boot sector, the FAT entries it follows and directory
entries is small, so this module is that reader: every cluster chain has a visited set
and must stay within the clusters the FAT describes; every directory cluster is read
once across the whole tree (a directory loop or a shared directory is CorruptMedia);
FAT sectors are read on demand and, with directory bytes, count against
``Limits.max_metadata_bytes``; file contents count against the byte limits before they
are read; traversal is iterative.

Geometry follows the published FAT rules: the cluster count decides FAT12 (< 4085),
FAT16 (< 65525) or FAT32. The filesystem starts at offset 0 of the Reader (a
superfloppy; give a partition's window for a partitioned disk) and the whole declared
volume must be readable. Names: a long name (LFN) when its entries are complete,
in order and match the short entry's checksum; else the 8.3 name (with the Windows NT
lower-case flags). Every name must pass :func:`guestsim.agent.configdrive._common.check_name`.
Two names in one directory that differ only in case are CorruptMedia (they would
overwrite each other when extracted on Windows). Deleted entries, dot entries and volume
labels are skipped; empty directories do not appear in the result (it maps file paths
to contents).
"""

from __future__ import annotations

from dataclasses import dataclass

from guestsim.agent.configdrive._common import (
    DEFAULT_LIMITS,
    Budget,
    Device,
    Limits,
    Reader,
    check_name,
    join,
    le16,
    le32,
)
from guestsim.agent.configdrive.errors import CorruptMedia, NotThisFormat

__all__ = ["DEFAULT_LIMITS", "Limits", "Reader", "fat_volume_label", "read_fat_tree"]

BOOT_SECTOR = 512
ENTRY = 32
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_LONG_NAME = 0x0F
MAX_LFN_ENTRIES = 20
_DOT_ENTRIES = (b".          ", b"..         ")
_NO_NAME = "NO NAME"
_DEFAULT_DEVICE = "<device>"

# (end-of-chain minimum, bad-cluster mark) per FAT width.
_MARKS = {12: (0xFF8, 0xFF7), 16: (0xFFF8, 0xFFF7), 32: (0x0FFFFFF8, 0x0FFFFFF7)}


@dataclass(frozen=True)
class _Geometry:
    bytes_per_sector: int
    sectors_per_cluster: int
    total_sectors: int
    width: int  # 12, 16 or 32
    fat_offset: int  # bytes: the FAT in use
    max_cluster: int  # highest cluster number both the data area and the FAT describe
    first_data_sector: int
    root_offset: int  # FAT12/16: bytes of the fixed root directory
    root_bytes: int
    root_cluster: int  # FAT32
    bpb_label: str | None

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * self.bytes_per_sector

    def cluster_offset(self, cluster: int) -> int:
        sector = self.first_data_sector + (cluster - 2) * self.sectors_per_cluster
        return sector * self.bytes_per_sector


def looks_like_fat_boot_sector(boot: bytes) -> bool:
    """True if ``boot`` (sector 0) carries a plausible FAT BIOS parameter block."""
    if len(boot) < BOOT_SECTOR or boot[0] not in (0xEB, 0xE9):
        return False
    bytes_per_sector = le16(boot, 0x0B)
    sectors_per_cluster = boot[0x0D]
    return (
        bytes_per_sector in (512, 1024, 2048, 4096)
        and sectors_per_cluster in (1, 2, 4, 8, 16, 32, 64, 128)
        and le16(boot, 0x0E) >= 1  # reserved sectors
        and 1 <= boot[0x10] <= 16  # number of FATs
        and (boot[0x15] == 0xF0 or boot[0x15] >= 0xF8)  # media descriptor
    )


def _geometry(dev: Device) -> _Geometry:
    boot = dev.read_upto(0, BOOT_SECTOR)
    if not looks_like_fat_boot_sector(boot):
        raise NotThisFormat(dev.name, "no FAT boot sector at offset 0")

    def corrupt(problem: str) -> CorruptMedia:
        return CorruptMedia(dev.name, f"FAT boot sector: {problem}")

    bytes_per_sector = le16(boot, 0x0B)
    sectors_per_cluster = boot[0x0D]
    reserved = le16(boot, 0x0E)
    fats = boot[0x10]
    root_entries = le16(boot, 0x11)
    total = le16(boot, 0x13) or le32(boot, 0x20)
    fat_sectors = le16(boot, 0x16) or le32(boot, 0x24)
    if total == 0 or fat_sectors == 0:
        raise corrupt("zero total sectors or FAT size")
    root_sectors = (root_entries * ENTRY + bytes_per_sector - 1) // bytes_per_sector
    root_sector = reserved + fats * fat_sectors
    first_data = root_sector + root_sectors
    if first_data >= total:
        raise corrupt(f"no data area ({total} sectors, data from sector {first_data})")
    clusters = (total - first_data) // sectors_per_cluster
    if clusters == 0:
        raise corrupt("no data clusters")
    width = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    if width == 32:
        if root_entries != 0 or le16(boot, 0x16) != 0:
            raise corrupt("a FAT32 volume with a FAT12/16 root directory or FAT size")
        flags = le16(boot, 0x28)
        active = flags & 0x0F if flags & 0x80 else 0
        if active >= fats:
            raise corrupt(f"active FAT {active} of {fats}")
        root_cluster = le32(boot, 0x2C)
        signature_at, label_at = 0x42, 0x47
    else:
        if root_entries == 0:
            raise corrupt("a FAT12/16 volume without root directory entries")
        active, root_cluster = 0, 0
        signature_at, label_at = 0x26, 0x2B
    fat_entries = fat_sectors * bytes_per_sector * 8 // width
    max_cluster = min(clusters + 1, fat_entries - 1)
    if max_cluster < 2:
        raise corrupt("the FAT describes no data cluster")
    if width == 32 and not 2 <= root_cluster <= max_cluster:
        raise corrupt(f"root directory cluster {root_cluster} is invalid")
    bpb_label = None
    if boot[signature_at] == 0x29:
        bpb_label = boot[label_at : label_at + 11].decode("cp437").rstrip(" \x00")
    return _Geometry(
        bytes_per_sector=bytes_per_sector,
        sectors_per_cluster=sectors_per_cluster,
        total_sectors=total,
        width=width,
        fat_offset=(reserved + active * fat_sectors) * bytes_per_sector,
        max_cluster=max_cluster,
        first_data_sector=first_data,
        root_offset=root_sector * bytes_per_sector,
        root_bytes=root_sectors * bytes_per_sector,
        root_cluster=root_cluster,
        bpb_label=bpb_label,
    )


def _short_name_checksum(raw: bytes) -> int:
    total = 0
    for byte in raw:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_name(entry: bytes) -> str:
    raw = bytearray(entry[0:11])
    if raw[0] == 0x05:
        raw[0] = 0xE5
    base = bytes(raw[0:8]).rstrip(b" ").decode("cp437")
    ext = bytes(raw[8:11]).rstrip(b" ").decode("cp437")
    if entry[12] & 0x08:
        base = base.lower()
    if entry[12] & 0x10:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


class _LongName:
    """Collects one long name's entries, last part first, as they appear on disk."""

    def __init__(self, entry: bytes) -> None:
        self.count = entry[0] & 0x1F
        self.checksum = entry[13]
        self.parts: list[bytes] = []
        self.expected = self.count
        self.valid = 1 <= self.count <= MAX_LFN_ENTRIES
        self.add(entry)

    def add(self, entry: bytes) -> None:
        if not self.valid or entry[0] & 0x1F != self.expected or entry[13] != self.checksum:
            self.valid = False
            return
        self.parts.append(entry[1:11] + entry[14:26] + entry[28:32])
        self.expected -= 1

    def name(self, short: bytes) -> str | None:
        if not self.valid or self.expected != 0 or _short_name_checksum(short) != self.checksum:
            return None
        try:
            text = b"".join(reversed(self.parts)).decode("utf-16-le")
        except UnicodeDecodeError:
            return None
        # A NUL ends the name and 0xFFFF pads the last entry; a NUL inside the name is
        # left for the name check to refuse.
        return text.rstrip("\uffff\x00")


@dataclass(frozen=True)
class _Entry:
    name: str
    is_dir: bool
    cluster: int
    size: int


class _Volume:
    def __init__(self, dev: Device, geometry: _Geometry, budget: Budget) -> None:
        self.dev = dev
        self.geo = geometry
        self.budget = budget
        self._fat_sectors: dict[int, bytes] = {}
        self._dir_clusters: set[int] = set()

    # --- the FAT ---------------------------------------------------------------------------

    def _fat_bytes(self, offset: int, length: int) -> bytes:
        size = self.geo.bytes_per_sector
        data = b""
        for number in range(offset // size, (offset + length - 1) // size + 1):
            if number not in self._fat_sectors:
                self.budget.add_metadata(size, "FAT")
                self._fat_sectors[number] = self.dev.read(
                    self.geo.fat_offset + number * size, size, "FAT"
                )
            data += self._fat_sectors[number]
        start = offset % size
        return data[start : start + length]

    def _next(self, cluster: int) -> int:
        width = self.geo.width
        if width == 12:
            value = le16(self._fat_bytes(cluster * 3 // 2, 2), 0)
            return value >> 4 if cluster & 1 else value & 0xFFF
        if width == 16:
            return le16(self._fat_bytes(cluster * 2, 2), 0)
        return le32(self._fat_bytes(cluster * 4, 4), 0) & 0x0FFFFFFF

    def chain(self, first: int, what: str, needed: int | None = None) -> list[int]:
        """The clusters of a chain: ``needed`` of them, or up to its end when None."""
        end_mark, bad_mark = _MARKS[self.geo.width]

        def corrupt(problem: str) -> CorruptMedia:
            return CorruptMedia(self.dev.name, f"{what}: {problem}")

        if not 2 <= first <= self.geo.max_cluster:
            raise corrupt(f"first cluster {first} is outside the FAT (2..{self.geo.max_cluster})")
        clusters: list[int] = []
        seen: set[int] = set()
        cluster = first
        while True:
            if cluster in seen:
                raise corrupt(f"the cluster chain loops back to cluster {cluster}")
            seen.add(cluster)
            clusters.append(cluster)
            if needed is not None and len(clusters) >= needed:
                return clusters
            if needed is None:
                self.budget.add_metadata(self.geo.cluster_bytes, "directory")
            following = self._next(cluster)
            if following >= end_mark:
                if needed is not None:
                    raise corrupt(f"the chain ends after {len(clusters)} of {needed} clusters")
                return clusters
            if following == bad_mark:
                raise corrupt(f"the chain reaches bad cluster {cluster}")
            if following < 2:
                raise corrupt(f"the chain reaches free cluster {cluster}")
            if following > self.geo.max_cluster:
                raise corrupt(f"cluster {cluster} points to {following}, past the FAT")
            cluster = following

    def read_clusters(self, clusters: list[int], length: int, what: str) -> bytes:
        """``length`` bytes from the clusters, reading runs of adjacent clusters at once."""
        parts: list[bytes] = []
        remaining = length
        index = 0
        step = self.geo.cluster_bytes
        while remaining > 0 and index < len(clusters):
            run = 1
            while index + run < len(clusters) and clusters[index + run] == clusters[index] + run:
                run += 1
            size = min(run * step, remaining)
            parts.append(self.dev.read(self.geo.cluster_offset(clusters[index]), size, what))
            remaining -= size
            index += run
        return b"".join(parts)

    # --- directories ---------------------------------------------------------------------

    def root_bytes(self) -> bytes:
        if self.geo.width == 32:
            return self.directory_bytes(self.geo.root_cluster, "root directory")
        self.budget.add_metadata(self.geo.root_bytes, "root directory")
        return self.dev.read(self.geo.root_offset, self.geo.root_bytes, "root directory")

    def directory_bytes(self, first: int, what: str) -> bytes:
        clusters = self.chain(first, what)
        for cluster in clusters:
            if cluster in self._dir_clusters:
                raise CorruptMedia(
                    self.dev.name, f"{what}: cluster {cluster} belongs to another directory (loop)"
                )
            self._dir_clusters.add(cluster)
        return self.read_clusters(clusters, len(clusters) * self.geo.cluster_bytes, what)

    def entries(self, data: bytes) -> tuple[list[_Entry], str | None]:
        """The named entries of a directory, and its volume-label entry if any."""
        found: list[_Entry] = []
        label: str | None = None
        long_name: _LongName | None = None
        for offset in range(0, len(data) - ENTRY + 1, ENTRY):
            entry = data[offset : offset + ENTRY]
            if entry[0] == 0x00:
                break
            if entry[0] == 0xE5:
                long_name = None
                continue
            attributes = entry[11]
            if attributes & 0x3F == ATTR_LONG_NAME:
                if entry[0] & 0x40:  # the first entry on disk holds the name's last part
                    long_name = _LongName(entry)
                elif long_name is not None:
                    long_name.add(entry)
                continue
            short = entry[0:11]
            lfn, long_name = long_name, None
            if attributes & ATTR_VOLUME_ID:
                if label is None:
                    raw = (b"\xe5" + short[1:]) if short[0] == 0x05 else short
                    label = raw.decode("cp437").rstrip(" \x00")
                continue
            if short in _DOT_ENTRIES:
                continue
            name = lfn.name(short) if lfn is not None else None
            if name is None:
                name = _short_name(entry)
            cluster = le16(entry, 26)
            if self.geo.width == 32:
                cluster |= le16(entry, 20) << 16
            found.append(_Entry(name, bool(attributes & ATTR_DIRECTORY), cluster, le32(entry, 28)))
        return found, label


def read_fat_tree(read: Reader, device: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """Every file of the FAT filesystem at offset 0 of ``read``: POSIX relative path -> bytes.

    Raises NotThisFormat without a FAT boot sector, TruncatedMedia when the device is
    shorter than the declared volume or a read comes back short, CorruptMedia (and its
    LimitExceeded) for invalid structures or oversize content, UnsafePath for a name that
    is not one safe path component.
    """
    dev = Device(read, device)
    geometry = _geometry(dev)
    dev.require_end(geometry.total_sectors * geometry.bytes_per_sector, "the FAT volume")
    budget = Budget(limits, device)
    volume = _Volume(dev, geometry, budget)
    files: dict[str, bytes] = {}
    stack: list[tuple[int, str, int]] = [(0, "", 0)]  # (first cluster, path, depth); 0 = root
    while stack:
        first, path, depth = stack.pop()
        budget.add_dir(depth)
        data = volume.root_bytes() if first == 0 else volume.directory_bytes(first, repr(path))
        names: set[str] = set()
        for entry in volume.entries(data)[0]:
            check_name(entry.name, device)
            if entry.name.casefold() in names:
                raise CorruptMedia(device, f"{join(path, entry.name)!r} appears twice")
            names.add(entry.name.casefold())
            child = join(path, entry.name)
            budget.check_depth(child, depth + 1)
            if entry.is_dir:
                if entry.cluster == 0:
                    raise CorruptMedia(device, f"directory {child!r} has no cluster")
                stack.append((entry.cluster, child, depth + 1))
                continue
            budget.add_file(child, entry.size)
            if entry.size == 0:
                files[child] = b""
                continue
            needed = -(-entry.size // geometry.cluster_bytes)
            clusters = volume.chain(entry.cluster, f"file {child!r}", needed)
            files[child] = volume.read_clusters(clusters, entry.size, f"file {child!r}")
    return dict(sorted(files.items()))


def fat_volume_label(read: Reader, device: str = _DEFAULT_DEVICE) -> str | None:
    """The root directory's volume-label entry, else the boot sector's label; None if unset.

    The label is rstripped; ``NO NAME`` (the formatters' "no label") and blank are None.
    """
    dev = Device(read, device)
    geometry = _geometry(dev)
    volume = _Volume(dev, geometry, Budget(DEFAULT_LIMITS, device))
    label = volume.entries(volume.root_bytes())[1]
    if label is None:
        label = geometry.bpb_label
    if label is None or label in ("", _NO_NAME):
        return None
    return label
