"""Timing and size knobs of the bot. The defaults suit Discord; tests shrink the timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.config import Settings
from core.models import Task

MediaUrl = Callable[[Task], str | None]


def provider_link(task: Task) -> str | None:
    """The provider's own URL of the video when it is a web link (providers keep them about 24 h)."""
    url = task.video_url
    return url if url and url.startswith(("https://", "http://")) else None


def media_links(settings: Settings) -> MediaUrl:
    """Links for videos too big to upload.

    With ``SEEDANCE_PUBLIC_URL`` (where ``seedance serve`` is reachable) these are the HTTP
    server's own signed ``/media`` links to the downloaded file, which last as long as the file;
    otherwise, and for files it does not have, the provider's link.
    """
    if not settings.public_url:
        return provider_link
    try:
        # The signing lives in the MCP server for now; it belongs in core (asked for), and then
        # only this import changes.
        from core.links import MediaLinks, load_secret
    except ImportError:
        return provider_link
    links = MediaLinks(load_secret(settings.home), settings.media_dir, settings.public_url)
    return lambda task: links.url_for(task.video_path) or provider_link(task)


@dataclass(frozen=True)
class BotOptions:
    # Interaction edits share webhook rate limits: one progress edit per message every few seconds
    # is what reference bots settle on (docs/discord.md §1.3); the <t:…:R> countdown needs no edits.
    progress_interval: float = 5.0
    # A status change (queued -> running) may edit sooner than the interval, but not closer than this.
    status_min_gap: float = 1.0
    # Stop trusting an interaction token this long before Discord's 15 minutes run out.
    token_margin: float = 60.0
    # How often to look for finished tasks nobody delivered (another process finished them, or a
    # post failed and waits for a retry).
    sweep_interval: float = 60.0
    # A failed post is retried by the sweep after this, doubling per failure (capped at an hour).
    retry_base: float = 10.0
    # Attachments are read before the first response when that fits this budget, so a bad image
    # can be refused privately; otherwise the bot defers first. Always well inside the 3 seconds.
    prefetch_budget: float = 1.0
    history_page_size: int = 10
    # After a restart, this many recent channel messages are searched for an earlier post of a
    # result before posting it (the crash window between posting and recording the delivery).
    history_lookback: int = 50
    guild_ready_timeout: float = 2.0
    # Where an oversized video can be fetched instead; None: `media_links` of the settings.
    media_url: MediaUrl | None = None
