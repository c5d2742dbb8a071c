"""``/video story``: a form with one shot per line, a card with each shot's progress, the joined video.

The story is one record in the core (`VideoService.create_story`); its shots are tasks the core
makes one after the other and joins. This module follows a story on its card while the interaction
token lasts (with a Cancel button) and posts its outcome exactly once (post, then record, as for
single videos: after a restart a result already in the channel, recognised by its
``seedance:story:<id>`` button, is recorded instead of posted again). A failed story's card has a
Retry button; the core then reopens the story, and the sweep posts its next outcome in the channel.
The buttons and the cards are in `bot.story_views`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from bot import facts, render
from bot.delivery import Delivery
from bot.posting import DEFAULT_UPLOAD_LIMIT, mention_only
from bot.progress import Tracker, token_gone
from bot.story_render import story_embed
from bot.story_views import RetryForm, progress_view, shows_outcome, story_card
from bot.target import PREFIX, Target, requester_of, user_id, where
from core.errors import SeedanceError, TaskNotFoundError
from core.models import MAX_PROMPT_CHARS, Story, StoryStatus, VideoRequest
from core.service import VideoService

log = logging.getLogger("seedance.bot.stories")

Interaction = discord.Interaction[Any]
MIN_SHOTS, MAX_SHOTS = 2, 6


@dataclass(frozen=True, kw_only=True)
class StoryOptions:
    """What ``/video story`` was given besides the shots."""

    model: str | None = None
    resolution: str | None = None
    ratio: str | None = None
    duration: int | None = None


class StoryForm(discord.ui.Modal, title="A story in shots"):
    def __init__(self, stories: StoryCommands, options: StoryOptions) -> None:
        super().__init__(timeout=15 * 60)
        self.stories, self.options = stories, options
        self.shots: discord.ui.TextInput[StoryForm] = discord.ui.TextInput(
            label=f"Shots: one per line, {MIN_SHOTS} to {MAX_SHOTS}", style=discord.TextStyle.paragraph,
            placeholder="A fox wakes up in its den\nIt runs out into the snow\nIt watches the sun rise",
            max_length=4000, custom_id="shots")
        self.add_item(self.shots)

    async def on_submit(self, interaction: Interaction, /) -> None:
        await self.stories.submitted(interaction, self.options, self.shots.value)


class StoryCommands:
    """The story command, its card and its delivery, on top of the single-video `Delivery`."""

    def __init__(self, service: VideoService, delivery: Delivery) -> None:
        self.service, self.delivery = service, delivery
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduled: set[str] = set()

    async def open_form(self, interaction: Interaction, options: StoryOptions) -> None:
        await interaction.response.send_modal(StoryForm(self, options))

    async def submitted(self, interaction: Interaction, options: StoryOptions, text: str) -> None:
        shots = [line.strip() for line in text.splitlines() if line.strip()]
        if not MIN_SHOTS <= len(shots) <= MAX_SHOTS:
            await interaction.response.send_message(render.error_text(
                f"a story needs {MIN_SHOTS} to {MAX_SHOTS} shots, one per line; you wrote {len(shots)}"),
                ephemeral=True)
            return
        answer = await interaction.response.defer(thinking=True)
        message_id = answer.message_id if answer is not None and answer.message_id else 0
        target = str(Target(interaction.guild_id or 0, interaction.channel_id or 0, interaction.id, message_id))
        request = VideoRequest.model_validate({"model": options.model, "resolution": options.resolution,
                                               "ratio": options.ratio, "duration": options.duration})
        try:
            story = await self.service.create_story(
                user_id(interaction.user), shots, request, target=target,
                request_key=f"discord-interaction:{interaction.id}", **where(interaction))
        except SeedanceError as exc:
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content=render.error_text(str(exc)))
            return
        tracker = self.delivery.track(interaction, target)
        self.delivery.spawn(self._follow(tracker, story), name=f"seedance-story-{story.id}")

    async def show_shots(self, interaction: Interaction, story_id: str) -> None:
        story = await self._owned(interaction, story_id, "Only the person who made this story can see its shots.")
        if story is not None:
            await interaction.response.send_message(embed=story_embed(story), ephemeral=True)

    async def retry(self, interaction: Interaction, story_id: str) -> None:
        """Retry button: the failed shot's prompt in a form (a story whose join failed is joined again)."""
        story = await self._owned(interaction, story_id, "Only the person who made this story can retry it.")
        if story is None:
            return
        if story.status is not StoryStatus.FAILED:
            await interaction.response.send_message(render.error_text(
                f"story {story.id} is {story.status.value}; only a failed story can be retried"), ephemeral=True)
            return
        task = story.failed_shot
        if task is None:
            await self.retry_submitted(interaction, story.id, None, None)
            return
        number = story.shots.index(task) + 1
        spec = facts.spec(task.provider, task.model)
        limit = spec.max_prompt_chars if spec else MAX_PROMPT_CHARS
        await interaction.response.send_modal(RetryForm(self, story.id, number, task.prompt, limit))

    async def retry_submitted(self, interaction: Interaction, story_id: str, shot: int | None,
                              prompt: str | None) -> None:
        """The failed shot again (only it is paid again); the story is posted here when it is final."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        place = where(interaction)  # the story keeps its own scope; the member's roles and channel count
        try:
            story = await self.service.retry_story(user_id(interaction.user), story_id, prompt=prompt or None,
                                                   roles=place["roles"], channel=place["channel"])
        except TaskNotFoundError:
            await interaction.followup.send(
                render.error_text("Only the person who made this story can retry it."), ephemeral=True)
            return
        except SeedanceError as exc:
            await interaction.followup.send(render.error_text(str(exc)), ephemeral=True)
            return
        done = (f"Shot {shot} is being made again; only that shot is paid again." if shot is not None
                else "The shots are being joined again; nothing is paid again.")
        await interaction.followup.send(f"🔁 {done} The joined video will be posted here.", ephemeral=True)
        self.delivery.spawn(self._deliver_when_final(story), name=f"seedance-story-retry-{story.id}")

    async def _deliver_when_final(self, story: Story) -> None:
        """Post a retried story as soon as it is final, instead of at the next sweep (the sweep still
        covers a restart in between)."""
        story = await self.service.wait_story(story.user, story.id)
        if story.is_final:
            self.schedule(story)

    async def cancel(self, interaction: Interaction, story_id: str) -> None:
        """Cancel button: waiting shots are dropped for free, the running one stopped where the provider allows."""
        story = await self._owned(interaction, story_id, "Only the person who made this story can cancel it.")
        if story is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            story = await self.service.cancel_story(story.user, story.id)
        except SeedanceError as exc:
            await interaction.followup.send(render.error_text(str(exc)), ephemeral=True)
            return
        text = "⏹️ Story cancelled: shots not yet made were never sent or paid."
        going = [n for n, t in enumerate(story.shots, start=1) if not t.is_final]
        if going:
            text += f" Shot {going[0]} was already being made and its provider cannot stop it, so it may still be paid."
        await interaction.followup.send(text, ephemeral=True)

    async def _owned(self, interaction: Interaction, story_id: str, refusal: str) -> Story | None:
        """The clicker's story, or None after a private refusal (stories belong to one user)."""
        try:
            return await self.service.get_story(user_id(interaction.user), story_id, refresh=False)
        except TaskNotFoundError:
            await interaction.response.send_message(render.error_text(refusal), ephemeral=True)
            return None

    # -- progress and delivery -------------------------------------------------------------------

    async def _follow(self, tracker: Tracker, story: Story) -> None:
        shown: str | None = None
        try:
            while not story.is_final and self.delivery.token_usable(tracker) and not tracker.dead:
                story = await self.service.get_story(story.user, story.id, refresh=False)
                if story.is_final:
                    break
                embed = story_embed(story)
                if str(embed.to_dict()) != shown:  # edit on change only
                    shown = str(embed.to_dict())
                    try:
                        await tracker.interaction.edit_original_response(embed=embed, view=progress_view(story))
                    except discord.HTTPException as exc:
                        self.delivery.note_edit_failure(tracker, exc)
                await asyncio.sleep(self.delivery.options.progress_interval)  # a pace, not a synchronisation
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - progress is cosmetic; the sweep delivers
            log.exception("progress of story %s stopped", story.id)
        if story.is_final:
            self.schedule(story)

    def schedule(self, story: Story) -> None:
        if story.id in self._scheduled:
            return
        self._scheduled.add(story.id)
        self.delivery.spawn(self._deliver_job(story), name=f"seedance-deliver-{story.id}")

    async def _deliver_job(self, story: Story) -> None:
        try:
            await self.deliver(story)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            log.warning("delivering story %s failed (%s: %s)", story.id, type(exc).__name__, exc)
        finally:
            self._scheduled.discard(story.id)

    async def sweep(self) -> int:
        stories = await self.service.undelivered_stories(PREFIX)
        for story in stories:
            self.schedule(story)
        return len(stories)

    async def deliver(self, story: Story) -> bool:
        """Post the story's outcome once; True when it is recorded."""
        async with self._locks.setdefault(story.id, asyncio.Lock()):
            story = await self.service.get_story(story.user, story.id, refresh=False)
            if story.delivered_at is not None or not story.is_final:
                return story.delivered_at is not None
            target = Target.parse(story.target)
            tracker = self.delivery.tracker(story.target)
            if target is not None:
                channel = await self.delivery.channel(target)
                if tracker is not None and self.delivery.token_usable(tracker):
                    with contextlib.suppress(discord.HTTPException):  # the final card; Cancel goes
                        await tracker.interaction.edit_original_response(embed=story_embed(story), view=None)
                    sent = await self._post(tracker.interaction.followup.send, story,
                                            limit=tracker.interaction.filesize_limit, wait=True)
                    if not sent:
                        tracker.dead = True
                if tracker is None or tracker.dead:
                    if not await self._already_posted(channel, story):
                        guild = getattr(channel, "guild", None)
                        limit = guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT
                        await self._post(channel.send, story, limit=limit)
                    await self._edit_stale_progress(channel, target, story)
            await self.service.mark_story_delivered(story.id, user=story.user)
            self.delivery.forget(story.target or "")
            self._locks.pop(story.id, None)
            return True

    async def _already_posted(self, channel: discord.abc.Messageable, story: Story) -> bool:
        """A card of this outcome is in the channel already (a card from before a retry does not count)."""
        me = self.delivery.client.user
        with contextlib.suppress(discord.HTTPException):
            async for message in channel.history(limit=self.delivery.options.history_lookback):
                if me is not None and message.author.id == me.id and shows_outcome(message, story):
                    return True
        return False

    @staticmethod
    async def _edit_stale_progress(channel: discord.abc.Messageable, target: Target, story: Story) -> None:
        """The progress card of a token we no longer hold, best effort: the outcome, without Cancel."""
        if target.message_id and isinstance(channel, discord.abc.GuildChannel | discord.Thread | discord.DMChannel):
            with contextlib.suppress(discord.HTTPException):
                await channel.get_partial_message(target.message_id).edit(embed=story_embed(story), view=None)

    async def _post(self, send: Any, story: Story, *, limit: int, **extra: Any) -> bool:
        """The story card with the joined video (re-encoded to fit when a little over). False when the
        interaction token turned out to be gone."""
        requester = requester_of(story.user)
        path, note = await self._video(story, limit)
        filename = f"seedance-{story.id}.mp4"
        card = story_card(story, requester, media=f"attachment://{filename}" if path else None, note=note)
        kwargs: dict[str, Any] = {"view": card, "allowed_mentions": mention_only(requester), **extra}
        if path is not None:
            kwargs["file"] = discord.File(path, filename=filename)
        try:
            await send(**kwargs)
        except discord.HTTPException as exc:
            if token_gone(exc):
                return False
            raise
        return True

    async def _video(self, story: Story, limit: int) -> tuple[Any, str | None]:
        if story.status is not StoryStatus.SUCCEEDED or not story.video_path:
            return None, None
        path = Path(story.video_path)
        if not path.is_file():
            return None, f"The joined video is not on this machine (story `{story.id}`)."
        size = path.stat().st_size
        if size <= limit:
            return path, None
        with contextlib.suppress(SeedanceError, OSError):
            fitted = await self.service.fit_video(story, limit)
            if fitted is not None:
                return fitted, render.fit_note(size, fitted.stat().st_size, limit)
        return None, render.link_note(story, link=None, size=size, limit=limit)
