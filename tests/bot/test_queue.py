"""The queue as members see it: a waiting card with its place, /video queue, and the line draining in order."""

from __future__ import annotations

from pathlib import Path

from core.config import Limits
from core.models import TaskStatus
from tests.bot.helpers import SMALL, WAIT, make_settings, result_followup, running_bot, user_key
from tests.discord_emulator import FLAG_EPHEMERAL, DiscordEmulator, InteractionHandle


def titles(handle: InteractionHandle) -> list[str]:
    return [v.embeds[0]["title"] for v in handle.original_edits if v.embeds]


async def test_a_full_queue_shows_places_and_drains_in_order(emu: DiscordEmulator, tmp_path: Path) -> None:
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    settings = make_settings(tmp_path, speed=6, limits=Limits(max_running_per_user=1, max_tasks_per_day=100))
    async with running_bot(emu, settings) as bot:
        handles = []
        for n in range(3):
            handles.append(await emu.invoke_slash(alice, options={"prompt": f"alice shot {n}", **SMALL}))
            await emu.wait_for(lambda h=handles[-1]: h.original_edits, WAIT)
        # Over the running limit the next two wait, in order, and their cards say where.
        await emu.wait_for(lambda: any(t.startswith("🕒 Waiting, 2nd in line") for t in titles(handles[2])), WAIT)
        assert any(t.startswith("🕒 Waiting, 1st in line") for t in titles(handles[1])), titles(handles[1])
        assert "(2nd of yours)" in titles(handles[2])[0]

        # Bob sees the line without Alice's prompts; Alice sees her own in full.
        seen_by_bob = await emu.invoke_slash(bob, subcommand="queue")
        await emu.wait_for(lambda: seen_by_bob.original, WAIT)
        card = seen_by_bob.original.embeds[0]
        text = " ".join(f["value"] for f in card["fields"])
        assert seen_by_bob.original.flags & FLAG_EPHEMERAL
        assert alice.mention in text and "alice shot" not in text and "Waiting (2)" in str(card["fields"])
        seen_by_alice = await emu.invoke_slash(alice, subcommand="queue")
        await emu.wait_for(lambda: seen_by_alice.original, WAIT)
        assert "alice shot 2" in str(seen_by_alice.original.embeds[0])

        # The line drains by itself, first come first served, and every result is delivered.
        for handle in handles:
            await emu.wait_for(result_followup(handle), WAIT * 2)
        tasks = sorted(await bot.service.list_tasks(user_key(alice)), key=lambda t: t.created_at)
        assert [t.status for t in tasks] == [TaskStatus.SUCCEEDED] * 3
        starts = [t.submitted_at for t in tasks]
        assert starts == sorted(starts)  # type: ignore[type-var]
        # The last card moved up the line, then ran, then finished.
        assert any(t.startswith("🕒 Waiting, 1st in line") for t in titles(handles[2])), titles(handles[2])
        assert titles(handles[2])[-1].startswith("✅ Finished")
        assert any("Generating" in t or "Queued" in t for t in titles(handles[2]))
