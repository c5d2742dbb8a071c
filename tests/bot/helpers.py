"""Running the real bot (real discord.py, real service on the sandbox) against the Discord emulator."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bot.client import SeedanceBot
from bot.options import BotOptions
from core.config import Limits, Settings
from core.models import Task
from core.service import open_service
from tests.discord_emulator import DiscordEmulator, InteractionHandle, Message, run_client

# Short timings so a test sees several progress edits and sweeps in a second or two.
FAST = BotOptions(progress_interval=0.3, status_min_gap=0.05, sweep_interval=0.5, retry_base=0.1,
                  guild_ready_timeout=0.05)
WAIT = 20.0  # generous upper bound for one sandbox video on a loaded machine; tests finish far sooner
SMALL = {"resolution": "480p", "duration": 4}  # the quickest sandbox render


def make_settings(home: Path, *, speed: float = 20, **changes: Any) -> Settings:
    changes.setdefault("limits", Limits(max_running_per_user=5, max_tasks_per_day=100))
    return Settings(home=home, sandbox_speed=speed, **changes)


@contextlib.asynccontextmanager
async def running_bot(
    emu: DiscordEmulator, settings: Settings, *, options: BotOptions = FAST, sync: bool = False,
    sync_guild: int | None = None,
) -> AsyncIterator[SeedanceBot]:
    """A fresh process, as far as the bot can tell: its own service (same DB), its own client."""
    async with open_service(settings) as service:
        bot = SeedanceBot(service, settings, options=options, sync=sync, sync_guild=sync_guild)
        async with run_client(bot, emu, timeout=10) as client:
            yield client


def png(width: int, height: int) -> bytes:
    """A real (tiny, solid-colour) PNG of the given size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x30\x60\x90" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def user_key(user: Any) -> str:
    return f"discord:{user.id}"


def is_result(message: Message, task_id: str | None = None) -> bool:
    ids = message.custom_ids()
    if task_id is not None:
        return f"seedance:regen:{task_id}" in ids
    return any(i.startswith("seedance:regen:") for i in ids)


def results(emu: DiscordEmulator, task_id: str | None = None) -> list[Message]:
    return [m for m in emu.messages(emu.channel) if is_result(m, task_id)]


def result_followup(handle: InteractionHandle) -> Callable[[], Message | None]:
    return lambda: next((m for m in handle.followups if is_result(m) and not m.deleted), None)


def footer_task_id(message: Message) -> str | None:
    """The task a card or a result is about (an embed's footer, or the result card's buttons)."""
    for embed in message.embeds:
        text = (embed.get("footer") or {}).get("text", "")
        if text.startswith("task "):
            return str(text.split()[1])
    return next((cid.rsplit(":", 1)[1] for cid in message.custom_ids() if cid.startswith("seedance:regen:")), None)


def field(embed: dict[str, Any], name: str) -> str | None:
    return next((f["value"] for f in embed.get("fields", []) if f["name"] == name), None)


async def only_task(bot: SeedanceBot, user: Any) -> Task:
    [task] = await bot.service.list_tasks(user_key(user))
    return task


async def settled(bot: SeedanceBot, task: Task) -> Task:
    """The task once its delivery is recorded.

    Call it after the result message was seen: the delivery that posted it still holds the task's
    lock until it has recorded the delivery, so this waits for that instead of sleeping.
    """
    assert await bot.delivery.deliver(task)
    return await bot.service.get(task.user, task.id, refresh=False)
