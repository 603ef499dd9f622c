"""The fake Windows: power settings."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class PowerState:
    """What this feature keeps on the machine (persists across reboots)."""


class PowerOS(FakeOSBase):
    pass
