"""Config-drive readers (ISO9660, FAT, partition tables): only MediaError escapes."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from guestsim.agent.configdrive.errors import MediaError
from guestsim.agent.configdrive.fat import fat_volume_label, read_fat_tree
from guestsim.agent.configdrive.iso9660 import iso_image_size, iso_volume_label, read_iso_tree
from guestsim.agent.configdrive.partitions import read_partitions
from guestsim.simulator.media.image import build_image
from tests.fuzz.harness import FUZZ_EXAMPLES, Target, blob, run_target

FILES = {
    "openstack/latest/meta_data.json": b'{"uuid": "x"}',
    "openstack/latest/user_data": b"#ps1\r\necho hi\r\n",
    "ec2/latest/meta-data.json": b"{}",
}
DEVICE = "\\\\.\\PHYSICALDRIVE1"


def _reader(data: bytes) -> Callable[[int, int], bytes]:
    def read(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return read


@functools.cache
def _image(fmt: str) -> bytes:
    return build_image(FILES, fmt)


def _iso(data: bytes) -> None:
    read = _reader(data)
    iso_image_size(read, DEVICE)
    iso_volume_label(read, DEVICE)
    read_iso_tree(read, DEVICE)


def _fat(data: bytes) -> None:
    read = _reader(data)
    fat_volume_label(read, DEVICE)
    read_fat_tree(read, DEVICE)


def _partitions(data: bytes) -> None:
    read_partitions(_reader(data), DEVICE, len(data))


def targets() -> list[Target]:
    iso, vfat = _image("iso"), _image("vfat")
    mbr, gpt = _image("disk-mbr"), _image("disk-gpt")
    # Mutations land where the structures are: descriptors and directories of an ISO,
    # the boot sector, FATs and root directory of FAT, the first 34 sectors of a disk.
    return [
        Target("iso9660", _iso, (MediaError,), blob([iso], focus=min(len(iso), 64 * 1024))),
        Target("fat", _fat, (MediaError,), blob([vfat], focus=min(len(vfat), 64 * 1024))),
        Target("partitions", _partitions, (MediaError,), blob([mbr, gpt], focus=34 * 512)),
    ]


NAMES = ["iso9660", "fat", "partitions"]


@pytest.mark.parametrize("name", NAMES)
def test_media_reader_fails_only_with_media_errors(name: str) -> None:
    target = next(target for target in targets() if target.name == name)
    run_target(target, FUZZ_EXAMPLES)
