"""Windows Update automatic updates settings (the Microsoft.Update.AutoUpdate COM object)."""

from __future__ import annotations

from typing import Protocol


class AutomaticUpdates(Protocol):
    """Windows Update automatic updates settings (the Microsoft.Update.AutoUpdate COM object)."""
