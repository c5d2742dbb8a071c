"""The result card: the fit to the upload limit, Remix through a form, Delete for the owner only."""

from __future__ import annotations

from pathlib import Path

from tests.bot.helpers import SMALL, WAIT, make_settings, only_task, result_followup, running_bot, settled, user_key
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator
from tests.discord_emulator.models import FLAG_COMPONENTS_V2

SEEDED = {"prompt": "a lighthouse in a storm", "seed": 7, **SMALL}


async def test_a_video_a_little_over_the_limit_is_re_encoded_to_fit_and_the_card_says_so(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice = emu.add_user("alice")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        first = await emu.invoke_slash(alice, options=SEEDED)
        await emu.wait_for(result_followup(first), WAIT)
        size = (await settled(bot, await only_task(bot, alice))).video_path
        assert size is not None
        source = Path(size).stat().st_size
        limit = int(source * 0.7)  # the same seeded video again, in a server that takes 70 % of it
        second = await emu.invoke_slash(alice, options=SEEDED, attachment_size_limit=limit)
        result = await emu.wait_for(result_followup(second), WAIT * 2)

    [uploaded] = result.attachments
    assert uploaded.size <= limit and uploaded.data[4:8] == b"ftyp"
    assert "Re-encoded from" in result.shown_text() and "upload limit" in result.shown_text()
    assert result.media_urls() == [f"attachment://{uploaded.filename}"] and result.flags & FLAG_COMPONENTS_V2


async def test_remix_opens_a_form_with_the_prompt_and_makes_a_new_video_from_the_edit(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options=SEEDED)
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))

        refused = await emu.click_button(bob, result, f"seedance:remix:{task.id}")
        await emu.wait_for(lambda: refused.original, WAIT)
        assert refused.modal is None and "Only the person who asked" in refused.original.content

        opened = await emu.click_button(alice, result, f"seedance:remix:{task.id}")
        await emu.wait_for(lambda: opened.modal, WAIT)
        [text_input] = [c for row in opened.modal["components"] for c in row.get("components", [row.get("component")])]
        assert text_input["value"] == "a lighthouse in a storm"
        submitted = await emu.submit_modal(alice, opened, {text_input["custom_id"]: "a lighthouse at dawn"})
        remixed = await emu.wait_for(result_followup(submitted), WAIT)
        assert "a lighthouse at dawn" in remixed.shown_text()
        tasks = await bot.service.list_tasks(user_key(alice))
        newest = tasks[0]
        assert newest.prompt == "a lighthouse at dawn" and newest.request.seed == 7 and newest.id != task.id


async def test_delete_removes_the_video_and_its_message_for_the_owner_only(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    async with running_bot(emu, make_settings(tmp_path)) as bot:
        handle = await emu.invoke_slash(alice, options=SEEDED)
        result = await emu.wait_for(result_followup(handle), WAIT)
        task = await settled(bot, await only_task(bot, alice))
        assert task.video_path is not None and Path(task.video_path).is_file()

        refused = await emu.click_button(bob, result, f"seedance:delete:{task.id}")
        await emu.wait_for(lambda: refused.original, WAIT)
        assert refused.original.flags & FLAG_EPHEMERAL and "Only the person who asked" in refused.original.content
        assert not emu.message(result.id).deleted

        deleted = await emu.click_button(alice, result, f"seedance:delete:{task.id}")
        await emu.wait_for(lambda: emu.message(result.id).deleted, WAIT)
        confirm = await emu.wait_for(lambda: deleted.followups, WAIT)
        assert "Deleted task" in confirm[0].content and confirm[0].flags & FLAG_EPHEMERAL
        assert await bot.service.list_tasks(user_key(alice)) == []
        assert not Path(task.video_path).exists()


def test_fit_to_size_refuses_what_is_far_over_the_limit(tmp_path: Path) -> None:
    from core.media_fit import MAX_SHRINK, fit_to_size
    from tests.media_sample import tiny_mp4  # a real tiny MP4

    src = tmp_path / "in.mp4"
    src.write_bytes(tiny_mp4())
    far = int(src.stat().st_size / (MAX_SHRINK + 1))
    assert fit_to_size(src, tmp_path / "out.mp4", far) is None and not (tmp_path / "out.mp4").exists()
