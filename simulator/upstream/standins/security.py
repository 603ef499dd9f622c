"""``cloudbaseinit.utils.windows.security``: UAC remote restrictions, on the fake Windows.

The WinRM plugins lift the restrictions (``LocalAccountTokenFilterPolicy``) around their
changes on Windows 6.0/6.1; the fake Windows keeps that switch in its registry, and both
agents go through its calls for it.
"""

from __future__ import annotations

from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest


class WindowsSecurityUtils:
    """Upstream's security helper: reads and writes the remote-restriction policy."""

    def get_uac_remote_restrictions(self) -> bool:
        """True while remote local-account tokens are filtered (the value absent or 0)."""
        return bool(guest.current().osutils.get_uac_remote_restrictions())

    def set_uac_remote_restrictions(self, enable: bool = True) -> None:
        """Write the policy value (0 restricts, 1 lifts); the policy key is created if the
        image lacks it."""
        guest.current().osutils.set_uac_remote_restrictions(enable)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses security.{name}")
