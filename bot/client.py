"""The Discord client: intents, the command tree, buttons, the delivery loop, the sync decision."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from bot import render
from bot.admin import ServerSettings
from bot.commands import VideoCommands
from bot.delivery import Delivery
from bot.group import build_settings_group, build_video_group
from bot.options import BotOptions
from bot.stories import StoryCommands
from bot.story_views import STORY_ITEMS
from bot.sync import sync_commands
from bot.views import DYNAMIC_ITEMS
from core.config import Settings
from core.errors import SeedanceError
from core.service import VideoService

log = logging.getLogger("seedance.bot")


class SeedanceTree(app_commands.CommandTree["SeedanceBot"]):
    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, SeedanceError):
            text = render.error_text(str(original))
        else:
            log.error("command %s failed", interaction.command.qualified_name if interaction.command else "?",
                      exc_info=original)
            text = render.error_text("something went wrong on our side; it has been logged")
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass  # the interaction is gone; the log has it


class SeedanceBot(discord.Client):
    """Runs the ``/video`` commands on an open `VideoService`.

    Only the ``guilds`` intent: slash commands and buttons arrive as interactions, and the guild
    cache is what the channel fallback needs after a restart.
    """

    def __init__(
        self,
        service: VideoService,
        settings: Settings,
        *,
        options: BotOptions | None = None,
        sync: bool = False,
        sync_guild: int | None = None,
    ) -> None:
        self.options = options or BotOptions()
        super().__init__(
            intents=discord.Intents(guilds=True),
            # Nobody is pinged unless a message opts in (results ping their requester only).
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self.options.guild_ready_timeout,
        )
        self.service = service
        self.settings = settings
        self.force_sync = sync
        self.sync_guild = sync_guild or settings.discord_guild_id
        self.tree = SeedanceTree(self)
        self.delivery = Delivery(self, service, self.options)
        self.video = VideoCommands(service, settings, self.delivery, self.options)
        self.admin = ServerSettings(service)
        self.stories = StoryCommands(service, self.delivery)
        self.delivery.extra_sweeps.append(self.stories.sweep)
        self.tree.add_command(build_video_group(self.video, self.admin, self.stories))
        self.tree.add_command(build_settings_group(self.admin, self.video))
        self._unsubscribe: Callable[[], None] | None = None

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC_ITEMS, *STORY_ITEMS)
        await sync_commands(self.tree, home=self.settings.home, guild_id=self.sync_guild, force=self.force_sync)
        self._unsubscribe = self.service.subscribe(self.delivery.on_task_changed)
        self.delivery.start()  # first sweep once ready: delivers what a crash or restart left

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.delivery.close()
        await super().close()
