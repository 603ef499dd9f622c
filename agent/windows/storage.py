r"""The storage manager: extending volumes and the SAN policy (VDS, or WSM on Nano).

Which manager answers depends on the installation, as upstream chooses it: the Windows
Storage Management WMI API on Nano Server, the Virtual Disk Service everywhere else. The
two number volumes differently when a list of indexes is given: VDS takes the trailing
number of the volume's device name (``\\?\GLOBALROOT\Device\HarddiskVolume2`` is 2), WSM
counts volumes from 1 in the order WMI enumerates them.
"""

from __future__ import annotations

from typing import Protocol

# SAN policies, numbered as VDS and MSFT_StorageSetting number them.
SAN_POLICY_UNKNOWN = 0
SAN_POLICY_ONLINE = 1
SAN_POLICY_OFFLINE_SHARED = 2
SAN_POLICY_OFFLINE = 3


class StorageManager(Protocol):
    """The storage manager: extending volumes and the SAN policy (VDS, or WSM on Nano)."""

    def extend_volumes(self, volume_indexes: list[int] | None = None) -> None:
        """Grow the chosen volumes (None: all) into free space after them; too little is fine."""
        ...

    def get_san_policy(self) -> int:
        """The SAN policy for new disks (``SAN_POLICY_*``); unset on WSM reads as OfflineShared."""
        ...

    def set_san_policy(self, policy: int) -> None:
        """Set the SAN policy; on Nano (WSM) anything but ``SAN_POLICY_ONLINE`` raises."""
        ...
