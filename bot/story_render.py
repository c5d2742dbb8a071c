"""Pure helpers for a story: its progress card and the text of its posted card (`bot.story_views`).

Like `bot.render`, nothing here does I/O; each shot's line reuses the single-task vocabulary.
"""

from __future__ import annotations

import discord

from bot.render import EMOJI, clean, place_text, progress_bar
from core.models import Story, StoryStatus, Task, TaskStatus

STORY_EMOJI = {StoryStatus.WAITING: "🕒", StoryStatus.RUNNING: "🎬", StoryStatus.SUCCEEDED: "✅",
               StoryStatus.FAILED: "❌", StoryStatus.CANCELLED: "⏹️"}


def shot_line(index: int, task: Task, fraction: float | None) -> str:
    state = EMOJI[task.status]
    if task.status is TaskStatus.RUNNING or (task.status is TaskStatus.QUEUED and fraction):
        state += f" {progress_bar(fraction or 0.0, 8)} {fraction or 0.0:.0%}"
    elif task.status is TaskStatus.WAITING:
        state += " waiting" + (f", {place_text(task.queue)}" if task.queue else " for the shot before")
    elif task.status is TaskStatus.SUCCEEDED:
        state += " done"
    else:
        state += f" {task.status.value}"
    return f"**{index + 1}.** {state} · {clean(' '.join(task.prompt.split()), 70)}"


def story_shots(story: Story) -> str:
    lines = [shot_line(i, t, story.progress[i] if i < len(story.progress) else None) for i, t in enumerate(story.shots)]
    return "\n".join(lines)[:3900]


def story_embed(story: Story) -> discord.Embed:
    """The story's card while it is made: each shot's progress."""
    done = sum(1 for t in story.shots if t.status is TaskStatus.SUCCEEDED)
    title = f"{STORY_EMOJI[story.status]} Story: {done} of {len(story.shots)} shots done"
    if story.status is StoryStatus.RUNNING and done == len(story.shots):
        title = "🎬 Story: joining the shots"
    elif story.is_final:
        title = f"{STORY_EMOJI[story.status]} Story {story.status.value}"
    embed = discord.Embed(title=title, description=story_shots(story), colour=0x3498DB)
    if story.error is not None:
        embed.add_field(name="Why", value=clean(story.error.message, 1000), inline=False)
    embed.set_footer(text=f"story {story.id}")
    return embed


def story_header(story: Story, requester_id: int | None) -> str:
    who = f"<@{requester_id}> your" if requester_id else "Your"
    seconds = sum(t.request.duration or 0 for t in story.shots)
    if story.status is StoryStatus.SUCCEEDED:
        return f"### 🎞️ {who} story is ready: {len(story.shots)} shots, about {seconds} s"
    reason = story.error.message if story.error else f"the story {story.status.value}"
    return f"### {STORY_EMOJI[story.status]} {who} story {story.status.value}\n{clean(reason, 1500)}"
