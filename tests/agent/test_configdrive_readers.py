"""The agent's raw-media readers (ISO9660, FAT, partition tables) on valid and hostile bytes.

Valid images are built here with pycdlib (Joliet + Rock Ridge) and pyfatfs (long names),
independently of the simulator's media builders. Hostile images are valid ones with a
few bytes patched; each must end in the typed error, quickly.
"""

from __future__ import annotations

import contextlib
import functools
import io
import signal
import struct
import tempfile
import time
import types
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pycdlib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyfatfs.PyFat import PyFat
from pyfatfs.PyFatFS import PyFatBytesIOFS

from guestsim.agent.configdrive import (
    DEFAULT_LIMITS,
    CorruptMedia,
    LimitExceeded,
    Limits,
    MediaError,
    NotThisFormat,
    Reader,
    TruncatedMedia,
    UnsafePath,
    device_reader,
    window,
)
from guestsim.agent.configdrive.fat import fat_volume_label, read_fat_tree
from guestsim.agent.configdrive.iso9660 import iso_image_size, iso_volume_label, read_iso_tree
from guestsim.agent.configdrive.partitions import Partition, read_partitions

MiB = 1024 * 1024
BLOCK = 2048
Image = bytes | bytearray
BASIC_DATA = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"

CONFIG_DRIVE = {
    "openstack/latest/meta_data.json": b'{"uuid": "i-1", "hostname": "h"}',
    "openstack/latest/user_data": b"#ps1\r\n" + b"x" * 3000,
    "openstack/content/0000": b"auto lo\n",
    "ec2/latest/meta-data.json": b"{}",
}


def reader(data: bytes) -> Reader:
    def read(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return read


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no reader can swallow it."""


@contextlib.contextmanager
def quickly(limit: float = 2.0) -> Iterator[None]:
    """Fail (rather than hang) if the body runs longer than ``limit`` seconds."""

    def expire(signum: int, frame: types.FrameType | None) -> None:
        raise Hang(f"still running after {limit * 3} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit * 3)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < limit


# --- ISO images ------------------------------------------------------------------------------


def build_iso(
    files: dict[str, bytes],
    *,
    label: str = "config-2",
    joliet: bool = True,
    rock_ridge: bool = True,
    empty_dirs: tuple[str, ...] = (),
) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=3,
        vol_ident=label,
        joliet=3 if joliet else None,
        rock_ridge="1.09" if rock_ridge else None,
    )
    iso_names: dict[str, str] = {"": ""}

    def add_dir(path: str) -> None:
        if path in iso_names:
            return
        parent, _, name = path.rpartition("/")
        add_dir(parent)
        iso_names[path] = f"{iso_names[parent]}/D{len(iso_names)}"
        iso.add_directory(
            iso_names[path],
            rr_name=name if rock_ridge else None,
            joliet_path="/" + path if joliet else None,
        )

    for directory in empty_dirs:
        add_dir(directory)
    for number, (path, data) in enumerate(sorted(files.items())):
        parent, _, name = path.rpartition("/")
        add_dir(parent)
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            f"{iso_names[parent]}/F{number}.;1",
            rr_name=name if rock_ridge else None,
            joliet_path="/" + path if joliet else None,
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


@dataclass(frozen=True)
class IsoRecord:
    offset: int  # absolute offset of the directory record
    name: bytes
    block: int
    size: int


def _descriptor(image: Image, kind: int) -> int:
    for sector in range(16, 32):
        if (
            image[sector * BLOCK] == kind
            and image[sector * BLOCK + 1 : sector * BLOCK + 6] == b"CD001"
        ):
            return sector * BLOCK
    raise AssertionError(f"no volume descriptor of type {kind}")


def iso_root(image: Image, joliet: bool = True) -> IsoRecord:
    at = _descriptor(image, 2 if joliet else 1) + 156
    block, size = (
        struct.unpack_from("<I", image, at + 2)[0],
        struct.unpack_from("<I", image, at + 10)[0],
    )
    return IsoRecord(at, b"\x00", block, size)


def iso_children(image: Image, directory: IsoRecord) -> list[IsoRecord]:
    found = []
    start = directory.block * BLOCK
    pos = start
    while pos < start + directory.size:
        length = image[pos]
        if length == 0:
            pos = (pos // BLOCK + 1) * BLOCK
            continue
        name = bytes(image[pos + 33 : pos + 33 + image[pos + 32]])
        block, size = (
            struct.unpack_from("<I", image, pos + 2)[0],
            struct.unpack_from("<I", image, pos + 10)[0],
        )
        if name not in (b"\x00", b"\x01"):
            found.append(IsoRecord(pos, name, block, size))
        pos += length
    return found


def iso_find(image: Image, path: str) -> IsoRecord:
    """The Joliet record of ``path``."""
    record = iso_root(image)
    for part in path.split("/"):
        matches = [
            child
            for child in iso_children(image, record)
            if child.name.decode("utf-16-be").split(";")[0] == part
        ]
        assert matches, path
        record = matches[0]
    return record


def set_extent(
    image: bytearray, record: IsoRecord, block: int | None = None, size: int | None = None
) -> None:
    if block is not None:
        struct.pack_into("<I", image, record.offset + 2, block)
        struct.pack_into(">I", image, record.offset + 6, block)
    if size is not None:
        struct.pack_into("<I", image, record.offset + 10, size)
        struct.pack_into(">I", image, record.offset + 14, size)


# --- FAT images ------------------------------------------------------------------------------


class _KeepBytes(io.BytesIO):
    """pyfatfs closes the file object it was given; keep what was written."""

    final = b""

    def close(self) -> None:
        self.final = self.getvalue()
        super().close()


@functools.cache
def fat_template(fat_type: int, size: int, label: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "fat.img")
        with path.open("wb") as handle:
            handle.truncate(size)
        pf = PyFat()
        pf.mkfs(str(path), fat_type=fat_type, size=size, label=label)
        pf.close()
        return path.read_bytes()


def build_fat(
    files: dict[str, bytes], *, fat_type: int = 12, size: int = MiB, label: str = "CONFIG-2"
) -> bytes:
    handle = _KeepBytes(fat_template(fat_type, size, label))
    fs = PyFatBytesIOFS(handle)
    for path, data in sorted(files.items()):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if not fs.exists(folder):
                fs.makedir(folder)
        with fs.openbin("/" + path, "w") as out:
            out.write(data)
    fs.close()
    return handle.final


@dataclass(frozen=True)
class FatLayout:
    bytes_per_sector: int
    sectors_per_cluster: int
    fat_offsets: tuple[int, ...]
    width: int
    root_offset: int
    root_bytes: int
    data_offset: int

    @property
    def cluster_bytes(self) -> int:
        return self.bytes_per_sector * self.sectors_per_cluster

    def cluster_offset(self, cluster: int) -> int:
        return self.data_offset + (cluster - 2) * self.cluster_bytes


def fat_layout(image: Image) -> FatLayout:
    bps, spc = struct.unpack_from("<H", image, 11)[0], image[13]
    reserved, fats = struct.unpack_from("<H", image, 14)[0], image[16]
    root_entries, total = (
        struct.unpack_from("<H", image, 17)[0],
        struct.unpack_from("<H", image, 19)[0],
    )
    total = total or struct.unpack_from("<I", image, 32)[0]
    fat_size = struct.unpack_from("<H", image, 22)[0]
    root = (reserved + fats * fat_size) * bps
    root_bytes = root_entries * 32
    clusters = (total - reserved - fats * fat_size - root_bytes // bps) // spc
    assert fat_size, "FAT12/16 only"
    return FatLayout(
        bps,
        spc,
        tuple((reserved + n * fat_size) * bps for n in range(fats)),
        12 if clusters < 4085 else 16,
        root,
        root_bytes,
        root + root_bytes,
    )


def fat_get(image: Image, layout: FatLayout, cluster: int) -> int:
    at = layout.fat_offsets[0]
    if layout.width == 16:
        return int(struct.unpack_from("<H", image, at + cluster * 2)[0])
    value = struct.unpack_from("<H", image, at + cluster * 3 // 2)[0]
    return int(value >> 4 if cluster & 1 else value & 0xFFF)


def fat_set(image: bytearray, layout: FatLayout, cluster: int, value: int) -> None:
    for at in layout.fat_offsets:
        if layout.width == 16:
            struct.pack_into("<H", image, at + cluster * 2, value)
            continue
        old = struct.unpack_from("<H", image, at + cluster * 3 // 2)[0]
        new = (old & 0x000F) | (value << 4) if cluster & 1 else (old & 0xF000) | value
        struct.pack_into("<H", image, at + cluster * 3 // 2, new)


@dataclass(frozen=True)
class FatEntry:
    offset: int  # absolute offset of the short entry
    name: str  # long name if any, else the raw short name
    cluster: int
    size: int


def fat_entries(image: Image, layout: FatLayout, start: int, length: int) -> list[FatEntry]:
    found = []
    long_parts: list[bytes] = []
    for at in range(start, start + length, 32):
        entry = bytes(image[at : at + 32])
        if entry[0] == 0:
            break
        if entry[11] == 0x0F:
            long_parts.insert(0, entry[1:11] + entry[14:26] + entry[28:32])
            continue
        if entry[11] & 0x08 or entry[0] in (0xE5, 0x2E):
            long_parts = []
            continue
        long_name = b"".join(long_parts).decode("utf-16-le").split("\x00")[0]
        name = long_name or entry[:11].decode("ascii")
        long_parts = []
        found.append(
            FatEntry(
                at,
                name,
                struct.unpack_from("<H", entry, 26)[0],
                struct.unpack_from("<I", entry, 28)[0],
            )
        )
    return found


def fat_find(image: Image, path: str) -> FatEntry:
    layout = fat_layout(image)
    start, length = layout.root_offset, layout.root_bytes
    entry = None
    for part in path.split("/"):
        matches = [e for e in fat_entries(image, layout, start, length) if e.name == part]
        assert matches, path
        entry = matches[0]
        start, length = layout.cluster_offset(entry.cluster), layout.cluster_bytes
    assert entry is not None
    return entry


def fat_rename(image: bytearray, entry: FatEntry, name: str) -> None:
    """Rewrite the long name before ``entry`` in place (same number of LFN entries)."""
    count = 0
    while image[entry.offset - 32 * (count + 1) + 11] == 0x0F:
        count += 1
        if image[entry.offset - 32 * count] & 0x40:
            break
    assert count and -(-max(len(name), 1) // 13) == count, (name, count)
    chars = name.encode("utf-16-le")
    if len(name) % 13 or not name:
        chars += b"\x00\x00"
    chars = chars.ljust(26 * count, b"\xff")
    for ordinal in range(1, count + 1):
        at = entry.offset - 32 * ordinal
        part = chars[26 * (ordinal - 1) : 26 * ordinal]
        image[at + 1 : at + 11] = part[0:10]
        image[at + 14 : at + 26] = part[10:22]
        image[at + 28 : at + 32] = part[22:26]


def remove_label_entry(image: bytearray) -> None:
    layout = fat_layout(image)
    for at in range(layout.root_offset, layout.root_offset + layout.root_bytes, 32):
        if image[at + 11] == 0x08:
            image[at] = 0xE5
            return
    raise AssertionError("no label entry")


# --- hypothesis trees ------------------------------------------------------------------------

_RESERVED = {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(10)}
NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,11}", fullmatch=True).filter(
    lambda name: not name.endswith(".") and name.split(".")[0].lower() not in _RESERVED
)


def _as_tree(entries: list[tuple[list[str], bytes]]) -> dict[str, bytes]:
    """Keep the entries that fit one tree: no file where a folder is, names unique per folder
    ignoring case (FAT and Windows are case-insensitive)."""
    files: dict[str, bytes] = {}
    kinds: dict[str, str] = {}  # case-folded path -> "file" or "dir"
    for parts, data in entries:
        folded = [part.lower() for part in parts]
        prefixes = ["/".join(folded[: n + 1]) for n in range(len(parts))]
        if any(kinds.get(p) == "file" for p in prefixes[:-1]) or prefixes[-1] in kinds:
            continue
        kinds.update(dict.fromkeys(prefixes[:-1], "dir"))
        kinds[prefixes[-1]] = "file"
        files["/".join(parts)] = data
    return files


TREES = st.lists(
    st.tuples(st.lists(NAMES, min_size=1, max_size=3), st.binary(max_size=4096)),
    min_size=1,
    max_size=8,
).map(_as_tree)


# --- ISO: valid images -----------------------------------------------------------------------


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_iso_round_trip_joliet_and_rock_ridge(files: dict[str, bytes]) -> None:
    image = build_iso(files)
    with quickly():
        assert read_iso_tree(reader(image), "cd") == files


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_iso_round_trip_rock_ridge_only(files: dict[str, bytes]) -> None:
    image = build_iso(files, joliet=False)
    assert read_iso_tree(reader(image), "cd") == files


def test_iso_config_drive_layout_and_label() -> None:
    image = build_iso(CONFIG_DRIVE, empty_dirs=("openstack/2012-08-10",))
    read = reader(image)
    assert read_iso_tree(read, "cd") == CONFIG_DRIVE
    assert iso_volume_label(read) == "config-2"
    assert iso_image_size(read) == len(image)


def test_iso_plain_names_lose_version_and_trailing_dot() -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident="CIDATA")
    iso.add_directory("/OPENSTAC")
    iso.add_fp(io.BytesIO(b"meta"), 4, "/META_DAT.JSO;1")
    iso.add_fp(io.BytesIO(b"user"), 4, "/OPENSTAC/USERDATA.;1")
    out = io.BytesIO()
    iso.write_fp(out)
    read = reader(out.getvalue())
    assert read_iso_tree(read, "cd") == {"META_DAT.JSO": b"meta", "OPENSTAC/USERDATA": b"user"}
    assert iso_volume_label(read) == "CIDATA"


def test_iso_label_prefers_joliet_over_pvd() -> None:
    image = bytearray(build_iso({"meta-data": b"{}"}, label="cidata"))
    pvd = _descriptor(image, 1)
    image[pvd + 40 : pvd + 72] = b"OTHER".ljust(32)
    assert iso_volume_label(reader(bytes(image))) == "cidata"
    no_joliet = build_iso({"meta-data": b"{}"}, label="CIDATA", joliet=False)
    assert iso_volume_label(reader(no_joliet)) == "CIDATA"


def test_iso_rock_ridge_relocated_directories_are_followed() -> None:
    deep = "/".join(f"d{n}" for n in range(10)) + "/f.txt"
    image = build_iso({deep: b"deep", "top": b"t"}, joliet=False)
    assert read_iso_tree(reader(image), "cd") == {deep: b"deep", "top": b"t"}


def test_iso_image_size_uses_only_the_low_16_bits() -> None:
    image = bytearray(build_iso({"meta-data": b"{}"}))
    blocks = 0x10000 + 40  # 65 576 blocks, 128 MiB and more
    struct.pack_into("<I", image, 0x8050, blocks)
    struct.pack_into(">I", image, 0x8054, blocks)
    read = reader(bytes(image))
    assert iso_image_size(read) == 40 * BLOCK
    # Reading only that much (what upstream copies) cannot hold the declared volume.
    with pytest.raises(TruncatedMedia):
        read_iso_tree(window(read, 0, iso_image_size(read)), "disk")


def test_iso_image_size_needs_the_signature() -> None:
    with pytest.raises(NotThisFormat):
        iso_image_size(reader(bytes(0x9000)))
    image = build_iso({"a": b"1"})
    with pytest.raises(TruncatedMedia):
        iso_image_size(reader(image[:0x8060]))


# --- ISO: hostile images ---------------------------------------------------------------------


def test_iso_directory_pointing_to_its_parent() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    set_extent(image, iso_find(image, "openstack"), block=iso_root(image).block)
    with quickly(), pytest.raises(CorruptMedia, match="loop"):
        read_iso_tree(reader(bytes(image)), "cd")


def test_iso_directory_containing_itself() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    openstack = iso_find(image, "openstack")
    set_extent(
        image, iso_find(image, "openstack/latest"), block=openstack.block, size=openstack.size
    )
    with quickly(), pytest.raises(CorruptMedia, match="loop"):
        read_iso_tree(reader(bytes(image)), "cd")


def test_iso_extent_beyond_the_image() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    set_extent(image, iso_find(image, "openstack/latest/user_data"), block=10**6)
    with quickly(), pytest.raises(CorruptMedia, match="beyond"):
        read_iso_tree(reader(bytes(image)), "cd")


def test_iso_extent_of_4_gib() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    set_extent(image, iso_find(image, "openstack/latest/user_data"), size=0xFFFFFFFF)
    with quickly(), pytest.raises(CorruptMedia):
        read_iso_tree(reader(bytes(image)), "cd")


def test_iso_extent_of_4_gib_on_a_device_that_large_is_refused_before_reading() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    huge_blocks = 3 * 1024 * 1024  # a 6 GiB volume on an 8 GiB device
    struct.pack_into("<I", image, 0x8050, huge_blocks)
    struct.pack_into(">I", image, 0x8054, huge_blocks)
    set_extent(image, iso_find(image, "openstack/latest/user_data"), size=0xFFFFFFFF)
    device_size = 8 * 1024 * MiB
    requested: list[int] = []

    def huge(offset: int, length: int) -> bytes:
        requested.append(length)
        head = bytes(image[offset : offset + length])
        return head + bytes(max(0, min(length, device_size - offset) - len(head)))

    with quickly(), pytest.raises(LimitExceeded):
        read_iso_tree(huge, "disk")
    assert max(requested) <= MiB


def test_iso_truncated_garbage_and_wrong_signature() -> None:
    image = build_iso(CONFIG_DRIVE)
    with quickly(), pytest.raises(TruncatedMedia):
        read_iso_tree(reader(image[: len(image) // 2]), "cd")
    garbage = bytes((n * 7919 + 13) % 251 for n in range(len(image)))
    with quickly(), pytest.raises(NotThisFormat):
        read_iso_tree(reader(garbage), "cd")
    with pytest.raises(NotThisFormat):
        iso_volume_label(reader(garbage))
    signed = bytearray(garbage)
    signed[0x8001:0x8006] = b"CD001"
    with quickly(), pytest.raises(MediaError):
        read_iso_tree(reader(bytes(signed)), "cd")


@pytest.mark.parametrize(
    ("hostile", "placeholder"),
    [
        ("..", "qq"),
        ("../x", "qqqq"),
        ("a/../../b", "qqqqqqqqq"),
        ("C:x", "qqq"),
        ("a\\b", "qqq"),
        ("a\x00b", "qqq"),
        ("/etc", "qqqq"),
        ("NUL", "qqq"),
    ],
)
def test_iso_unsafe_joliet_names(hostile: str, placeholder: str) -> None:
    image = build_iso({"ok": b"1", f"d/{placeholder}": b"2"})
    patched = image.replace(placeholder.encode("utf-16-be"), hostile.encode("utf-16-be"))
    assert patched != image
    with quickly(), pytest.raises(UnsafePath):
        read_iso_tree(reader(patched), "cd")


@pytest.mark.parametrize("hostile", ["..", "../x", "a/../../b", "C:x", "a\\b", "a\x00b"])
def test_iso_unsafe_rock_ridge_names(hostile: str) -> None:
    placeholder = "q" * len(hostile)
    image = build_iso({"ok": b"1", placeholder: b"2"}, joliet=False)
    entry = b"NM" + bytes([5 + len(hostile), 1, 0])
    patched = image.replace(entry + placeholder.encode(), entry + hostile.encode())
    assert patched != image
    with quickly(), pytest.raises(UnsafePath):
        read_iso_tree(reader(patched), "cd")


def test_iso_rock_ridge_name_meaning_the_parent() -> None:
    image = build_iso({"qq": b"2"}, joliet=False)
    patched = image.replace(b"NM\x07\x01\x00qq", b"NM\x07\x01\x04qq")
    with pytest.raises(UnsafePath):
        read_iso_tree(reader(patched), "cd")


def test_iso_duplicate_names() -> None:
    image = build_iso({"qa": b"1", "qb": b"2"})
    patched = image.replace("qb".encode("utf-16-be"), "QA".encode("utf-16-be"))
    with pytest.raises(CorruptMedia, match="twice"):
        read_iso_tree(reader(patched), "cd")


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (Limits(max_files=3), "files"),
        (Limits(max_depth=2), "deeper"),
        (Limits(max_file_bytes=1000), "limit"),
        (Limits(max_total_bytes=3000), "total"),
        (Limits(max_dirs=3), "directories"),
        (Limits(max_metadata_bytes=4096), "metadata"),
    ],
)
def test_iso_limits(limits: Limits, match: str) -> None:
    image = build_iso(CONFIG_DRIVE)
    with pytest.raises(LimitExceeded, match=match):
        read_iso_tree(reader(image), "cd", limits)


# --- FAT: valid images -----------------------------------------------------------------------


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_fat_round_trip_long_names(files: dict[str, bytes]) -> None:
    image = build_fat(files)
    with quickly():
        assert read_fat_tree(reader(image), "disk") == files


@pytest.mark.parametrize(("fat_type", "size"), [(12, MiB), (16, 8 * MiB), (32, 34 * MiB)])
def test_fat_widths(fat_type: int, size: int) -> None:
    image = build_fat(CONFIG_DRIVE, fat_type=fat_type, size=size)
    read = reader(image)
    assert read_fat_tree(read, "disk") == CONFIG_DRIVE
    assert fat_volume_label(read) == "CONFIG-2"


def test_fat_label_entry_then_boot_sector_label() -> None:
    image = bytearray(build_fat({"meta-data": b"{}"}, label="CONFIG-2"))
    assert fat_volume_label(reader(bytes(image))) == "CONFIG-2"
    # The root entry wins over the boot sector.
    image[0x2B:0x36] = b"BPB LABEL  "
    assert fat_volume_label(reader(bytes(image))) == "CONFIG-2"
    remove_label_entry(image)
    assert fat_volume_label(reader(bytes(image))) == "BPB LABEL"
    image[0x2B:0x36] = b"NO NAME    "
    assert fat_volume_label(reader(bytes(image))) is None
    image[0x26] = 0  # no extended boot signature: no boot-sector label at all
    image[0x2B:0x36] = b"CONFIG-2   "
    assert fat_volume_label(reader(bytes(image))) is None
    # The files are unaffected by labels.
    assert read_fat_tree(reader(bytes(image)), "disk") == {"meta-data": b"{}"}


def test_fat_short_names_and_case_flags() -> None:
    image = bytearray(build_fat({"PLACE.TXT": b"p", "lower.json": b"l"}))
    layout = fat_layout(image)
    names = {e.name for e in fat_entries(image, layout, layout.root_offset, layout.root_bytes)}
    assert names == {"PLACE   TXT", "lower.json"}  # an 8.3 name needs no long name
    assert read_fat_tree(reader(bytes(image)), "disk") == {"PLACE.TXT": b"p", "lower.json": b"l"}
    image[image.find(b"PLACE   TXT") + 12] = 0x18  # Windows NT: lower-case base and extension
    assert read_fat_tree(reader(bytes(image)), "disk") == {"place.txt": b"p", "lower.json": b"l"}


def test_fat_not_a_fat_volume() -> None:
    iso = build_iso({"a": b"1"})
    for data in (bytes(4096), iso, b"\xeb\x3c\x90" + bytes(100)):
        with pytest.raises(NotThisFormat):
            read_fat_tree(reader(data), "disk")
        with pytest.raises(NotThisFormat):
            fat_volume_label(reader(data))


# --- FAT: hostile images ---------------------------------------------------------------------


def test_fat_truncated_and_garbage() -> None:
    image = build_fat(CONFIG_DRIVE)
    with quickly(), pytest.raises(TruncatedMedia):
        read_fat_tree(reader(image[: len(image) // 2]), "disk")
    garbage = bytes((n * 7919 + 13) % 251 for n in range(len(image)))
    with quickly(), pytest.raises(NotThisFormat):
        read_fat_tree(reader(garbage), "disk")


def test_fat_chain_that_loops() -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    layout = fat_layout(image)
    user_data = fat_find(image, "openstack/latest/user_data")
    assert user_data.size > 2 * layout.cluster_bytes
    second = fat_get(image, layout, user_data.cluster)
    fat_set(image, layout, second, user_data.cluster)
    with quickly(), pytest.raises(CorruptMedia, match="loops"):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_chain_pointing_past_the_fat() -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    layout = fat_layout(image)
    user_data = fat_find(image, "openstack/latest/user_data")
    fat_set(image, layout, user_data.cluster, 0xFF0)
    with quickly(), pytest.raises(CorruptMedia, match="past the FAT"):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_first_cluster_past_the_fat() -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    user_data = fat_find(image, "openstack/latest/user_data")
    struct.pack_into("<H", image, user_data.offset + 26, 0xFFF0)
    with quickly(), pytest.raises(CorruptMedia, match="outside the FAT"):
        read_fat_tree(reader(bytes(image)), "disk")


@pytest.mark.parametrize(("value", "match"), [(0, "free"), (0xFF7, "bad"), (0xFFF, "ends after")])
def test_fat_chain_broken(value: int, match: str) -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    layout = fat_layout(image)
    user_data = fat_find(image, "openstack/latest/user_data")
    fat_set(image, layout, user_data.cluster, value)
    with quickly(), pytest.raises(CorruptMedia, match=match):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_directory_cluster_loop() -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    layout = fat_layout(image)
    openstack = fat_find(image, "openstack")
    fat_set(image, layout, openstack.cluster, openstack.cluster)
    with quickly(), pytest.raises(CorruptMedia, match="loops"):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_directory_containing_its_parent() -> None:
    image = bytearray(build_fat(CONFIG_DRIVE))
    openstack = fat_find(image, "openstack")
    latest = fat_find(image, "openstack/latest")
    struct.pack_into("<H", image, latest.offset + 26, openstack.cluster)
    with quickly(), pytest.raises(CorruptMedia, match="loop"):
        read_fat_tree(reader(bytes(image)), "disk")


@pytest.mark.parametrize(
    ("hostile", "placeholder"),
    [
        ("..", "qq"),
        ("../x", "qqqq"),
        ("a/../../b", "qqqqqqqqq"),
        ("C:x", "qqq"),
        ("a\\b", "qqq"),
        ("a\x00b", "qqq"),
        ("", "qqq"),
        ("con.txt", "qqqqqqq"),
        ("trailing.", "qqqqqqqqq"),
    ],
)
def test_fat_unsafe_long_names(hostile: str, placeholder: str) -> None:
    image = bytearray(build_fat({"ok": b"1", f"d/{placeholder}": b"2"}))
    fat_rename(image, fat_find(image, f"d/{placeholder}"), hostile)
    with quickly(), pytest.raises(UnsafePath):
        read_fat_tree(reader(bytes(image)), "disk")


@pytest.mark.parametrize(
    "short", [b"A\\B     TXT", b"A\x00B     TXT", b"C:X     TXT", b"NUL     TXT"]
)
def test_fat_unsafe_short_names(short: bytes) -> None:
    image = bytearray(build_fat({"PLACE.TXT": b"p"}))
    at = image.find(b"PLACE   TXT")
    assert at > 0
    image[at : at + 11] = short
    with quickly(), pytest.raises(UnsafePath):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_names_equal_but_for_case() -> None:
    image = bytearray(build_fat({"qa": b"1", "qb": b"2"}))
    fat_rename(image, fat_find(image, "qb"), "QA")
    with pytest.raises(CorruptMedia, match="twice"):
        read_fat_tree(reader(bytes(image)), "disk")


def test_fat_long_name_with_a_wrong_checksum_falls_back_to_the_short_name() -> None:
    image = bytearray(build_fat({"lower.json": b"l"}))
    entry = fat_find(image, "lower.json")
    image[entry.offset - 32 + 13] ^= 0xFF
    assert read_fat_tree(reader(bytes(image)), "disk") == {"LOWER.JSO": b"l"}


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (Limits(max_files=3), "files"),
        (Limits(max_depth=2), "deeper"),
        (Limits(max_file_bytes=1000), "limit"),
        (Limits(max_total_bytes=3000), "total"),
        (Limits(max_dirs=3), "directories"),
        (Limits(max_metadata_bytes=1024), "metadata"),
    ],
)
def test_fat_limits(limits: Limits, match: str) -> None:
    image = build_fat(CONFIG_DRIVE)
    with pytest.raises(LimitExceeded, match=match):
        read_fat_tree(reader(image), "disk", limits)


# --- partition tables ------------------------------------------------------------------------


def mbr_disk(filesystem: bytes, kind: int = 0x0C, at: int = MiB) -> bytearray:
    disk = bytearray(at) + filesystem
    struct.pack_into("<BxxxBxxxII", disk, 446, 0x80, kind, at // 512, len(filesystem) // 512)
    disk[510:512] = b"\x55\xaa"
    return disk


def gpt_disk(filesystem: bytes, at: int = MiB, entries: int = 128) -> bytearray:
    sectors = (at + len(filesystem)) // 512 + 33
    disk = bytearray(sectors * 512)
    disk[at : at + len(filesystem)] = filesystem
    struct.pack_into("<BxxxBxxxII", disk, 446, 0, 0xEE, 1, min(sectors - 1, 0xFFFFFFFF))
    disk[510:512] = b"\x55\xaa"
    array = bytearray(entries * 128)
    first = at // 512
    array[0:16] = uuid.UUID(BASIC_DATA).bytes_le
    array[16:32] = uuid.UUID(int=1).bytes_le
    struct.pack_into("<QQQ", array, 32, first, first + len(filesystem) // 512 - 1, 0)
    array[56:128] = "config-2".encode("utf-16-le").ljust(72, b"\x00")
    disk[1024 : 1024 + len(array)] = array
    header = bytearray(512)
    header[0:8] = b"EFI PART"
    struct.pack_into("<IIIIQQQQ", header, 8, 0x00010000, 92, 0, 0, 1, sectors - 1, 34, sectors - 34)
    header[56:72] = uuid.UUID(int=2).bytes_le
    struct.pack_into("<QIII", header, 72, 2, entries, 128, zlib.crc32(array))
    struct.pack_into("<I", header, 16, zlib.crc32(header[:92]))
    disk[512:1024] = header
    return disk


def test_mbr_partition_holding_a_fat_volume() -> None:
    filesystem = build_fat(CONFIG_DRIVE)
    disk = bytes(mbr_disk(filesystem))
    parts = read_partitions(reader(disk), "disk", len(disk))
    assert parts == [Partition(1, MiB, len(filesystem), "0x0c")]
    part = parts[0]
    assert read_fat_tree(window(reader(disk), part.offset, part.size), "disk p1") == CONFIG_DRIVE
    assert fat_volume_label(window(reader(disk), part.offset, part.size)) == "CONFIG-2"


def test_mbr_partition_holding_an_iso() -> None:
    image = build_iso(CONFIG_DRIVE)
    disk = bytes(mbr_disk(image + bytes(-len(image) % 512), kind=0x17))
    (part,) = read_partitions(reader(disk), "disk")
    assert (part.offset, part.type) == (MiB, "0x17")
    assert read_iso_tree(window(reader(disk), part.offset), "disk p1") == CONFIG_DRIVE


def test_isohybrid_partition_starting_at_sector_0() -> None:
    image = bytearray(build_iso(CONFIG_DRIVE))
    struct.pack_into("<BxxxBxxxII", image, 446, 0x80, 0x17, 0, len(image) // 512)
    image[510:512] = b"\x55\xaa"
    disk = bytes(image)
    assert read_partitions(reader(disk), "disk", len(disk)) == [Partition(1, 0, len(disk), "0x17")]
    assert read_iso_tree(reader(disk), "disk") == CONFIG_DRIVE
    with pytest.raises(NotThisFormat):
        fat_volume_label(reader(disk))


def test_gpt_partition_holding_a_fat_volume() -> None:
    filesystem = build_fat(CONFIG_DRIVE)
    disk = bytes(gpt_disk(filesystem))
    parts = read_partitions(reader(disk), "disk", len(disk))
    assert parts == [Partition(1, MiB, len(filesystem), BASIC_DATA)]
    assert read_fat_tree(window(reader(disk), MiB, len(filesystem)), "disk p1") == CONFIG_DRIVE


def test_no_partition_table() -> None:
    superfloppy = build_fat(CONFIG_DRIVE)
    assert read_partitions(reader(superfloppy), "disk") == []
    assert read_partitions(reader(bytes(4096)), "disk") == []
    assert read_partitions(reader(b"\x55\xaa"), "disk") == []
    iso = build_iso(CONFIG_DRIVE)
    assert read_partitions(reader(iso), "disk") == []
    bogus = mbr_disk(bytes(512))
    bogus[446] = 0x12  # not a boot indicator: not a partition table
    assert read_partitions(reader(bytes(bogus)), "disk") == []


def test_gpt_with_bad_header_crc() -> None:
    disk = gpt_disk(bytes(64 * 1024))
    disk[512 + 40] ^= 1  # first usable LBA, covered by the header CRC
    with quickly(), pytest.raises(CorruptMedia, match="header CRC32"):
        read_partitions(reader(bytes(disk)), "disk")


def test_gpt_with_bad_entries_crc() -> None:
    disk = gpt_disk(bytes(64 * 1024))
    disk[1024 + 60] ^= 1  # a name character of entry 1
    with quickly(), pytest.raises(CorruptMedia, match="entry array CRC32"):
        read_partitions(reader(bytes(disk)), "disk")


def test_gpt_with_an_absurd_entry_array() -> None:
    disk = gpt_disk(bytes(64 * 1024))
    struct.pack_into("<I", disk, 512 + 80, 0x10000000)
    struct.pack_into("<I", disk, 512 + 16, 0)
    struct.pack_into("<I", disk, 512 + 16, zlib.crc32(bytes(disk[512 : 512 + 92])))
    with quickly(), pytest.raises(CorruptMedia, match="entry array"):
        read_partitions(reader(bytes(disk)), "disk")


def test_gpt_protective_mbr_without_header() -> None:
    disk = gpt_disk(bytes(64 * 1024))
    disk[512:520] = b"NOT GPT!"
    with pytest.raises(CorruptMedia, match="without a GPT header"):
        read_partitions(reader(bytes(disk)), "disk")
    with pytest.raises(TruncatedMedia):
        read_partitions(reader(bytes(gpt_disk(bytes(64 * 1024))[:1500])), "disk")


def test_partition_past_the_disk_end() -> None:
    disk = bytes(mbr_disk(bytes(64 * 1024)))
    with pytest.raises(CorruptMedia, match="past"):
        read_partitions(reader(disk), "disk", len(disk) - 512)
    gpt = bytes(gpt_disk(bytes(64 * 1024)))
    with pytest.raises(CorruptMedia, match="past"):
        read_partitions(reader(gpt), "disk", MiB + 512)


# --- the reader boundary ---------------------------------------------------------------------


def test_errors_name_the_device_on_one_line() -> None:
    image = build_iso({"qq": b"1"})
    hostile = image.replace("qq".encode("utf-16-be"), "\n\n".encode("utf-16-be"))
    with pytest.raises(UnsafePath) as caught:
        read_iso_tree(reader(hostile), "\\\\.\\PHYSICALDRIVE1")
    message = str(caught.value)
    assert message.startswith("\\\\.\\PHYSICALDRIVE1: ")
    assert "\n" not in message
    assert str(MediaError("mtools_path is not set")) == "mtools_path is not set"
    assert str(CorruptMedia("disk", "two\nlines")) == "disk: two lines"


def test_default_limits() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert (
        DEFAULT_LIMITS.max_files,
        DEFAULT_LIMITS.max_depth,
        DEFAULT_LIMITS.max_total_bytes,
        DEFAULT_LIMITS.max_file_bytes,
        DEFAULT_LIMITS.max_dirs,
    ) == (10_000, 32, 64 * MiB, 64 * MiB, 10_000)
    assert issubclass(LimitExceeded, CorruptMedia)


def test_reader_failures_become_media_errors() -> None:
    def failing(offset: int, length: int) -> bytes:
        raise OSError(5, "I/O error")

    with pytest.raises(MediaError, match="I/O error"):
        read_iso_tree(failing, "cd")
    with pytest.raises(MediaError, match="I/O error"):
        read_partitions(failing, "disk")


def test_device_reader_goes_through_the_os_boundary() -> None:
    image = build_fat(CONFIG_DRIVE)
    calls: list[tuple[str, int, int]] = []

    class FakeOS:
        def read_device(self, device_path: str, offset: int, length: int) -> bytes:
            calls.append((device_path, offset, length))
            return image[offset : offset + length]

    read = device_reader(FakeOS(), "\\\\.\\PHYSICALDRIVE1")
    assert read_fat_tree(read, "\\\\.\\PHYSICALDRIVE1") == CONFIG_DRIVE
    assert {device for device, _, _ in calls} == {"\\\\.\\PHYSICALDRIVE1"}


# --- fuzzing ---------------------------------------------------------------------------------


def _mutate(
    image: bytes, start: int, end: int, changes: list[tuple[int, int]], cut: int | None
) -> bytes:
    data = bytearray(image)
    for position, value in changes:
        data[start + position % (end - start)] = value
    return bytes(data if cut is None else data[: cut % len(data)])


CHANGES = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=24
)
CUTS = st.none() | st.integers(min_value=0)


@functools.cache
def _fuzz_iso() -> bytes:
    return build_iso(CONFIG_DRIVE)


@functools.cache
def _fuzz_fat() -> bytes:
    return build_fat(CONFIG_DRIVE)


@settings(max_examples=50)
@given(CHANGES, CUTS)
def test_fuzzed_iso_ends_in_a_tree_or_a_media_error(
    changes: list[tuple[int, int]], cut: int | None
) -> None:
    image = _fuzz_iso()
    # Descriptors, path tables and directories: the first 40 sectors after the system area.
    data = _mutate(image, 0x8000, min(len(image), 0x8000 + 40 * BLOCK), changes, cut)
    with quickly():
        for call in (
            lambda: read_iso_tree(reader(data), "cd"),
            lambda: iso_volume_label(reader(data)),
            lambda: iso_image_size(reader(data)),
        ):
            with contextlib.suppress(MediaError):
                call()


@settings(max_examples=50)
@given(CHANGES, CUTS)
def test_fuzzed_fat_ends_in_a_tree_or_a_media_error(
    changes: list[tuple[int, int]], cut: int | None
) -> None:
    image = _fuzz_fat()
    layout = fat_layout(image)
    # Boot sector, FATs, root directory and the first data clusters (the subdirectories).
    data = _mutate(image, 0, layout.data_offset + 8 * layout.cluster_bytes, changes, cut)
    with quickly():
        for call in (
            lambda: read_fat_tree(reader(data), "disk"),
            lambda: fat_volume_label(reader(data)),
            lambda: read_partitions(reader(data), "disk"),
        ):
            with contextlib.suppress(MediaError):
                call()
