"""Refusals, history, status, cancel, models and autocomplete, as users see them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.config import Limits
from core.models import VideoRequest
from tests.bot.helpers import (
    FAST,
    SMALL,
    WAIT,
    footer_task_id,
    make_settings,
    png,
    result_followup,
    running_bot,
    user_key,
)
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator, InteractionHandle


async def private_answer(emu: DiscordEmulator, handle: InteractionHandle) -> str:
    """The text of an ephemeral answer (first response or the follow-up filling a private defer)."""
    message = await emu.wait_for(
        lambda: handle.original if handle.original is not None and not handle.original.loading else None, WAIT)
    assert message.flags & FLAG_EPHEMERAL, message.content
    return message.content or "\n".join(e.get("description") or "" for e in message.embeds)


async def test_bad_options_and_attachments_get_a_private_one_line_refusal(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    text = emu.add_attachment("notes.txt", b"just some words", "text/plain")
    blob = emu.add_attachment("clip.bin", b"\x00\x01\x02 not an image at all" * 10)  # octet-stream: read to know
    tiny = emu.add_attachment("tiny.png", png(100, 100), "image/png")
    good = emu.add_attachment("frame.png", png(640, 480), "image/png")
    cases = [
        ({"prompt": "a cat", "duration": 2}, "duration 2 is not allowed"),
        ({"prompt": "a cat", "model": "seedance-2-0-fast", "resolution": "1080p"}, "resolution 1080p"),
        ({"prompt": "a cat", "model": "no-such-model"}, "model 'no-such-model' is not offered"),
        ({"prompt": "a cat", "image": text}, "notes.txt is text/plain, not an image"),
        ({"prompt": "a cat", "image": blob}, "clip.bin is not a JPEG, PNG"),
        ({"prompt": "a cat", "image": tiny}, "tiny.png is 100×100 px"),
        ({"prompt": "a cat", "last_frame": good}, "a last_frame needs a first_frame"),
    ]
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        for options, expected in cases:
            handle = await emu.invoke_slash(alice, options=options)
            answer = await private_answer(emu, handle)
            assert expected in answer, (options, answer)
            assert answer.startswith("⚠️") and "\n" not in answer
            first = handle.first_response
            assert first is not None and first.type == 4 and handle.response_latency is not None
            assert handle.response_latency < 3.0
        assert await bot.service.list_tasks(user_key(alice)) == []  # nothing was submitted, nothing paid


async def test_good_first_and_last_frames_are_sent_as_checked_image_data(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options={
            "prompt": "it starts to snow", **SMALL,
            "image": emu.add_attachment("first.png", png(640, 480), "image/png"),
            "last_frame": emu.add_attachment("last.png", png(640, 480), "image/png"),
        })
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await bot.service.get(user_key(alice), footer_task_id(result) or "", refresh=False)
    first, last = task.request.images
    assert (first.role.value, last.role.value) == ("first_frame", "last_frame")
    assert first.url.startswith("data:image/png;base64,") and last.url.startswith("data:image/png;base64,")
    assert handle.first_response is not None and handle.first_response.type == 5
    assert result.filenames == [f"seedance-{task.id}.mp4"]


async def test_a_per_user_limit_is_explained(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    settings = make_settings(tmp_path, limits=Limits(max_running_per_user=None, max_tasks_per_day=1))
    async with running_bot(emu, settings) as bot:
        first = await emu.invoke_slash(alice, options={"prompt": "one", **SMALL})
        await emu.wait_for(result_followup(first), WAIT)
        second = await emu.invoke_slash(alice, options={"prompt": "two", **SMALL})
        message = await emu.wait_for(
            lambda: second.original if second.original is not None and second.original.content else None, WAIT)
        assert "used your 1 videos for today" in message.content and message.content.startswith("⚠️")
        assert len(await bot.service.list_tasks(user_key(alice))) == 1


async def test_history_shows_only_your_own_tasks_page_by_page(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path), options=replace(FAST, history_page_size=2)) as bot:
        mine = [await bot.service.submit(user_key(alice), VideoRequest(prompt=f"alice {i}", **SMALL))
                for i in range(3)]
        theirs = await bot.service.submit(user_key(bob), VideoRequest(prompt="bob's secret", **SMALL))

        handle = await emu.invoke_slash(alice, subcommand="history")
        page1 = await private_answer(emu, handle)
        assert mine[2].id in page1 and mine[1].id in page1 and mine[0].id not in page1
        assert theirs.id not in page1 and "secret" not in page1
        assert handle.original is not None and handle.original.embeds[0]["footer"]["text"] == "page 1 of 2 · 3 tasks"

        turn = await emu.click_button(alice, handle.original, "seedance:history:2")
        await emu.wait_for_response(turn)
        assert turn.first_response is not None and turn.first_response.type == 7  # the same private message
        page2 = handle.original.embeds[0]["description"]
        assert mine[0].id in page2 and mine[2].id not in page2

        other = await emu.invoke_slash(bob, subcommand="history")
        bobs = await private_answer(emu, other)
        assert theirs.id in bobs and not any(t.id in bobs for t in mine)

        peek = await emu.invoke_slash(bob, subcommand="status", options={"task": mine[0].id})
        assert f"no task '{mine[0].id}' for you" in await private_answer(emu, peek)


async def test_only_the_owner_can_cancel(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path, speed=0.25)) as bot:  # queued for ~4 s
        handle = await emu.invoke_slash(alice, options={"prompt": "slow clouds", **SMALL})
        card = await emu.wait_for(lambda: handle.original if handle.original_edits else None, WAIT)
        task_id = footer_task_id(card)
        assert task_id

        refused = await emu.invoke_slash(bob, subcommand="cancel", options={"task": task_id})
        assert "only the person who started a task can cancel it" in await private_answer(emu, refused)
        assert not (await bot.service.get(user_key(alice), task_id, refresh=False)).is_final

        done = await emu.invoke_slash(alice, subcommand="cancel", options={"task": task_id})
        assert f"Cancelled task `{task_id}`" in await private_answer(emu, done)
        await emu.wait_for(lambda: handle.original is not None and "Cancelled" in handle.original.embeds[0]["title"],
                           WAIT)
        task = await bot.service.get(user_key(alice), task_id, refresh=False)
        assert await bot.delivery.deliver(task)
        task = await bot.service.get(user_key(alice), task_id, refresh=False)
        assert task.status.value == "cancelled" and task.delivered_at is not None
        assert handle.followups == []  # a cancel the owner asked for pings nobody


async def test_status_models_and_autocomplete(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        task = await bot.service.submit(user_key(alice), VideoRequest(prompt="a quiet forest", **SMALL))

        status = await emu.invoke_slash(alice, subcommand="status", options={"task": task.id})
        await private_answer(emu, status)
        assert status.original is not None and status.original.embeds[0]["footer"]["text"] == f"task {task.id}"

        models = await emu.invoke_slash(alice, subcommand="models")
        await private_answer(emu, models)
        assert models.original is not None
        listed = " ".join(f["value"] for f in models.original.embeds[0]["fields"])
        for model_id in ("seedance-2-0", "seedance-2-0-fast", "seedance-1-5-pro", "seedance-1-0-pro"):
            assert f"`{model_id}`" in listed
        assert "tokens for a default clip (free)" in listed

        picked = await emu.invoke_autocomplete(alice, options={"prompt": "x", "model": "fast"}, focused="model")
        await emu.wait_for_response(picked)
        assert [c["value"] for c in picked.autocomplete_choices or []] == ["seedance-2-0-fast"]

        lengths = await emu.invoke_autocomplete(alice, options={"prompt": "x", "model": "seedance-1-0-pro",
                                                                "duration": "1"}, focused="duration")
        await emu.wait_for_response(lengths)
        assert [c["value"] for c in lengths.autocomplete_choices or []] == [10, 11, 12]

        for user, expected in ((alice, [task.id]), (bob, [])):
            own = await emu.invoke_autocomplete(user, subcommand="status", options={"task": ""}, focused="task")
            await emu.wait_for_response(own)
            assert [c["value"] for c in own.autocomplete_choices or []] == expected


async def test_extend_continues_from_the_last_frame_and_refuses_what_cannot_be_extended(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        first = await emu.invoke_slash(alice, options={"prompt": "a paper plane takes off", **SMALL})
        source = footer_task_id(await emu.wait_for(result_followup(first), WAIT)) or ""

        choices = await emu.invoke_autocomplete(alice, subcommand="extend", options={"task": ""}, focused="task")
        await emu.wait_for_response(choices)
        assert [c["value"] for c in choices.autocomplete_choices or []] == [source]

        handle = await emu.invoke_slash(alice, subcommand="extend",
                                        options={"task": source, "prompt": "it loops over the sea"})
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await bot.service.get(user_key(alice), footer_task_id(result) or "", refresh=False)
        assert task.prompt == "it loops over the sea" and task.id != source
        assert task.request.images[0].url.startswith("data:image/png;base64,") and result.mentions == [alice]

        stranger = await emu.invoke_slash(bob, subcommand="extend", options={"task": source})
        assert f"No task `{source}` among yours" in await private_answer(emu, stranger)

        failed = await bot.service.submit(user_key(alice), VideoRequest(prompt="#fail", **SMALL))
        await bot.service.wait(user_key(alice), failed.id, timeout=WAIT)
        refused = await emu.invoke_slash(alice, subcommand="extend", options={"task": failed.id})
        assert "only a finished video can be extended" in await private_answer(emu, refused)


async def test_when_reading_an_attachment_is_slow_the_bot_defers_first(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    tiny = emu.add_attachment("tiny.png", png(100, 100), "image/png")
    async with running_bot(emu, make_settings(tmp_path), options=replace(FAST, prefetch_budget=0.0)) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a cat", "image": tiny})
        message = await emu.wait_for(
            lambda: handle.original if handle.original is not None and handle.original.content else None, WAIT)
        assert handle.first_response is not None and handle.first_response.type == 5
        assert handle.response_latency is not None and handle.response_latency < 3.0
        # Discord cannot make a deferred public message private: the late refusal replaces it.
        assert "tiny.png is 100×100 px" in message.content and message.content.startswith("⚠️")
        assert await bot.service.list_tasks(user_key(alice)) == []
