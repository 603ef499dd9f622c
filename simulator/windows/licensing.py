"""The fake Windows: licensing: product key, KMS host, activation."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class LicensingState:
    """What this feature keeps on the machine (persists across reboots)."""


class LicensingOS(FakeOSBase):
    pass
