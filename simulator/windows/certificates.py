"""The fake Windows: certificate stores (LocalMachine/CurrentUser)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase


@dataclass
class CertificatesState:
    """What this feature keeps on the machine (persists across reboots)."""


class CertificatesOS(FakeOSBase):
    pass
