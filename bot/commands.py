"""What ``/video`` and the result buttons do (the command definitions are in `bot.group`).

Every refusal that can be known from the options and attachments is the interaction's first
response, sent privately (ephemeral). Anything that needs the provider happens after a public
defer, whose "thinking" message then becomes the progress card. Discord cannot turn a deferred
public message private, so the rare late refusal (a per-user limit, a provider refusal) replaces
the thinking message with one line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot import facts, panels, render
from bot.delivery import Delivery
from bot.options import BotOptions
from bot.params import GenerateOptions
from bot.target import Target, scope_of, user_id, where
from bot.views import RemixForm, history_view
from core.catalog import ModelSpec
from core.config import Settings
from core.errors import InvalidRequestError, LimitReachedError, SeedanceError, TaskNotFoundError
from core.inputs import MAX_IMAGE_BYTES, MAX_SIDE, MIN_SIDE, image_from_bytes, image_input, validated_request
from core.models import MAX_PROMPT_CHARS, ImageInput, ImageRole, Task, TaskStatus, VideoRequest
from core.service import VideoService

log = logging.getLogger("seedance.bot.commands")

Interaction = discord.Interaction[Any]
NOT_YOURS = "Only the person who asked for this video can use its buttons."
MODAL_TEXT_MAX = 4000  # Discord's longest text input


def check_attachment_meta(attachment: discord.Attachment, field: str) -> None:
    """Refuse from what Discord says about a file, before downloading it.

    Raises:
        InvalidRequestError: too big, not an image, or (when Discord knows them) too few pixels.
    """
    name = attachment.filename
    if attachment.size > MAX_IMAGE_BYTES:
        raise InvalidRequestError(f"{field}: {name} is {attachment.size / 1e6:.1f} MB; images must be under 30 MB",
                                  field=field)
    kind = (attachment.content_type or "").split(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind != "application/octet-stream":
        raise InvalidRequestError(f"{field}: {name} is {kind}, not an image (use JPEG, PNG or WebP)", field=field)
    if attachment.width and attachment.height:
        small, large = min(attachment.width, attachment.height), max(attachment.width, attachment.height)
        if small < MIN_SIDE or large > MAX_SIDE:
            raise InvalidRequestError(
                f"{field}: {name} is {attachment.width}×{attachment.height} px; each side must be between "
                f"{MIN_SIDE} and {MAX_SIDE} px", field=field)


class VideoCommands:
    """What each command and button does; the command group below only forwards to it."""

    def __init__(
        self, service: VideoService, settings: Settings, delivery: Delivery, options: BotOptions
    ) -> None:
        self.service = service
        self.settings = settings
        self.delivery = delivery
        self.options = options

    # -- catalog ---------------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return self.settings.provider

    def specs(self, provider: str | None = None) -> list[ModelSpec]:
        return self.service.models(provider or self.provider)

    def spec(self, provider: str, model: str | None) -> ModelSpec | None:
        return facts.spec(provider, model)

    async def default_model(self, interaction: Interaction) -> str | None:
        """The model this server's admins chose for members who pick none (`/video-settings`)."""
        scope = scope_of(interaction.guild_id)
        return None if scope is None else (await self.service.community_settings(scope)).default_model

    # -- responses -------------------------------------------------------------------------------

    async def refuse(self, interaction: Interaction, message: str) -> None:
        """A private one-line refusal (the first response, or a private follow-up)."""
        text = render.error_text(message)
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    async def defer(self, interaction: Interaction) -> int:
        """Answer Discord now ("thinking…"); returns the id of the message that will show progress."""
        if not interaction.response.is_done():
            answer = await interaction.response.defer(thinking=True)
            interaction.extras["message_id"] = answer.message_id if answer and answer.message_id else 0
        return int(interaction.extras.get("message_id", 0))

    async def late_error(self, interaction: Interaction, message: str) -> None:
        """A refusal after the public defer: it replaces the thinking message."""
        try:
            await interaction.edit_original_response(content=render.error_text(message), embed=None)
        except discord.HTTPException as exc:
            log.warning("could not show an error to %s: %s", interaction.user.id, exc)

    def _budget(self, interaction: Interaction) -> float:
        # The 3 seconds run from the interaction's creation; keep a wide margin for clock skew.
        age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        return max(0.0, min(self.options.prefetch_budget, 2.0 - max(age, 0.0)))

    # -- /video generate -------------------------------------------------------------------------

    async def generate(self, interaction: Interaction, options: GenerateOptions) -> None:
        uploads = options.uploads()
        fields = options.fields(default_model=await self.default_model(interaction))
        try:
            for attachment, _, name in uploads:
                check_attachment_meta(attachment, name)
            # The attachments' URLs stand in for the images: every provider accepts a web URL, so
            # this checks all the options before anything is downloaded or paid for.
            stand_in = tuple(ImageInput(url=a.url, role=role) for a, role, _ in uploads)
            request = validated_request({**fields, "images": stand_in})
            estimate = self.service.estimate(request)
        except InvalidRequestError as exc:
            await self.refuse(interaction, str(exc))
            return
        if uploads:
            spec = self.spec(estimate.provider, estimate.model)
            reading = asyncio.ensure_future(self._read_images(uploads, spec))
            try:
                done, _ = await asyncio.wait({reading}, timeout=self._budget(interaction))
                if not done:
                    await self.defer(interaction)  # a slow download: answer Discord first, keep reading
                request = request.model_copy(update={"images": await reading})
            except InvalidRequestError as exc:
                if interaction.response.is_done():
                    await self.late_error(interaction, str(exc))
                else:
                    await self.refuse(interaction, str(exc))
                return
            finally:
                reading.cancel()  # only matters when deferring failed: then nobody waits for it
        await self.start(interaction, request, provider=estimate.provider)

    async def _read_images(
        self, uploads: list[tuple[discord.Attachment, ImageRole, str]], spec: ModelSpec | None
    ) -> tuple[ImageInput, ...]:
        images = []
        for attachment, role, name in uploads:
            try:
                data = await attachment.read()
            except discord.HTTPException:
                raise InvalidRequestError(f"{name}: {attachment.filename} could not be downloaded from Discord; "
                                          "attach it again", field=name) from None
            checked = image_from_bytes(data, role=role, field=name, name=attachment.filename)
            # Providers that take only web URLs get Discord's (signed for about a day): the
            # task is sent right away, long before that runs out.
            web_only = spec is not None and not spec.data_url_images
            images.append(ImageInput(url=attachment.url, role=role) if web_only else checked)
        return tuple(images)

    async def start(self, interaction: Interaction, request: VideoRequest, *, provider: str) -> None:
        """Defer, submit and follow a task; shared by the command and the buttons."""
        spec = self.spec(provider, request.model)
        if spec is not None and spec.return_last_frame and not request.draft:
            request = request.model_copy(update={"return_last_frame": True})  # what Extend starts from
        try:
            # Options and the user's limits, checked before the public defer: a refusal stays private.
            estimate = await self.service.check_limits(user_id(interaction.user), request, provider,
                                                       **where(interaction))
        except (InvalidRequestError, LimitReachedError) as exc:
            if interaction.response.is_done():
                await self.late_error(interaction, str(exc))
            else:
                await self.refuse(interaction, str(exc))
            return
        message_id = await self.defer(interaction)
        channel_id = interaction.channel_id or 0
        target = str(Target(interaction.guild_id or 0, channel_id, interaction.id, message_id))
        tracker = self.delivery.track(interaction, target)
        try:
            # The estimate checked above goes in as it is: resolved and priced once.
            task = await self.service.submit(user_id(interaction.user), estimate, target=target,
                                             request_key=f"discord-interaction:{interaction.id}",
                                             **where(interaction))
        except SeedanceError as exc:
            if tracker.task_id is not None:
                return  # the row exists and failed: its delivery tells the user, once
            self.delivery.forget(target)
            await self.late_error(interaction, str(exc))
            return
        except BaseException:
            if tracker.task_id is None:
                self.delivery.forget(target)
            raise
        tracker.task_id = task.id
        self.delivery.follow(tracker, task)

    # -- buttons and /video extend ---------------------------------------------------------------

    async def owned(self, interaction: Interaction, task_id: str, refusal: str) -> Task | None:
        try:
            return await self.service.get(user_id(interaction.user), task_id, refresh=False)
        except TaskNotFoundError:
            await self.refuse(interaction, refusal)
            return None

    async def regenerate(self, interaction: Interaction, task_id: str) -> None:
        task = await self.owned(interaction, task_id, NOT_YOURS)
        if task is None:
            return
        spec = self.spec(task.provider, task.model)
        seed = random.randint(0, facts.SEED_MAX) if spec is not None and spec.seed else None
        await self.start(interaction, task.request.model_copy(update={"seed": seed}), provider=task.provider)

    async def remix(self, interaction: Interaction, task_id: str) -> None:
        """Remix button: a form with the prompt to edit (the modal is the interaction's answer)."""
        task = await self.owned(interaction, task_id, NOT_YOURS)
        if task is None:
            return
        spec = self.spec(task.provider, task.model)
        limit = min(spec.max_prompt_chars if spec else MAX_PROMPT_CHARS, MODAL_TEXT_MAX)
        await interaction.response.send_modal(RemixForm(self, task, limit))

    async def remix_submitted(self, interaction: Interaction, task_id: str, prompt: str) -> None:
        task = await self.owned(interaction, task_id, NOT_YOURS)
        if task is None:
            return
        await self.start(interaction, task.request.model_copy(update={"prompt": prompt}), provider=task.provider)

    async def delete_result(self, interaction: Interaction, task_id: str) -> None:
        """Delete button: the owner's video, its files and the message; anyone else is told no, privately."""
        try:
            await self.service.delete(user_id(interaction.user), task_id)
        except TaskNotFoundError:
            await self.refuse(interaction, "Only the person who asked for this video can delete it.")
            return
        except InvalidRequestError as exc:
            await self.refuse(interaction, str(exc))
            return
        await interaction.response.defer()
        try:
            await interaction.delete_original_response()  # for a button: the message it sits on
        except discord.HTTPException as exc:
            log.warning("deleting the result message of %s failed: %s", task_id, exc)
        await interaction.followup.send(f"🗑️ Deleted task `{task_id}` and its video.", ephemeral=True)

    async def extend_from(
        self, interaction: Interaction, task_id: str, *, prompt: str | None, from_button: bool = False
    ) -> None:
        refusal = NOT_YOURS if from_button else f"No task `{task_id}` among yours: see /video history."
        task = await self.owned(interaction, task_id, refusal)
        if task is None:
            return
        if task.status is not TaskStatus.SUCCEEDED or not task.is_final:
            await self.refuse(interaction, f"task {task.id} is {task.status.value}; only a finished video can be "
                                           "extended")
            return
        spec = self.spec(task.provider, task.model)
        try:
            frame = self.last_frame(task, spec)
            if frame is None:
                raise InvalidRequestError(
                    f"task {task.id} has no last frame to start from (it was made without one); "
                    "use /video generate with an image instead", field="task")
            ratio = "adaptive" if spec is not None and "adaptive" in spec.ratios else task.request.ratio
            request = validated_request({
                "prompt": prompt if prompt is not None else task.prompt, "model": task.model,
                "resolution": task.request.resolution, "ratio": ratio, "duration": task.request.duration,
                "generate_audio": task.request.generate_audio, "images": (frame,),
            })
        except InvalidRequestError as exc:
            await self.refuse(interaction, str(exc))
            return
        await self.start(interaction, request, provider=task.provider)

    @staticmethod
    def last_frame(task: Task, spec: ModelSpec | None) -> ImageInput | None:
        """The task's last frame as the next clip's first frame: the local copy, else the provider's link."""
        accepts_data = spec is None or spec.data_url_images
        if accepts_data and task.last_frame_path and Path(task.last_frame_path).is_file():
            return image_input(task.last_frame_path, role=ImageRole.FIRST_FRAME, field="task")
        if task.last_frame_url and task.last_frame_url.startswith(("https://", "http://")):
            return ImageInput(url=task.last_frame_url, role=ImageRole.FIRST_FRAME)
        return None

    # -- /video status, history, cancel, models --------------------------------------------------

    async def status(self, interaction: Interaction, task_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # a refresh may ask the provider
        try:
            task = await self.service.get(user_id(interaction.user), task_id.strip())
        except TaskNotFoundError as exc:
            await self.refuse(interaction, str(exc))
            return
        progress = None if task.is_final else await self.service.progress(task)
        await interaction.followup.send(embed=render.status_embed(task, progress, time.time()), ephemeral=True)

    async def _history_page(self, interaction: Interaction, page: int) -> dict[str, Any]:
        user = user_id(interaction.user)
        size = self.options.history_page_size
        total = await self.service.count_tasks(user)
        pages = max(1, math.ceil(total / size))
        page = min(max(page, 1), pages)
        tasks = await self.service.list_tasks(user, limit=size, offset=(page - 1) * size)
        answer: dict[str, Any] = {"embed": panels.history_embed(tasks, page=page, pages=pages, total=total)}
        view = history_view(page, pages)
        if view is not None:
            answer["view"] = view
        return answer

    async def history(self, interaction: Interaction, page: int) -> None:
        await interaction.response.send_message(ephemeral=True, **await self._history_page(interaction, page))

    async def history_page(self, interaction: Interaction, page: int) -> None:
        await interaction.response.edit_message(**await self._history_page(interaction, page))

    async def cancel(self, interaction: Interaction, task_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # the provider is asked
        try:
            task = await self.service.cancel(user_id(interaction.user), task_id.strip())
        except TaskNotFoundError:
            await self.refuse(interaction, f"No task `{task_id}` among yours: only the person who started a task "
                                           "can cancel it.")
            return
        except SeedanceError as exc:
            await self.refuse(interaction, str(exc))
            return
        await interaction.followup.send(f"⏹️ Cancelled task `{task.id}`.", ephemeral=True)

    async def queue(self, interaction: Interaction) -> None:
        """The server's line: own entries in full, others' without their prompts."""
        tasks = await self.service.queue(scope_of(interaction.guild_id), limit=30)
        embed = panels.queue_embed(tasks, user_id(interaction.user))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def models(self, interaction: Interaction) -> None:
        specs = self.specs()
        estimates: dict[str, tuple[str, float] | None] = {}
        for spec in specs:
            try:
                est = self.service.estimate(VideoRequest(prompt="a short clip", model=spec.id), self.provider)
                estimates[spec.id] = (est.unit, est.amount)
            except SeedanceError:
                estimates[spec.id] = None  # e.g. an image-to-video-only model: no text-only price
        embed = panels.models_embed(specs, estimates, self.provider)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # -- autocomplete ----------------------------------------------------------------------------

    async def model_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        out = []
        for spec in self.specs():
            label = f"{spec.label} ({spec.id})"
            if needle in label.lower():
                out.append(app_commands.Choice(name=label[:100], value=spec.id))
        return out[:25]

    async def duration_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        spec = self.spec(self.provider, getattr(interaction.namespace, "model", None)) or self.spec(self.provider, None)
        if spec is None:
            return []
        values = facts.durations(spec)
        shown = [v for v in values if str(v).startswith(current.strip())] if current.strip() else values
        return [app_commands.Choice(name="let the model choose" if v == -1 else f"{v} seconds", value=v)
                for v in shown][:25]

    async def _task_choices(
        self, interaction: Interaction, current: str, keep: Any = None
    ) -> list[app_commands.Choice[str]]:
        tasks = await self.service.list_tasks(user_id(interaction.user), limit=100)
        needle = current.strip().lower()
        out = []
        for task in tasks:
            if keep is not None and not keep(task):
                continue
            if needle and needle not in task.id.lower() and needle not in task.prompt.lower():
                continue
            out.append(app_commands.Choice(name=render.choice_name(task), value=task.id))
        return out[:25]

    async def any_task_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._task_choices(interaction, current)

    async def active_task_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._task_choices(interaction, current, keep=lambda t: not t.is_final)

    async def extendable_task_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._task_choices(
            interaction, current,
            keep=lambda t: t.status is TaskStatus.SUCCEEDED and bool(t.last_frame_path or t.last_frame_url))
