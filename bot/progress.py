"""The progress card in an interaction's original message, kept current while the task waits and runs.

A `Tracker` is one interaction whose token we may still use: the token lives only in memory, for as
long as it is valid. `ProgressCards` holds the trackers by delivery target and edits each original
message as its task changes; once the task is final it hands it on (`bot.delivery.Delivery.schedule`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import discord

from bot import render
from bot.options import BotOptions
from core.models import Task, TaskStatus
from core.service import VideoService

log = logging.getLogger("seedance.bot.delivery")

NO_MENTIONS = discord.AllowedMentions.none()
_TOKEN_GONE = {50027, 10015, 10062}  # invalid webhook token, unknown webhook, unknown interaction
_UNKNOWN_MESSAGE = 10008


@dataclass(eq=False)
class Tracker:
    """One interaction whose token we may still use: its original message shows the progress card."""

    target: str
    interaction: discord.Interaction[Any]
    requester_id: int
    task_id: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serialises every edit of the original
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_edit: float = float("-inf")  # time.monotonic() of the last progress edit
    last_status: TaskStatus | None = None
    last_place: tuple[int, int, int] | None = None  # (yours, overall, waiting) of a waiting task
    dead: bool = False  # the token was refused: only the channel is left
    original_gone: bool = False  # someone deleted the original message
    finished: bool = False  # the final card is up (or about to be): progress must not overwrite it


def _place(task: Task) -> tuple[int, int, int] | None:
    place = task.queue
    return None if place is None else (place.yours, place.overall, place.waiting)


def token_gone(exc: discord.HTTPException) -> bool:
    """Whether Discord refused the interaction's token (expired, or the interaction is unknown)."""
    return exc.code in _TOKEN_GONE or exc.status == 401


def note_edit_failure(tracker: Tracker, exc: discord.HTTPException) -> None:
    """Remember why an edit of the original failed: the token is gone, or the message is."""
    if token_gone(exc):
        tracker.dead = True
    elif exc.code == _UNKNOWN_MESSAGE:
        tracker.original_gone = True
    else:
        log.warning("editing the original of %s failed: %s %s", tracker.target, exc.status, exc.code)


class Spawn(Protocol):
    """Runs a coroutine as one of the delivery's jobs (`bot.delivery.Delivery.spawn`)."""

    def __call__(self, coro: Coroutine[Any, Any, None], *, name: str) -> None: ...


class ProgressCards:
    """The interactions we may still answer through, by target, and the progress card of each."""

    def __init__(
        self, service: VideoService, options: BotOptions, *, spawn: Spawn, on_final: Callable[[Task], None]
    ) -> None:
        self.service = service
        self.options = options
        self._spawn = spawn
        self._on_final = on_final
        self._trackers: dict[str, Tracker] = {}

    def track(self, interaction: discord.Interaction[Any], target: str) -> Tracker:
        tracker = Tracker(target=target, interaction=interaction, requester_id=interaction.user.id)
        self._trackers[target] = tracker
        return tracker

    def forget(self, target: str) -> None:
        self._trackers.pop(target, None)

    def get(self, target: str | None) -> Tracker | None:
        return self._trackers.get(target or "")

    def token_usable(self, tracker: Tracker) -> bool:
        margin = timedelta(seconds=self.options.token_margin)
        return not tracker.dead and discord.utils.utcnow() < tracker.interaction.expires_at - margin

    def follow(self, tracker: Tracker, task: Task) -> None:
        """Keep the original message's progress card current until the task ends."""
        self._spawn(self._follow(tracker, task), name=f"seedance-progress-{task.id}")

    async def _follow(self, tracker: Tracker, task: Task) -> None:
        try:
            while not task.is_final and not tracker.finished and self.token_usable(tracker):
                tracker.changed.clear()
                task = await self.service.get(task.user, task.id, refresh=False)
                if task.is_final:
                    break
                wait = self._edit_due_in(tracker, task)
                if wait <= 0:
                    await self._edit_progress(tracker, task)
                    wait = self.options.progress_interval
                # Woken early by the service listener on a status change; otherwise the next tick.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tracker.changed.wait(), wait)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - progress is cosmetic; delivery does not depend on it
            log.exception("progress updates for task %s stopped", task.id)
        if task.is_final:
            self._on_final(task)

    def _edit_due_in(self, tracker: Tracker, task: Task) -> float:
        since = time.monotonic() - tracker.last_edit
        if tracker.last_status is not task.status or tracker.last_place != _place(task):
            return self.options.status_min_gap - since
        if task.status is TaskStatus.WAITING:
            return self.options.progress_interval  # unchanged place: look again later, edit nothing
        return self.options.progress_interval - since

    async def _edit_progress(self, tracker: Tracker, task: Task) -> None:
        async with tracker.lock:
            if tracker.finished or tracker.dead or tracker.original_gone:
                return
            tracker.last_edit = time.monotonic()
            tracker.last_status = task.status
            tracker.last_place = _place(task)
            progress = await self.service.progress(task)
            embed = render.progress_embed(task, progress, time.time())
            try:
                await tracker.interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                note_edit_failure(tracker, exc)

