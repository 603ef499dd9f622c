"""Virtual guest time: freezegun holds the clock, sleeps move it forward instantly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from freezegun import freeze_time

DEFAULT_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Host tools that keep the real clock while the guest's is frozen: pytest's own timing
# (--durations, junit times) and runners, logging timestamps, hypothesis' deadlines, and
# the pool that runs scenarios in parallel. freezegun neither patches these modules nor
# fakes the time for calls made from them.
HOST_MODULES = (
    "_pytest",
    "pytest",
    "pluggy",
    "xdist",
    "execnet",
    "logging",
    "hypothesis",
    "concurrent.futures",
)


class VirtualClock:
    def __init__(self, start: dt.datetime = DEFAULT_EPOCH) -> None:
        self._start = start
        self._elapsed = dt.timedelta(0)
        self._frozen: Any = None

    def now(self) -> dt.datetime:
        return self._start + self._elapsed

    @property
    def elapsed_ms(self) -> int:
        return self._elapsed // dt.timedelta(milliseconds=1)

    def advance(self, seconds: float) -> None:
        delta = dt.timedelta(seconds=seconds)
        self._elapsed += delta
        if self._frozen is not None:
            self._frozen.tick(delta)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Run the block with the process clock (time, datetime) pinned to guest time."""
        with freeze_time(self.now(), ignore=list(HOST_MODULES)) as frozen:
            self._frozen = frozen
            try:
                yield
            finally:
                self._frozen = None
