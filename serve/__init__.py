"""``seedance serve``: the composition root that runs several front ends in one process.

One `VideoService` is opened here and shared: the MCP server over streamable HTTP
(`mcp_server.serve.running_http`) and, when ``DISCORD_TOKEN`` is set, the Discord bot
(`bot.runner.run_bot`), so a task started from either shows up in both and is watched exactly once.
This is the only package that imports more than one front end; no front end imports it back
(the ``seedance serve`` command of `cli` hands over to it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from core.config import Settings
from core.errors import ConfigError
from core.service import VideoService, open_service
from mcp_server.serve import NO_TOKENS, running_http

log = logging.getLogger("seedance.serve")

BotRunner = Callable[[VideoService, Settings], Coroutine[Any, Any, None]]


def load_bot() -> BotRunner:
    """The Discord bot's entry point, imported only when a token is configured (discord.py is heavy)."""
    try:
        from bot.runner import run_bot
    except ImportError as exc:
        raise ConfigError(
            f"DISCORD_TOKEN is set but the Discord bot cannot be loaded ({exc}); "
            "unset DISCORD_TOKEN to serve MCP only"
        ) from None
    return run_bot


async def serve_async(
    settings: Settings, *, host: str | None = None, port: int | None = None, with_bot: bool | None = None
) -> None:
    """Open the service, serve HTTP (and the bot), and return when either stops."""
    host = host or settings.mcp_host
    port = settings.mcp_port if port is None else port
    if with_bot is None:
        with_bot = settings.discord_token is not None
    run_bot = load_bot() if with_bot else None  # fail before anything is opened
    if not settings.mcp_tokens:
        log.warning("no MCP tokens configured (SEEDANCE_MCP_TOKENS): every /mcp request will get 401")
    async with open_service(settings, resume=True) as service, running_http(
        settings, service, host=host, port=port
    ) as http:
        print(f"seedance: MCP over HTTP at {http.base_url}/mcp", file=sys.stderr)
        jobs: list[asyncio.Task[Any]] = [http.task]
        if run_bot is not None:
            jobs.append(asyncio.create_task(run_bot(service, settings), name="seedance-bot"))
            print("seedance: Discord bot starting", file=sys.stderr)
        try:
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in jobs[1:]:
                job.cancel()
            await asyncio.gather(*jobs[1:], return_exceptions=True)
        for job in done:
            if job is not http.task and not job.cancelled() and job.exception() is None:
                log.warning("the Discord bot stopped; the HTTP server stops too")
            job.result()  # re-raise what stopped it


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """``seedance serve``: MCP over streamable HTTP, plus the Discord bot when DISCORD_TOKEN is set.

    Refuses to start when it would serve nobody: no MCP token and no Discord bot.

    Raises:
        ConfigError: nothing to serve, the bot cannot be loaded, or the port is busy.
    """
    if not settings.mcp_tokens and settings.discord_token is None:
        raise ConfigError(NO_TOKENS + ", or set DISCORD_TOKEN to run the Discord bot")
    asyncio.run(serve_async(settings, host=host, port=port))
