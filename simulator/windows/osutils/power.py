"""PowerOS: power schemes change through ``powercfg.exe`` (``SystemCommands``) only."""

from __future__ import annotations

from guestsim.simulator.windows.osutils.base import FakeOSBase


class PowerOS(FakeOSBase):
    pass
