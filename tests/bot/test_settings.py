"""/video usage for members, /video-settings for admins: stored and enforced by the core."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.helpers import SMALL, WAIT, make_settings, result_followup, running_bot, user_key
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator, InteractionHandle
from tests.discord_emulator.models import DEFAULT_MEMBER_PERMISSIONS, MANAGE_GUILD


async def answer(emu: DiscordEmulator, handle: InteractionHandle) -> str:
    message = await emu.wait_for(
        lambda: handle.original if handle.original is not None and not handle.original.loading else None, WAIT)
    assert message.flags & FLAG_EPHEMERAL
    fields = " | ".join(f"{f['name']}: {f['value']}" for e in message.embeds for f in e.get("fields", []))
    return f"{message.content} {fields}"


async def settings(emu: DiscordEmulator, user: object, sub: str, **options: object) -> str:
    return await answer(emu, await emu.invoke_slash(user, name="video-settings", subcommand=sub,  # type: ignore[arg-type]
                                                    options=options))


async def test_only_server_managers_get_the_settings_command(emu: DiscordEmulator, tmp_path: Path) -> None:
    member = emu.add_user("member")
    async with running_bot(emu, make_settings(tmp_path)):
        [command] = [c for c in emu.commands(None) if c["name"] == "video-settings"]
        assert int(command["default_member_permissions"]) == MANAGE_GUILD
        with pytest.raises(PermissionError):
            await emu.invoke_slash(member, name="video-settings", subcommand="show")


async def test_admins_set_limits_roles_channels_and_model_and_the_core_enforces_them(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    admin = emu.add_user("admin", permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD)
    alice, carol = emu.add_user("alice"), emu.add_user("carol")
    patrons = emu.add_role("patrons", members=[carol])
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        shown = await settings(emu, admin, "limits", per_day=1, budget_usd=5.0)
        assert "Saved" in shown and "Videos per member per day: 1" in shown and "$5.00" in shown
        shown = await settings(emu, admin, "role", role={"id": patrons}, per_day=3)
        assert f"<@&{patrons}>: running -, per day 3" in shown
        shown = await settings(emu, admin, "model", model="seedance-2-0-fast")
        assert "`seedance-2-0-fast`" in shown

        first = await emu.invoke_slash(alice, options={"prompt": "one", **SMALL})
        await emu.wait_for(result_followup(first), WAIT)
        [task] = await bot.service.list_tasks(user_key(alice))
        assert task.model == "seedance-2-0-fast" and task.scope == f"discord:{emu.guild.id}"
        refused = await answer(emu, await emu.invoke_slash(alice, options={"prompt": "two", **SMALL}))
        assert "1 videos for today" in refused
        usage = await answer(emu, await emu.invoke_slash(alice, subcommand="usage"))
        assert "Videos today: 1 of 1 (0 left)" in usage and "this server:" in usage and "of $5.00" in usage

        for n in range(2):  # the role's own limit is more generous
            handle = await emu.invoke_slash(carol, options={"prompt": f"carol {n}", **SMALL})
            await emu.wait_for(result_followup(handle), WAIT)

        videos = emu.add_channel(name="videos")
        shown = await settings(emu, admin, "channel", channel=videos, allow=True)
        assert videos.mention in shown
        elsewhere = await answer(emu, await emu.invoke_slash(carol, options={"prompt": "here?", **SMALL}))
        assert "cannot be made in this channel" in elsewhere

        reset = await settings(emu, admin, "limits", reset=True)
        assert "Videos per member per day: operator's limit" in reset
