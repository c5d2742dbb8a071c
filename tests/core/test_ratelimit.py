"""The token bucket on virtual time (a manual clock and a sleep the test releases by hand), and the check calendar."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from core.ratelimit import CheckCalendar, TokenBucket
from tests.clock import ManualClock


class ManualSleep:
    """An injected sleep that parks the caller until the test moves the clock and lets it go."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self._parked: list[tuple[float, asyncio.Future[None]]] = []

    async def __call__(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.delays.append(seconds)
        self._parked.append((seconds, future))
        await future

    @property
    def parked(self) -> int:
        return sum(1 for _, f in self._parked if not f.done())

    async def release(self) -> float:
        """Move the clock by the oldest parked delay, wake that sleeper and let the loop run."""
        seconds, future = next((s, f) for s, f in self._parked if not f.done())
        self.clock.advance(seconds)
        future.set_result(None)
        await settle()
        return seconds


class AutoSleep:
    """An injected sleep that moves the clock by what was asked at once."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=0.0)


def test_a_new_bucket_is_full_and_try_acquire_never_waits(clock: ManualClock) -> None:
    bucket = TokenBucket(60, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert not bucket.try_acquire()
    clock.advance(0.5)
    assert bucket.try_acquire()


@pytest.mark.parametrize(("per_minute", "burst"), [(60, 1), (6, 1), (600, 10), (90, 2)])
def test_the_default_burst_is_one_seconds_worth_and_at_least_one(per_minute: float, burst: int) -> None:
    bucket = TokenBucket(per_minute, clock=ManualClock())
    assert bucket.capacity == burst


def test_refill_stops_at_the_burst_and_a_clock_stepping_back_adds_nothing(clock: ManualClock) -> None:
    bucket = TokenBucket(120, burst=4, clock=clock)
    assert bucket.try_acquire(4)
    clock.advance(3600)
    assert bucket.available == 4
    assert bucket.try_acquire(4)
    clock.advance(-10)
    assert bucket.available == 0
    assert not bucket.try_acquire()


async def test_acquire_waits_exactly_the_deficit(clock: ManualClock) -> None:
    sleep = AutoSleep(clock)
    bucket = TokenBucket(30, burst=2, clock=clock, sleep=sleep)  # one token every 2 s
    await bucket.acquire(2)
    assert sleep.delays == []
    await bucket.acquire()
    assert sleep.delays == [pytest.approx(2.0)]
    await bucket.acquire(2)
    assert sum(sleep.delays) == pytest.approx(6.0)
    assert clock() == pytest.approx(6.0)


async def test_many_callers_are_spread_at_the_rate(clock: ManualClock) -> None:
    sleep = AutoSleep(clock)
    bucket = TokenBucket(60, burst=1, clock=clock, sleep=sleep)
    granted: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        granted.append(clock())

    await asyncio.gather(*(one() for _ in range(10)))
    assert granted == pytest.approx([float(i) for i in range(10)])
    assert bucket.waiting == 0


async def test_waiters_are_served_first_come_first_served(clock: ManualClock) -> None:
    sleep = ManualSleep(clock)
    bucket = TokenBucket(60, burst=2, clock=clock, sleep=sleep)
    assert bucket.try_acquire(2)
    order: list[str] = []

    async def take(name: str, n: int) -> None:
        await bucket.acquire(n)
        order.append(name)

    big = asyncio.create_task(take("big", 2))
    await settle()
    small = asyncio.create_task(take("small", 1))
    await settle()
    assert bucket.waiting == 2 and sleep.parked == 1  # only the head sleeps

    await sleep.release()  # 2 s: big's two tokens
    assert order == ["big"]
    # One token back already would serve "small" early, but only the head may take and nobody overtakes.
    clock.advance(1)
    assert not bucket.try_acquire()
    await sleep.release()
    await asyncio.gather(big, small)
    assert order == ["big", "small"]


async def test_a_cancelled_head_takes_nothing_and_hands_its_turn_on(clock: ManualClock) -> None:
    sleep = ManualSleep(clock)
    bucket = TokenBucket(60, burst=1, clock=clock, sleep=sleep)
    assert bucket.try_acquire()
    first = asyncio.create_task(bucket.acquire())
    second = asyncio.create_task(bucket.acquire())
    await settle()
    assert bucket.waiting == 2 and sleep.parked == 1

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await settle()
    # The second is the head now and sleeps for the one token; the first took none.
    assert bucket.waiting == 1 and sleep.parked == 1 and not second.done()
    assert await sleep.release() == pytest.approx(1.0)
    await second
    assert clock() == pytest.approx(1.0)
    assert bucket.waiting == 0 and bucket.available == pytest.approx(0.0)


async def test_a_cancelled_waiter_behind_the_head_leaves_the_queue(clock: ManualClock) -> None:
    sleep = AutoSleep(clock)
    bucket = TokenBucket(60, burst=1, clock=clock, sleep=sleep)
    assert bucket.try_acquire()
    head = asyncio.create_task(bucket.acquire())
    behind = asyncio.create_task(bucket.acquire())
    behind.cancel()
    await asyncio.gather(head, return_exceptions=True)
    with pytest.raises(asyncio.CancelledError):
        await behind
    assert bucket.waiting == 0
    assert head.done() and not head.cancelled()
    await bucket.acquire()  # the queue still works
    assert clock() == pytest.approx(2.0)


def test_pause_allows_nothing_until_the_time_has_passed(clock: ManualClock) -> None:
    bucket = TokenBucket(60, burst=5, clock=clock)
    bucket.pause(5)
    clock.advance(4.9)
    assert not bucket.try_acquire()
    clock.advance(0.1)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    bucket.pause(0)  # nothing to do
    clock.advance(1)
    assert bucket.try_acquire()


async def test_acquire_after_a_pause_sleeps_until_it_ends(clock: ManualClock) -> None:
    sleep = AutoSleep(clock)
    bucket = TokenBucket(600, clock=clock, sleep=sleep)
    bucket.pause(30)
    await bucket.acquire()
    assert clock() == pytest.approx(30.0)


@pytest.mark.parametrize("per_minute", [0, -1, math.nan, math.inf])
def test_a_rate_that_is_not_a_positive_number_is_refused(per_minute: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(per_minute)


async def test_amounts_outside_one_to_burst_are_refused_at_once(clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        TokenBucket(60, burst=0, clock=clock)
    bucket = TokenBucket(60, burst=2, clock=clock)
    for n in (0, 3):
        with pytest.raises(ValueError):
            bucket.try_acquire(n)
        with pytest.raises(ValueError):
            await bucket.acquire(n)
    assert bucket.waiting == 0


# -- the check calendar ---------------------------------------------------------------------------------


def test_a_check_keeps_its_time_while_its_second_has_room() -> None:
    calendar = CheckCalendar(per_second=3)
    assert [calendar.book(100.0, 105.25) for _ in range(3)] == [105.25] * 3


def test_checks_past_a_seconds_budget_move_to_the_next_seconds_with_room_spread_out() -> None:
    calendar = CheckCalendar(per_second=1000)  # 10 requests a second of 100 tasks each
    times = [calendar.book(0.0, 10.5) for _ in range(10_000)]  # ten thousand tasks on one beat
    per_second = Counter(int(t) for t in times)
    assert max(per_second.values()) == 1000 and sorted(per_second) == list(range(10, 20))
    assert all(t >= 10.5 for t in times) and times == sorted(times)
    moved = [t for t in times if int(t) == 11]
    assert moved[0] == 11.0 and moved[-1] == pytest.approx(11.999)  # spread across the second


def test_the_calendar_forgets_the_past() -> None:
    calendar = CheckCalendar(per_second=1)
    for second in range(1000):
        assert calendar.book(float(second), second + 0.5) == second + 0.5
    assert len(calendar._booked) <= 2
    assert calendar.book(10_000_000.0, 10_000_000.5) == 10_000_000.5  # after a long idle
    assert len(calendar._booked) == 1


def test_a_calendar_needs_a_positive_budget() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            CheckCalendar(per_second=bad)


async def test_set_rate_changes_the_allowance_from_now_on() -> None:
    clock = ManualClock()
    bucket = TokenBucket(per_minute=600, clock=clock)  # 10 a second, bursts of 10
    assert bucket.capacity == 10 and bucket.available == 10
    bucket.set_rate(300)  # another process now shares the budget
    assert bucket.per_minute == 300 and bucket.capacity == 5 and bucket.available == 5
    for _ in range(5):
        assert bucket.try_acquire()
    assert not bucket.try_acquire()
    clock.advance(1.0)
    assert bucket.available == pytest.approx(5.0)  # 5 a second now, not 10
    with pytest.raises(ValueError):
        bucket.set_rate(0)
