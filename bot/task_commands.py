"""What the ``/video`` commands about tasks that exist do: status, history, cancel, the server's queue,
and ``/video models``; and the autocomplete of every task and model option.

`TaskCommands` is the base of the bot's controller, `bot.commands.VideoCommands`, which adds the
commands and buttons that start a video. Each command here answers privately and starts nothing.
"""

from __future__ import annotations

import math
import time
from typing import Any

import discord
from discord import app_commands

from bot import facts, panels, render
from bot.options import BotOptions
from bot.target import scope_of, user_id
from bot.views import history_view
from core.catalog import ModelSpec
from core.config import Settings
from core.errors import SeedanceError, TaskNotFoundError
from core.models import TaskStatus, VideoRequest
from core.service import VideoService

Interaction = discord.Interaction[Any]


class TaskCommands:
    """The catalog, a private refusal, and the commands that look at, list or cancel tasks."""

    def __init__(self, service: VideoService, settings: Settings, options: BotOptions) -> None:
        self.service = service
        self.settings = settings
        self.options = options

    # -- catalog ---------------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return self.settings.provider

    def specs(self, provider: str | None = None) -> list[ModelSpec]:
        return self.service.models(provider or self.provider)

    def spec(self, provider: str, model: str | None) -> ModelSpec | None:
        return facts.spec(provider, model)

    async def default_model(self, interaction: Interaction) -> str | None:
        """The model this server's admins chose for members who pick none (`/video-settings`)."""
        scope = scope_of(interaction.guild_id)
        return None if scope is None else (await self.service.community_settings(scope)).default_model

    # -- responses -------------------------------------------------------------------------------

    async def refuse(self, interaction: Interaction, message: str) -> None:
        """A private one-line refusal (the first response, or a private follow-up)."""
        text = render.error_text(message)
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    # -- /video status, history, cancel, models --------------------------------------------------

    async def status(self, interaction: Interaction, task_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # a refresh may ask the provider
        try:
            task = await self.service.get(user_id(interaction.user), task_id.strip())
        except TaskNotFoundError as exc:
            await self.refuse(interaction, str(exc))
            return
        progress = None if task.is_final else await self.service.progress(task)
        await interaction.followup.send(embed=render.status_embed(task, progress, time.time()), ephemeral=True)

    async def _history_page(self, interaction: Interaction, page: int) -> dict[str, Any]:
        user = user_id(interaction.user)
        size = self.options.history_page_size
        total = await self.service.count_tasks(user)
        pages = max(1, math.ceil(total / size))
        page = min(max(page, 1), pages)
        tasks = await self.service.list_tasks(user, limit=size, offset=(page - 1) * size)
        answer: dict[str, Any] = {"embed": panels.history_embed(tasks, page=page, pages=pages, total=total)}
        view = history_view(page, pages)
        if view is not None:
            answer["view"] = view
        return answer

    async def history(self, interaction: Interaction, page: int) -> None:
        await interaction.response.send_message(ephemeral=True, **await self._history_page(interaction, page))

    async def history_page(self, interaction: Interaction, page: int) -> None:
        await interaction.response.edit_message(**await self._history_page(interaction, page))

    async def cancel(self, interaction: Interaction, task_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # the provider is asked
        try:
            task = await self.service.cancel(user_id(interaction.user), task_id.strip())
        except TaskNotFoundError:
            await self.refuse(interaction, f"No task `{task_id}` among yours: only the person who started a task "
                                           "can cancel it.")
            return
        except SeedanceError as exc:
            await self.refuse(interaction, str(exc))
            return
        await interaction.followup.send(f"⏹️ Cancelled task `{task.id}`.", ephemeral=True)

    async def queue(self, interaction: Interaction) -> None:
        """The server's line: own entries in full, others' without their prompts."""
        tasks = await self.service.queue(scope_of(interaction.guild_id), limit=30)
        embed = panels.queue_embed(tasks, user_id(interaction.user))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def models(self, interaction: Interaction) -> None:
        specs = self.specs()
        estimates: dict[str, tuple[str, float] | None] = {}
        for spec in specs:
            try:
                est = self.service.estimate(VideoRequest(prompt="a short clip", model=spec.id), self.provider)
                estimates[spec.id] = (est.unit, est.amount)
            except SeedanceError:
                estimates[spec.id] = None  # e.g. an image-to-video-only model: no text-only price
        embed = panels.models_embed(specs, estimates, self.provider)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # -- autocomplete ----------------------------------------------------------------------------

    async def model_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        out = []
        for spec in self.specs():
            label = f"{spec.label} ({spec.id})"
            if needle in label.lower():
                out.append(app_commands.Choice(name=label[:100], value=spec.id))
        return out[:25]

    async def duration_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        spec = self.spec(self.provider, getattr(interaction.namespace, "model", None)) or self.spec(self.provider, None)
        if spec is None:
            return []
        values = facts.durations(spec)
        shown = [v for v in values if str(v).startswith(current.strip())] if current.strip() else values
        return [app_commands.Choice(name="let the model choose" if v == -1 else f"{v} seconds", value=v)
                for v in shown][:25]

    async def _task_choices(
        self, interaction: Interaction, current: str, keep: Any = None
    ) -> list[app_commands.Choice[str]]:
        tasks = await self.service.list_tasks(user_id(interaction.user), limit=100)
        needle = current.strip().lower()
        out = []
        for task in tasks:
            if keep is not None and not keep(task):
                continue
            if needle and needle not in task.id.lower() and needle not in task.prompt.lower():
                continue
            out.append(app_commands.Choice(name=render.choice_name(task), value=task.id))
        return out[:25]

    async def any_task_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._task_choices(interaction, current)

    async def active_task_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._task_choices(interaction, current, keep=lambda t: not t.is_final)

    async def extendable_task_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._task_choices(
            interaction, current,
            keep=lambda t: t.status is TaskStatus.SUCCEEDED and bool(t.last_frame_path or t.last_frame_url))
