"""The fake Windows: volume mount points, page files, TRIM and the storage manager."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)


@dataclass
class VolumesState:
    """What this domain keeps on the machine (persists across reboots)."""


class VolumesOS(FakeOSBase):
    def get_volume_path_names_by_mount_point(self, mount_point: str) -> list[str]:
        self._not_modelled("get_volume_path_names_by_mount_point")

    def enable_trim(self, enable: bool) -> None:
        self._not_modelled("enable_trim")

    def get_page_files(self) -> list[tuple[str, int, int]]:
        self._not_modelled("get_page_files")

    def set_page_files(self, page_files: Sequence[tuple[str, int, int]]) -> None:
        self._not_modelled("set_page_files")
