"""Running the bot on a service someone else opened (``seedance serve`` shares one with MCP)."""

from __future__ import annotations

from bot.client import SeedanceBot
from bot.options import BotOptions
from core.config import Settings
from core.errors import ConfigError
from core.service import VideoService

NO_TOKEN = ("DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications, "
            "copy its token and export DISCORD_TOKEN=...")


async def run_bot(
    service: VideoService,
    settings: Settings,
    *,
    sync: bool = False,
    sync_guild: int | None = None,
    options: BotOptions | None = None,
) -> None:
    """Log in and serve until cancelled or closed; the service stays open for the caller to close.

    Raises:
        ConfigError: no ``DISCORD_TOKEN``.
        discord.LoginFailure: Discord refused the token.
    """
    if settings.discord_token is None:
        raise ConfigError(NO_TOKEN)
    bot = SeedanceBot(service, settings, options=options, sync=sync, sync_guild=sync_guild)
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())
