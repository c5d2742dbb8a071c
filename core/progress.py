"""What a front end shows while a task runs: a percentage and the time left, agreeing with each other."""

from __future__ import annotations

from core.models import Task, TaskStatus
from core.scheduling import Progress


def progress_figures(task: Task, progress: Progress) -> tuple[float, float | None]:
    """(percent done, at most 99, and seconds left or None) that agree with each other.

    Our own estimate has both from one clock: percent = elapsed / (elapsed + left). When the
    provider reports its progress, the time left follows from it instead.
    """
    elapsed = max(progress.elapsed, 0.0)
    if task.progress is not None:
        fraction = min(max(task.progress, 0.0), 0.99)
        left = elapsed * (1 - fraction) / fraction if fraction >= 0.05 else progress.remaining
        return fraction * 100, left
    if progress.remaining is None:
        return min(progress.fraction, 0.99) * 100, None
    total = elapsed + progress.remaining
    return (99.0 if total <= 0 else min(elapsed / total * 100, 99.0)), progress.remaining


def time_left_words(task: Task, percent: float, left: float | None, *, unit: str = " s") -> str:
    """``about 40 s left (50%)``, ``taking longer than usual (99%)``, ``fetching the video``."""
    if task.status is TaskStatus.SUCCEEDED:
        return "fetching the video"
    if left is None:
        return f"taking longer than usual ({percent:.0f}%)"
    if left < 1:
        return f"under a second left ({percent:.0f}%)"
    return f"about {left:.0f}{unit} left ({percent:.0f}%)"
