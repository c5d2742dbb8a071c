"""The progress line on stderr while a task runs."""

from __future__ import annotations

import sys
from typing import TextIO

from core.models import Task, TaskStatus
from core.progress import progress_figures as figures
from core.progress import time_left_words
from core.scheduling import Progress
from core.service import VideoService


def progress_figures(task: Task, progress: Progress) -> tuple[int, float | None]:
    """(whole percent, seconds left) that agree with each other (`core.progress.progress_figures`)."""
    percent, left = figures(task, progress)
    return int(percent), left


class ProgressLine:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = ""

    async def __call__(self, task: Task, progress: Progress) -> None:
        if task.status is TaskStatus.WAITING:
            place = f", {task.queue.in_line()}" if task.queue is not None else ""
            self._show(f"{task.id}: waiting{place}; nothing was sent or paid yet", changed=True)
            return
        percent, left = progress_figures(task, progress)
        eta = time_left_words(task, percent, left, unit="s")
        text = f"{task.id}: {task.status.value}, {progress.elapsed:.0f}s elapsed, {eta}"
        self._show(text, changed=task.status.value not in self._last)

    def _show(self, text: str, *, changed: bool) -> None:
        """Rewrite the line on a terminal; elsewhere a new line only when ``changed`` and different."""
        if self._tty:
            self._stream.write("\r" + text.ljust(len(self._last)))
            self._stream.flush()
        elif changed and text != self._last:  # a line per status (or place in line) change, not per second
            self._stream.write(text + "\n")
        self._last = text

    def done(self) -> None:
        if self._tty and self._last:
            self._stream.write("\n")


async def wait_with_progress(service: VideoService, user: str, task: Task) -> Task:
    """Wait for the task to finish, showing the progress line on stderr."""
    display = ProgressLine(sys.stderr)
    try:
        return await service.wait(user, task.id, on_progress=display)
    finally:
        display.done()
