"""A story's card and buttons: Shots, Retry (a failed story) and Cancel (while it is made).

As in `bot.views`, each button's whole state is its ``custom_id``, so it keeps working after a
restart. The handlers live on the bot's story controller (``client.stories``, a `StoryActions`);
a protocol rather than an import, so that this module and `bot.stories` do not import each other.

A posted card also records which outcome it shows: a failed story's Retry button carries the
story's attempt count (``seedance:story-retry:<id>:<attempts>``). After a retry the story is final
again with more attempts (or, when only its join was tried again, with another status), so the
earlier card in the channel is not mistaken for a post of the new outcome (`shows_outcome`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, cast

import discord

from bot import story_render
from bot.views import MODAL_TEXT_MAX, ItemButton, guarded, task_ids_in
from core.models import Story, StoryStatus

log = logging.getLogger("seedance.bot.story_views")

Interaction = discord.Interaction[Any]
Button = discord.ui.Button[discord.ui.View]
STORY = "seedance:story:"
RETRY = "seedance:story-retry:"
CANCEL = "seedance:story-cancel:"
_STORY = r"(?P<id>story-[\w-]{1,64})"


class StoryActions(Protocol):
    """What the story buttons ask of the bot (`bot.stories.StoryCommands` provides it)."""

    async def show_shots(self, interaction: Interaction, story_id: str) -> None: ...

    async def retry(self, interaction: Interaction, story_id: str) -> None: ...

    async def retry_submitted(self, interaction: Interaction, story_id: str, shot: int | None,
                              prompt: str | None) -> None: ...

    async def cancel(self, interaction: Interaction, story_id: str) -> None: ...


def _actions(interaction: Interaction) -> StoryActions:
    return cast(StoryActions, interaction.client.stories)


class StoryShotsButton(ItemButton, template=re.escape(STORY) + _STORY + "$"):
    """Each shot of a posted story, privately; its custom id also marks the post as ours."""

    look = ("Shots", "🎞️", discord.ButtonStyle.secondary, STORY)

    async def act(self, interaction: Interaction) -> None:
        await _actions(interaction).show_shots(interaction, self.item_id)


class StoryRetryButton(ItemButton, template=re.escape(RETRY) + _STORY + r"(?::(?P<tail>\d{1,6}))?$"):
    """On a failed story's card: the failed shot again, its prompt in a form to edit (owner only)."""

    look = ("Retry", "🔁", discord.ButtonStyle.primary, RETRY)

    async def act(self, interaction: Interaction) -> None:
        await _actions(interaction).retry(interaction, self.item_id)


class StoryCancelButton(ItemButton, template=re.escape(CANCEL) + _STORY + "$"):
    """On the progress message: stop the story; the shots not yet made are never sent (owner only)."""

    look = ("Cancel", "⏹️", discord.ButtonStyle.danger, CANCEL)

    async def act(self, interaction: Interaction) -> None:
        await _actions(interaction).cancel(interaction, self.item_id)


STORY_ITEMS = (StoryShotsButton, StoryRetryButton, StoryCancelButton)


class RetryForm(discord.ui.Modal, title="Make the failed shot again"):
    """The failed shot's prompt to edit; only that shot is made (and paid) again."""

    def __init__(self, actions: StoryActions, story_id: str, shot: int, prompt: str, max_chars: int) -> None:
        super().__init__(timeout=15 * 60, custom_id=f"seedance:story-retry-form:{story_id}")
        self.actions, self.story_id, self.shot = actions, story_id, shot
        limit = min(max_chars, MODAL_TEXT_MAX)
        self.prompt: discord.ui.TextInput[RetryForm] = discord.ui.TextInput(
            label=f"Shot {shot}: its prompt", style=discord.TextStyle.paragraph, default=prompt[:limit],
            max_length=limit, required=True)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction, /) -> None:
        await guarded(interaction, self.actions.retry_submitted(interaction, self.story_id, self.shot,
                                                                self.prompt.value.strip()),
                      what="story button", logger=log)


def story_card(story: Story, requester_id: int | None, *, media: str | None, note: str | None) -> discord.ui.LayoutView:
    """The posted outcome: the joined video, the shots, Shots; Retry when the story failed."""
    colour = {StoryStatus.SUCCEEDED: 0x2ECC71, StoryStatus.CANCELLED: 0x95A5A6}.get(story.status, 0xE74C3C)
    card: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(accent_colour=colour)
    card.add_item(discord.ui.TextDisplay(story_render.story_header(story, requester_id)))
    if media is not None:
        card.add_item(discord.ui.MediaGallery(discord.MediaGalleryItem(media)))
    card.add_item(discord.ui.TextDisplay(story_render.story_shots(story)))
    if note:
        card.add_item(discord.ui.TextDisplay(note))
    row: discord.ui.ActionRow[discord.ui.LayoutView] = discord.ui.ActionRow()
    if story.status is StoryStatus.FAILED:
        row.add_item(StoryRetryButton(story.id, str(story.attempts)))
    row.add_item(StoryShotsButton(story.id))
    card.add_item(row)
    view = discord.ui.LayoutView(timeout=None)
    view.add_item(card)
    return view


def progress_view(story: Story) -> discord.ui.View:
    """Under the progress card while the story is made: Cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(StoryCancelButton(story.id))
    return view


def shows_outcome(message: discord.Message, story: Story) -> bool:
    """Whether ``message`` is our card of the story's current outcome (not of one before a retry)."""
    if story.id not in task_ids_in(message, STORY):
        return False
    retries = [r for r in task_ids_in(message, RETRY) if r.partition(":")[0] == story.id]
    if story.status is StoryStatus.FAILED:
        return f"{story.id}:{story.attempts}" in retries
    return not retries
