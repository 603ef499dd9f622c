"""Power settings (powercfg): the display idle timeout."""

from __future__ import annotations

from typing import Protocol


class PowerSettings(Protocol):
    """Power settings. ``powercfg.exe`` is run with ``execute_system32_process``; no other call."""
