"""Pointing discord.py at the emulator, and running a client against it for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import discord
import discord.gateway
import discord.http
import yarl

if TYPE_CHECKING:
    from .server import DiscordEmulator

ClientT = TypeVar("ClientT", bound=discord.Client)


def patch_discord(monkeypatch: Any, emulator: DiscordEmulator) -> None:
    """Send all of discord.py's REST and gateway traffic to ``emulator`` (undone by ``monkeypatch``).

    These two class attributes are where discord.py builds every URL (docs/discord.md §3.4). They
    are process-global, so run one emulator per test.
    """
    monkeypatch.setattr(discord.http.Route, "BASE", emulator.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emulator.gateway_url))


@contextlib.contextmanager
def patched_discord(emulator: DiscordEmulator) -> Iterator[None]:
    """:func:`patch_discord` without pytest (restores the originals on exit)."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emulator.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@contextlib.asynccontextmanager
async def emulated_discord(monkeypatch: Any, **options: Any) -> AsyncIterator[DiscordEmulator]:
    """Start a :class:`DiscordEmulator` (``options`` go to its constructor) and patch discord.py.

    On a clean exit it fails if the emulator raised inside a handler, or if the bot called a route
    the emulator does not model (the bot got a 404 that the real Discord would not have sent).
    """
    from .server import DiscordEmulator

    async with DiscordEmulator(**options) as emulator:
        patch_discord(monkeypatch, emulator)
        yield emulator
    assert emulator.internal_errors == [], f"the emulator raised inside a handler: {emulator.internal_errors}"
    assert emulator.unhandled_requests == [], f"routes the emulator does not model: {emulator.unhandled_requests}"


@contextlib.asynccontextmanager
async def run_client(client: ClientT, emulator: DiscordEmulator, *, timeout: float = 5.0) -> AsyncIterator[ClientT]:
    """Start ``client`` with the emulator's token, yield once it is ready, close it on exit.

    Errors from ``client.start`` (e.g. ``LoginFailure``) are raised here instead of hanging.
    Pass ``guild_ready_timeout=0.05`` to the client, or ``on_ready`` waits 2 s for guilds.
    """
    known = len(emulator.gateway.sessions)
    runner = asyncio.create_task(client.start(emulator.token), name="discord-client")

    async def ready() -> None:
        # Login has finished once this client's session got READY; then the client's own event.
        await emulator.wait_for(lambda: any(s.live for s in emulator.gateway.sessions[known:]), timeout)
        await asyncio.wait_for(client.wait_until_ready(), timeout)

    waiter = asyncio.create_task(ready())
    try:
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            waiter.cancel()
            runner.result()  # raises the start() error
            raise RuntimeError("client.start() returned before the client became ready")
        waiter.result()
        yield client
    finally:
        if not waiter.done():
            waiter.cancel()
        await client.close()
        if not runner.done():
            await runner
