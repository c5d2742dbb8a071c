"""/video story: the form, the per-shot card, the joined video, and a restart in the middle."""

from __future__ import annotations

from pathlib import Path

from tests.bot.helpers import WAIT, make_settings, running_bot, user_key
from tests.discord_emulator import DiscordEmulator, Message

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
