"""Fetching results: download the video (and last frame) into the media folder, check it, finish.

The task stays leased to this process for the whole download (the heartbeat renews it), so no
other process starts a second download of the same file. A task is final only once its video is
on disk and opens as a video, or the download failed for a reason that will not go away.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path
from typing import Any

from core import media
from core.backoff import backoff_delay
from core.engine.context import EngineContext
from core.media import DownloadError
from core.providers import Provider
from core.store import TaskState

log = logging.getLogger("seedance.fetch")

DOWNLOAD_ATTEMPTS = 3
PERMANENT = ("link_expired", "too_large", "not_a_video")


async def fetch(ctx: EngineContext, state: TaskState, adapter: Provider) -> None:
    """Download a succeeded task's results and mark it final; the caller holds its lease."""
    task = state.task
    folder = ctx.settings.media_dir
    max_bytes = ctx.settings.max_download_mb * 1024 * 1024
    fields: dict[str, Any] = {}
    try:
        for url, name, column in (
            (task.video_url, f"{task.id}.mp4", "video_path"),
            (task.last_frame_url, f"{task.id}-last-frame.png", "last_frame_path"),
        ):
            if not url:
                continue
            try:
                await _download(ctx, adapter, url, folder / name, max_bytes, video=column == "video_path")
                fields[column] = str(folder / name)
            except DownloadError as exc:
                if column == "video_path":
                    fields.update(error_code=exc.code, error_message=str(exc))
                log.warning("task %s: %s download failed: %s", task.id, column, exc)
    except OSError as exc:
        # The media folder is full or unwritable: nothing is lost, the link stays valid for hours.
        # Look again later, with a clear message, instead of failing a paid video.
        delay = backoff_delay(state.poll_errors + 1, base=5.0, cap=300.0)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else f"{type(exc).__name__}: {exc.strerror or exc}"
        log.error("task %s: cannot save its video in %s (%s); retrying in %.0f s", task.id, folder, reason, delay)
        await ctx.store.update_unfinished(task.id, poll_errors=state.poll_errors + 1)
        await ctx.store.release(task.id, ctx.instance, next_check_at=ctx.clock() + delay)
        return
    if not task.video_url:
        fields.update(error_code="no_video", error_message=f"{task.provider} reported success but no video link")
    # Final, and the lease given up, in one write.
    await ctx.store.update_unfinished(task.id, finished_at=ctx.clock(), lease_owner=None, lease_until=None, **fields)
    await ctx.changed(task.id)
    ctx.wake.set()  # a freed slot, or a story's next shot waiting for this video, may start now


async def _download(
    ctx: EngineContext, adapter: Provider, url: str, dest: Path, max_bytes: int, *, video: bool
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            await adapter.download(url, dest, max_bytes=max_bytes)
            if video:  # a truncated file or an HTML error page is not a finished video
                await asyncio.to_thread(media.verify_video, dest)
            return
        except DownloadError as exc:
            if exc.code in PERMANENT or attempt == DOWNLOAD_ATTEMPTS:
                if exc.code == "not_a_video":
                    dest.unlink(missing_ok=True)
                raise
            await ctx.sleep(backoff_delay(attempt, base=2.0, cap=10.0, jitter=False))


async def download_copy(ctx: EngineContext, adapter: Provider, url: str, dest: Path) -> None:
    """Fetch another copy of a finished video (for a process on another machine). Raises `DownloadError`."""
    await _download(ctx, adapter, url, dest, ctx.settings.max_download_mb * 1024 * 1024, video=True)
