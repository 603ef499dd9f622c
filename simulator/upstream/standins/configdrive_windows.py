"""Stand-in for upstream's `configdrive_windows` Windows module (not modelled yet)."""

from __future__ import annotations

from typing import Any

from guestsim.simulator.errors import NotModelled


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses configdrive_windows.{name}")
