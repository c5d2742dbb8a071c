"""``seedance-bot`` / ``python -m bot``: the Discord bot on its own service.

    seedance-bot                 # start; syncs slash commands only when they changed
    seedance-bot --sync          # sync the commands now (globally; can take up to an hour to show)
    seedance-bot --sync --guild ID   # sync to one server, instantly (development)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import discord

from bot.runner import NO_TOKEN, run_bot
from core.config import Settings
from core.errors import SeedanceError
from core.service import open_service

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seedance-bot", description="The Seedance Studio Discord bot.")
    parser.add_argument("--sync", action="store_true", help="sync the slash commands now")
    parser.add_argument("--guild", type=int, metavar="ID",
                        help="sync to this server only (instant; default: DISCORD_GUILD_ID, else global)")
    return parser


async def _serve(settings: Settings, args: argparse.Namespace) -> None:
    async with open_service(settings) as service:
        await run_bot(service, settings, sync=args.sync, sync_guild=args.guild)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SeedanceError as exc:
        print(f"seedance-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if settings.discord_token is None:
        print(f"seedance-bot: {NO_TOKEN}", file=sys.stderr)
        return EXIT_CONFIG
    discord.utils.setup_logging()
    try:
        asyncio.run(_serve(settings, args))
    except discord.LoginFailure:
        print("seedance-bot: Discord refused DISCORD_TOKEN; copy the bot token again from the developer portal",
              file=sys.stderr)
        return EXIT_CONFIG
    except SeedanceError as exc:
        print(f"seedance-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
