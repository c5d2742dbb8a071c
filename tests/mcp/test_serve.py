"""`seedance serve`: HTTP MCP and the Discord bot in one process, on one service."""

from __future__ import annotations

import sys
import types
from typing import Any

import httpx
import pytest

import serve as root
from core.config import Settings
from core.errors import ConfigError
from core.service import VideoService
from mcp_server import serve as serve_module


async def test_serve_runs_the_bot_on_the_same_service_as_http(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def run_bot(service: VideoService, bot_settings: Settings) -> None:
        # The bot gets the open service; meanwhile HTTP answers on the same process.
        seen["service"], seen["settings"] = service, bot_settings
        seen["models"] = len(service.models())
        async with httpx.AsyncClient() as raw:
            seen["health"] = (await raw.get(f"http://127.0.0.1:{port}/health")).status_code
        # Returning stops the whole process, as a crashed bot should.

    fake = types.ModuleType("bot.runner")
    fake.run_bot = run_bot  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.runner", fake)
    import socket

    with socket.socket() as probe:  # a free port, as a user would pick one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await root.serve_async(settings, host="127.0.0.1", port=port, with_bot=True)
    assert isinstance(seen["service"], VideoService) and seen["settings"] is settings
    assert seen["models"] > 0 and seen["health"] == 200


async def test_serve_without_a_loadable_bot_says_why(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bot.runner", None)  # import fails
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is set but the Discord bot cannot be loaded"):
        await root.serve_async(settings, host="127.0.0.1", port=0, with_bot=True)


def test_http_mode_without_tokens_refuses_to_start(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="no MCP tokens configured"):
        serve_module.serve_http(settings.model_copy(update={"mcp_tokens": {}}), host="127.0.0.1", port=0)


async def test_a_busy_port_is_a_clear_error(settings: Settings, service: VideoService) -> None:
    async with serve_module.running_http(settings, service, host="127.0.0.1", port=0, handle_signals=False) as first:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            async with serve_module.running_http(
                settings, service, host="127.0.0.1", port=first.port, handle_signals=False
            ):
                pass


def test_serve_with_nothing_to_serve_refuses_to_start(settings: Settings) -> None:
    """`seedance serve` without MCP tokens and without a Discord token would answer 401 to everyone."""
    bare = settings.model_copy(update={"mcp_tokens": {}, "discord_token": None})
    with pytest.raises(ConfigError, match="no MCP tokens configured.*DISCORD_TOKEN"):
        root.serve(bare, host="127.0.0.1", port=0)
