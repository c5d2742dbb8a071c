"""A local Discord API emulator that a real discord.py 2.7 client runs against in tests.

Typical use (``emulated_discord`` = start + ``patch_discord`` + post-test sanity checks)::

    async with emulated_discord(monkeypatch) as emu:
        async with run_client(MyBot(guild_ready_timeout=0.05), emu) as bot:
            user = emu.add_user("alice")
            handle = await emu.invoke_slash(user, options={"prompt": "a cat"})
            await emu.wait_for(lambda: handle.followups)

See server.py (lifecycle, user actions, fault injection, waits) and world.py (state, queries).
"""

from .gateway import GatewaySession
from .helpers import emulated_discord, patch_discord, patched_discord, run_client
from .interactions import InteractionHandle, WebhookCall
from .models import (
    ADMINISTRATOR,
    DEFAULT_MEMBER_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MIB,
    Channel,
    Guild,
    Member,
    Message,
    MessageVersion,
    StoredAttachment,
    User,
    upload_limit_for_tier,
)
from .records import CallbackRecord, Fault, RequestRecord, SyncRecord
from .server import DiscordEmulator
from .snowflake import make_snowflake, snowflake_time

__all__ = [
    "ADMINISTRATOR",
    "DEFAULT_MEMBER_PERMISSIONS",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "MIB",
    "CallbackRecord",
    "Channel",
    "DiscordEmulator",
    "Fault",
    "GatewaySession",
    "Guild",
    "InteractionHandle",
    "Member",
    "Message",
    "MessageVersion",
    "RequestRecord",
    "StoredAttachment",
    "SyncRecord",
    "User",
    "WebhookCall",
    "emulated_discord",
    "make_snowflake",
    "patch_discord",
    "patched_discord",
    "run_client",
    "snowflake_time",
    "upload_limit_for_tier",
]
