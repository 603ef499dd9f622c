"""The fake Windows: the WinRM service configuration: auth, listeners, certificate mappings."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class WinRMState:
    """What this feature keeps on the machine (persists across reboots)."""


class WinRMOS(FakeOSBase):
    pass
