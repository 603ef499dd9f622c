"""The boot configuration data (bcdedit): status policy, devices, auto-recovery, disk id."""

from __future__ import annotations

from typing import Protocol


class BootConfiguration(Protocol):
    """The BCD store's current entry (through WMI) and physical disk ids.

    The boot status policy is set with ``bcdedit.exe`` (run with
    ``execute_system32_process``); auto-recovery through the store itself.
    """

    def get_boot_system_devices(self) -> list[str]:
        """Device ids of the volumes that are both the boot and the system volume."""
        ...

    def set_current_bcd_device_to_boot_partition(self) -> None:
        """Point the current BCD entry's ``device`` and ``osdevice`` at the boot partition."""
        ...

    def set_current_bcd_auto_recovery(self, enable: bool) -> None:
        """Set the current BCD entry's auto-recovery element through the store (no process)."""
        ...

    def get_current_bcd_auto_recovery(self) -> bool:
        """The current BCD entry's auto-recovery element (``recoveryenabled``)."""
        ...

    def get_disk_partition_style(self, disk_path: str) -> str:
        """``MBR``, ``GPT`` or ``RAW`` for a physical disk such as ``\\\\.\\PHYSICALDRIVE0``."""
        ...

    def set_disk_unique_id(self, disk_path: str, unique_id: str) -> None:
        """Write a disk's unique id: eight hex digits on MBR, a GUID string on GPT."""
        ...
