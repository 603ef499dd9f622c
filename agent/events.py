"""Structured boot events the agent reports as it runs.

The boot flow tells an observer what it does (stages, plugins, statuses, reboot
decisions) so a harness can check behaviour without parsing log text. On a real guest
nobody listens and the events are discarded.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    def __call__(self, kind: str, /, **fields: Any) -> None: ...


def discard_events(kind: str, /, **fields: Any) -> None:
    """The sink used when nobody observes the agent."""
