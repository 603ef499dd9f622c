"""The fake Windows: boot configuration data (bcdedit) and disk ids."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class BootConfigState:
    """What this feature keeps on the machine (persists across reboots)."""


class BootConfigOS(FakeOSBase):
    pass
