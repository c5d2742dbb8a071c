"""The one backoff rule: exponential from ``base``, capped, with optional downward jitter.

Every retry in the project (HTTP calls, status checks, downloads, deliveries) waits
``backoff_delay(attempt)``: ``base * 2**(attempt-1)`` up to ``cap``, less up to ``jitter`` of it
at random so that many clients that failed together do not retry together.
"""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, jitter: float | bool = 0.25, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    delay: float = min(base * 2 ** max(attempt - 1, 0), cap)
    spread = 0.25 if jitter is True else float(jitter or 0.0)
    if spread:
        delay *= 1 - spread * (rng or random).random()
    return delay
