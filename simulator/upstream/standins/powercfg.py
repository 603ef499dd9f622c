"""``cloudbaseinit.utils.windows.powercfg``: power settings, through ``powercfg.exe``.

Upstream changes the display idle timeout by running ``powercfg.exe`` from the system
folder; the fake Windows runs that program (``execute_system32_process``) on its power
schemes, so the stand-in runs the same command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest


def set_display_idle_timeout(seconds: int = 0) -> None:
    """Seconds without input before the display turns off on AC power, in the active
    scheme (0: never); powercfg refusing the value raises upstream's exception."""
    args = [
        "powercfg.exe",
        "/setacvalueindex",
        "SCHEME_CURRENT",
        "SUB_VIDEO",
        "VIDEOIDLE",
        str(int(seconds)),
    ]
    out, err, exit_code = guest.current().osutils.execute_system32_process(args)
    if exit_code:
        # The session's own exception class, so upstream code catching it does; upstream
        # formats the raw output objects (bytes) into its message.
        exception = importlib.import_module("cloudbaseinit.exception")
        raise exception.CloudbaseInitException(f"PowerCfg failed.\nOutput: {out}\nError: {err}")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses powercfg.{name}")
