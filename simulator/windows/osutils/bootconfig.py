"""BootConfigOS: the OS boundary's boot configuration (BCD store) and disk id calls."""

from __future__ import annotations

import dataclasses
import re

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.bootconfig import MBR_SIGNATURE_OFFSET, SECTOR, partition_style
from guestsim.simulator.windows.disks import SYSTEM_DRIVE_LETTER, Volume
from guestsim.simulator.windows.osutils.base import FakeOSBase

PHYSICAL_DRIVE_PREFIX = "\\\\.\\physicaldrive"


class BootConfigOS(FakeOSBase):
    def _boot_volume(self) -> Volume:
        for volume in self.state.volumes:
            if volume.letter == SYSTEM_DRIVE_LETTER:
                return volume
        raise OSUtilsError("The Windows volume is not mounted")

    def get_boot_system_devices(self) -> list[str]:
        boot = self._boot_volume()
        system = self.state.boot_config.system_volume or boot.path
        return [boot.path] if system.lower() == boot.path.lower() else []

    def _current_entry(self) -> dict[str, str]:
        config = self.state.boot_config
        if not config.store_available:
            raise OSUtilsError("The boot configuration data store could not be opened")
        return config.current_entry

    def set_current_bcd_device_to_boot_partition(self) -> None:
        entry = self._current_entry()
        boot = self._boot_volume()
        device = f"partition={boot.letter}:"
        self._mutation("set_current_bcd_device_to_boot_partition", device=device)
        entry["device"] = device
        entry["osdevice"] = device

    def set_current_bcd_auto_recovery(self, enable: bool) -> None:
        self._current_entry()
        self._mutation("set_current_bcd_auto_recovery", enabled=enable)
        self.state.boot_config.set_auto_recovery(enable)

    def get_current_bcd_auto_recovery(self) -> bool:
        self._current_entry()
        return self.state.boot_config.auto_recovery_enabled

    def _physical_disk(self, disk_path: str) -> int:
        lowered = disk_path.lower()
        number = lowered.removeprefix(PHYSICAL_DRIVE_PREFIX)
        if (
            lowered.startswith(PHYSICAL_DRIVE_PREFIX)
            and number.isdigit()
            and int(number) < len(self.state.disks)
        ):
            return int(number)
        raise OSUtilsError(f"Cannot open {disk_path}: The system cannot find the file specified")

    def get_disk_partition_style(self, disk_path: str) -> str:
        return partition_style(self.state.disks[self._physical_disk(disk_path)])

    def set_disk_unique_id(self, disk_path: str, unique_id: str) -> None:
        index = self._physical_disk(disk_path)
        disk = self.state.disks[index]
        style = partition_style(disk)
        if style == "GPT":
            self._not_modelled("set_disk_unique_id on a GPT disk")
        if style != "MBR":
            raise OSUtilsError(f"Cannot set the unique id of {disk_path}: the disk has no layout")
        if not re.fullmatch("[0-9A-Fa-f]{8}", unique_id):
            raise OSUtilsError(f"Invalid MBR disk signature: {unique_id!r}")
        self._mutation("set_disk_unique_id", disk=disk_path, unique_id=unique_id.upper())
        # The MBR disk signature: four bytes, little-endian, before the partition table.
        signature = int(unique_id, 16).to_bytes(4, "little")
        data = disk.read(0, max(len(disk.data), SECTOR))
        patched = data[:MBR_SIGNATURE_OFFSET] + signature + data[MBR_SIGNATURE_OFFSET + 4 :]
        self.state.disks[index] = dataclasses.replace(disk, data=patched)
