"""A small, defensive reader of ISO9660 images (Joliet and Rock Ridge names).

Why not pycdlib
---------------
pycdlib 1.22.0 was tried first, through a read-only file object over the image, on a
valid Joliet + Rock Ridge image and on crafted variants of it. It detects directory
loops (when both endian copies agree) and rejects a half image, but on inputs a cloud
user controls it is not a safe boundary:

* 9 in 2000 random byte mutations of a 78 KiB image made ``open_fp`` raise
  ``struct.error``, ``KeyError`` or ``ValueError`` rather than its own exception type;
* it opens the whole image eagerly (path tables, both trees, every Rock Ridge area),
  so images Windows and bsdtar accept can be refused for structures we never use;
* file extents are not checked: a 4 GiB data length or an extent past the device is
  accepted at open time and then read as far as the device goes (unbounded memory on a
  large disk), and a short read is silently returned as a short file;
* it applies no file-name policy (``..``, ``C:x``, separators and NUL pass through).

Wrapping it would mean catching ``Exception`` and validating every extent beforehand,
which is most of a reader anyway. So this module reads the few structures the agent
needs itself: the volume descriptor set (PVD, Joliet SVD, terminator), directory
records, and the SUSP/Rock Ridge ``SP``, ``CE``, ``NM``, ``CL``, ``RE`` and ``SL``
entries. Every read is bounded by the declared volume size and by ``Limits``; each
directory extent is visited once (loops and shared directories are CorruptMedia);
Rock Ridge continuation chains are bounded and loop-checked; traversal is iterative.

Names: the Joliet tree when the image has a Joliet SVD, else the ISO9660 tree with
Rock Ridge ``NM`` names where present, else plain ISO9660 names. ISO9660 and Joliet
names lose a trailing ``;<version>`` and then one trailing ``.``. Every name must pass
:func:`guestsim.agent.configdrive._common.check_name`. Rock Ridge symbolic links, relocated
directories (``RE``) and associated files are skipped; ``CL`` child links are followed.
Two names in one directory that differ only in case are CorruptMedia (they would
overwrite each other when extracted on Windows). Empty directories do not appear in the
result (it maps file paths to contents).

The whole declared volume must be readable (TruncatedMedia otherwise), so a Reader cut
at :func:`iso_image_size` bytes reproduces upstream's failure on images of 65 536
blocks or more.
"""

from __future__ import annotations

import re
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
from guestsim.agent.configdrive.errors import (
    CorruptMedia,
    NotThisFormat,
    TruncatedMedia,
    UnsafePath,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Reader",
    "iso_image_size",
    "iso_volume_label",
    "read_iso_tree",
]

SECTOR = 2048
DESCRIPTORS_AT = 16 * SECTOR
SIGNATURE_AT = DESCRIPTORS_AT + 1
MAX_DESCRIPTORS = 64
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
_VERSION = re.compile(r";[0-9]*$")

FLAG_DIRECTORY = 0x02
FLAG_ASSOCIATED = 0x04
FLAG_MULTI_EXTENT = 0x80

MAX_CONTINUATIONS = 16
MAX_CONTINUATION_BYTES = 64 * 1024
MAX_RR_NAME_BYTES = 1024

_DEFAULT_DEVICE = "<device>"


# --- volume descriptors ------------------------------------------------------------------


def iso_image_size(read: Reader, device: str = _DEFAULT_DEVICE) -> int:
    """Upstream's raw-ISO size: LE16 at 0x8050 times LE16 at 0x8080.

    Only the low 16 bits of the volume space size are used (upstream's quirk), so an
    image of 65 536 blocks or more yields a size smaller than the image.
    """
    dev = Device(read, device)
    data = dev.read_upto(DESCRIPTORS_AT, 0x82)
    if data[1:6] != b"CD001":
        raise NotThisFormat(device, "no ISO9660 signature (CD001 at 0x8001)")
    if len(data) < 0x82:
        raise TruncatedMedia(device, "the device ends inside the primary volume descriptor")
    return le16(data, 0x50) * le16(data, 0x80)


@dataclass(frozen=True)
class _Volume:
    block_size: int
    end: int  # bytes of the declared volume
    pvd: bytes
    joliet: bytes | None


def _descriptors(dev: Device) -> _Volume:
    first = dev.read_upto(DESCRIPTORS_AT, SECTOR)
    if first[1:6] != b"CD001":
        raise NotThisFormat(dev.name, "no ISO9660 signature (CD001 at 0x8001)")
    if len(first) < SECTOR:
        raise TruncatedMedia(dev.name, "the device ends inside the first volume descriptor")
    pvd: bytes | None = None
    joliet: bytes | None = None
    for index in range(MAX_DESCRIPTORS):
        offset = DESCRIPTORS_AT + index * SECTOR
        sector = first if index == 0 else dev.read(offset, SECTOR, "volume descriptor")
        if sector[1:6] != b"CD001":
            raise CorruptMedia(dev.name, f"volume descriptor {index} has no CD001 signature")
        kind = sector[0]
        if kind == 0xFF:
            break
        if kind == 1 and pvd is None:
            pvd = sector
        elif kind == 2 and joliet is None and sector[88:91] in _JOLIET_ESCAPES:
            joliet = sector
    else:
        raise CorruptMedia(dev.name, f"no descriptor set terminator in {MAX_DESCRIPTORS} sectors")
    if pvd is None:
        raise CorruptMedia(dev.name, "no primary volume descriptor")
    block_size = le16(pvd, 128)
    if block_size not in (512, 1024, 2048):
        raise CorruptMedia(dev.name, f"logical block size {block_size} is not 512, 1024 or 2048")
    blocks = le32(pvd, 80)
    end = blocks * block_size
    if end < DESCRIPTORS_AT + SECTOR:
        raise CorruptMedia(dev.name, f"volume space of {blocks} blocks is too small")
    if joliet is not None and le16(joliet, 128) != block_size:
        raise CorruptMedia(dev.name, "Joliet and primary logical block sizes differ")
    return _Volume(block_size, end, pvd, joliet)


def _label_text(raw: bytes, encoding: str) -> str:
    return raw.decode(encoding, errors="replace").rstrip(" \x00\t\r\n")


def iso_volume_label(read: Reader, device: str = _DEFAULT_DEVICE) -> str:
    """The Joliet volume label when the image has a Joliet SVD, else the PVD's; rstripped."""
    volume = _descriptors(Device(read, device))
    if volume.joliet is not None:
        return _label_text(volume.joliet[40:72], "utf-16-be")
    return _label_text(volume.pvd[40:72], "latin-1")


# --- directory records -------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    identifier: bytes
    flags: int
    start: int  # byte offset of the data (extent plus extended attribute record)
    block: int  # extent location in logical blocks (what loops are keyed on)
    size: int
    system_use: bytes

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & FLAG_DIRECTORY)

    @property
    def is_self_or_parent(self) -> bool:
        return self.identifier in (b"\x00", b"\x01")


def _parse_record(dev: Device, volume: _Volume, data: bytes, pos: int, limit: int) -> _Record:
    length = data[pos]
    if length < 34 or pos + length > limit:
        raise CorruptMedia(dev.name, f"directory record of {length} bytes at {pos} is malformed")
    name_length = data[pos + 32]
    if name_length == 0 or 33 + name_length > length:
        raise CorruptMedia(dev.name, f"directory record name of {name_length} bytes is malformed")
    extended = data[pos + 1]
    block = le32(data, pos + 2)
    size = le32(data, pos + 10)
    flags = data[pos + 25]
    if data[pos + 26] or data[pos + 27]:
        raise CorruptMedia(dev.name, "interleaved files are not supported")
    identifier = data[pos + 33 : pos + 33 + name_length]
    use_at = 33 + name_length + (1 - name_length % 2)
    system_use = data[pos + use_at : pos + length] if use_at < length else b""
    start = (block + extended) * volume.block_size
    if size and start + size > volume.end:
        raise CorruptMedia(
            dev.name,
            f"extent of {size} bytes at block {block} lies beyond the {volume.end}-byte volume",
        )
    return _Record(identifier, flags, start, block, size, system_use)


def _records(dev: Device, volume: _Volume, data: bytes) -> list[_Record]:
    """The records of one directory extent; records never cross a logical block."""
    found: list[_Record] = []
    pos = 0
    block = volume.block_size
    while pos < len(data):
        block_end = min((pos // block + 1) * block, len(data))
        if data[pos] == 0:
            pos = block_end
            continue
        record = _parse_record(dev, volume, data, pos, block_end)
        found.append(record)
        pos += data[pos]
    return found


# --- Rock Ridge --------------------------------------------------------------------------


@dataclass
class _RockRidge:
    name: bytes | None = None
    relocated: bool = False  # RE: the directory's real place is a CL link elsewhere
    child_link: int | None = None  # CL: this placeholder is a directory at that block
    symlink: bool = False


class _Susp:
    """System Use Sharing Protocol reader with bounded, loop-checked continuations."""

    def __init__(self, dev: Device, volume: _Volume, budget: Budget, skip: int) -> None:
        self.dev = dev
        self.volume = volume
        self.budget = budget
        self.skip = skip
        self._blocks: dict[int, bytes] = {}

    def _continuation(self, block: int, offset: int, length: int) -> bytes:
        size = self.volume.block_size
        start = block * size + offset
        if length > MAX_CONTINUATION_BYTES or start + length > self.volume.end:
            raise CorruptMedia(
                self.dev.name, f"Rock Ridge continuation of {length} bytes at {start} is invalid"
            )
        if length == 0:
            return b""
        first, last = start // size, (start + length - 1) // size
        parts = []
        for number in range(first, last + 1):
            if number not in self._blocks:
                self.budget.add_metadata(size, "Rock Ridge continuation")
                self._blocks[number] = self.dev.read(number * size, size, "Rock Ridge continuation")
            parts.append(self._blocks[number])
        joined = b"".join(parts)
        return joined[start - first * size : start - first * size + length]

    def parse(self, system_use: bytes) -> _RockRidge:
        result = _RockRidge()
        area = system_use[self.skip :]
        name_parts: list[bytes] = []
        name_open = True
        seen: set[tuple[int, int]] = set()
        for _ in range(MAX_CONTINUATIONS + 1):
            pos = 0
            continuation: tuple[int, int, int] | None = None
            while pos + 4 <= len(area):
                signature, length = area[pos : pos + 2], area[pos + 2]
                if length < 4 or pos + length > len(area):
                    break  # padding or a damaged entry: stop reading this area
                body = area[pos + 4 : pos + length]
                if signature == b"ST":
                    break
                if signature == b"CE" and len(body) >= 20:
                    continuation = (le32(body, 0), le32(body, 8), le32(body, 16))
                elif signature == b"NM" and len(body) >= 1 and name_open:
                    flags = body[0]
                    if flags & 0x02:
                        name_parts, name_open = [b"."], False
                    elif flags & 0x04:
                        name_parts, name_open = [b".."], False
                    else:
                        name_parts.append(body[1:])
                        name_open = bool(flags & 0x01)
                    if sum(map(len, name_parts)) > MAX_RR_NAME_BYTES:
                        raise UnsafePath(self.dev.name, "Rock Ridge name is too long")
                elif signature == b"RE":
                    result.relocated = True
                elif signature == b"CL" and len(body) >= 4:
                    result.child_link = le32(body, 0)
                elif signature == b"SL":
                    result.symlink = True
                pos += length
            if continuation is None:
                break
            block, offset, length = continuation
            if (block, offset) in seen:
                raise CorruptMedia(self.dev.name, "Rock Ridge continuation areas form a loop")
            seen.add((block, offset))
            area = self._continuation(block, offset, length)
        else:
            raise CorruptMedia(
                self.dev.name, f"more than {MAX_CONTINUATIONS} Rock Ridge continuations"
            )
        if name_parts:
            result.name = b"".join(name_parts)
        return result


def _rock_ridge_skip(records: list[_Record]) -> int | None:
    """LEN_SKP of the SUSP ``SP`` entry in the root's ``.`` record; None without SUSP."""
    if not records or records[0].identifier != b"\x00":
        return None
    use = records[0].system_use
    if len(use) >= 7 and use[0:2] == b"SP" and use[2] >= 7 and use[4:6] == b"\xbe\xef":
        return use[6]
    return None


# --- the tree ----------------------------------------------------------------------------


def _plain_name(identifier: str) -> str:
    name = _VERSION.sub("", identifier)
    return name[:-1] if name.endswith(".") else name


class _Tree:
    def __init__(self, dev: Device, volume: _Volume, limits: Limits, joliet: bool) -> None:
        self.dev = dev
        self.volume = volume
        self.budget = Budget(limits, dev.name)
        self.joliet = joliet
        self.susp: _Susp | None = None
        self.visited: set[int] = set()
        self.files: dict[str, bytes] = {}

    def _read_dir(self, block: int, size: int, start: int) -> list[_Record]:
        if block in self.visited:
            raise CorruptMedia(self.dev.name, f"directory at block {block} is reached twice (loop)")
        self.visited.add(block)
        self.budget.add_metadata(size, "directory")
        return _records(self.dev, self.volume, self.dev.read(start, size, "directory"))

    def _name(self, record: _Record, rock: _RockRidge | None) -> str:
        if rock is not None and rock.name is not None:
            try:
                return rock.name.decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptMedia(
                    self.dev.name, f"Rock Ridge name {rock.name!r} is not UTF-8"
                ) from None
        if self.joliet:
            try:
                text = record.identifier.decode("utf-16-be")
            except UnicodeDecodeError:
                raise CorruptMedia(
                    self.dev.name, f"Joliet name {record.identifier!r} is not UCS-2"
                ) from None
        else:
            text = record.identifier.decode("latin-1")
        return _plain_name(text)

    def _linked_dir(self, block: int) -> _Record:
        """The ``.`` record of the directory a Rock Ridge CL entry points to."""
        start = block * self.volume.block_size
        if start + self.volume.block_size > self.volume.end:
            raise CorruptMedia(self.dev.name, f"Rock Ridge child link to block {block} is invalid")
        head = self.dev.read(start, self.volume.block_size, "relocated directory")
        if head[0] == 0:
            raise CorruptMedia(self.dev.name, f"relocated directory at block {block} is empty")
        record = _parse_record(self.dev, self.volume, head, 0, len(head))
        if record.identifier != b"\x00" or not record.is_dir or record.block != block:
            raise CorruptMedia(self.dev.name, f"relocated directory at block {block} is invalid")
        return record

    def walk(self, root: _Record) -> dict[str, bytes]:
        if not root.is_dir or root.size == 0:
            raise CorruptMedia(self.dev.name, "the root directory record is not a directory")
        stack: list[tuple[_Record, str, int]] = [(root, "", 0)]
        while stack:
            directory, path, depth = stack.pop()
            self.budget.add_dir(depth)
            records = self._read_dir(directory.block, directory.size, directory.start)
            if self.susp is None and not self.joliet and depth == 0:
                skip = _rock_ridge_skip(records)
                if skip is not None:
                    self.susp = _Susp(self.dev, self.volume, self.budget, skip)
            self._directory(records, path, depth, stack)
        return dict(sorted(self.files.items()))

    def _directory(
        self,
        records: list[_Record],
        path: str,
        depth: int,
        stack: list[tuple[_Record, str, int]],
    ) -> None:
        names: set[str] = set()
        pending: tuple[str, list[_Record]] | None = None
        for record in records:
            if record.is_self_or_parent:
                continue
            rock = self.susp.parse(record.system_use) if self.susp is not None else None
            name = self._name(record, rock)
            if pending is not None:
                if name != pending[0]:
                    raise CorruptMedia(self.dev.name, f"multi-extent file {pending[0]!r} is cut")
                pending[1].append(record)
                if not record.flags & FLAG_MULTI_EXTENT:
                    self._file(join(path, name), depth + 1, pending[1])
                    pending = None
                continue
            if record.flags & FLAG_ASSOCIATED:
                continue
            if rock is not None and (rock.relocated or (rock.symlink and not record.is_dir)):
                continue
            check_name(name, self.dev.name)
            if name.casefold() in names:
                raise CorruptMedia(self.dev.name, f"{join(path, name)!r} appears twice")
            names.add(name.casefold())
            child = join(path, name)
            if rock is not None and rock.child_link is not None:
                record = self._linked_dir(rock.child_link)
            if record.is_dir:
                if record.flags & FLAG_MULTI_EXTENT:
                    raise CorruptMedia(self.dev.name, f"directory {child!r} is multi-extent")
                self.budget.check_depth(child, depth + 1)
                stack.append((record, child, depth + 1))
            elif record.flags & FLAG_MULTI_EXTENT:
                pending = (name, [record])
            else:
                self._file(child, depth + 1, [record])
        if pending is not None:
            raise CorruptMedia(self.dev.name, f"multi-extent file {pending[0]!r} is cut")

    def _file(self, path: str, depth: int, extents: list[_Record]) -> None:
        self.budget.check_depth(path, depth)
        self.budget.add_file(path, sum(extent.size for extent in extents))
        self.files[path] = b"".join(
            self.dev.read(extent.start, extent.size, f"file {path!r}") for extent in extents
        )


def read_iso_tree(read: Reader, device: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """Every file of the ISO9660 image at offset 0 of ``read``: POSIX relative path -> bytes.

    Raises NotThisFormat without the CD001 signature, TruncatedMedia when the device is
    shorter than the declared volume or a read comes back short, CorruptMedia (and its
    LimitExceeded) for invalid structures or oversize content, UnsafePath for a name that
    is not one safe path component.
    """
    dev = Device(read, device)
    volume = _descriptors(dev)
    dev.require_end(volume.end, "the volume")
    descriptor = volume.joliet if volume.joliet is not None else volume.pvd
    root = _parse_record(dev, volume, descriptor[156:190], 0, 34)
    return _Tree(dev, volume, limits, joliet=volume.joliet is not None).walk(root)
