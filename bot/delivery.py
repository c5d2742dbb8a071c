"""Exactly-once delivery of finished videos, and the one object the commands follow a task through.

Where a task goes is its ``target`` (`bot.target.Target`). The interaction token lives only in
memory, in a `bot.progress.Tracker`, for as long as it is valid; `bot.progress` keeps the progress
cards current and `bot.posting` sends a result card. This module decides whether and where to post,
and records it.

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
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot import render
from bot.options import BotOptions, media_links
from bot.posting import DEFAULT_UPLOAD_LIMIT, ResultPoster, channel_of, edit_stale_original
from bot.progress import NO_MENTIONS, ProgressCards, Tracker, note_edit_failure, token_gone
from bot.target import PREFIX, Target, requester_of
from bot.views import REGEN, task_ids_in
from core.backoff import backoff_delay
from core.models import Task, TaskStatus
from core.service import VideoService

log = logging.getLogger("seedance.bot.delivery")


class Delivery:
    """Keeps progress cards current and posts each finished task exactly once."""

    def __init__(self, client: discord.Client, service: VideoService, options: BotOptions) -> None:
        self.client = client
        self.service = service
        self.options = options
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduled: set[str] = set()
        self._retry: dict[str, tuple[int, float]] = {}  # task id -> (failures, monotonic retry time)
        self._jobs: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.cards = ProgressCards(service, options, spawn=self._spawn, on_final=self.schedule)
        self.poster = ResultPoster(service, options.media_url or media_links(service.settings))
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
        return self.cards.get(target)

    async def channel(self, target: Target) -> discord.abc.Messageable:
        return await channel_of(self.client, target)

    def note_edit_failure(self, tracker: Tracker, exc: discord.HTTPException) -> None:
        note_edit_failure(tracker, exc)

    def _spawn(self, coro: Any, *, name: str) -> None:
        if self._closed:
            coro.close()
            return
        job = asyncio.get_running_loop().create_task(coro, name=name)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    # -- interactions we may still answer through --------------------------------------------------

    def track(self, interaction: discord.Interaction[Any], target: str) -> Tracker:
        return self.cards.track(interaction, target)

    def forget(self, target: str) -> None:
        self.cards.forget(target)

    def token_usable(self, tracker: Tracker) -> bool:
        return self.cards.token_usable(tracker)

    def follow(self, tracker: Tracker, task: Task) -> None:
        """Keep the original message's progress card current until the task ends."""
        self.cards.follow(tracker, task)

    # -- service events --------------------------------------------------------------------------

    def on_task_changed(self, task: Task) -> None:
        """Service listener (called inline by its watcher, so it only records and schedules)."""
        if not (task.target or "").startswith(PREFIX):
            return
        tracker = self.cards.get(task.target)
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
            tracker = self.cards.get(task.target)
            # No memory of this task (a restart), or an attempt that may have landed: look for an
            # earlier post before posting again.
            if task.status is not TaskStatus.CANCELLED and (tracker is None or task.id in self.poster.maybe_posted):
                if await self._already_posted(await self.channel(target), task.id):
                    log.info("task %s was already posted in channel %s; recording it", task.id, target.channel_id)
                    return await self._finish(task)
            done = False
            if tracker is not None and self.cards.token_usable(tracker):
                done = await self._via_interaction(tracker, task)
            if not done:
                await self._via_channel(target, task, tracker)
            return await self._finish(task)

    async def _finish(self, task: Task) -> bool:
        recorded = await self._record(task)
        self.cards.forget(task.target or "")
        self._locks.pop(task.id, None)
        self._retry.pop(task.id, None)
        return recorded

    async def _record(self, task: Task) -> bool:
        if not await self.service.mark_delivered(task.id, user=task.user):
            log.warning("task %s was already recorded as delivered by someone else", task.id)
        self.poster.maybe_posted.discard(task.id)
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
                    note_edit_failure(tracker, exc)
                    if tracker.dead:
                        return False
            if cancelled:
                return True  # the owner cancelled it themselves: a card change, no ping
            try:
                await self.poster.post(interaction.followup.send, task, tracker.requester_id,
                                       limit=interaction.filesize_limit, wait=True)
            except discord.HTTPException as exc:
                if token_gone(exc):
                    tracker.dead = True
                    return False
                raise
            return True

    async def _via_channel(self, target: Target, task: Task, tracker: Tracker | None) -> None:
        """A new channel message: after a restart, after the token expired, or when it was refused."""
        channel = await self.channel(target)
        if task.status is not TaskStatus.CANCELLED:
            guild = getattr(channel, "guild", None)
            limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
            await self.poster.post(channel.send, task, requester_of(task.user), limit=limit)
        await edit_stale_original(channel, target, task, tracker)

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

