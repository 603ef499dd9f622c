"""The version and edition of Windows the fake machine runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WindowsVersion:
    major: int = 10
    minor: int = 0
    build: int = 17763
    # 1 workstation, 2 domain controller, 3 server, as GetVersionEx reports it.
    product_type: int = 3
    edition: str = "ServerDatacenter"
    nano_server: bool = False

    @property
    def tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.build)
