"""A scenario's ``machine.media``: CD-ROMs and disks built as real images and attached.

```yaml
machine:
  media:                       # attached in this order
    - cdrom: null              # an empty CD-ROM drive
    - cdrom: {image: {format: iso, layout: openstack}}
    - disk: {image: {format: disk-gpt, filesystem: vfat, layout: nocloud}, letter: F}
    - disk: {size_mb: 64}      # a blank data disk
```

An image is built from a layout (``openstack``, ``nocloud`` or ``files``) and its
``documents``, or from the files of a ``folder`` as they are (as ``guestsim configdrive
build`` builds it, at run time; ``layout`` then only picks the default label), or read from
``file``; ``truncate`` keeps only its first bytes, for stories about damaged media.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import guestsim.simulator.media as media
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.folders import FolderError, read_folder
from guestsim.simulator.paths import bundled
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.storage import PartitionSpec, attach_cdrom, attach_disk

MIB = 1024 * 1024
PARTITION_OFFSET = MIB
_DEFAULT_LABELS = {
    ("openstack", "iso"): "config-2",
    ("openstack", "vfat"): "CONFIG-2",
    ("nocloud", "iso"): "cidata",
    ("nocloud", "vfat"): "CIDATA",
}


class _Context:
    def __init__(self, origin: Path, field: str) -> None:
        self.origin = origin
        self.field = field

    def error(self, message: str, suffix: str = "") -> ScenarioError:
        return ScenarioError(str(self.origin), message, self.field + suffix)

    def read(self, relative: str, suffix: str) -> bytes:
        try:
            return (self.origin.parent / relative).read_bytes()
        except OSError as ex:
            raise self.error(f"cannot read {relative}: {ex}", suffix) from ex


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, indent=2).encode("utf-8")


def _folder(spec: Mapping[str, Any], where: _Context) -> dict[str, bytes]:
    """The files of the image's source folder, read bounded (:mod:`..folders`)."""
    for other in ("file", "documents"):
        if other in spec:
            raise where.error(f"give one of folder and {other}", ".image.folder")
    try:
        return read_folder(where.origin.parent / spec["folder"])
    except FolderError as ex:
        raise where.error(str(ex), ".image.folder") from ex


def _tree(spec: Mapping[str, Any], where: _Context) -> dict[str, bytes]:
    if "folder" in spec:
        return _folder(spec, where)
    layout = spec.get("layout", "openstack")
    documents: Mapping[str, Any] = spec.get("documents") or {}
    if layout == "files":
        return {path: _text(content) for path, content in documents.items()}
    if layout == "nocloud":
        return media.nocloud_layout(
            meta_data=documents.get("meta_data", {"instance-id": "iid-guestsim-nocloud"}),
            user_data=_text(documents["user_data"]) if "user_data" in documents else None,
            network_config=documents.get("network_config"),
        )
    meta_data = documents.get("meta_data")
    if meta_data is None:
        default = bundled("fixtures") / "clouds" / "openstack" / "meta_data.json"
        meta_data = json.loads(default.read_text())
    return media.openstack_layout(
        meta_data=meta_data,
        user_data=_text(documents["user_data"]) if "user_data" in documents else None,
        network_data=documents.get("network_data"),
        vendor_data=documents.get("vendor_data"),
    )


@functools.lru_cache(maxsize=32)
def _built_image(
    files: tuple[tuple[str, bytes], ...], fmt: str, filesystem: str, label: str
) -> tuple[bytes, int]:
    """The image bytes and its file system's size; a scenario run again builds nothing."""
    fs_image = media.build_image(dict(files), filesystem, label)
    if fmt.startswith("disk-"):
        return media.build_disk(fs_image, fmt.removeprefix("disk-")), len(fs_image)
    return fs_image, len(fs_image)


def build_image(spec: Mapping[str, Any], where: _Context) -> tuple[bytes, list[PartitionSpec]]:
    """The image bytes, and its partitions when it has a partition table."""
    if "file" in spec:
        data = where.read(spec["file"], ".image.file")
        partitions: list[PartitionSpec] = []
    else:
        fmt = spec.get("format", "iso")
        filesystem = spec.get("filesystem", "vfat") if fmt.startswith("disk-") else fmt
        layout = spec.get("layout", "openstack")
        label = spec.get("label", _DEFAULT_LABELS.get((layout, filesystem)))
        if label is None:
            raise where.error("an image with layout 'files' needs a label", ".image.label")
        files = tuple(_tree(spec, where).items())
        try:
            data, fs_size = _built_image(files, fmt, filesystem, label)
        except ValueError as ex:
            raise where.error(str(ex), ".image") from ex
        partitions = [PartitionSpec(PARTITION_OFFSET, fs_size)] if fmt.startswith("disk-") else []
    if "truncate" in spec:
        data = data[: spec["truncate"]]
        partitions = [p for p in partitions if p.offset + p.size <= len(data)]
    return data, partitions


def attach_media(state: WindowsState, items: Sequence[Mapping[str, Any]], origin: Path) -> None:
    for index, item in enumerate(items):
        if "cdrom" in item:
            where = _Context(origin, f"machine.media[{index}].cdrom")
            spec = item["cdrom"] or {}
            image = build_image(spec["image"], where)[0] if "image" in spec else None
            attach_cdrom(state, image, spec.get("letter"))
        else:
            where = _Context(origin, f"machine.media[{index}].disk")
            spec = item["disk"] or {}
            data, partitions = build_image(spec["image"], where) if "image" in spec else (b"", [])
            size = spec.get("size_mb", 0) * MIB
            letters = [spec.get("letter")] if partitions else []
            attach_disk(state, data, partitions, letters, size=size)
