"""When to poll a task, and how far along it probably is.

Every status request costs the provider's rate limit, and every second between a video being
ready and us noticing is a second the user waits. A fixed 10-second poller pays ~12 requests for
a two-minute task and notices ~5 s late on average. Once we have seen ten or so tasks of the same
kind (provider, model, resolution, duration) we know when this one will finish, so we stay quiet
while it cannot be done, poll densely across the window where it usually finishes (spending the
same number of requests a fixed poller would), and back off again if it runs late.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

FIXED_INTERVAL = 10.0  # the seed guide's polling interval, our budget yardstick
MIN_HISTORY = 5  # samples before we trust the learned window
DEFAULT_EXPECTED = 120.0  # before any history: a typical 5-second 720p Seedance render
MIN_DELAY = 0.5
MAX_DELAY = 15.0


@dataclass(frozen=True)
class Expectation:
    """Seconds from submit to done: the median, and the window where most tasks finish."""

    expected: float
    low: float
    high: float
    learned: bool

    @classmethod
    def from_history(cls, run_times: list[float], prior: float | None = None) -> Expectation:
        prior = DEFAULT_EXPECTED if prior is None else prior
        samples = sorted(t for t in run_times if t > 0)
        if len(samples) < MIN_HISTORY:
            return cls(expected=prior, low=0.0, high=prior * 1.5, learned=False)
        median = statistics.median(samples)
        # The observed spread plus a small margin; the extremes of recent runs bound the window.
        low = max(samples[0] * 0.97, 0.0)
        high = samples[-1] * 1.03
        return cls(expected=median, low=low, high=high, learned=True)


LATE_MAX_DELAY = 60.0  # a task running far past its usual time is looked at at least once a minute


def next_poll_delay(exp: Expectation, elapsed: float, polls: int) -> float:
    """Seconds to wait before the next status request, ``elapsed`` seconds after submit.

    Past twice the longest usual run, the gaps keep widening (a tenth of the overrun, up to a
    minute): a task stuck for hours must not spend the provider's rate limit every few seconds.
    """
    delay = _usual_delay(exp, elapsed, polls)
    overrun = elapsed - 2 * exp.high
    if overrun > 0:
        delay = max(delay, min(overrun * 0.1, LATE_MAX_DELAY))
    return delay


def _usual_delay(exp: Expectation, elapsed: float, polls: int) -> float:
    if not exp.learned:
        # No history: a steady interval sized to the prior (10 s for a two-minute task).
        return _clamp(exp.expected / 12, MIN_DELAY, FIXED_INTERVAL)
    # Spend about what a fixed poller would on average: ~2 polls before the window, and a task
    # finishing mid-window sees half of the dense polls, so 1.5x (budget - 3) fit across it.
    budget = max(4, math.ceil(exp.expected / FIXED_INTERVAL))
    window = max(exp.high - exp.low, 1.0)
    # A window learned from a few similar runs can be very narrow: never poll densely faster than
    # a fiftieth of the usual run (2.4 s for two minutes), or a batch of tasks floods the provider.
    dense = _clamp(window / (1.5 * (budget - 3)), max(MIN_DELAY, exp.expected / 50), FIXED_INTERVAL)
    if elapsed < exp.low:
        # One early look (is it running? did it fail early?) when the wait is long, then silence.
        early = exp.low * 0.4
        if polls == 0 and exp.low > 30 and elapsed < early:
            return max(early - elapsed, MIN_DELAY)
        return max(exp.low - elapsed, MIN_DELAY)
    if elapsed <= exp.high:
        return dense
    # Running late: widen the gaps the later it gets.
    return _clamp(dense + (elapsed - exp.high) * 0.25, dense, MAX_DELAY)


@dataclass(frozen=True)
class Progress:
    """What a front end shows while a task runs."""

    elapsed: float
    expected_total: float
    fraction: float  # 0..1, an estimate unless the provider reports progress
    remaining: float | None  # None when it is running later than usual
    late: bool


def estimate_progress(exp: Expectation, elapsed: float, reported: float | None = None) -> Progress:
    late = elapsed > exp.high
    remaining = None if late else max(exp.expected - elapsed, 0.0)
    if reported is not None:
        fraction = reported
    else:
        # Approach but never reach 1 while unfinished.
        fraction = min(elapsed / exp.expected, 0.97) if exp.expected > 0 else 0.0
    return Progress(elapsed=elapsed, expected_total=exp.expected, fraction=fraction, remaining=remaining, late=late)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))
