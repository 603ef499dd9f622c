"""The fake Windows: Remote Desktop settings."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class RDPState:
    """What this feature keeps on the machine (persists across reboots)."""


class RDPOS(FakeOSBase):
    pass
