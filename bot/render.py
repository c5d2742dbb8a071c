"""Pure helpers: one task and its progress turned into Discord embeds and message text.

Nothing here does I/O, so every shape the bot posts can be unit-tested. A user's prompt only ever
appears inside embeds (which never ping anyone) and is escaped besides; message content carries
at most the requester's own mention. The lists and settings panels are in `bot.panels`, a story's
card text in `bot.story_render`.
"""

from __future__ import annotations

import math

import discord

from core import catalog
from core.models import QueuePlace, Story, Task, TaskStatus, VideoRequest, ordinal
from core.scheduling import Progress

COLOURS = {
    TaskStatus.WAITING: 0x95A5A6,
    TaskStatus.PENDING: 0x95A5A6,
    TaskStatus.QUEUED: 0x95A5A6,
    TaskStatus.RUNNING: 0x3498DB,
    TaskStatus.SUCCEEDED: 0x2ECC71,
    TaskStatus.FAILED: 0xE74C3C,
    TaskStatus.EXPIRED: 0xE67E22,
    TaskStatus.CANCELLED: 0x7F8C8D,
}
EMOJI = {
    TaskStatus.WAITING: "🕒",
    TaskStatus.PENDING: "⏳",
    TaskStatus.QUEUED: "⏳",
    TaskStatus.RUNNING: "🎬",
    TaskStatus.SUCCEEDED: "✅",
    TaskStatus.FAILED: "❌",
    TaskStatus.EXPIRED: "⌛",
    TaskStatus.CANCELLED: "⏹️",
}
WORDS = {
    TaskStatus.WAITING: "Waiting",
    TaskStatus.PENDING: "Submitting",
    TaskStatus.QUEUED: "Queued",
    TaskStatus.RUNNING: "Generating",
    TaskStatus.SUCCEEDED: "Finished",
    TaskStatus.FAILED: "Failed",
    TaskStatus.EXPIRED: "Expired",
    TaskStatus.CANCELLED: "Cancelled",
}
MAX_CONTENT = 2000


def clean(text: str, limit: int) -> str:
    """User text made inert (no markdown, no mentions) and cut to ``limit`` characters."""
    text = discord.utils.escape_mentions(discord.utils.escape_markdown(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_seconds(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def fmt_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def progress_bar(fraction: float, width: int = 12) -> str:
    filled = min(max(int(fraction * width), 0), width)
    return "▰" * filled + "▱" * (width - filled)


def params_text(request: VideoRequest) -> str:
    """The generation settings in one line, e.g. ``720p · 16:9 · 5 s · audio · seed 7``."""
    parts: list[str] = []
    if request.resolution:
        parts.append(request.resolution)
    if request.ratio:
        parts.append(request.ratio)
    if request.duration is not None:
        parts.append("model picks length" if request.duration == -1 else f"{request.duration} s")
    if request.generate_audio is not None:
        parts.append("audio" if request.generate_audio else "silent")
    if request.seed is not None:
        parts.append(f"seed {request.seed}")
    if request.first_frame() is not None:
        parts.append("first frame" + (" + last frame" if request.last_frame() is not None else ""))
    return " · ".join(parts) or "model defaults"


def took(task: Task) -> float | None:
    """Seconds from submission to the end, for a finished task."""
    if task.finished_at is None:
        return None
    start = task.submitted_at or task.created_at
    return max((task.finished_at - start).total_seconds(), 0.0)


def cost_text(task: Task) -> str | None:
    amount = task.cost.actual if task.cost.actual is not None else task.cost.estimated
    if amount is None:
        return None
    kind = "" if task.cost.actual is not None else "≈ "
    return f"{kind}{amount:,.0f} {task.cost.unit}"


def _base(task: Task, title: str) -> discord.Embed:
    embed = discord.Embed(title=title, description=clean(task.prompt, 1000) or "*(no prompt)*",
                          colour=COLOURS[task.status])
    embed.set_footer(text=f"task {task.id}")
    return embed


def place_text(place: QueuePlace) -> str:
    """``2nd in line`` (the server's line), with the user's own place when they wait more than once."""
    text = f"{ordinal(place.overall)} in line"
    if place.yours > 1:
        text += f" ({ordinal(place.yours)} of yours)"
    return text


def waiting_embed(task: Task) -> discord.Embed:
    """The card of a task that waits in the server's queue: nothing sent, nothing paid yet."""
    place = task.queue
    title = f"{EMOJI[task.status]} Waiting, {place_text(place)}" if place else f"{EMOJI[task.status]} Waiting…"
    embed = _base(task, title)
    if place is not None:
        embed.add_field(name="Queue", value=f"{place.waiting} waiting in this server")
    embed.add_field(name="Model", value=task.model)
    embed.add_field(name="Settings", value=params_text(task.request))
    embed.add_field(name="Starts", value="by itself when a slot frees; /video cancel drops it for free",
                    inline=False)
    return embed


def progress_embed(task: Task, progress: Progress, now: float) -> discord.Embed:
    """The card in the original message while a task waits or runs."""
    if task.status is TaskStatus.WAITING:
        return waiting_embed(task)
    embed = _base(task, f"{EMOJI[task.status]} {WORDS[task.status]}…")
    embed.add_field(name="Elapsed", value=fmt_seconds(progress.elapsed))
    if progress.remaining is not None:
        # Discord renders <t:…:R> as a live countdown, so the card needs no per-second edits.
        ready = f"<t:{math.ceil(now + progress.remaining)}:R>"
    else:
        ready = "taking longer than usual"
    embed.add_field(name="Ready", value=ready)
    embed.add_field(name="Progress", value=f"{progress_bar(progress.fraction)} {progress.fraction:.0%}")
    embed.add_field(name="Model", value=task.model)
    embed.add_field(name="Settings", value=params_text(task.request))
    return embed


def final_status_embed(task: Task, *, result_below: bool = True) -> discord.Embed:
    """What the original progress card becomes once the task is over."""
    spent = took(task)
    title = f"{EMOJI[task.status]} {WORDS[task.status]}"
    if task.status is TaskStatus.SUCCEEDED and spent is not None:
        title += f" in {fmt_seconds(spent)}"
    embed = _base(task, title)
    if task.status is TaskStatus.CANCELLED:
        embed.add_field(name="Result", value="cancelled by its owner")
    elif result_below:
        embed.add_field(name="Result", value="posted in the message below")
    return embed


def result_embed(task: Task) -> discord.Embed:
    """The embed on the message that carries the video (or says why there is none)."""
    ok = task.status is TaskStatus.SUCCEEDED and task.error is None
    embed = _base(task, "🎞️ Your Seedance video" if ok else f"{EMOJI[task.status]} Video {WORDS[task.status].lower()}")
    embed.add_field(name="Model", value=task.model)
    embed.add_field(name="Settings", value=params_text(task.request))
    spent = took(task)
    if spent is not None:
        embed.add_field(name="Took", value=fmt_seconds(spent))
    cost = cost_text(task)
    if cost:
        embed.add_field(name="Cost", value=cost)
    if task.error is not None:
        embed.add_field(name="Why", value=clean(task.error.message, 1000), inline=False)
    return embed


def status_embed(task: Task, progress: Progress | None, now: float) -> discord.Embed:
    """`/video status`: the live card for a running task, the outcome for a finished one."""
    if progress is not None and not task.is_final:
        return progress_embed(task, progress, now)
    embed = result_embed(task)
    embed.title = f"{EMOJI[task.status]} {WORDS[task.status]}"
    if task.status is TaskStatus.SUCCEEDED and task.is_final and task.video_url and task.video_url.startswith("http"):
        embed.add_field(name="Link", value=task.video_url, inline=False)
    embed.add_field(name="Created", value=discord.utils.format_dt(task.created_at, "R"))
    return embed


def choice_name(task: Task) -> str:
    """An autocomplete label (Discord allows 1-100 characters)."""
    prompt = " ".join(task.prompt.split())
    name = f"{task.id} · {task.status.value} · {prompt}" if prompt else f"{task.id} · {task.status.value}"
    return name if len(name) <= 100 else name[:99] + "…"


def error_text(message: str) -> str:
    """A one-line refusal shown to the user (ephemeral wherever Discord allows)."""
    return ("⚠️ " + discord.utils.escape_mentions(message))[:MAX_CONTENT]


# -- the result card (components v2; laid out by bot.views.result_card) ----------------------------


def card_header(task: Task, requester_id: int | None) -> str:
    """The card's first line: the outcome, with the requester's mention (the only ping it carries)."""
    who = f"<@{requester_id}> your" if requester_id else "Your"
    if task.status is TaskStatus.SUCCEEDED and task.error is None:
        return f"### 🎞️ {who} video is ready"
    verb = {TaskStatus.EXPIRED: "expired", TaskStatus.CANCELLED: "was cancelled"}.get(task.status, "failed")
    reason = task.error.message if task.error else f"the task {task.status.value}"
    return f"### {EMOJI[task.status]} {who} video {verb}\n{clean(reason, 1500)}"


def card_prompt(task: Task) -> str:
    return "> " + (clean(" ".join(task.prompt.split()), 1500) or "*(no prompt)*")


def money_text(task: Task) -> str | None:
    """``12,345 tokens (≈ $0.12)``: the provider's unit, and US dollars where a price is published."""
    amount = task.cost.actual if task.cost.actual is not None else task.cost.estimated
    if amount is None:
        return None
    estimated, actual = catalog.task_usd(task)
    usd = actual if task.cost.actual is not None else estimated
    approx = "" if task.cost.actual is not None else "≈ "
    text = f"{approx}{catalog.format_amount(task.cost.unit, amount)}"
    return text + (f" ({catalog.format_usd(usd)})" if usd is not None else "")


def card_facts(task: Task) -> str:
    """Model, length, seed and cost in one small line."""
    parts = [f"`{task.model}`", params_text(task.request)]
    spent = took(task)
    if spent is not None and task.status is TaskStatus.SUCCEEDED:
        parts.append(f"took {fmt_seconds(spent)}")
    charged = catalog.charge(task)
    if task.status is TaskStatus.SUCCEEDED or charged is None:
        money = money_text(task)
        if money:
            parts.append(money)
    else:
        parts.append(charged.text)
    parts.append(f"task `{task.id}`")
    return "-# " + " · ".join(parts)


def fit_note(source: int, fitted: int, limit: int) -> str:
    return (f"-# Re-encoded from {fmt_size(source)} to {fmt_size(fitted)} to fit this channel's "
            f"{fmt_size(limit)} upload limit.")


def link_note(item: Task | Story, *, link: str | None, size: int | None, limit: int | None) -> str:
    """Why the card has no video in it, and where the video is instead."""
    name = f"{'story' if isinstance(item, Story) else 'task'} `{item.id}`"
    if size is not None:
        where = f"this channel's {fmt_size(limit)} upload limit" if limit else "what this channel accepts"
        over = f"At {fmt_size(size)} it is over {where}"
        if link:
            return f"{over}, so here is a link: {link}"
        return f"{over} and there is no public link to it ({name}: ask the bot's operator for the file)."
    if link:
        return f"Here is a link: {link}"
    return f"The file is not available ({name})."
