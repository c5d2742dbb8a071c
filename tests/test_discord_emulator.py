"""The Discord emulator, exercised by a real discord.py 2.7 client (no mocks of discord.py).

A small test bot (``VideoBot``) has the shape the real bot will have: ``Intents(guilds=True)``, a
``/video`` group synced to the dev guild, an attachment option, autocomplete, and a ``DynamicItem``
button that must keep working after a restart.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.discord_emulator import (
    DEFAULT_MEMBER_PERMISSIONS,
    FLAG_EPHEMERAL,
    MIB,
    DiscordEmulator,
    emulated_discord,
    run_client,
)
from tests.discord_emulator.interactions import build_command_data

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MODELS = ["seedance-1-lite", "seedance-1-pro", "seedance-2-pro"]


class Regen(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"sd:regen:(?P<task>\d+)"):
    """A per-task button whose state lives in its custom_id, so it survives restarts."""

    def __init__(self, task: int) -> None:
        super().__init__(discord.ui.Button(label="Regenerate", custom_id=f"sd:regen:{task}"))
        self.task = task

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[discord.ui.View], match: Any, /
    ) -> Regen:
        return cls(int(match["task"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: VideoBot = interaction.client  # type: ignore[assignment]
        await bot.record("regen", self.task, interaction.user.id)
        preview = discord.File(io.BytesIO(MP4), "preview.mp4")
        await interaction.response.send_message(f"Regenerating task {self.task}", ephemeral=True, file=preview)


class ExtendModal(discord.ui.Modal, title="Extend video"):
    # One legacy text input (sent in an action row) and one inside a Label (components v2 modals).
    prompt: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(label="Prompt", custom_id="prompt")
    seconds: discord.ui.Label[ExtendModal] = discord.ui.Label(
        text="Seconds", component=discord.ui.TextInput(custom_id="seconds")
    )

    def __init__(self, task: int) -> None:
        super().__init__(timeout=None)
        self.task = task

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: VideoBot = interaction.client  # type: ignore[assignment]
        assert isinstance(self.seconds.component, discord.ui.TextInput)
        await bot.record("extend", self.task, self.prompt.value, self.seconds.component.value)
        await interaction.response.send_message(f"Extending task {self.task}")


class Extend(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"sd:extend:(?P<task>\d+)"):
    def __init__(self, task: int) -> None:
        super().__init__(discord.ui.Button(label="Extend", custom_id=f"sd:extend:{task}"))
        self.task = task

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[discord.ui.View], match: Any, /
    ) -> Extend:
        return cls(int(match["task"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ExtendModal(self.task))


class VideoGroup(app_commands.Group):
    def __init__(self, bot: VideoBot) -> None:
        super().__init__(name="video", description="Generate videos")
        self.bot = bot

    @app_commands.command(description="Generate a video")
    @app_commands.describe(prompt="What happens", image="First frame", model="Model")
    async def generate(
        self, interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None,
        model: str = "seedance-1-lite",
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await image.read() if image is not None else b""
        await self.bot.record("generate", prompt, model, image.filename if image else None, data,
                              interaction.filesize_limit)
        await interaction.edit_original_response(content=f"Rendering `{prompt}`...")
        view = discord.ui.View(timeout=None)
        view.add_item(Regen(42))
        view.add_item(Extend(42))
        await interaction.followup.send("Done", file=discord.File(io.BytesIO(MP4), "out.mp4"), view=view)

    @generate.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m]

    @app_commands.command(description="Answers only after the test lets it")
    async def slow(self, interaction: discord.Interaction) -> None:
        self.bot.entered.set()
        await self.bot.gate.wait()
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            await self.bot.record("defer_failed", exc.status, exc.code)

    @app_commands.command(description="Deliver after a long job")
    async def deliver(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.followup.send(file=discord.File(io.BytesIO(MP4), "v.mp4"))
        except discord.HTTPException as exc:
            await self.bot.record("followup_failed", exc.status, exc.code, interaction.is_expired())
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.channel.send(
                f"{interaction.user.mention} your video is ready",
                file=discord.File(io.BytesIO(MP4), "v.mp4"),
                allowed_mentions=discord.AllowedMentions(users=[interaction.user]),
            )

    @app_commands.command(description="Answer privately")
    async def private(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        first = await interaction.followup.send("only you can see this", wait=True)
        second = await interaction.followup.send("and this", ephemeral=True, wait=True)
        await self.bot.record("private", first.id, second.id)

    @app_commands.command(description="Uses every message route once")
    async def manage(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        original = await interaction.original_response()  # GET @original
        # Edit first: a follow-up sent while the original is still "thinking" would replace it.
        await interaction.edit_original_response(content="working")  # PATCH @original
        note = await interaction.followup.send("step 1", wait=True)
        await note.edit(content="step 2")  # PATCH follow-up
        await note.delete()  # DELETE follow-up
        await interaction.delete_original_response()  # DELETE @original
        channel = await self.bot.fetch_channel(interaction.channel_id or 0)  # GET channel
        assert isinstance(channel, discord.TextChannel)
        posted = await channel.send("status: queued")
        await posted.edit(content="status: done")
        fetched = await channel.fetch_message(posted.id)
        await self.bot.record("manage", original.id, fetched.content, posted.id)
        await posted.delete()

    @app_commands.command(description="Upload a file of the given size")
    async def big(self, interaction: discord.Interaction, size: int) -> None:
        await interaction.response.defer()
        for where in ("followup", "channel"):
            file = discord.File(io.BytesIO(bytes(size)), "big.mp4")
            try:
                if where == "followup":
                    await interaction.followup.send(file=file)
                else:
                    assert isinstance(interaction.channel, discord.TextChannel)
                    await interaction.channel.send(file=file)
            except discord.HTTPException as exc:
                await self.bot.record(where, exc.status, exc.code)
            else:
                await self.bot.record(where, "ok", None)


class VideoBot(discord.Client):
    def __init__(self, guild_id: int, *, sync: bool = True) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(VideoGroup(self))
        self.dev_guild = discord.Object(guild_id)
        self.sync = sync
        self.events: list[tuple[Any, ...]] = []
        self._changed = asyncio.Condition()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Regen, Extend)
        if self.sync:
            self.tree.copy_global_to(guild=self.dev_guild)
            await self.tree.sync(guild=self.dev_guild)

    async def record(self, *event: Any) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_event(self, name: str, timeout: float = 5.0) -> tuple[Any, ...]:
        def find() -> tuple[Any, ...] | None:
            return next((e for e in self.events if e[0] == name), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(find)
        found = find()
        assert found is not None
        return found


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordEmulator]:
    async with emulated_discord(monkeypatch) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: DiscordEmulator) -> AsyncIterator[VideoBot]:
    async with run_client(VideoBot(emu.guild.id), emu) as client:
        yield client


def by_route(emu: DiscordEmulator, route: str) -> Callable[[], list[Any]]:
    return lambda: emu.requests_for(route)


async def test_client_logs_in_identifies_with_guilds_intent_and_syncs_the_guild(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    assert bot.user is not None and bot.user.id == emu.bot_user.id
    assert emu.identifies[0]["intents"] == 1  # Intents(guilds=True)
    assert emu.gateway.sessions[0].query["compress"] == "zlib-stream"  # asked for, answered with plain text
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel) and channel.guild.filesize_limit == 10 * MIB
    assert [c["name"] for c in emu.commands(emu.guild)] == ["video"]
    subcommands = [o["name"] for o in emu.commands(emu.guild)[0]["options"]]
    assert subcommands == ["generate", "slow", "deliver", "private", "manage", "big"]
    assert emu.sync_count == 1 and emu.sync_calls[0].guild_id == emu.guild.id
    fetched = await bot.tree.fetch_commands(guild=bot.dev_guild)
    assert [c.name for c in fetched] == ["video"]
    assert [r.route for r in emu.requests[:3]] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
        "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    ]
    assert emu.gateway.sessions[0].heartbeats >= 1  # discord.py beats right after HELLO and got its ACK


async def test_slash_command_defers_edits_original_then_sends_mp4_followup(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    user = emu.add_user("alice")
    ref = emu.add_attachment("ref.png", PNG, "image/png")

    handle = await emu.invoke_slash(user, options={"prompt": "a cat surfing", "image": ref})
    await emu.wait_for(lambda: handle.followups)

    first = handle.first_response
    assert first is not None and first.type == 5 and handle.response_latency is not None
    assert handle.response_latency < 3.0
    # The bot really downloaded the user's attachment from the emulator's CDN URL.
    assert await bot.wait_event("generate") == ("generate", "a cat surfing", "seedance-1-lite", "ref.png", PNG,
                                                 10 * MIB)
    original = handle.original
    assert original is not None and not original.loading
    assert [v.content for v in handle.original_edits] == ["Rendering `a cat surfing`..."]
    [followup] = handle.followups
    assert followup is not original and followup.route == "followup"
    assert followup.filenames == ["out.mp4"] and followup.attachments[0].data == MP4
    assert followup.attachments[0].content_type == "video/mp4"
    assert followup.custom_ids() == ["sd:regen:42", "sd:extend:42"] and not followup.ephemeral
    assert followup.allowed_mentions == {"parse": []}  # the client-wide AllowedMentions.none()
    assert emu.messages(emu.channel) == [original, followup]
    upload = emu.requests_for("POST /webhooks/{application_id}/{token}")[0]
    assert upload.files == (("out.mp4", len(MP4)),) and upload.query["wait"] == "1"
    # The interaction payload carried a real snowflake and the upload limit discord.py requires.
    assert handle.payload["attachment_size_limit"] == 10 * MIB
    assert handle.payload["data"]["options"][0]["type"] == 1  # nested under the SUB_COMMAND


async def test_first_response_after_three_seconds_is_rejected_as_unknown_interaction(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    user = emu.add_user("bob")
    handle = await emu.invoke_slash(user, subcommand="slow")
    await asyncio.wait_for(bot.entered.wait(), 5)
    emu.advance_time(3.5)  # the handler "took" 3.5 s before answering
    bot.gate.set()

    assert await bot.wait_event("defer_failed") == ("defer_failed", 404, 10062)
    [callback] = handle.callbacks
    assert (callback.status, callback.error_code) == (404, 10062) and callback.after > 3.0
    assert handle.timed_out and not handle.acknowledged and handle.original is None


async def test_second_callback_is_rejected_as_already_acknowledged(emu: DiscordEmulator, bot: VideoBot) -> None:
    user = emu.add_user("carol")
    handle = await emu.invoke_slash(user, options={"prompt": "rain"})
    await emu.wait_for(lambda: handle.followups)

    url = f"{emu.api_base}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(url, json={"type": 4, "data": {"content": "x"}}) as resp:
        assert resp.status == 400 and resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == {"message": "Interaction has already been acknowledged.", "code": 40060}
    assert [cb.status for cb in handle.callbacks] == [200, 400]


async def test_expired_token_gets_401_and_the_bot_falls_back_to_the_channel(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    user = emu.add_user("dave")
    # The interaction id says "16 minutes ago": the token is already past its 15 minutes.
    handle = await emu.invoke_slash(user, subcommand="deliver", created_at=emu.wall() - 16 * 60)

    posted = await emu.wait_for_message(emu.channel, lambda m: m.route == "channel")
    assert await bot.wait_event("followup_failed") == ("followup_failed", 401, 50027, True)
    assert [(c.status, c.error_code) for c in handle.webhook_calls] == [(401, 50027)]
    assert posted.filenames == ["v.mp4"] and posted.attachments[0].data == MP4
    assert posted.content.startswith(user.mention) and posted.mentions == [user]
    assert posted.webhook_id is None and posted.author is emu.bot_user


async def test_uploads_over_the_guild_limit_get_413_until_the_guild_is_boosted(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    user = emu.add_user("erin")
    await emu.invoke_slash(user, subcommand="big", options={"size": 10 * MIB + 1})
    assert await bot.wait_event("channel") == ("channel", 413, 40005)
    assert ("followup", 413, 40005) in bot.events
    assert emu.messages(emu.channel, include_ephemeral=False)[-1].loading  # only the defer placeholder

    await emu.set_premium_tier(emu.guild, 2)
    guild = bot.get_guild(emu.guild.id)
    assert guild is not None
    bot.events.clear()
    handle = await emu.invoke_slash(user, subcommand="big", options={"size": 10 * MIB + 1})
    assert await bot.wait_event("channel") == ("channel", "ok", None)
    assert ("followup", "ok", None) in bot.events
    assert handle.attachment_size_limit == 50 * MIB and guild.filesize_limit == 50 * MIB


async def test_button_on_an_old_message_reaches_the_dynamic_item_after_a_restart(emu: DiscordEmulator) -> None:
    user = emu.add_user("frank")
    async with run_client(VideoBot(emu.guild.id), emu):
        handle = await emu.invoke_slash(user, options={"prompt": "waves"})
        message = (await emu.wait_for(lambda: handle.followups))[0]

    # A new process: new client, no sync, same emulator (REST state kept).
    async with run_client(VideoBot(emu.guild.id, sync=False), emu) as restarted:
        click = await emu.click_button(user, message, "sd:regen:42")
        await emu.wait_for_response(click)
        assert await restarted.wait_event("regen") == ("regen", 42, user.id)

    assert click.payload["message"]["components"][0]["components"][0]["custom_id"] == "sd:regen:42"
    first = click.first_response
    assert first is not None and first.type == 4
    assert click.original is not None and click.original.content == "Regenerating task 42"
    assert click.original.flags & FLAG_EPHEMERAL
    # That first response was multipart: payload_json plus files[0].
    assert [a.filename for a in first.files] == ["preview.mp4"] and first.files[0].data == MP4
    assert click.original.attachments[0].ephemeral
    assert len(emu.identifies) == 2 and emu.sync_count == 1


async def test_button_opens_a_modal_and_its_submission_reaches_the_bot(emu: DiscordEmulator, bot: VideoBot) -> None:
    user = emu.add_user("iris")
    handle = await emu.invoke_slash(user, options={"prompt": "clouds"})
    message = (await emu.wait_for(lambda: handle.followups))[0]

    click = await emu.click_button(user, message, "sd:extend:42")
    await emu.wait_for_response(click)
    assert click.modal is not None and click.modal["title"] == "Extend video"

    submitted = await emu.submit_modal(user, click, {"prompt": "then it rains", "seconds": "5"})
    await emu.wait_for_response(submitted)
    assert await bot.wait_event("extend") == ("extend", 42, "then it rains", "5")
    assert submitted.original is not None and submitted.original.content == "Extending task 42"


async def test_first_followup_after_an_ephemeral_defer_fills_the_thinking_message(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    handle = await emu.invoke_slash(emu.add_user("jay"), subcommand="private")
    _, first_id, second_id = await bot.wait_event("private")

    assert handle.original is not None and handle.original.id == first_id
    assert handle.original.content == "only you can see this" and handle.original.ephemeral
    assert [m.id for m in handle.messages] == [first_id, second_id]
    # Ephemeral messages are invisible to the channel routes: not in history, not fetchable.
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    assert [m async for m in channel.history()] == []
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(first_id)


async def test_autocomplete_choices_are_recorded(emu: DiscordEmulator, bot: VideoBot) -> None:
    user = emu.add_user("gina")
    handle = await emu.invoke_autocomplete(user, options={"prompt": "x", "model": "pro"}, focused="model")
    await emu.wait_for_response(handle)
    assert handle.autocomplete_choices == [
        {"name": "seedance-1-pro", "value": "seedance-1-pro"},
        {"name": "seedance-2-pro", "value": "seedance-2-pro"},
    ]
    assert handle.first_response is not None and handle.first_response.type == 8


async def test_every_message_route_edits_and_deletes_the_stored_messages(
    emu: DiscordEmulator, bot: VideoBot
) -> None:
    handle = await emu.invoke_slash(emu.add_user("kim"), subcommand="manage")
    _, original_id, fetched_content, posted_id = await bot.wait_event("manage")
    await emu.wait_for(lambda: emu.message(posted_id).deleted)

    log = emu.interaction_log(handle)
    assert log is handle and log.original is not None and log.original.id == original_id
    assert log.original.deleted and [v.content for v in log.original_edits] == ["working"]
    [note] = log.followups
    assert note.deleted and [(v.route, v.content) for v in note.versions] == [
        ("followup", "step 1"),
        ("webhook_message", "step 2"),
    ]
    assert fetched_content == "status: done"
    posted = emu.message(posted_id)
    assert [v.content for v in posted.versions] == ["status: queued", "status: done"]
    assert emu.messages(emu.channel) == [] and len(emu.messages(emu.channel, include_deleted=True)) == 3
    assert [c.route for c in log.webhook_calls] == [
        "GET /webhooks/{application_id}/{token}/messages/@original",
        "PATCH /webhooks/{application_id}/{token}/messages/@original",
        "POST /webhooks/{application_id}/{token}",
        "PATCH /webhooks/{application_id}/{token}/messages/{message_id}",
        "DELETE /webhooks/{application_id}/{token}/messages/{message_id}",
        "DELETE /webhooks/{application_id}/{token}/messages/@original",
    ]


async def test_injected_429_is_retried_by_discord_py(emu: DiscordEmulator, bot: VideoBot) -> None:
    fault = emu.fail_next("POST /channels/{channel_id}/messages", status=429, retry_after=0.05)
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hello")
    assert [r.status for r in emu.requests_for("POST /channels/{channel_id}/messages")] == [429, 200]
    assert fault.remaining == 0 and len(fault.hits) == 1
    assert emu.message(sent.id).content == "hello"
    limited = emu.requests_for("POST /channels/{channel_id}/messages")[0]
    assert limited.error_code == 0 and limited.json is None  # faults answer before the body is read


async def test_injected_500_is_retried_once_after_discord_py_backoff(emu: DiscordEmulator, bot: VideoBot) -> None:
    emu.fail_next("GET /channels/{channel_id}", status=500)
    channel = await bot.fetch_channel(emu.channel.id)  # discord.py sleeps 1 s before its retry
    assert channel.id == emu.channel.id
    assert [r.status for r in emu.requests_for("GET /channels/{channel_id}")] == [500, 200]
    with pytest.raises(ValueError, match="unknown route"):
        emu.fail_next("GET /channels/{id}")


async def test_gateway_reconnect_resumes_and_interactions_still_arrive(emu: DiscordEmulator, bot: VideoBot) -> None:
    await emu.send_reconnect()
    session = await emu.wait_for(lambda: next((s for s in emu.gateway.sessions if s.resumed and s.live), None))
    assert session.session_id == emu.gateway.sessions[0].session_id
    handle = await emu.invoke_autocomplete(emu.add_user("hal"), options={"model": "lite"}, focused="model")
    await emu.wait_for_response(handle)
    assert handle.autocomplete_choices == [{"name": "seedance-1-lite", "value": "seedance-1-lite"}]


async def test_wrong_token_fails_login(emu: DiscordEmulator) -> None:
    client = discord.Client(intents=discord.Intents(guilds=True))
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


def test_command_payload_nests_groups_and_rejects_what_a_discord_client_would_not_send(emu: DiscordEmulator) -> None:
    schema = {
        "id": "1", "name": "video", "description": "d",
        "options": [{"type": 2, "name": "admin", "description": "d", "options": [
            {"type": 1, "name": "quota", "description": "d", "options": [
                {"type": 6, "name": "user", "description": "d", "required": True},
                {"type": 4, "name": "daily", "description": "d", "min_value": 1, "max_value": 50},
            ]},
        ]}],
    }
    user = emu.add_user("lee")

    def build(**options: Any) -> dict[str, Any]:
        return build_command_data(
            command=schema, command_id=1, name="video", group="admin", subcommand="quota", options=options,
            extra_attachments=[], guild=emu.guild, focused=None, attachments_by_id={},
        )

    data = build(user=user, daily=5)
    [group] = data["options"]
    [sub] = group["options"]
    assert (group["type"], group["name"], sub["type"], sub["name"]) == (2, "admin", 1, "quota")
    assert sub["options"] == [
        {"name": "user", "type": 6, "value": str(user.id)},
        {"name": "daily", "type": 4, "value": 5},
    ]
    assert data["resolved"]["members"][str(user.id)]["permissions"] == str(DEFAULT_MEMBER_PERMISSIONS)
    with pytest.raises(ValueError, match="out of range"):
        build(user=user, daily=99)
    with pytest.raises(ValueError, match="required options missing"):
        build(daily=5)
    with pytest.raises(ValueError, match="no option"):
        build(user=user, weekly=5)
