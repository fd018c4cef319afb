"""The clock a runner reads and waits on.

Sleep states and retry delays wait on a :class:`Clock`, and records take their
times from it, so that tests can run flows that wait for minutes in no time.
:class:`SystemClock` is the real one; :class:`ManualClock` is virtual.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """``now()`` is seconds since the epoch; ``sleep`` waits that long."""

    def now(self) -> float:
        """The current time, in seconds since the epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The wall clock and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A virtual clock for tests: time moves only when told to.

    With ``autojump=True`` (the default) every ``sleep`` moves the time
    forward by its duration at once, so a flow with a one-hour Sleep finishes
    immediately and its records show the hour. With ``autojump=False`` a
    ``sleep`` waits until :meth:`advance` has moved the time past its end,
    which lets a test look at (or terminate) an execution while it sleeps.

    >>> import asyncio
    >>> clock = ManualClock(100.0)
    >>> asyncio.run(clock.sleep(3600))
    >>> clock.now()
    3700.0
    """

    def __init__(self, start: float = 1_700_000_000.0, *, autojump: bool = True):
        self._now = float(start)
        self.autojump = autojump
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (with ``autojump=False``)."""
        return sum(1 for _, _, f in self._waiters if not f.done())

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if self.autojump:
            self._now += seconds
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._waiters, (self._now + seconds, next(self._counter), future)
        )
        if seconds == 0:
            self.advance(0)
        await future

    def advance(self, seconds: float) -> None:
        """Move the time forward and wake every sleep that has ended."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        waiters = self._waiters
        while waiters and waiters[0][0] <= self._now:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)
