"""The image formats guestsim builds, and the file systems a disk image's partition holds."""

from __future__ import annotations

from typing import Literal, get_args

ImageFormat = Literal["iso", "vfat", "disk-mbr", "disk-gpt"]
PartitionFilesystem = Literal["vfat", "iso"]
FORMATS: tuple[str, ...] = get_args(ImageFormat)
PARTITION_FILESYSTEMS: tuple[str, ...] = get_args(PartitionFilesystem)
