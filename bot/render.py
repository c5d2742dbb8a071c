"""Pure helpers: tasks, progress and models turned into Discord embeds and message text.

Nothing here does I/O, so every shape the bot posts can be unit-tested. A user's prompt only ever
appears inside embeds (which never ping anyone) and is escaped besides; message content carries
at most the requester's own mention.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import discord

from bot import facts
from core import catalog
from core.catalog import ModelSpec
from core.community import CommunitySettings
from core.config import Limits
from core.models import QueuePlace, Story, StoryStatus, Task, TaskStatus, VideoRequest, ordinal
from core.scheduling import Progress
from core.service import Usage

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
MODE_LABELS = {"text": "text", "first_frame": "first frame", "first_last_frame": "first + last frame",
               "reference": "reference media"}


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


def history_embed(tasks: list[Task], *, page: int, pages: int, total: int) -> discord.Embed:
    """One page of the user's own tasks, newest first."""
    embed = discord.Embed(title="Your videos", colour=0x5865F2)
    if not tasks:
        embed.description = "No videos yet: try `/video generate`." if total == 0 else "This page is empty."
    else:
        embed.description = "\n".join(history_line(t) for t in tasks)
    embed.set_footer(text=f"page {page} of {pages} · {total} task{'s' if total != 1 else ''}")
    return embed


def history_line(task: Task) -> str:
    when = discord.utils.format_dt(task.created_at, "R")
    return f"`{task.id}` {EMOJI[task.status]} {task.status.value} · {when} · {clean(task.prompt, 60) or '(no prompt)'}"


def choice_name(task: Task) -> str:
    """An autocomplete label (Discord allows 1-100 characters)."""
    prompt = " ".join(task.prompt.split())
    name = f"{task.id} · {task.status.value} · {prompt}" if prompt else f"{task.id} · {task.status.value}"
    return name if len(name) <= 100 else name[:99] + "…"


def price_text(spec: ModelSpec, estimate: tuple[str, float] | None) -> str:
    """The price of a default clip, in the provider's unit and in USD where the catalog knows it."""
    if estimate is None:
        return "price unknown"
    unit, amount = estimate
    usd = catalog.usd(spec.provider, spec.id, unit, amount)
    text = f"{catalog.format_amount(unit, amount)} for a default clip"
    if usd is not None:
        text += " (free)" if usd == 0 else f" (≈ {catalog.format_usd(usd)})"
    return text


def models_embed(
    specs: Iterable[ModelSpec], estimates: Mapping[str, tuple[str, float] | None], provider: str
) -> discord.Embed:
    """`/video models`: each model with its limits and the price of a default clip."""
    embed = discord.Embed(title=f"Models on {provider}", colour=0x5865F2)
    for spec in list(specs)[:25]:
        modes = ", ".join(label for mode, label in MODE_LABELS.items() if mode in spec.modes)
        lines = [
            f"`{spec.id}`",
            f"{'/'.join(spec.resolutions)} · {facts.durations_text(spec)} · {'audio' if spec.audio else 'silent'}",
            f"ratios {', '.join(spec.ratios)}",
            f"inputs: {modes}",
            price_text(spec, estimates.get(spec.id)),
        ]
        name = spec.label + (" ★ default" if spec.newest_default else "")
        embed.add_field(name=name[:256], value="\n".join(lines)[:1024], inline=False)
    embed.set_footer(text="Prices are estimates before paying; the provider's bill is what counts.")
    return embed


def error_text(message: str) -> str:
    """A one-line refusal shown to the user (ephemeral wherever Discord allows)."""
    return ("⚠️ " + discord.utils.escape_mentions(message))[:MAX_CONTENT]


def queue_embed(tasks: Sequence[Task], viewer: str) -> discord.Embed:
    """`/video queue`: what runs, then what waits, in this server. The viewer's own entries show in
    full; others' show who and what model, never their prompts."""
    embed = discord.Embed(title="Queue in this server", colour=0x5865F2)
    running = [t for t in tasks if t.status is not TaskStatus.WAITING]
    waiting = [t for t in tasks if t.status is TaskStatus.WAITING]
    if not tasks:
        embed.description = "Nothing is running or waiting: `/video generate` starts at once."
        return embed
    if running:
        embed.add_field(name=f"Running ({len(running)})",
                        value="\n".join(queue_line(t, viewer) for t in running[:15])[:1024], inline=False)
    if waiting:
        embed.add_field(name=f"Waiting ({len(waiting)})",
                        value="\n".join(queue_line(t, viewer) for t in waiting[:15])[:1024], inline=False)
    embed.set_footer(text="Your own entries show in full; others' without their prompts.")
    return embed


def queue_line(task: Task, viewer: str) -> str:
    head = f"**{ordinal(task.queue.overall)}** " if task.queue is not None else f"{EMOJI[task.status]} "
    settings = f"{task.model} · {params_text(task.request)}"
    if task.user == viewer:
        return f"{head}`{task.id}` you · {settings} · {clean(task.prompt, 80) or '(no prompt)'}"
    kind, _, ident = task.user.partition(":")
    who = f"<@{ident}>" if kind == "discord" and ident.isdigit() else "someone"
    return f"{head}{who} · {settings}"


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


def link_note(task: Task, *, link: str | None, size: int | None, limit: int | None) -> str:
    """Why the card has no video in it, and where the video is instead."""
    if size is not None:
        where = f"this channel's {fmt_size(limit)} upload limit" if limit else "what this channel accepts"
        over = f"At {fmt_size(size)} it is over {where}"
        if link:
            return f"{over}, so here is a link: {link}"
        return f"{over} and there is no public link to it (task `{task.id}`: ask the bot's operator for the file)."
    if link:
        return f"Here is a link: {link}"
    return f"The file is not available (task `{task.id}`)."


# -- usage and server settings ----------------------------------------------------------------------


def _of(used: float, limit: float | None, unit: str = "") -> str:
    if limit is None:
        return f"{used:g}{unit} (no limit)"
    return f"{used:g}{unit} of {limit:g}{unit} ({max(limit - used, 0):g}{unit} left)"


def usage_embed(usage: Usage) -> discord.Embed:
    """`/video usage`: the member's videos and spending today, and what is left of their limits."""
    limits = usage.limits
    embed = discord.Embed(title="Your usage today", colour=0x5865F2)
    embed.add_field(name="Videos today", value=_of(usage.tasks_today, limits.max_tasks_per_day))
    embed.add_field(name="Running now", value=_of(usage.running, limits.max_running_per_user)
                    + (f" · {usage.waiting} waiting" if usage.waiting else ""))
    spent = [catalog.format_amount(unit, amount) for unit, amount in sorted(usage.spent_by_unit.items()) if amount]
    money = " + ".join(spent) or "nothing yet"
    embed.add_field(name="Spent today", value=f"{money} ({catalog.format_usd(usage.usd_today)})", inline=False)
    budgets = []
    if limits.daily_budget_usd is not None:
        budgets.append(f"yours: {catalog.format_usd(usage.usd_left)} left of "
                       f"{catalog.format_usd(limits.daily_budget_usd)}")
    if limits.daily_budget is not None:
        budgets.append(f"yours: {catalog.format_amount(limits.daily_budget_unit, limits.daily_budget)} a day")
    if limits.community_daily_budget_usd is not None:
        used = usage.community_usd_today or 0.0
        budgets.append(f"this server: {catalog.format_usd(used)} used of "
                       f"{catalog.format_usd(limits.community_daily_budget_usd)}")
    if budgets:
        embed.add_field(name="Daily budgets", value="\n".join(budgets), inline=False)
    embed.set_footer(text="Days run from midnight UTC. Over the running limit a new video waits its turn.")
    return embed


def settings_embed(settings: CommunitySettings, operator: Limits) -> discord.Embed:
    """`/video-settings`: this server's limits, channels, role overrides and default model."""
    def limit(value: int | float | None, ceiling: int | float | None) -> str:
        if value is None:
            return "operator's limit" + (f" ({ceiling:g})" if ceiling is not None else " (none)")
        return f"{value:g}"

    embed = discord.Embed(title="Video settings for this server", colour=0x5865F2)
    embed.add_field(name="Running per member",
                    value=limit(settings.max_running_per_user, operator.max_running_per_user))
    embed.add_field(name="Videos per member per day",
                    value=limit(settings.max_tasks_per_day, operator.max_tasks_per_day))
    budget = settings.daily_budget_usd
    embed.add_field(name="Server budget per day", value="none" if budget is None else catalog.format_usd(budget)
                    if budget else "$0 (nothing can be made)")
    channels = ", ".join(f"<#{c}>" for c in settings.allowed_channels) or "every channel"
    embed.add_field(name="Channels", value=channels[:1024], inline=False)
    roles = [f"<@&{role}>: running {r.max_running_per_user or '-'}, per day {r.max_tasks_per_day or '-'}"
             for role, r in settings.role_overrides.items()]
    embed.add_field(name="Role overrides", value="\n".join(roles)[:1024] or "none", inline=False)
    embed.add_field(name="Default model", value=f"`{settings.default_model}`" if settings.default_model
                    else "the provider's newest")
    embed.set_footer(text="The operator's limits are the ceiling; roles get the most generous of their overrides.")
    return embed


# -- stories ----------------------------------------------------------------------------------------

STORY_EMOJI = {StoryStatus.WAITING: "🕒", StoryStatus.RUNNING: "🎬", StoryStatus.SUCCEEDED: "✅",
               StoryStatus.FAILED: "❌", StoryStatus.CANCELLED: "⏹️"}


def shot_line(index: int, task: Task, fraction: float | None) -> str:
    state = EMOJI[task.status]
    if task.status is TaskStatus.RUNNING or (task.status is TaskStatus.QUEUED and fraction):
        state += f" {progress_bar(fraction or 0.0, 8)} {fraction or 0.0:.0%}"
    elif task.status is TaskStatus.WAITING:
        state += " waiting" + (f", {place_text(task.queue)}" if task.queue else " for the shot before")
    elif task.status is TaskStatus.SUCCEEDED:
        state += " done"
    else:
        state += f" {task.status.value}"
    return f"**{index + 1}.** {state} · {clean(' '.join(task.prompt.split()), 70)}"


def story_shots(story: Story) -> str:
    lines = [shot_line(i, t, story.progress[i] if i < len(story.progress) else None) for i, t in enumerate(story.shots)]
    return "\n".join(lines)[:3900]


def story_embed(story: Story) -> discord.Embed:
    """The story's card while it is made: each shot's progress."""
    done = sum(1 for t in story.shots if t.status is TaskStatus.SUCCEEDED)
    title = f"{STORY_EMOJI[story.status]} Story: {done} of {len(story.shots)} shots done"
    if story.status is StoryStatus.RUNNING and done == len(story.shots):
        title = "🎬 Story: joining the shots"
    elif story.is_final:
        title = f"{STORY_EMOJI[story.status]} Story {story.status.value}"
    embed = discord.Embed(title=title, description=story_shots(story), colour=0x3498DB)
    if story.error is not None:
        embed.add_field(name="Why", value=clean(story.error.message, 1000), inline=False)
    embed.set_footer(text=f"story {story.id}")
    return embed


def story_header(story: Story, requester_id: int | None) -> str:
    who = f"<@{requester_id}> your" if requester_id else "Your"
    seconds = sum(t.request.duration or 0 for t in story.shots)
    if story.status is StoryStatus.SUCCEEDED:
        return f"### 🎞️ {who} story is ready: {len(story.shots)} shots, about {seconds} s"
    reason = story.error.message if story.error else f"the story {story.status.value}"
    return f"### {STORY_EMOJI[story.status]} {who} story {story.status.value}\n{clean(reason, 1500)}"
