"""The boot configuration data (bcdedit): status policy, devices, auto-recovery, disk id."""

from __future__ import annotations

from typing import Protocol


class BootConfiguration(Protocol):
    """The boot configuration data (bcdedit): status policy, devices, auto-recovery, disk id."""
