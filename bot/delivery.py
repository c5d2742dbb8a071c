"""Progress cards and exactly-once delivery of finished videos.

Where a task goes is its ``target`` (`bot.target.Target`). The interaction token lives only in
memory, in a `Tracker`, for as long as it is valid.

Exactly once, with ``service.mark_delivered`` as the record: **post, then record**. Recording first
would lose a video for good if the process died between the two; posting first can only repeat
one, and that window is closed on the next start: a task that is final but unrecorded, for which
this process holds no memory of a failed attempt, is first looked up in the channel's recent
messages (a result post carries a ``seedance:regen:<task>`` button), and only posted when no such
message exists. Within a process, one asyncio lock per task serialises the listener, the progress
loop and the periodic sweep, and the delivered flag is re-read under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord

from bot import render
from bot.options import BotOptions, media_links
from bot.target import PREFIX, Target, requester_of
from bot.views import REGEN, result_card, task_ids_in
from core.backoff import backoff_delay
from core.errors import SeedanceError
from core.models import Task, TaskStatus
from core.service import VideoService

log = logging.getLogger("seedance.bot.delivery")

NO_MENTIONS = discord.AllowedMentions.none()
_TOKEN_GONE = {50027, 10015, 10062}  # invalid webhook token, unknown webhook, unknown interaction
_UNKNOWN_MESSAGE = 10008
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def mention_only(user_id: int | None) -> discord.AllowedMentions:
    """Ping the requester and nobody else, whatever the text says."""
    users = [discord.Object(user_id)] if user_id else []
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


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


def _token_gone(exc: discord.HTTPException) -> bool:
    return exc.code in _TOKEN_GONE or exc.status == 401


class Delivery:
    """Keeps progress cards current and posts each finished task exactly once."""

    def __init__(self, client: discord.Client, service: VideoService, options: BotOptions) -> None:
        self.client = client
        self.service = service
        self.options = options
        self._trackers: dict[str, Tracker] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduled: set[str] = set()
        self._maybe_posted: set[str] = set()  # a post may exist that is not recorded yet
        self._retry: dict[str, tuple[int, float]] = {}  # task id -> (failures, monotonic retry time)
        self._jobs: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._media_url = options.media_url or media_links(service.settings)
        #: More sweeps to run with this one (the stories' deliveries).
        self.extra_sweeps: list[Callable[[], Awaitable[int]]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn(self._sweeper(), name="seedance-delivery-sweeper")

    async def close(self) -> None:
        self._closed = True
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def spawn(self, coro: Any, *, name: str) -> None:
        """Run ``coro`` as one of the delivery's jobs (cancelled on close)."""
        self._spawn(coro, name=name)

    def tracker(self, target: str | None) -> Tracker | None:
        return self._trackers.get(target or "")

    async def channel(self, target: Target) -> discord.abc.Messageable:
        return await self._channel(target)

    def note_edit_failure(self, tracker: Tracker, exc: discord.HTTPException) -> None:
        self._note_edit_failure(tracker, exc)

    def _spawn(self, coro: Any, *, name: str) -> None:
        if self._closed:
            coro.close()
            return
        job = asyncio.get_running_loop().create_task(coro, name=name)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    # -- interactions we may still answer through --------------------------------------------------

    def track(self, interaction: discord.Interaction[Any], target: str) -> Tracker:
        tracker = Tracker(target=target, interaction=interaction, requester_id=interaction.user.id)
        self._trackers[target] = tracker
        return tracker

    def forget(self, target: str) -> None:
        self._trackers.pop(target, None)

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
            self.schedule(task)

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
                self._note_edit_failure(tracker, exc)

    def _note_edit_failure(self, tracker: Tracker, exc: discord.HTTPException) -> None:
        if _token_gone(exc):
            tracker.dead = True
        elif exc.code == _UNKNOWN_MESSAGE:
            tracker.original_gone = True
        else:
            log.warning("editing the original of %s failed: %s %s", tracker.target, exc.status, exc.code)

    # -- service events --------------------------------------------------------------------------

    def on_task_changed(self, task: Task) -> None:
        """Service listener (called inline by its watcher, so it only records and schedules)."""
        if not (task.target or "").startswith(PREFIX):
            return
        tracker = self._trackers.get(task.target or "")
        if tracker is not None:
            tracker.task_id = tracker.task_id or task.id  # a row exists: a submit error is delivered too
            tracker.changed.set()
        if task.is_final and task.delivered_at is None:
            self.schedule(task)

    def schedule(self, task: Task) -> None:
        if self._closed or task.id in self._scheduled:
            return
        self._scheduled.add(task.id)
        self._spawn(self._deliver_job(task), name=f"seedance-deliver-{task.id}")

    async def _deliver_job(self, task: Task) -> None:
        try:
            await self.client.wait_until_ready()
            await self.deliver(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried by the sweeper with a back-off
            failures = self._retry.get(task.id, (0, 0.0))[0] + 1
            delay = backoff_delay(failures, base=self.options.retry_base, cap=3600.0)
            self._retry[task.id] = (failures, time.monotonic() + delay)
            log.warning("delivering task %s failed (%s: %s); retrying in %.0f s",
                        task.id, type(exc).__name__, exc, delay,
                        exc_info=not isinstance(exc, discord.HTTPException | OSError))
        finally:
            self._scheduled.discard(task.id)

    async def sweep(self) -> int:
        """Schedule every final, undelivered Discord task (crash leftovers, other processes, retries)."""
        now = time.monotonic()
        count = 0
        for task in await self.service.undelivered(PREFIX):
            if self._retry.get(task.id, (0, 0.0))[1] <= now:
                self.schedule(task)
                count += 1
        return count

    async def _sweeper(self) -> None:
        await self.client.wait_until_ready()
        while not self._closed:
            try:
                await self.sweep()
                for extra in self.extra_sweeps:
                    await extra()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep sweeping; the store may be busy for a moment
                log.exception("looking for undelivered tasks failed")
            await asyncio.sleep(self.options.sweep_interval)  # a period, not a synchronisation

    # -- delivering ------------------------------------------------------------------------------

    async def deliver(self, task: Task) -> bool:
        """Post ``task``'s outcome where it was asked for, once. Returns True when it is recorded."""
        lock = self._locks.setdefault(task.id, asyncio.Lock())
        async with lock:
            task = await self.service.get(task.user, task.id, refresh=False)
            if task.delivered_at is not None or not task.is_final:
                return task.delivered_at is not None
            target = Target.parse(task.target)
            if target is None:
                log.warning("task %s has an unusable target %r; marking it delivered", task.id, task.target)
                return await self._record(task)
            tracker = self._trackers.get(task.target or "")
            # No memory of this task (a restart), or an attempt that may have landed: look for an
            # earlier post before posting again.
            if task.status is not TaskStatus.CANCELLED and (tracker is None or task.id in self._maybe_posted):
                if await self._already_posted(await self._channel(target), task.id):
                    log.info("task %s was already posted in channel %s; recording it", task.id, target.channel_id)
                    return await self._finish(task)
            done = False
            if tracker is not None and self.token_usable(tracker):
                done = await self._via_interaction(tracker, task)
            if not done:
                await self._via_channel(target, task, tracker)
            return await self._finish(task)

    async def _finish(self, task: Task) -> bool:
        recorded = await self._record(task)
        self._trackers.pop(task.target or "", None)
        self._locks.pop(task.id, None)
        self._retry.pop(task.id, None)
        return recorded

    async def _record(self, task: Task) -> bool:
        if not await self.service.mark_delivered(task.id, user=task.user):
            log.warning("task %s was already recorded as delivered by someone else", task.id)
        self._maybe_posted.discard(task.id)
        return True

    async def _via_interaction(self, tracker: Tracker, task: Task) -> bool:
        """Final card into the original, result as a follow-up (a new message, so the mention pings).

        Returns False when the token turned out to be dead, so the caller falls back to the channel.
        """
        interaction = tracker.interaction
        async with tracker.lock:
            tracker.finished = True
            cancelled = task.status is TaskStatus.CANCELLED
            if not tracker.original_gone:
                try:
                    await interaction.edit_original_response(
                        embed=render.final_status_embed(task, result_below=not cancelled),
                        allowed_mentions=NO_MENTIONS,
                    )
                except discord.HTTPException as exc:
                    self._note_edit_failure(tracker, exc)
                    if tracker.dead:
                        return False
            if cancelled:
                return True  # the owner cancelled it themselves: a card change, no ping
            try:
                await self._post(interaction.followup.send, task, tracker.requester_id,
                                 limit=interaction.filesize_limit, wait=True)
            except discord.HTTPException as exc:
                if _token_gone(exc):
                    tracker.dead = True
                    return False
                raise
            return True

    async def _channel(self, target: Target) -> discord.abc.Messageable:
        channel = self.client.get_channel(target.channel_id)
        if channel is None:
            channel = await self.client.fetch_channel(target.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError(f"channel {target.channel_id} cannot take messages")
        return channel

    async def _via_channel(self, target: Target, task: Task, tracker: Tracker | None) -> None:
        """A new channel message: after a restart, after the token expired, or when it was refused."""
        channel = await self._channel(target)
        if task.status is not TaskStatus.CANCELLED:
            guild = getattr(channel, "guild", None)
            limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
            await self._post(channel.send, task, requester_of(task.user), limit=limit)
        await self._edit_stale_original(channel, target, task, tracker)

    async def _already_posted(self, channel: discord.abc.Messageable, task_id: str) -> bool:
        me = self.client.user
        try:
            async for message in channel.history(limit=self.options.history_lookback):
                if me is not None and message.author.id == me.id and task_id in task_ids_in(message, REGEN):
                    return True
        except discord.HTTPException as exc:
            # Without Read Message History we cannot check; posting again beats never posting.
            log.warning("could not read channel history to check task %s: %s", task_id, exc)
        return False

    async def _edit_stale_original(
        self, channel: discord.abc.Messageable, target: Target, task: Task, tracker: Tracker | None
    ) -> None:
        """The progress card of a token we no longer hold: best effort through the channel route."""
        if not target.message_id or (tracker is not None and tracker.original_gone):
            return
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread | discord.DMChannel):
            return
        message = channel.get_partial_message(target.message_id)
        cancelled = task.status is TaskStatus.CANCELLED
        with contextlib.suppress(discord.HTTPException):
            await message.edit(embed=render.final_status_embed(task, result_below=not cancelled),
                               allowed_mentions=NO_MENTIONS)

    async def _post(self, send: Any, task: Task, requester_id: int | None, *, limit: int, **extra: Any) -> None:
        """Send the result card: the MP4 when it fits ``limit``, else re-encoded to fit, else a link
        (also after a 413: the real limit was lower than Discord told us)."""
        ok = task.status is TaskStatus.SUCCEEDED and task.error is None
        path = await self._local_video(task) if ok else None
        size = path.stat().st_size if path is not None else None
        link = self._media_url(task)
        attempts: list[tuple[Path | None, str | None]] = []  # (file to attach, note on the card)
        if path is not None and size is not None:
            if size <= limit:
                attempts.append((path, None))
            elif (fitted := await self._fit(task, limit)) is not None:
                attempts.append((fitted, render.fit_note(size, fitted.stat().st_size, limit)))
        for attach, note in [*attempts, (None, None)]:
            if attach is None and ok:
                # After a 413 the real limit is unknown (lower than Discord told us): no limit named.
                note = render.link_note(task, link=link, size=size,
                                        limit=limit if size is not None and size > limit else None)
            filename = f"seedance-{task.id}.mp4"
            card = result_card(task, requester_id, media=f"attachment://{filename}" if attach else None, note=note)
            kwargs: dict[str, Any] = {"view": card, "allowed_mentions": mention_only(requester_id), **extra}
            if attach is not None:
                kwargs["file"] = discord.File(attach, filename=filename)
            self._maybe_posted.add(task.id)
            try:
                await send(**kwargs)
                return
            except discord.HTTPException as exc:
                if exc.status < 500:
                    self._maybe_posted.discard(task.id)  # refused outright: nothing was posted
                if attach is not None and exc.status == 413:
                    continue  # the real limit is lower than we were told: send the link instead
                raise

    async def _local_video(self, task: Task) -> Path | None:
        try:
            return await self.service.local_video(task)
        except SeedanceError as exc:  # another machine saved it and its link is gone: post the outcome
            log.warning("the video of task %s is not available here: %s", task.id, exc)
            return None

    async def _fit(self, task: Task, limit: int) -> Path | None:
        try:
            return await self.service.fit_video(task, limit)
        except (SeedanceError, OSError) as exc:
            log.warning("re-encoding task %s to fit %d bytes failed: %s", task.id, limit, exc)
            return None
