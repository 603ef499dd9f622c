"""The fake Windows: automatic updates settings."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class UpdatesState:
    """What this feature keeps on the machine (persists across reboots)."""


class UpdatesOS(FakeOSBase):
    pass
