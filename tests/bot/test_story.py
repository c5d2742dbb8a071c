"""/video story: the form, the per-shot card, the joined video, a restart in the middle, Retry and Cancel."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tests.bot.helpers import FAST, WAIT, make_settings, running_bot, user_key
from tests.discord_emulator import DiscordEmulator, InteractionHandle, Message
from tests.discord_emulator.models import User

SHOTS = "a fox wakes up in its den\nit runs out into the snow\n\nit watches the sun rise"
OPTIONS = {"resolution": "480p", "duration": 4}


def story_post(emu: DiscordEmulator) -> Message | None:
    return next((m for m in emu.messages(emu.channel)
                 if any(c.startswith("seedance:story:") for c in m.custom_ids())), None)


async def test_a_story_from_a_form_shows_each_shot_and_posts_the_joined_video(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path, speed=10)) as bot:
        opened = await emu.invoke_slash(alice, subcommand="story", options=OPTIONS)
        await emu.wait_for(lambda: opened.modal, WAIT)
        [field] = [c for row in opened.modal["components"] for c in row.get("components", [row.get("component")])]
        too_few = await emu.submit_modal(alice, opened, {field["custom_id"]: "just one shot"})
        await emu.wait_for(lambda: too_few.original, WAIT)
        assert "2 to 6 shots" in too_few.original.content

        opened = await emu.invoke_slash(alice, subcommand="story", options=OPTIONS)  # a form closes when sent
        await emu.wait_for(lambda: opened.modal, WAIT)
        submitted = await emu.submit_modal(alice, opened, {field["custom_id"]: SHOTS})
        posted = await emu.wait_for(lambda: story_post(emu), WAIT * 3)
        cards = [v.embeds[0] for v in submitted.original_edits if v.embeds]
        assert any("1 of 3 shots done" in c["title"] for c in cards), [c["title"] for c in cards]
        assert "**3.**" in cards[0]["description"] and "it watches the sun rise" in cards[0]["description"]

        [story] = (await bot.service.page_stories(user_key(alice))).stories
        assert story.status.value == "succeeded" and story.video_path
        [video] = posted.attachments
        assert video.data == Path(story.video_path).read_bytes()
        assert posted.media_urls() == [f"attachment://{video.filename}"]
        assert alice.mention in posted.texts()[0] and "3 shots" in posted.texts()[0] and posted.mentions == [alice]

        shots = await emu.click_button(alice, posted, f"seedance:story:{story.id}")
        await emu.wait_for(lambda: shots.original, WAIT)
        assert "it runs out into the snow" in shots.original.embeds[0]["description"]
        assert await bot.stories.sweep() == 0  # recorded: nothing left to deliver


async def test_a_story_interrupted_by_a_restart_finishes_and_is_posted_once(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    settings = make_settings(tmp_path, speed=4)
    async with running_bot(emu, settings) as bot:
        opened = await emu.invoke_slash(alice, subcommand="story", options=OPTIONS)
        await emu.wait_for(lambda: opened.modal, WAIT)
        [field] = [c for row in opened.modal["components"] for c in row.get("components", [row.get("component")])]
        submitted = await emu.submit_modal(alice, opened, {field["custom_id"]: SHOTS})
        await emu.wait_for(lambda: any("1 of 3 shots done" in (v.embeds[0]["title"] if v.embeds else "")
                                       for v in submitted.original_edits), WAIT * 2)
        [story] = (await bot.service.page_stories(user_key(alice))).stories
        assert not story.is_final  # stopped in the middle

    async with running_bot(emu, settings) as bot:  # a new process: no token in memory
        posted = await emu.wait_for(lambda: story_post(emu), WAIT * 4)
        done = await bot.service.get_story(user_key(alice), story.id, refresh=False)
        assert done.status.value == "succeeded" and posted.attachments and posted.webhook_id is None
        assert await bot.stories.deliver(done)  # waits for the delivery that posted it to record it
    async with running_bot(emu, settings) as bot:  # and once more: nothing is posted twice
        assert await bot.stories.sweep() == 0
    assert len([m for m in emu.messages(emu.channel) if story_post(emu) is m]) == 1


FAILING = "a fox wakes up in its den\nit runs into the storm #fail\nit watches the sun rise"


def fields(modal: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in modal["components"] for c in row.get("components", [row.get("component")])]


def sandbox_prompts(home: Path) -> list[str]:
    """The prompt of every task ever sent to the sandbox (one file per submit)."""
    return sorted(json.loads(p.read_text())["request"]["prompt"] for p in (home / "sandbox").glob("sbx-*.json"))


async def start_story(emu: DiscordEmulator, user: User, shots: str) -> InteractionHandle:
    opened = await emu.invoke_slash(user, subcommand="story", options=OPTIONS)
    await emu.wait_for(lambda: opened.modal, WAIT)
    [shots_field] = fields(opened.modal or {})
    return await emu.submit_modal(user, opened, {shots_field["custom_id"]: shots})


async def test_a_failed_story_is_retried_from_its_card_by_its_owner_and_only_the_failed_shot_is_made_again(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    no_sweep = dataclasses.replace(FAST, sweep_interval=600)  # the retried story must be posted without one
    async with running_bot(emu, make_settings(tmp_path, speed=10), options=no_sweep) as bot:
        started = await start_story(emu, alice, FAILING)
        failed_card = await emu.wait_for(lambda: story_post(emu), WAIT * 3)
        [story] = (await bot.service.page_stories(user_key(alice))).stories
        assert story.status.value == "failed" and "shot 2 of 3" in failed_card.texts()[0]
        [retry_id] = [c for c in failed_card.custom_ids() if c.startswith(f"seedance:story-retry:{story.id}")]
        assert sandbox_prompts(tmp_path) == ["a fox wakes up in its den", "it runs into the storm #fail"]

        refused = await emu.click_button(bob, failed_card, retry_id)
        await emu.wait_for(lambda: refused.original, WAIT)
        assert refused.modal is None and refused.original is not None and refused.original.ephemeral
        assert "Only the person who made this story can retry it" in refused.original.content

        opened = await emu.click_button(alice, failed_card, retry_id)
        await emu.wait_for(lambda: opened.modal, WAIT)
        [prompt] = fields(opened.modal or {})
        assert prompt["value"] == "it runs into the storm #fail"  # the failed shot's prompt, to edit
        submitted = await emu.submit_modal(alice, opened, {prompt["custom_id"]: "it runs out into the snow"})
        [answer] = await emu.wait_for(lambda: submitted.followups, WAIT)
        assert answer.ephemeral and "Shot 2 is being made again" in answer.content

        def joined() -> Message | None:
            return next((m for m in emu.messages(emu.channel) if m is not failed_card and m.attachments
                         and f"seedance:story:{story.id}" in m.custom_ids()), None)

        posted = await emu.wait_for(joined, WAIT * 3)  # posted once final, in the channel (no sweep ran)
        done = await bot.service.get_story(user_key(alice), story.id, refresh=False)
        assert done.status.value == "succeeded" and done.video_path and posted.webhook_id is None
        assert posted.attachments[0].data == Path(done.video_path).read_bytes() and posted.mentions == [alice]
        assert not any(c.startswith("seedance:story-retry:") for c in posted.custom_ids())
        progress = started.original  # the first progress card, its token forgotten: edited through the channel
        await emu.wait_for(lambda: progress and "Story succeeded" in progress.embeds[0]["title"], WAIT)
        assert progress is not None and progress.custom_ids() == []
        assert sandbox_prompts(tmp_path) == ["a fox wakes up in its den", "it runs into the storm #fail",  # once each
                                             "it runs out into the snow", "it watches the sun rise"]

        stale = await emu.click_button(alice, failed_card, retry_id)  # the old card: nothing failed any more
        await emu.wait_for(lambda: stale.original, WAIT)
        assert stale.modal is None and stale.original is not None and "only a failed story" in stale.original.content
        assert await bot.stories.sweep() == 0


async def test_cancel_on_the_progress_card_stops_a_running_story_for_its_owner_only(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path, speed=0.1)) as bot:  # shot 1 stays queued for 10 s
        submitted = await start_story(emu, alice, SHOTS)
        progress = await emu.wait_for(lambda: submitted.original if submitted.original and any(
            c.startswith("seedance:story-cancel:") for c in submitted.original.custom_ids()) else None, WAIT)
        [story] = (await bot.service.page_stories(user_key(alice))).stories
        cancel_id = f"seedance:story-cancel:{story.id}"
        assert progress.custom_ids() == [cancel_id] and "0 of 3 shots done" in progress.embeds[0]["title"]

        refused = await emu.click_button(bob, progress, cancel_id)
        await emu.wait_for(lambda: refused.original, WAIT)
        assert refused.original is not None and refused.original.ephemeral
        assert "Only the person who made this story can cancel it" in refused.original.content
        assert not (await bot.service.get_story(user_key(alice), story.id, refresh=False)).is_final

        cancelled = await emu.click_button(alice, progress, cancel_id)
        [answer] = await emu.wait_for(lambda: cancelled.followups, WAIT)
        assert answer.ephemeral and "Story cancelled" in answer.content and "may still be paid" not in answer.content
        done = await bot.service.get_story(user_key(alice), story.id, refresh=False)
        assert done.status.value == "cancelled" and [t.status.value for t in done.shots] == ["cancelled"] * 3

        posted = await emu.wait_for(lambda: story_post(emu), WAIT)  # delivered as before: the cancelled card
        assert "cancelled" in posted.texts()[0] and not posted.attachments
        assert not any(c.startswith(("seedance:story-retry:", "seedance:story-cancel:")) for c in posted.custom_ids())
        await emu.wait_for(lambda: cancel_id not in progress.custom_ids(), WAIT)  # the final card has no Cancel
        assert len(sandbox_prompts(tmp_path)) == 1  # shot 1 was sent (and cancelled); the others never were
