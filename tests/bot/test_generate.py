"""/video generate end to end: the first response, the progress card, the delivered MP4."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.bot.helpers import (
    FAST,
    SMALL,
    WAIT,
    field,
    make_settings,
    only_task,
    result_followup,
    results,
    running_bot,
    settled,
)
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator


async def test_generate_defers_shows_progress_and_delivers_the_mp4_once(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options={"prompt": "a red fox running through snow", **SMALL})
        result = await emu.wait_for(result_followup(handle), WAIT)

        first = handle.first_response
        assert first is not None and first.type == 5  # deferred ("thinking…"), public
        assert handle.response_latency is not None and handle.response_latency < 3.0
        task = await settled(bot, await only_task(bot, alice))
        assert task.delivered_at is not None and task.video_path is not None

        # The original message is the progress card, and ends as the final card.
        cards = [v.embeds[0] for v in handle.original_edits]
        assert any(field(c, "Elapsed") for c in cards), cards
        assert cards[-1]["title"].startswith("✅ Finished")
        assert cards[-1]["footer"]["text"] == f"task {task.id}"

        # The result is a new message: the MP4 itself, the requester pinged, the buttons.
        assert result.filenames == [f"seedance-{task.id}.mp4"]
        assert result.attachments[0].data == Path(task.video_path).read_bytes()
        assert result.attachments[0].data[4:8] == b"ftyp"
        assert alice.mention in result.texts()[0] and result.mentions == [alice]
        assert result.media_urls() == [f"attachment://seedance-{task.id}.mp4"]  # plays inline in the card
        assert "a red fox running through snow" in result.shown_text() and "seed" in result.texts()[2]
        assert not result.mention_everyone and not result.flags & FLAG_EPHEMERAL
        assert result.custom_ids() == [f"seedance:remix:{task.id}", f"seedance:regen:{task.id}",
                                      f"seedance:extend:{task.id}", f"seedance:delete:{task.id}"]
        assert task.request.return_last_frame  # asked for, so Extend has a frame to start from

        # Nothing left to deliver, and a sweep posts nothing more.
        assert await bot.delivery.sweep() == 0
        assert results(emu, task.id) == [result]
        assert emu.unhandled_requests == []


async def test_progress_card_is_edited_at_a_paced_rate_with_an_eta(emu: DiscordEmulator, tmp_path: Path) -> None:
    # speed 2: about two seconds of work, long enough for several edits at a 0.3 s pace.
    alice = emu.add_user("alice")
    paced = replace(FAST, progress_interval=0.3, status_min_gap=0.25)
    async with running_bot(emu, make_settings(tmp_path, speed=2), options=paced):
        handle = await emu.invoke_slash(alice, options={"prompt": "waves on a beach", **SMALL})
        await emu.wait_for(result_followup(handle), WAIT)

    progress = [v for v in handle.original_edits if field(v.embeds[0], "Elapsed")]
    assert len(progress) >= 3, [v.embeds[0]["title"] for v in handle.original_edits]
    gaps = [b.at - a.at for a, b in zip(progress, progress[1:], strict=False)]
    # Measured on arrival, so allow some network jitter below the bot's own 0.25 s pace.
    assert min(gaps) >= 0.15, gaps
    statuses = {v.embeds[0]["title"] for v in progress}
    assert any("Generating" in t for t in statuses), statuses
    assert any((field(v.embeds[0], "Ready") or "").startswith("<t:") for v in progress)
    assert all(v.embeds[0]["footer"]["text"].startswith("task ") for v in progress)
    assert not any(v.content for v in handle.original_edits)  # cards only: nothing there can ping
