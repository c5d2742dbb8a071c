"""Keep a provider's status checks within its request budget.

`TokenBucket` paces the requests as they are made; `CheckCalendar` plans the checks so that a
schedule never asks for more than the bucket will allow, instead of letting due work queue.

    bucket = TokenBucket(per_minute=60, burst=5)
    await bucket.acquire()          # waits until a request is allowed; first come, first served
    if bucket.try_acquire(): ...    # never waits

Tokens refill continuously at ``per_minute / 60`` a second up to ``burst``. Waiters are served in
arrival order, so a stream of small requests cannot starve an earlier one; a waiter that is
cancelled takes no tokens and hands its turn on. The clock and the sleep are injectable, so tests
run on virtual time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["CheckCalendar", "TokenBucket"]

# Refills are floating-point sums: a bucket short of a whole token by less than this is full enough.
_EPSILON = 1e-9


def _check_rate(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")


class _Waiter:
    __slots__ = ("n", "turn")

    def __init__(self, n: int, turn: asyncio.Future[None]) -> None:
        self.n = n
        self.turn = turn  # resolved when this waiter reaches the head of the queue


class TokenBucket:
    """Allows ``per_minute`` requests a minute on average and at most ``burst`` at once.

    ``burst`` defaults to one second's worth of requests (at least one), so the default spreads
    requests evenly instead of spending a minute's allowance in one go.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        _check_rate("per_minute", per_minute)
        capacity = burst if burst is not None else max(1, math.ceil(per_minute / 60))
        if capacity < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.per_minute = float(per_minute)
        self.capacity = capacity
        self._burst = burst
        self._rate = per_minute / 60.0  # tokens a second
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)  # starts full
        self._updated = clock()
        self._waiters: deque[_Waiter] = deque()

    @property
    def available(self) -> float:
        """Tokens available now (may be negative after `pause`)."""
        self._refill()
        return self._tokens

    @property
    def waiting(self) -> int:
        """How many callers are waiting in `acquire`."""
        return len(self._waiters)

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now and nobody is waiting ahead; never waits."""
        self._check(n)
        if self._waiters:
            return False  # first come, first served: no overtaking a waiter
        return self._take(n)

    async def acquire(self, n: int = 1) -> None:
        """Wait until ``n`` tokens are available, then take them. Cancel-safe: a cancelled call takes none.

        Raises:
            ValueError: ``n`` is below 1 or above ``burst`` (it could never be served).
        """
        self._check(n)
        if not self._waiters and self._take(n):
            return
        loop = asyncio.get_running_loop()
        me = _Waiter(n, loop.create_future())
        self._waiters.append(me)
        if self._waiters[0] is me:
            me.turn.set_result(None)
        try:
            await me.turn
            while not self._take(n):
                await self._sleep((n - self._tokens) / self._rate)
        finally:
            self._leave(me)

    def set_rate(self, per_minute: float) -> None:
        """Change the allowance from now on (a budget shared by more or fewer processes)."""
        _check_rate("per_minute", per_minute)
        self._refill()
        self.per_minute = float(per_minute)
        self._rate = per_minute / 60.0
        self.capacity = self._burst if self._burst is not None else max(1, math.ceil(per_minute / 60))
        self._tokens = min(self._tokens, float(self.capacity))

    def pause(self, seconds: float) -> None:
        """Allow nothing for at least ``seconds`` from now (a provider's Retry-After); then refill as usual."""
        if seconds <= 0:
            return
        self._refill()
        # Empty until then: one token is back exactly ``seconds`` from now.
        self._tokens = min(self._tokens, 1.0 - seconds * self._rate)

    # -- internals ----------------------------------------------------------------------------------

    def _check(self, n: int) -> None:
        if n < 1 or n > self.capacity:
            raise ValueError(f"can take 1 to {self.capacity} tokens at once, not {n}")

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)  # a clock that steps back adds nothing
        self._updated = now
        self._tokens = min(float(self.capacity), self._tokens + elapsed * self._rate)

    def _take(self, n: int) -> bool:
        self._refill()
        if self._tokens + _EPSILON < n:
            return False
        self._tokens = max(0.0, self._tokens - n)
        return True

    def _leave(self, me: _Waiter) -> None:
        was_head = bool(self._waiters) and self._waiters[0] is me
        self._waiters.remove(me)
        if was_head and self._waiters:
            head = self._waiters[0]
            if not head.turn.done():
                head.turn.set_result(None)


class CheckCalendar:
    """Books each next status check into a one-second slot holding at most ``per_second`` checks.

    A check whose second is full moves to the next second with room, so the schedule as planned
    fits the provider's request budget (requests a second times the tasks one request can read):
    ten thousand tasks on a 10-second beat are spread out when they are scheduled, rather than
    found due together and checked late. Only the future is kept: past seconds are forgotten.
    """

    def __init__(self, per_second: float) -> None:
        _check_rate("per_second", per_second)
        self.per_second = per_second
        self._booked: dict[int, int] = {}
        self._oldest: int | None = None

    def book(self, now: float, when: float) -> float:
        """The time to check a task that would like to be checked at ``when``: ``when`` itself while
        its second has room, else a moment in the first later second that has."""
        self._forget(int(now))
        second = int(math.floor(when))
        capacity = max(1, int(self.per_second))
        while self._booked.get(second, 0) >= capacity:
            second += 1
        booked = self._booked.get(second, 0)
        self._booked[second] = booked + 1
        if self._oldest is None or second < self._oldest:
            self._oldest = second
        if second == math.floor(when):
            return when
        return second + booked / capacity  # spread across the second it moved to

    def _forget(self, before: int) -> None:
        if self._oldest is None or self._oldest >= before:
            return
        if before - self._oldest > len(self._booked):  # long idle: cheaper to filter than to walk
            self._booked = {s: n for s, n in self._booked.items() if s >= before}
        else:
            for second in range(self._oldest, before):
                self._booked.pop(second, None)
        self._oldest = before if self._booked else None  # every second left is at or after it
