"""One call from a tree to finished image bytes, default labels, and writing images out."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from guestsim.simulator.media.common import MediaError
from guestsim.simulator.media.disk import build_disk
from guestsim.simulator.media.fat import build_vfat, fat_label
from guestsim.simulator.media.formats import FORMATS, PARTITION_FILESYSTEMS
from guestsim.simulator.media.iso import build_iso


def default_label(fmt: str, nocloud: bool = False, filesystem: str = "vfat") -> str:
    """``config-2`` / ``cidata`` on ISO9660, ``CONFIG-2`` / ``CIDATA`` on FAT."""
    name = "cidata" if nocloud else "config-2"
    iso = fmt == "iso" or (fmt.startswith("disk-") and filesystem == "iso")
    return name if iso else name.upper()


def effective_label(
    fmt: str, label: str | None = None, nocloud: bool = False, filesystem: str = "vfat"
) -> str:
    """The label an image gets: ``label`` or the default, upper-cased on FAT."""
    if label is None:
        label = default_label(fmt, nocloud, filesystem)
    fat = fmt == "vfat" or (fmt.startswith("disk-") and filesystem == "vfat")
    return fat_label(label) if fat else label


def build_image(
    files: Mapping[str, bytes],
    fmt: str = "iso",
    label: str | None = None,
    *,
    nocloud: bool = False,
    filesystem: str = "vfat",
    size: int | None = None,
) -> bytes:
    """``files`` as an image of format ``fmt``: ``iso``, ``vfat``, ``disk-mbr`` or ``disk-gpt``.

    A disk holds one partition with a ``filesystem`` (``vfat`` or ``iso``) image. Without
    ``label`` the config-drive default for the format is used (:func:`default_label`);
    ``size`` is the FAT file system's size in bytes (default: the smallest that fits).
    """
    if fmt not in FORMATS:
        raise MediaError(f"image format {fmt!r}: use one of {', '.join(FORMATS)}")
    if filesystem not in PARTITION_FILESYSTEMS:
        raise MediaError(f"partition file system {filesystem!r}: use vfat or iso")
    label = effective_label(fmt, label, nocloud, filesystem)
    inner = fmt if fmt in ("iso", "vfat") else filesystem
    image = build_iso(files, label) if inner == "iso" else build_vfat(files, label, size)
    if fmt == "disk-mbr":
        return build_disk(image, "mbr")
    if fmt == "disk-gpt":
        return build_disk(image, "gpt")
    return image


def write_image(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, renamed."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as ex:
        raise MediaError(f"{path}: cannot write: {ex.strerror}") from ex
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o644)
        temporary.replace(path)
    except OSError as ex:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise MediaError(f"{path}: cannot write: {ex.strerror}") from ex
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
