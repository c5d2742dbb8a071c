"""Posting one finished task: its result card with the MP4 when it fits, re-encoded to fit, else a link.

Also the channel side of delivery: the channel of a target, and the final card put on an original
message through the channel when its interaction token is no longer ours. Whether to post at all,
and recording it, is `bot.delivery`'s job.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import discord

from bot import render
from bot.options import MediaUrl
from bot.progress import NO_MENTIONS, Tracker
from bot.target import Target
from bot.views import result_card
from core.errors import SeedanceError
from core.models import Task, TaskStatus
from core.service import VideoService

log = logging.getLogger("seedance.bot.delivery")

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def mention_only(user_id: int | None) -> discord.AllowedMentions:
    """Ping the requester and nobody else, whatever the text says."""
    users = [discord.Object(user_id)] if user_id else []
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


async def channel_of(client: discord.Client, target: Target) -> discord.abc.Messageable:
    """The channel a target names, from the cache or else from Discord."""
    channel = client.get_channel(target.channel_id)
    if channel is None:
        channel = await client.fetch_channel(target.channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        raise RuntimeError(f"channel {target.channel_id} cannot take messages")
    return channel


async def edit_stale_original(
    channel: discord.abc.Messageable, target: Target, task: Task, tracker: Tracker | None
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


class ResultPoster:
    """Sends result cards, and remembers each task whose post may exist without being recorded yet."""

    def __init__(self, service: VideoService, media_url: MediaUrl) -> None:
        self.service = service
        self._media_url = media_url
        self.maybe_posted: set[str] = set()  # a post may exist that is not recorded yet

    async def post(self, send: Any, task: Task, requester_id: int | None, *, limit: int, **extra: Any) -> None:
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
            self.maybe_posted.add(task.id)
            try:
                await send(**kwargs)
                return
            except discord.HTTPException as exc:
                if exc.status < 500:
                    self.maybe_posted.discard(task.id)  # refused outright: nothing was posted
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
