"""The fake Windows: volume mount points, page files and TRIM, as the storage manager sees them.

Where Windows keeps a setting in the registry, the registry is the only copy:

* page files: ``PagingFiles`` (REG_MULTI_SZ, one ``"<path> <min MB> <max MB>"`` entry per
  page file; a fresh installation has the system-managed ``?:\\pagefile.sys``);
* TRIM: ``DisableDeleteNotification`` (DWORD, 0 = TRIM on), what ``fsutil behavior set
  disabledeletenotify`` writes;
* the SAN policy: ``SanPolicy`` (DWORD) under partmgr's parameters, absent on a fresh
  installation, which Windows reads as OfflineShared.

:func:`install_registry_defaults` writes those of a fresh Windows Server 2019. Folder mount
points (a volume mounted on an empty NTFS folder) live in :class:`VolumesState`; mounting
one is :func:`guestsim.simulator.windows.storage.mount_volume`. The storage manager itself
is :class:`guestsim.simulator.windows.osutils.volumes.VolumesOS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from guestsim.simulator.windows.registry import Registry, RegType

LOG = logging.getLogger(__name__)

MEMORY_MANAGEMENT_KEY = (
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management"
)
PAGING_FILES = "PagingFiles"
SYSTEM_MANAGED_PAGE_FILE = "?:\\pagefile.sys"
FILE_SYSTEM_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem"
DISABLE_DELETE_NOTIFICATION = "DisableDeleteNotification"
PARTMGR_PARAMETERS_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\partmgr\\Parameters"
SAN_POLICY = "SanPolicy"


@dataclass
class VolumesState:
    """Folder mount points: ``"C:\\mnt\\data\\"`` -> the GUID of the volume mounted there."""

    mount_points: dict[str, str] = field(default_factory=dict)


def install_registry_defaults(registry: Registry) -> None:
    """The storage settings of a freshly installed Windows Server 2019."""
    registry.create_key(MEMORY_MANAGEMENT_KEY)
    registry.set_value(
        MEMORY_MANAGEMENT_KEY, PAGING_FILES, [SYSTEM_MANAGED_PAGE_FILE], RegType.REG_MULTI_SZ
    )
    registry.create_key(FILE_SYSTEM_KEY)
    registry.set_value(FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION, 0, RegType.REG_DWORD)
    registry.create_key(PARTMGR_PARAMETERS_KEY)


def as_folder(path: str) -> str:
    """``path`` as mount points are keyed: with its trailing backslash."""
    return path if path.endswith("\\") else path + "\\"


def page_file_entry(entry: str) -> tuple[str, int, int]:
    """``"<path> <min> <max>"`` as a tuple; without sizes the file is system managed (0, 0)."""
    path, *sizes = entry.split(" ")
    minimum = int(sizes[0]) if sizes else 0
    maximum = int(sizes[1]) if len(sizes) > 1 else 0
    return path, minimum, maximum
