"""The guest's resource limits, and the work the agent bounds by them.

A guest has finite memory and disk. The agent learns how much it may spend from the OS
(``osutils.get_resource_limits()``); whatever guest-supplied input would spend more (a
gzip bomb as user data, a template multiplying a string by four billion) ends in
:class:`ResourceLimitExceeded`, a ``MemoryError`` as a starved guest would raise, before
the memory is taken.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from typing import IO, Any

MiB = 1024 * 1024
_CHUNK = MiB


@dataclass(frozen=True)
class ResourceLimits:
    """What the agent may spend on one piece of guest-supplied input."""

    # Bytes one compressed document (gzip user data, a guestinfo value, a write_files
    # entry, a member of the Azure guest agent's zip package) may expand to.
    decompressed_bytes: int = 16 * MiB
    # Characters a rendered template, and any value computed while rendering it, may hold.
    template_output_bytes: int = 4 * MiB
    # Steps one template render may take: loop iterations, calls, operators, range items.
    template_work: int = 1_000_000
    # Bytes all files on the guest's drives may hold together (the fake's disk space).
    guest_file_bytes: int = 64 * MiB


class ResourceLimitExceeded(MemoryError):
    """Guest-supplied input would take more than the guest's resource limits allow."""


class DecompressionLimitExceeded(ResourceLimitExceeded):
    """Compressed data expands beyond ``decompressed_bytes``."""


class DocumentLimitExceeded(ResourceLimitExceeded):
    """A parsed document (YAML aliases repeating one part) expands beyond
    ``decompressed_bytes``."""


class CorruptCompressedData(ValueError):
    """Compressed guest data that does not decompress (not gzip, truncated, damaged)."""


class TemplateLimitExceeded(ResourceLimitExceeded):
    """A template's output or work exceeds ``template_output_bytes``/``template_work``."""


def bounded_gunzip(data: bytes, limit: int, what: str) -> bytes:
    """``gzip.decompress(data)``, refusing to expand ``what`` beyond ``limit`` bytes.

    Decompression stops one byte past the limit (never holding more). Damaged data
    (not gzip, truncated) raises :class:`CorruptCompressedData`, naming ``what``.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as stream:
            return read_bounded(stream, limit, f"{what} ({len(data)} bytes of gzip data)")
    except (gzip.BadGzipFile, EOFError, zlib.error) as ex:
        raise CorruptCompressedData(f"{what} is not valid gzip data: {ex}") from ex


def read_bounded(stream: IO[bytes] | io.BufferedIOBase, limit: int, what: str) -> bytes:
    """All of ``stream``, read in chunks; :class:`DecompressionLimitExceeded` as soon as
    it holds more than ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise DecompressionLimitExceeded(
                f"{what} expands beyond the guest's limit of {limit} bytes"
            )
        chunks.append(chunk)


def expanded_size(value: Any) -> int:
    """About the characters ``value`` takes written out (``str()``, JSON, a script line):
    a part the document shares (a YAML alias) counts each time it appears. Each distinct
    part is measured once, so a few hundred bytes of aliases cost no more than their
    parts; a part containing itself counts once."""
    sizes: dict[int, int] = {}

    def size(item: Any) -> int:
        if isinstance(item, str | bytes | bytearray):
            return len(item) + 2
        if not isinstance(item, dict | list | tuple | set | frozenset):
            return 2
        key = id(item)
        if key in sizes:
            return sizes[key]
        sizes[key] = 2  # while measured: a reference to itself
        parts = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        sizes[key] = 2 + sum(size(part) + 2 for part in parts)
        return sizes[key]

    return size(value)


def check_expanded_size(value: Any, limit: int, what: str) -> None:
    """:class:`DocumentLimitExceeded` if ``value`` written out would exceed ``limit``."""
    if expanded_size(value) > limit:
        raise DocumentLimitExceeded(f"{what} expands beyond the guest's limit of {limit} bytes")
