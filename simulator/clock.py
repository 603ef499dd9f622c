"""Virtual guest time: one clock per machine; sleeps move it forward instantly.

The guest reads this clock through its OS boundary (``osutils.utc_now``) and sleeps on it
(``osutils.sleep``); the simulated clouds read it for what they time (token lifetimes).
Nothing patches the process clock: host tools (pytest's timings, the worker pool, logging)
keep real time for free, and a run costs no start-up for clock patching. (Until this
release the process clock was frozen with freezegun for each boot; that cost about 7 ms a
boot, more than the agent's own work on most boots.)
"""

from __future__ import annotations

import datetime as dt

DEFAULT_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class VirtualClock:
    def __init__(self, start: dt.datetime = DEFAULT_EPOCH) -> None:
        self._start = start
        self._elapsed = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return self._start + self._elapsed

    def timestamp(self) -> float:
        """Seconds since the Unix epoch, as ``time.time()`` would answer in the guest."""
        return self.now().timestamp()

    @property
    def elapsed_ms(self) -> int:
        return self._elapsed // dt.timedelta(milliseconds=1)

    def advance(self, seconds: float) -> None:
        self._elapsed += dt.timedelta(seconds=seconds)
