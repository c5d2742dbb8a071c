"""Pure helpers for the panels: the lists and settings the informational commands show privately.

`/video history` and `/video queue` (lists of tasks), `/video models` (the catalog with prices),
`/video usage` and `/video-settings`. Like `bot.render`, nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import discord

from bot import facts
from bot.render import EMOJI, clean, params_text
from core import catalog
from core.catalog import ModelSpec
from core.community import CommunitySettings
from core.config import Limits
from core.models import Task, TaskStatus, ordinal
from core.service import Usage

MODE_LABELS = {"text": "text", "first_frame": "first frame", "first_last_frame": "first + last frame",
               "reference": "reference media"}


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
