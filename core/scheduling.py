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
from collections.abc import Sequence
from dataclasses import dataclass

FIXED_INTERVAL = 10.0  # the seed guide's polling interval, our budget yardstick
MIN_HISTORY = 5  # samples before we trust the learned window
DEFAULT_EXPECTED = 120.0  # before any history: a typical 5-second 720p Seedance render
MIN_DELAY = 0.5
MAX_DELAY = 15.0
# The estimated share of tasks of one kind running past the longest learned sample that makes the
# learned window untrustworthy: about 1 in 21 outlasts the longest of 20 samples by chance.
MAX_OVERDUE_SHARE = 0.1


@dataclass(frozen=True)
class Expectation:
    """Seconds from submit to done: the median, and the window where most tasks finish."""

    expected: float
    low: float
    high: float
    learned: bool

    @classmethod
    def from_history(
        cls, run_times: list[float], prior: float | None = None, running: Sequence[float] = ()
    ) -> Expectation:
        """From the true run times of recent tasks of one kind, and how long those of the same
        kind submitted alongside them (``running``: seconds since each was submitted) have run so far.

        Run times come from finished tasks only, so the first tasks of a batch to finish are its
        fastest: a window drawn from them alone is too early and too narrow, and polling the rest
        densely "late" would cost more than a steady beat. The still-running tasks count as
        right-censored runs (Kaplan-Meier): while more than `MAX_OVERDUE_SHARE` of the tasks are
        estimated to run past the longest sample, the prior's steady schedule stays.
        """
        prior = DEFAULT_EXPECTED if prior is None else prior
        samples = sorted(t for t in run_times if t > 0)
        if len(samples) < MIN_HISTORY or _share_running_longer(samples, running) > MAX_OVERDUE_SHARE:
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


def _share_running_longer(samples: list[float], running: Sequence[float]) -> float:
    """Kaplan-Meier estimate of the share of tasks that run longer than the longest of ``samples``
    (finished runs), given ``running`` tasks known to have run at least that long so far."""
    if not running:
        return 0.0
    # At equal times a finish counts before a censoring, as is usual.
    timeline = sorted([(t, 0) for t in samples] + [(t, 1) for t in running])
    at_risk, survival = len(timeline), 1.0
    for _, censored in timeline:
        if not censored:
            survival *= (at_risk - 1) / at_risk
        at_risk -= 1
    return survival


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))
