"""The fake Windows: boot configuration data (bcdedit) and disk ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from guestsim.simulator.windows.disks import SYSTEM_DRIVE_LETTER, Disk

SECTOR = 512
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
            self.set_auto_recovery(enabled)
            return None
        raise KeyError(element)

    def set_auto_recovery(self, enabled: bool) -> None:
        """The ``recoveryenabled`` element, whether set by bcdedit or through the store."""
        self.current_entry["recoveryenabled"] = "Yes" if enabled else "No"

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


def disk_signature(disk: Disk) -> str:
    """The MBR disk signature as eight hex digits."""
    raw = disk.read(MBR_SIGNATURE_OFFSET, 4)
    return f"{int.from_bytes(raw, 'little'):08X}"
