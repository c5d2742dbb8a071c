"""Buttons whose whole state lives in their ``custom_id``, so they keep working after a restart.

discord.py matches a click's ``custom_id`` against each registered `DynamicItem` template and
rebuilds the item from the message, so no view registry has to survive the process. The handlers
live on the bot's command controller (``client.video``, a `ButtonActions`); ownership is checked there against the
store, where a task belongs to exactly one user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import Any, Protocol, cast

import discord

from bot import render
from core.models import Task, TaskStatus

PREFIX = "seedance"
REGEN = f"{PREFIX}:regen:"
EXTEND = f"{PREFIX}:extend:"
REMIX = f"{PREFIX}:remix:"
DELETE = f"{PREFIX}:delete:"
HISTORY = f"{PREFIX}:history:"
_TASK = r"(?P<id>[0-9a-zA-Z_-]{1,64})"

Button = discord.ui.Button[discord.ui.View]


log = logging.getLogger("seedance.bot.views")


class ButtonActions(Protocol):
    """What the buttons ask of the bot's controller (`bot.commands.VideoCommands` provides it).

    A protocol rather than an import, so that the buttons, the delivery that posts them and the
    commands that handle them do not import each other in a circle.
    """

    async def regenerate(self, interaction: discord.Interaction[Any], task_id: str) -> None: ...

    async def extend_from(
        self, interaction: discord.Interaction[Any], task_id: str, *, prompt: str | None, from_button: bool = False
    ) -> None: ...

    async def history_page(self, interaction: discord.Interaction[Any], page: int) -> None: ...

    async def remix(self, interaction: discord.Interaction[Any], task_id: str) -> None: ...

    async def delete_result(self, interaction: discord.Interaction[Any], task_id: str) -> None: ...

    async def remix_submitted(self, interaction: discord.Interaction[Any], task_id: str, prompt: str) -> None: ...


def _controller(interaction: discord.Interaction[Any]) -> ButtonActions:
    return cast(ButtonActions, interaction.client.video)


async def guarded(
    interaction: discord.Interaction[Any], work: Awaitable[None], *, what: str = "button", logger: logging.Logger = log
) -> None:
    """Run a button's or form's work; an unexpected error gets a private apology instead of "interaction
    failed". ``what`` and ``logger`` say in whose log it goes (`bot.story_views` passes its own)."""
    try:
        await work
    except Exception:  # noqa: BLE001 - logged, and the user is told
        logger.exception("%s %s failed", what, interaction.data.get("custom_id") if interaction.data else "?")
        text = render.error_text("something went wrong on our side; it has been logged")
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass


class ItemButton(discord.ui.DynamicItem[Button], template=r"(?!)"):
    """A button about one task or story: its custom id (prefix, the id, maybe ``:tail``) is its only
    state, so it outlives restarts. Subclasses say what it looks like (``look``: label, emoji, style,
    custom-id prefix), match the id as the group ``id`` (and ``tail``) and say what it does (``act``)."""

    look: tuple[str, str, discord.ButtonStyle, str]

    def __init__(self, item_id: str, tail: str = "") -> None:
        label, emoji, style, prefix = self.look
        custom_id = prefix + item_id + (f":{tail}" if tail else "")
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))
        self.item_id = item_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction[Any], item: Button, match: re.Match[str], /
    ) -> ItemButton:
        return cls(match["id"], match.groupdict().get("tail") or "")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self.act(interaction))

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


class RegenerateButton(ItemButton, template=re.escape(REGEN) + _TASK + "$"):
    """Same options as the task it sits under, with a new seed."""

    look = ("Regenerate", "🔁", discord.ButtonStyle.secondary, REGEN)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await _controller(interaction).regenerate(interaction, self.item_id)


class ExtendButton(ItemButton, template=re.escape(EXTEND) + _TASK + "$"):
    """A new clip that starts from the last frame of the task it sits under."""

    look = ("Extend", "➡️", discord.ButtonStyle.primary, EXTEND)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await _controller(interaction).extend_from(interaction, self.item_id, prompt=None, from_button=True)


class RemixButton(ItemButton, template=re.escape(REMIX) + _TASK + "$"):
    """Opens a form with the prompt to edit; the new video keeps the other options."""

    look = ("Remix", "✏️", discord.ButtonStyle.secondary, REMIX)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await _controller(interaction).remix(interaction, self.item_id)


class DeleteButton(ItemButton, template=re.escape(DELETE) + _TASK + "$"):
    """Deletes the video and this message; only its owner may (checked against the store)."""

    look = ("Delete", "🗑️", discord.ButtonStyle.danger, DELETE)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await _controller(interaction).delete_result(interaction, self.item_id)


class HistoryPageButton(discord.ui.DynamicItem[Button], template=re.escape(HISTORY) + r"(?P<page>\d{1,6})$"):
    """Turns an ephemeral history page. Whoever clicks sees their own tasks, so no owner check."""

    def __init__(self, page: int, *, label: str = "", disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=label or f"Page {page}", style=discord.ButtonStyle.secondary,
                                           custom_id=f"{HISTORY}{page}", disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction[Any], item: Button, match: re.Match[str], /
    ) -> HistoryPageButton:
        return cls(int(match["page"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, _controller(interaction).history_page(interaction, self.page))


DYNAMIC_ITEMS = (RegenerateButton, RemixButton, ExtendButton, DeleteButton, HistoryPageButton)


def result_card(task: Task, requester_id: int | None, *, media: str | None, note: str | None) -> discord.ui.LayoutView:
    """The result message (components v2): the video playing inline, what made it, and its buttons.

    ``media`` is ``attachment://<file>`` for an uploaded video (None: no video in the card);
    ``note`` says what happened on the way (re-encoded to fit, or why there is a link instead).
    """
    ok = task.status is TaskStatus.SUCCEEDED and task.error is None
    card: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(accent_colour=render.COLOURS[task.status])
    card.add_item(discord.ui.TextDisplay(render.card_header(task, requester_id)))
    if media is not None:
        card.add_item(discord.ui.MediaGallery(discord.MediaGalleryItem(media, description=render.clean(task.prompt, 200)
                                                                        or None)))
    card.add_item(discord.ui.Section(discord.ui.TextDisplay(render.card_prompt(task)), accessory=RemixButton(task.id)))
    card.add_item(discord.ui.TextDisplay(render.card_facts(task)))
    if note:
        card.add_item(discord.ui.TextDisplay(note))
    row: discord.ui.ActionRow[discord.ui.LayoutView] = discord.ui.ActionRow()
    row.add_item(RegenerateButton(task.id))
    if ok and bool(task.last_frame_path or (task.last_frame_url or "").startswith("http")):
        row.add_item(ExtendButton(task.id))
    row.add_item(DeleteButton(task.id))
    card.add_item(row)
    view = discord.ui.LayoutView(timeout=None)
    view.add_item(card)
    return view


MODAL_TEXT_MAX = 4000  # Discord's longest text input


class RemixForm(discord.ui.Modal, title="Remix this video"):
    """The prompt to edit; everything else stays as it was. Lives for the token's 15 minutes."""

    def __init__(self, actions: ButtonActions, task: Task, max_chars: int) -> None:
        super().__init__(timeout=15 * 60, custom_id=f"{PREFIX}:remix-form:{task.id}")
        self.actions = actions
        self.task_id = task.id
        self.prompt: discord.ui.TextInput[RemixForm] = discord.ui.TextInput(
            label="Prompt", style=discord.TextStyle.paragraph, default=task.prompt[:max_chars],
            max_length=max_chars, required=True)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        await guarded(interaction, self.actions.remix_submitted(interaction, self.task_id, self.prompt.value))


def history_view(page: int, pages: int) -> discord.ui.View | None:
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    # Two buttons may not share a custom_id, so a disabled end-of-list button points at page 0.
    view.add_item(HistoryPageButton(page - 1 if page > 1 else 0, label="◀ Newer", disabled=page <= 1))
    view.add_item(HistoryPageButton(page + 1 if page < pages else 999999, label="Older ▶", disabled=page >= pages))
    return view


def task_ids_in(message: discord.Message, prefix: str = REGEN) -> list[str]:
    """Task ids named by ``prefix`` buttons of ``message`` (used to recognise our result posts)."""
    found: list[str] = []
    stack: list[Any] = list(message.components)
    while stack:
        component = stack.pop()
        custom_id = getattr(component, "custom_id", None)
        if isinstance(custom_id, str) and custom_id.startswith(prefix):
            found.append(custom_id[len(prefix):])
        stack.extend(getattr(component, "children", None) or [])
    return found
