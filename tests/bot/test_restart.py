"""Restarts: buttons on old results, unfinished tasks, the crash window, no needless command sync."""

from __future__ import annotations

from pathlib import Path

from tests.bot.helpers import (
    SMALL,
    WAIT,
    footer_task_id,
    is_result,
    make_settings,
    only_task,
    result_followup,
    results,
    running_bot,
    settled,
    user_key,
)
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator


async def test_buttons_of_an_old_result_work_after_a_restart_for_their_owner_only(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    settings = make_settings(tmp_path)
    async with running_bot(emu, settings) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a hot air balloon", **SMALL})
        result = await emu.wait_for(result_followup(handle), WAIT)
        first = await settled(bot, await only_task(bot, alice))
    assert emu.sync_count == 1  # the first start ever syncs the commands

    async with running_bot(emu, settings) as bot:
        assert emu.sync_count == 1  # a plain restart does not

        refused = await emu.click_button(bob, result, f"seedance:regen:{first.id}")
        await emu.wait_for_response(refused)
        assert refused.first_response is not None and refused.first_response.type == 4
        assert refused.original is not None and refused.original.flags & FLAG_EPHEMERAL
        assert "Only the person who asked" in refused.original.content
        assert await bot.service.list_tasks(user_key(bob)) == []

        regen = await emu.click_button(alice, result, f"seedance:regen:{first.id}")
        regen_result = await emu.wait_for(result_followup(regen), WAIT)
        assert regen.first_response is not None and regen.first_response.type == 5
        second_id = footer_task_id(regen_result)
        assert second_id and second_id != first.id
        second = await bot.service.get(user_key(alice), second_id, refresh=False)
        assert second.prompt == first.prompt and second.model == first.model
        assert (second.request.resolution, second.request.duration) == (first.request.resolution, 4)
        assert second.request.seed is not None and second.request.seed != first.request.seed

        extend = await emu.click_button(alice, result, f"seedance:extend:{first.id}")
        extend_result = await emu.wait_for(result_followup(extend), WAIT)
        third = await bot.service.get(user_key(alice), footer_task_id(extend_result) or "", refresh=False)
        [frame] = third.request.images
        assert frame.role.value == "first_frame" and frame.url.startswith("data:image/png;base64,")
        assert third.prompt == first.prompt and third.request.return_last_frame
        assert extend_result.filenames == [f"seedance-{third.id}.mp4"]
    assert emu.sync_count == 1


async def test_a_restart_mid_generation_delivers_the_video_exactly_once(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    # Slow enough that the first process stops while the video is still being made.
    async with running_bot(emu, make_settings(tmp_path, speed=0.5)) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a train crossing a bridge", **SMALL})
        await emu.wait_for(lambda: handle.original_edits, WAIT)
        task = await only_task(bot, alice)
        assert not task.is_final
    assert results(emu) == []

    # The next process (fast sandbox) resumes the task and posts it in the channel: the old
    # interaction token died with the first process.
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        posted = await emu.wait_for_message(emu.channel, lambda m: is_result(m, task.id), WAIT)
        task = await settled(bot, task)
    assert posted.route == "channel" and posted.mentions == [alice]
    assert posted.filenames == [f"seedance-{task.id}.mp4"]
    assert task.delivered_at is not None
    # The stale progress card was closed through the channel route.
    assert handle.original is not None and handle.original.embeds[0]["title"].startswith("✅ Finished")

    # The crash window: posted, then died before recording it. The next start finds the post.
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        await bot.service.store.update(task.id, delivered_at=None)
        history_reads = len(emu.requests_for("GET /channels/{channel_id}/messages"))
        assert await bot.delivery.deliver(task)
        task = await bot.service.get(task.user, task.id, refresh=False)
        assert len(emu.requests_for("GET /channels/{channel_id}/messages")) > history_reads
    assert task.delivered_at is not None
    assert results(emu, task.id) == [posted]

    # And one more plain restart posts nothing at all.
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        assert await bot.delivery.sweep() == 0
    assert results(emu, task.id) == [posted]
    assert emu.sync_count == 1
