"""Where and how a finished video is posted: link fallback, channel fallback, mentions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.bot.helpers import (
    FAST,
    SMALL,
    WAIT,
    is_result,
    make_settings,
    only_task,
    result_followup,
    results,
    running_bot,
    settled,
)
from tests.discord_emulator import DiscordEmulator, models, patch_discord

LINKING = dataclasses.replace(FAST, media_url=lambda task: f"https://media.example.test/{task.id}.mp4")
WEBHOOK_POST = "POST /webhooks/{application_id}/{token}"
CHANNEL_POST = "POST /channels/{channel_id}/messages"


async def test_a_video_over_the_upload_limit_is_linked_not_uploaded(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path), options=LINKING) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a city at night", **SMALL},
                                        attachment_size_limit=20_000)
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))

    assert result.attachments == []
    assert f"https://media.example.test/{task.id}.mp4" in result.shown_text()
    assert "20 KB upload limit" in result.shown_text() and alice.mention in result.shown_text()
    assert all(r.files == () for r in emu.requests_for(WEBHOOK_POST))  # never tried to upload it
    assert task.delivered_at is not None


async def test_without_a_link_an_oversized_video_says_so_plainly(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path)) as bot:  # sandbox videos have no web link
        handle = await emu.invoke_slash(alice, options={"prompt": "a city at night", **SMALL},
                                        attachment_size_limit=20_000)
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))
    assert result.attachments == [] and "no public link" in result.shown_text() and task.id in result.shown_text()


async def test_an_already_expired_token_delivers_to_the_channel_and_updates_the_card(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        # Discord says the interaction was created 16 minutes ago: its token is past its 15 minutes.
        handle = await emu.invoke_slash(alice, options={"prompt": "rain on a window", **SMALL},
                                        created_at=emu.wall() - 16 * 60)
        posted = await emu.wait_for_message(emu.channel, lambda m: m.route == "channel" and is_result(m), WAIT)
        task = await settled(bot, await only_task(bot, alice))

    assert handle.first_response is not None and handle.first_response.type == 5
    assert handle.webhook_calls == []  # the bot knew the token was expired and did not try it
    assert posted.filenames == [f"seedance-{task.id}.mp4"] and posted.webhook_id is None
    assert alice.mention in posted.shown_text() and posted.mentions == [alice]
    # The stale "thinking" message was turned into the final card through the channel route.
    assert handle.original is not None and not handle.original.loading
    assert handle.original.versions[-1].route == "channel_edit"
    assert handle.original.embeds[0]["title"].startswith("✅ Finished")
    assert results(emu, task.id) == [posted]


async def test_a_token_refused_mid_task_falls_back_to_the_channel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # discord.py believes the token has 15 minutes; the emulator lets it live half a second.
    async with DiscordEmulator(token_ttl=0.5) as emu:
        patch_discord(monkeypatch, emu)
        alice = emu.add_user("alice")
        async with running_bot(emu, make_settings(tmp_path)) as bot:
            handle = await emu.invoke_slash(alice, options={"prompt": "a paper boat", **SMALL})
            posted = await emu.wait_for_message(emu.channel, lambda m: m.route == "channel" and is_result(m), WAIT)
            task = await settled(bot, await only_task(bot, alice))
            assert await bot.delivery.sweep() == 0

        assert (401, 50027) in [(c.status, c.error_code) for c in handle.webhook_calls]
        assert posted.filenames == [f"seedance-{task.id}.mp4"] and posted.mentions == [alice]
        assert results(emu, task.id) == [posted]
        assert task.delivered_at is not None


async def test_a_413_from_the_channel_turns_the_upload_into_a_link(
    emu: DiscordEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A guild whose real limit is far below what discord.py's boost-tier table says (10 MiB).
    monkeypatch.setattr(models.Guild, "upload_limit", property(lambda self: 20_000))
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path), options=LINKING) as bot:
        await emu.invoke_slash(alice, options={"prompt": "a lighthouse", **SMALL}, created_at=emu.wall() - 16 * 60)
        posted = await emu.wait_for_message(emu.channel, lambda m: m.route == "channel" and is_result(m), WAIT)
        task = await settled(bot, await only_task(bot, alice))

    attempts = [(r.status, bool(r.files)) for r in emu.requests_for(CHANNEL_POST)]
    assert attempts == [(413, True), (200, False)]
    assert posted.attachments == [] and f"https://media.example.test/{task.id}.mp4" in posted.shown_text()
    assert results(emu, task.id) == [posted]


async def test_everyone_in_a_prompt_never_pings(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    bob = emu.add_user("bob")
    prompt = f"@everyone @here look at this <@{bob.id}> #fail"  # #fail: the sandbox refuses it
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": prompt, **SMALL})
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))

    assert task.status.value == "failed"
    assert f"{alice.mention} your video failed" in result.shown_text()
    assert result.mentions == [alice] and not result.mention_everyone
    assert "@everyone" not in result.shown_text() and "@here" not in result.shown_text()
    assert result.allowed_mentions is not None and result.allowed_mentions.get("parse") == []
    assert result.custom_ids() == [f"seedance:remix:{task.id}", f"seedance:regen:{task.id}",
                                   f"seedance:delete:{task.id}"]  # retry, but nothing to extend
    for message in emu.messages(emu.channel):
        assert not message.mention_everyone and bob not in message.mentions


async def test_with_a_public_url_the_link_is_the_servers_own_signed_media_link(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    from core.links import MediaLinks, load_secret

    settings = make_settings(tmp_path, public_url="https://videos.example.test")
    alice = emu.add_user("alice")
    async with running_bot(emu, settings) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a kite", **SMALL}, attachment_size_limit=20_000)
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))

    link = result.shown_text().split()[-1]
    prefix = "https://videos.example.test/media/"
    assert link.startswith(prefix) and link.endswith(f"/{task.id}.mp4") and result.attachments == []
    mac, name = link[len(prefix):].split("/")
    links = MediaLinks(load_secret(tmp_path), settings.media_dir, settings.public_url or "")
    assert links.resolve(mac, name) == Path(task.video_path or "")


async def test_a_refused_post_is_retried_later_and_lands_once(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    emu.fail_next(WEBHOOK_POST, status=400)  # the first result post is refused
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a snail race", **SMALL})
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))
    assert [r.status for r in emu.requests_for(WEBHOOK_POST)] == [400, 200]
    assert results(emu, task.id) == [result] and task.delivered_at is not None
