"""The WinRM service configuration: authentication, listeners, certificate mappings."""

from __future__ import annotations

from typing import Protocol


class WinRMConfig(Protocol):
    """The WinRM service configuration: authentication, listeners, certificate mappings."""
