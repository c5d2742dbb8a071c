"""Starting the bot: the token check, the entry points, the intents, when commands are synced."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.runner import run_bot
from bot.sync import STATE_FILE
from core.errors import ConfigError
from core.service import open_service
from tests.bot.helpers import FAST, WAIT, make_settings, running_bot
from tests.discord_emulator import DiscordEmulator

ROOT = Path(__file__).resolve().parents[2]


def test_main_without_a_token_explains_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("SEEDANCE_CONFIG", raising=False)
    monkeypatch.setenv("SEEDANCE_HOME", str(tmp_path))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DISCORD_TOKEN is not set" in err


def test_python_dash_m_bot_runs_the_same_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "SEEDANCE_CONFIG")}
    env["SEEDANCE_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("seedance-bot: DISCORD_TOKEN is not set")
    assert done.stdout == ""


async def test_run_bot_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_service(settings) as service:
        with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
            await run_bot(service, settings)


async def test_run_bot_serves_on_a_shared_service_until_cancelled(emu: DiscordEmulator, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, discord_token=emu.token)
    async with open_service(settings) as service:
        runner = asyncio.create_task(run_bot(service, settings, options=FAST))
        await emu.wait_until_connected(WAIT)
        assert emu.identifies[0]["intents"] == 1  # Intents(guilds=True) and nothing else
        handle = await emu.invoke_slash(emu.add_user("alice"), subcommand="models")
        await emu.wait_for_response(handle)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        assert emu.gateway.sessions[0].closed
        assert await service.list_tasks("discord:nobody") == []  # the caller's service is still open


async def test_commands_sync_on_first_start_and_when_changed_not_on_every_start(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(emu, settings):
        pass
    assert [(c.guild_id, c.names) for c in emu.sync_calls] == [(None, ("video", "video-settings"))]
    names = [o["name"] for o in emu.commands()[0]["options"]]
    assert names == ["generate", "story", "extend", "status", "history", "cancel", "queue", "usage",
                     "models"]

    async with running_bot(emu, settings):
        pass
    assert emu.sync_count == 1  # unchanged: no sync

    async with running_bot(emu, settings, sync=True):
        pass
    assert emu.sync_count == 2  # --sync forces one

    state = tmp_path / STATE_FILE
    state.write_text(json.dumps({"global": "an older command set"}))
    async with running_bot(emu, settings):
        pass
    assert emu.sync_count == 3  # the command set changed since the last sync

    async with running_bot(emu, settings, sync=True, sync_guild=emu.guild.id):
        pass
    assert emu.sync_calls[-1].guild_id == emu.guild.id  # --sync --guild ID: one server, instantly
    assert set(json.loads(state.read_text())) == {"global", f"guild:{emu.guild.id}"}
