"""The fake Windows: boot configuration data (bcdedit) and disk ids."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.disks import SYSTEM_DRIVE_LETTER, Disk, Volume
from guestsim.simulator.windows.fakebase import FakeOSBase

SECTOR = 512
PHYSICAL_DRIVE_PREFIX = "\\\\.\\physicaldrive"
MBR_SIGNATURE_OFFSET = 440
GPT_HEADER_SIGNATURE = b"EFI PART"
PROTECTIVE_MBR_TYPE = 0xEE

# bcdedit's names for the boot status policies, keyed by their case-insensitive spelling.
BOOT_STATUS_POLICIES = {
    name.lower(): name
    for name in (
        "DisplayAllFailures",
        "IgnoreAllFailures",
        "IgnoreShutdownFailures",
        "IgnoreBootFailures",
        "IgnoreCheckpointFailures",
        "DisplayShutdownFailures",
        "DisplayBootFailures",
        "DisplayCheckpointFailures",
    )
}
# bcdedit's boolean spellings.
BCD_BOOLEANS = {"yes": True, "on": True, "true": True, "no": False, "off": False, "false": False}


def _default_current_entry() -> dict[str, str]:
    return {
        "device": f"partition={SYSTEM_DRIVE_LETTER}:",
        "path": "\\Windows\\system32\\winload.exe",
        "osdevice": f"partition={SYSTEM_DRIVE_LETTER}:",
        "recoveryenabled": "Yes",
    }


@dataclass
class BootConfigState:
    """The BCD store's ``{current}`` entry, and where the boot manager lives.

    ``current_entry`` holds the elements as ``bcdedit /enum {current}`` shows them; an
    element that is not set is absent (``bootstatuspolicy`` then behaves as
    DisplayAllFailures).
    """

    current_entry: dict[str, str] = field(default_factory=_default_current_entry)
    # False: the BCD store cannot be opened (bcdedit fails, as on a damaged or locked store).
    store_available: bool = True
    # Volume GUID path of the system volume (the one holding the boot manager); None: the
    # Windows volume itself, as on a single-partition image.
    system_volume: str | None = None

    def set_element(self, element: str, value: str) -> str | None:
        """Set an element of ``{current}`` as bcdedit does; returns bcdedit's error, if any."""
        name = element.lower()
        if name == "bootstatuspolicy":
            policy = BOOT_STATUS_POLICIES.get(value.lower())
            if policy is None:
                return "The parameter is incorrect."
            self.current_entry[name] = policy
            return None
        if name == "recoveryenabled":
            enabled = BCD_BOOLEANS.get(value.lower())
            if enabled is None:
                return "The parameter is incorrect."
            self.current_entry[name] = "Yes" if enabled else "No"
            return None
        raise KeyError(element)

    @property
    def auto_recovery_enabled(self) -> bool:
        return self.current_entry.get("recoveryenabled", "No") == "Yes"


def partition_style(disk: Disk) -> str:
    """``MBR``, ``GPT`` or ``RAW``, from the disk's first two sectors."""
    head = disk.read(0, 2 * SECTOR)
    if head[510:512] != b"\x55\xaa":
        return "RAW"
    if head[446 + 4] == PROTECTIVE_MBR_TYPE and head[SECTOR : SECTOR + 8] == GPT_HEADER_SIGNATURE:
        return "GPT"
    return "MBR"


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


def disk_signature(disk: Disk) -> str:
    """The MBR disk signature as eight hex digits."""
    raw = disk.read(MBR_SIGNATURE_OFFSET, 4)
    return f"{int.from_bytes(raw, 'little'):08X}"
