"""Remote Desktop: the RDP listener certificate (Win32_TSGeneralSetting)."""

from __future__ import annotations

from typing import Protocol


class RemoteDesktop(Protocol):
    """Remote Desktop: the RDP listener certificate (Win32_TSGeneralSetting)."""
