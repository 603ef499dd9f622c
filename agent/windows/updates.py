"""Windows Update automatic updates settings (the Microsoft.Update.AutoUpdate COM object)."""

from __future__ import annotations

from typing import Protocol


class AutomaticUpdates(Protocol):
    """Windows Update automatic updates settings (the Microsoft.Update.AutoUpdate COM object)."""

    def set_automatic_updates_setting(self, name: str, value: int) -> None:
        """Set a property of the AutoUpdate ``Settings``; an unknown name is accepted, no effect."""
        ...

    def save_automatic_updates_settings(self) -> None:
        """Save the ``Settings`` (``Settings.Save()``); properties set but not saved are lost."""
        ...
