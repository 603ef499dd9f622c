"""``cloudbaseinit.utils.windows.rdp``: Remote Desktop settings, on the fake Windows.

The listener's certificate comes from the fake's Remote Desktop model (what WMI's
``Win32_TSGeneralSetting`` reports); the keep-alive policy is written into the existing
Terminal Services policy key through the ``winreg`` stand-in, so a missing key fails as it
does on Windows (``FileNotFoundError``) rather than being created.
"""

from __future__ import annotations

import logging
from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest
from guestsim.simulator.upstream.standins import winreg

LOG = logging.getLogger("cloudbaseinit.utils.windows.rdp")

TERMINAL_SERVICES_POLICY_KEY = "SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services"


def get_rdp_certificate_thumbprint() -> str:
    """SHA-1 thumbprint (upper-case hex) of the certificate the RDP listener presents."""
    return str(guest.current().osutils.get_rdp_certificate_thumbprint())


def set_rdp_keepalive(enable: bool, interval: int = 1) -> None:
    """Turn the keep-alive policy on or off; the interval (minutes) is written either way."""
    value = 1 if enable else 0
    LOG.debug(
        "RDP keep-alive policy: KeepAliveEnable=%s, keepAliveInterval=%s min", value, interval
    )
    with winreg.OpenKey(
        winreg.HKEY_LOCAL_MACHINE, TERMINAL_SERVICES_POLICY_KEY, 0, winreg.KEY_ALL_ACCESS
    ) as key:
        winreg.SetValueEx(key, "KeepAliveEnable", 0, winreg.REG_DWORD, value)
        winreg.SetValueEx(key, "keepAliveInterval", 0, winreg.REG_DWORD, interval)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses rdp.{name}")
