"""The fake Windows: the time zone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)


@dataclass
class TimeZoneState:
    """What this domain keeps on the machine (persists across reboots)."""


class TimeZoneOS(FakeOSBase):
    def set_timezone(self, timezone: str) -> None:
        self._not_modelled("set_timezone")
