"""Timing and size knobs of the bot. The defaults suit Discord; tests shrink the timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.models import Task


def provider_link(task: Task) -> str | None:
    """The provider's own URL of the video when it is a web link (providers keep them about 24 h)."""
    url = task.video_url
    return url if url and url.startswith(("https://", "http://")) else None


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
    # Attachments are read before the first response when that fits this budget, so a bad image
    # can be refused privately; otherwise the bot defers first. Always well inside the 3 seconds.
    prefetch_budget: float = 1.0
    history_page_size: int = 10
    # After a restart, this many recent channel messages are searched for an earlier post of a
    # result before posting it (the crash window between posting and recording the delivery).
    history_lookback: int = 50
    guild_ready_timeout: float = 2.0
    # Where an oversized video can be fetched instead; the default is the provider's web link.
    media_url: Callable[[Task], str | None] = provider_link
