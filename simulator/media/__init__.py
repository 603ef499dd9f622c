"""Real config-drive images: ISO9660 (Joliet + Rock Ridge), FAT12/16, MBR and GPT disks.

Images are bytes, built in memory and deterministically (the same input gives the same
bytes on every host), from a *tree*: POSIX relative path -> file content.

>>> tree = openstack_layout({"uuid": "83679162-1378-4288-a2d4-70e13ec132aa"}, b"#ps1\\n")
>>> iso = build_image(tree, "iso")                       # label config-2
>>> disk = build_image(nocloud_layout({"instance-id": "i-1"}), "disk-gpt", nocloud=True)

Modules: ``layout`` (what goes on a drive), ``iso``, ``fat``, ``disk`` (partition
tables), ``image`` (format dispatch and writing), ``common`` (errors, name rules),
``readers`` (which of the agent's services would read an image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestsim.simulator.lazy import lazy_attributes

if TYPE_CHECKING:
    from guestsim.simulator.media.common import FIXED_TIMESTAMP, MediaError, parse_tree
    from guestsim.simulator.media.disk import (
        MBR_TYPES,
        MICROSOFT_BASIC_DATA,
        PartitionTable,
        build_disk,
        detect_filesystem,
        filesystem_label,
    )
    from guestsim.simulator.media.fat import build_vfat, fat_label
    from guestsim.simulator.media.formats import (
        FORMATS,
        PARTITION_FILESYSTEMS,
        ImageFormat,
        PartitionFilesystem,
    )
    from guestsim.simulator.media.image import (
        build_image,
        default_label,
        effective_label,
        write_image,
    )
    from guestsim.simulator.media.iso import build_iso
    from guestsim.simulator.media.layout import (
        EC2_VERSIONS,
        OPENSTACK_VERSIONS,
        nocloud_layout,
        openstack_layout,
        tree_from_directory,
    )
    from guestsim.simulator.media.readers import drive_warnings

# The builders pull in pycdlib and pyfatfs; each name loads its module on first use, so
# commands that only need the format names (`guestsim --help`) stay fast.
__getattr__ = lazy_attributes(
    __name__,
    {
        "FIXED_TIMESTAMP": ".common",
        "MediaError": ".common",
        "parse_tree": ".common",
        "MBR_TYPES": ".disk",
        "MICROSOFT_BASIC_DATA": ".disk",
        "PartitionTable": ".disk",
        "build_disk": ".disk",
        "detect_filesystem": ".disk",
        "filesystem_label": ".disk",
        "build_vfat": ".fat",
        "fat_label": ".fat",
        "FORMATS": ".formats",
        "PARTITION_FILESYSTEMS": ".formats",
        "ImageFormat": ".formats",
        "PartitionFilesystem": ".formats",
        "build_image": ".image",
        "default_label": ".image",
        "effective_label": ".image",
        "write_image": ".image",
        "build_iso": ".iso",
        "EC2_VERSIONS": ".layout",
        "OPENSTACK_VERSIONS": ".layout",
        "nocloud_layout": ".layout",
        "openstack_layout": ".layout",
        "tree_from_directory": ".layout",
        "drive_warnings": ".readers",
    },
)


__all__ = [
    "EC2_VERSIONS",
    "FIXED_TIMESTAMP",
    "FORMATS",
    "MBR_TYPES",
    "MICROSOFT_BASIC_DATA",
    "OPENSTACK_VERSIONS",
    "PARTITION_FILESYSTEMS",
    "ImageFormat",
    "MediaError",
    "PartitionFilesystem",
    "PartitionTable",
    "build_disk",
    "build_image",
    "build_iso",
    "build_vfat",
    "default_label",
    "detect_filesystem",
    "drive_warnings",
    "effective_label",
    "fat_label",
    "filesystem_label",
    "nocloud_layout",
    "openstack_layout",
    "parse_tree",
    "tree_from_directory",
    "write_image",
]
