"""ISO9660 images with Joliet and Rock Ridge, like the config drives Nova and cloud-localds make.

Three name trees describe the same files: the ISO9660 tree (upper-case d-characters,
``META_DATA.JSON;1``, de-duplicated with ``_1``, ``_2``... where mangling collides), the
Joliet tree (UCS-2, what Windows shows) and the Rock Ridge tree (POSIX names, what bsdtar
and Linux show). The volume label goes as given (e.g. ``config-2``, lower case included,
as ``genisoimage -V`` writes it) into the Primary and the Joliet volume descriptors.

The output is deterministic: entries are added in path order and every date is
:data:`~guestsim.simulator.media.common.FIXED_TIMESTAMP` in UTC. pycdlib reads the clock through
its modules' ``time`` global; while an image is built that global is swapped for a fixed
clock, under a lock, and put back afterwards.
"""

from __future__ import annotations

import importlib
import io
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from time import struct_time
from typing import Any

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from guestsim.simulator.media.common import FIXED_TIMESTAMP, MediaError, Tree, parse_tree

BLOCK = 2048
# The agent sizes a raw ISO from the low 16 bits of the block count: stay below 2**16 blocks.
MAX_BLOCKS = 0xFFFF
MAX_LABEL = 16  # Joliet volume identifiers hold 16 UCS-2 characters
MAX_DEPTH = 7  # ISO9660: eight levels, the root being the first
_MAX_FILE_ID = 30  # name + extension, ISO9660 levels 2 and 3
_MAX_DIR_ID = 31
_MAX_EXTENSION = 10
_NOT_D_CHARACTER = re.compile(r"[^A-Z0-9_]")
_LABEL = re.compile(r"[A-Za-z0-9_.\- ]+")


class _FixedClock:
    """Stands in for the ``time`` module inside pycdlib: now is the fixed epoch, in UTC."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return float(FIXED_TIMESTAMP)

    @staticmethod
    def localtime(seconds: float | None = None) -> struct_time:
        return time.gmtime(FIXED_TIMESTAMP if seconds is None else seconds)


_CLOCK = _FixedClock()
_CLOCK_LOCK = threading.Lock()
# Every pycdlib module that reads the clock or converts dates (checked by the tests).
_CLOCK_USERS = tuple(
    importlib.import_module(name)
    for name in ("pycdlib.pycdlib", "pycdlib.headervd", "pycdlib.dates")
)


@contextmanager
def _fixed_clock() -> Iterator[None]:
    with _CLOCK_LOCK:
        saved = [module.__dict__["time"] for module in _CLOCK_USERS]
        for module in _CLOCK_USERS:
            module.__dict__["time"] = _CLOCK
        try:
            yield
        finally:
            for module, original in zip(_CLOCK_USERS, saved, strict=True):
                module.__dict__["time"] = original


def check_iso_label(label: str) -> None:
    """1-16 characters of ``A-Z a-z 0-9 _ . - space``; not starting or ending with a space."""
    if not _LABEL.fullmatch(label) or len(label) > MAX_LABEL or label != label.strip():
        raise MediaError(
            f"ISO label {label!r}: use 1-{MAX_LABEL} characters of A-Z a-z 0-9 _ . - "
            "and inner spaces"
        )


def _identifier(name: str, is_dir: bool, counter: int) -> tuple[str, str]:
    """(ISO9660 identifier, key that must be unique in its directory); ``counter`` > 0 adds _N."""
    suffix = f"_{counter}" if counter else ""
    upper = name.upper()
    if is_dir:
        stem = _NOT_D_CHARACTER.sub("_", upper)[: _MAX_DIR_ID - len(suffix)] + suffix
        return stem, stem
    base, dot, extension = upper.rpartition(".")
    if not dot:
        base, extension = upper, ""
    extension = _NOT_D_CHARACTER.sub("_", extension)[:_MAX_EXTENSION]
    room = _MAX_FILE_ID - len(extension) - len(suffix)
    stem = _NOT_D_CHARACTER.sub("_", base)[:room] + suffix
    if not stem and not extension:
        stem = "_"
    return f"{stem}.{extension};1", f"{stem}.{extension}".rstrip(".")


def iso9660_names(tree: Tree) -> dict[tuple[str, ...], str]:
    """The ISO9660 path (``/OPENSTACK/LATEST/META_DATA.JSON;1``) of every directory and file."""
    children: dict[tuple[str, ...], list[tuple[str, bool]]] = {}
    for parts, data in tree.nodes():
        children.setdefault(parts[:-1], []).append((parts[-1], data is None))
    paths: dict[tuple[str, ...], str] = {(): ""}
    for parent in sorted(children, key=len):
        used: set[str] = set()
        for name, is_dir in children[parent]:
            counter = 0
            identifier, key = _identifier(name, is_dir, counter)
            while key in used:
                counter += 1
                identifier, key = _identifier(name, is_dir, counter)
            used.add(key)
            paths[(*parent, name)] = f"{paths[parent]}/{identifier}"
    del paths[()]
    return paths


def build_iso(files: Mapping[str, bytes], label: str = "config-2") -> bytes:
    """An ISO9660 image (Joliet level 3, Rock Ridge 1.09) holding ``files``, labelled ``label``.

    Deterministic: the same files and label give the same bytes on every host. Raises
    :class:`~guestsim.simulator.media.common.MediaError` for a bad label or name, a tree deeper
    than ISO9660 allows, or an image of 2**16 blocks (128 MiB) or more.
    """
    check_iso_label(label)
    tree = parse_tree(files)
    if any(len(parts) > MAX_DEPTH for parts in tree.directories):
        raise MediaError(f"ISO9660 allows at most {MAX_DEPTH} nested directories")
    if sum(len(data) for _, data in tree.files) >= MAX_BLOCKS * BLOCK:
        raise MediaError("the files do not fit in an ISO of less than 128 MiB")
    names = iso9660_names(tree)
    iso = pycdlib.PyCdlib()
    out = io.BytesIO()
    try:
        with _fixed_clock():
            iso.new(
                interchange_level=3,
                vol_ident=label,
                app_ident_str="GUESTSIM",
                joliet=3,
                rock_ridge="1.09",
            )
            for parts, data in tree.nodes():
                joliet_path = "/" + "/".join(parts)
                if data is None:
                    iso.add_directory(names[parts], rr_name=parts[-1], joliet_path=joliet_path)
                else:
                    iso.add_fp(
                        io.BytesIO(data),
                        len(data),
                        names[parts],
                        rr_name=parts[-1],
                        joliet_path=joliet_path,
                    )
            iso.write_fp(out)
            iso.close()
    except PyCdlibException as ex:
        raise MediaError(f"cannot build the ISO: {ex}") from ex
    image = out.getvalue()
    if len(image) // BLOCK > MAX_BLOCKS:
        raise MediaError(f"the ISO has {len(image) // BLOCK} blocks; keep it below 2**16")
    return image
