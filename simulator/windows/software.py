"""The fake Windows: installed software: file versions, .NET."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)


@dataclass
class SoftwareState:
    """What this domain keeps on the machine (persists across reboots)."""


class SoftwareOS(FakeOSBase):
    def get_file_version(self, path: str) -> tuple[int, int, int, int]:
        self._not_modelled("get_file_version")

    def check_dotnet_is_installed(self, version: str) -> bool:
        self._not_modelled("check_dotnet_is_installed")
