"""The one virtual time for the tests: sleeping moves the clock, not the test.

- `VirtualTime`: the service's clock (``clock``, wall time) and sleep, and the fakes' monotonic
  clock (``mono``); ``slept`` records every sleep.
- `ManualClock`: a clock that moves only when told (thread-safe: the fake servers run in a thread).
- `RecordingSleep`: an injected ``sleep`` that records the delays asked for and returns at once.
"""

from __future__ import annotations

import asyncio
import threading
import time


class VirtualTime:
    """A clock the service reads and a sleep that moves it: hours pass in milliseconds."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:  # the service's wall clock
        return time.time() + self.offset

    def mono(self) -> float:  # the fakes' clock
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class ManualClock:
    """A clock that only moves when told to: inject it as `clock=` for virtual time."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


class RecordingSleep:
    """An injected `sleep` that records the delays the retry policy asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)
