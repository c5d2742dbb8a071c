"""Progress notifications while a tool waits for a task, and the bounded wait itself."""

from __future__ import annotations

import logging
import time
from typing import Any

from mcp.server.mcpserver import Context

from core.models import Task
from core.progress import time_left_words
from mcp_server.results import progress_figures
from mcp_server.state import AppState

log = logging.getLogger("seedance.mcp")


class ProgressReporter:
    """Sends ``notifications/progress`` while a handler waits: a first one at once, then every few seconds.

    Progress is a percentage that only ever increases (the protocol requires it), with a message
    that says what the task is doing and how long it should still take.
    """

    def __init__(self, ctx: Context, task_id: str, interval: float) -> None:
        self._ctx = ctx
        self._task_id = task_id
        self._interval = interval
        self._last_at = -1e9
        self._last_value = -1.0
        self._last_status = ""

    async def _send(self, value: float, message: str) -> None:
        value = max(value, self._last_value + 0.01)
        self._last_value = value
        self._last_at = time.monotonic()
        try:
            await self._ctx.report_progress(round(value, 2), 100.0, message)
        except Exception:  # noqa: BLE001 - progress is a courtesy: never fail the call over it
            log.debug("progress notification failed", exc_info=True)

    async def __call__(self, task: Task, progress: Any) -> None:
        status = task.status.value
        if time.monotonic() - self._last_at < self._interval and status == self._last_status:
            return
        self._last_status = status
        if task.queue is not None:  # waiting: nothing runs yet, so no percent
            await self._send(max(self._last_value, 0.0), f"task {self._task_id}: waiting, {task.queue.in_line()}")
            return
        percent, left = progress_figures(task, progress)
        eta = time_left_words(task, percent, left)
        await self._send(min(percent, 99.0), f"task {self._task_id}: {status}, {eta}")

    async def finish(self, task: Task) -> None:
        if task.is_final:
            await self._send(100.0, f"task {self._task_id}: {task.status.value}")


async def wait_for(ctx: Context, state: AppState, task: Task, user: str, wait_seconds: int) -> Task:
    """Wait at most ``wait_seconds`` for the task to end, reporting progress; the task is unaffected."""
    if task.is_final or wait_seconds <= 0:
        return task
    service = await state.service()
    reporter = ProgressReporter(ctx, task.id, state.progress_interval)
    task = await service.wait(user, task.id, timeout=wait_seconds, on_progress=reporter)
    await reporter.finish(task)
    return task
