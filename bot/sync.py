"""Syncing the slash commands deliberately, not on every start.

Discord allows 200 command creates per day per guild, and a bulk overwrite on every restart is how
bots hit that (docs/discord.md §1.2). So the bot syncs when asked (``--sync``) or when the command
set differs from the one it last synced, whose hash it keeps in ``<SEEDANCE_HOME>/discord-commands.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger("seedance.bot.sync")

STATE_FILE = "discord-commands.json"


def command_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A stable hash of the global command set as Discord would receive it."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _scope(guild_id: int | None) -> str:
    return f"guild:{guild_id}" if guild_id else "global"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write(path: Path, state: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)


def needs_sync(tree: app_commands.CommandTree[Any], home: Path, guild_id: int | None) -> bool:
    return _read(home / STATE_FILE).get(_scope(guild_id)) != command_hash(tree)


async def sync_commands(
    tree: app_commands.CommandTree[Any], *, home: Path, guild_id: int | None, force: bool = False
) -> bool:
    """Sync to one guild (instant, for development) or globally; True when a sync was sent."""
    digest = command_hash(tree)
    path = home / STATE_FILE
    state = _read(path)
    scope = _scope(guild_id)
    if not force and state.get(scope) == digest:
        log.info("slash commands unchanged since the last sync (%s); not syncing", scope)
        return False
    if guild_id:
        guild = discord.Object(guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
    else:
        synced = await tree.sync()
    state[scope] = digest
    _write(path, state)
    log.info("synced %d slash command(s) (%s)", len(synced), scope)
    return True
