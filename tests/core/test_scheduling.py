"""The poll planner and the progress estimate (`core.scheduling`): pure functions, simulated time."""

from __future__ import annotations

import math
import statistics

import pytest

from core.scheduling import (
    DEFAULT_EXPECTED,
    FIXED_INTERVAL,
    LATE_MAX_DELAY,
    MAX_DELAY,
    MIN_DELAY,
    Expectation,
    estimate_progress,
    next_poll_delay,
)

# Ten finished tasks of one kind, evenly spread over 120 s ± 15 %.
HISTORY = [102.0 + 36.0 * i / 9 for i in range(10)]
# Tasks of that kind to simulate: 201 finish times across the same spread.
FINISHES = [102.0 + 36.0 * i / 200 for i in range(201)]


def simulate(exp: Expectation, finish: float) -> tuple[list[float], float]:
    """Poll times until the first poll at or after ``finish``; returns (times, delay after finish)."""
    elapsed, times = 0.0, []
    while True:
        elapsed += next_poll_delay(exp, elapsed, len(times))
        times.append(elapsed)
        if elapsed >= finish:
            return times, elapsed - finish
        assert len(times) < 500, "runaway polling"


def fixed_poller(finish: float) -> tuple[int, float]:
    polls = math.ceil(finish / FIXED_INTERVAL)
    return polls, polls * FIXED_INTERVAL - finish


# -- the expectation ------------------------------------------------------------------------------------


def test_without_enough_history_the_expectation_is_the_prior() -> None:
    cold = Expectation.from_history([])
    assert not cold.learned and cold.expected == DEFAULT_EXPECTED and cold.low == 0.0
    assert cold.high > cold.expected
    assert Expectation.from_history([], prior=30.0).expected == 30.0
    few = Expectation.from_history([100.0, 110.0, 120.0, 130.0], prior=50.0)
    assert not few.learned and few.expected == 50.0
    junk = Expectation.from_history([0.0, -5.0, 0.0, -1.0, 0.0, 100.0])  # non-positive runs are ignored
    assert not junk.learned


def test_history_gives_the_median_and_a_window_around_every_run() -> None:
    exp = Expectation.from_history(list(reversed(HISTORY)))
    assert exp.learned
    assert exp.expected == pytest.approx(statistics.median(HISTORY))
    assert exp.low <= min(HISTORY) and exp.low >= min(HISTORY) * 0.9
    assert exp.high >= max(HISTORY) and exp.high <= max(HISTORY) * 1.1


def test_the_first_finishers_of_a_batch_do_not_teach_while_the_rest_still_run() -> None:
    """Twenty tasks submitted together: the five that finished first are the batch's fastest. With
    the other fifteen still running past them, the window they draw would be too early and too
    narrow; the prior's steady beat stays until the batch has mostly finished."""
    first_five = sorted(HISTORY)[:5]
    assert Expectation.from_history(first_five).learned  # alone they look like a history
    still_running = [first_five[-1] + 1.0] * 15
    held = Expectation.from_history(first_five, prior=120.0, running=still_running)
    assert not held.learned and held.expected == 120.0
    # Once all but one of twenty have finished, the estimated share still running is 1/20: learned.
    nineteen = sorted(FINISHES)[::11][:19]
    assert Expectation.from_history(nineteen, running=[max(nineteen) + 1.0]).learned
    # Young tasks, running for less than any finished run took, say nothing about the tail.
    assert Expectation.from_history(first_five, running=[1.0, 5.0, 30.0] * 10).learned


# -- cold polling ---------------------------------------------------------------------------------------


def test_cold_polling_is_every_10_s_for_a_two_minute_prior() -> None:
    cold = Expectation.from_history([], prior=120.0)
    assert {next_poll_delay(cold, t, n) for n, t in enumerate([0.0, 10.0, 50.0, 119.0, 300.0])} == {10.0}
    times, _ = simulate(cold, 120.0)
    assert len(times) == 12
    assert next_poll_delay(Expectation.from_history([], prior=60.0), 0, 0) == 5.0
    assert next_poll_delay(Expectation.from_history([], prior=1.0), 0, 0) == MIN_DELAY
    assert next_poll_delay(Expectation.from_history([], prior=3600.0), 0, 0) == FIXED_INTERVAL


# -- learned polling -------------------------------------------------------------------------------------


@pytest.fixture
def learned() -> Expectation:
    return Expectation.from_history(HISTORY)


def test_learned_polling_is_silent_before_the_window(learned: Expectation) -> None:
    times, _ = simulate(learned, learned.low + 1)
    before = [t for t in times if t < learned.low - 1e-9]
    assert len(before) == 1  # one early look, to catch early failures
    assert before[0] == pytest.approx(learned.low * 0.4)
    assert min(t for t in times if t >= before[0] + 1e-9) == pytest.approx(learned.low)  # then straight to the window


def test_learned_polling_is_dense_inside_the_window(learned: Expectation) -> None:
    inside = [next_poll_delay(learned, t, 3) for t in (learned.low, learned.expected, learned.high)]
    assert all(MIN_DELAY <= d <= FIXED_INTERVAL / 2 for d in inside), inside
    times, _ = simulate(learned, learned.high)
    in_window = [t for t in times if learned.low <= t <= learned.high]
    assert len(in_window) >= 5


def test_learned_polling_backs_off_when_the_task_runs_late(learned: Expectation) -> None:
    dense = next_poll_delay(learned, learned.expected, 3)
    late = [next_poll_delay(learned, learned.high + extra, 20) for extra in (1, 10, 30, 60, 600, 6000)]
    assert late == sorted(late) and late[0] >= dense
    assert late[2] > dense
    assert next_poll_delay(learned, learned.high * 1.5, 20) == MAX_DELAY  # late, within twice the usual
    assert late[-1] == LATE_MAX_DELAY  # stuck for hours: once a minute


def test_learned_polling_spends_no_more_than_a_fixed_poller_and_answers_sooner(learned: Expectation) -> None:
    ours = [simulate(learned, f) for f in FINISHES]
    fixed = [fixed_poller(f) for f in FINISHES]
    our_polls = [len(times) for times, _ in ours]
    our_delays = [delay for _, delay in ours]

    assert statistics.mean(our_polls) <= 12
    assert statistics.mean(our_polls) <= statistics.mean(p for p, _ in fixed)
    assert statistics.median(our_delays) <= 2.5
    assert statistics.median(our_delays) < statistics.median(d for _, d in fixed)
    assert max(our_polls) <= 18  # even at the edge of the window, no runaway
    in_window = [len(t) for (t, _), f in zip(ours, FINISHES, strict=True) if f <= learned.high]
    assert statistics.mean(in_window) <= 12


def test_delays_are_always_positive_and_bounded(learned: Expectation) -> None:
    for exp in (learned, Expectation.from_history([], prior=5.0), Expectation.from_history([1.0] * 6)):
        for elapsed in (0.0, 0.3, 1.0, 50.0, 99.0, 130.0, 1e5):
            for polls in (0, 1, 7):
                assert MIN_DELAY <= next_poll_delay(exp, elapsed, polls) <= max(LATE_MAX_DELAY, exp.low)


# -- progress -----------------------------------------------------------------------------------------------


def test_progress_estimates_from_the_expected_time() -> None:
    exp = Expectation(expected=100.0, low=80.0, high=130.0, learned=True)
    start = estimate_progress(exp, 0.0)
    assert start.fraction == 0.0 and start.remaining == 100.0 and not start.late
    half = estimate_progress(exp, 50.0)
    assert half.fraction == pytest.approx(0.5) and half.remaining == pytest.approx(50.0)
    assert half.expected_total == 100.0 and half.elapsed == 50.0
    overdue = estimate_progress(exp, 120.0)
    assert overdue.fraction == 0.97 and overdue.remaining == 0.0 and not overdue.late  # never 100 % while running
    late = estimate_progress(exp, 131.0)
    assert late.late and late.remaining is None and late.fraction < 1.0


def test_progress_prefers_what_the_provider_reports() -> None:
    exp = Expectation(expected=100.0, low=80.0, high=130.0, learned=True)
    assert estimate_progress(exp, 10.0, reported=0.6).fraction == 0.6
    assert estimate_progress(Expectation(0.0, 0.0, 0.0, False), 0.0).fraction == 0.0
