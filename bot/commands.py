"""What ``/video generate``, ``/video extend`` and the result buttons do (the command definitions are
in `bot.group`; the commands about tasks that exist are in `bot.task_commands`).

Every refusal that can be known from the options and attachments is the interaction's first
response, sent privately (ephemeral). Anything that needs the provider happens after a public
defer, whose "thinking" message then becomes the progress card. Discord cannot turn a deferred
public message private, so the rare late refusal (a per-user limit, a provider refusal) replaces
the thinking message with one line.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import discord

from bot import facts, render
from bot.delivery import Delivery
from bot.images import check_attachment_meta, last_frame, read_images
from bot.options import BotOptions
from bot.params import GenerateOptions
from bot.target import Target, user_id, where
from bot.task_commands import TaskCommands
from bot.views import MODAL_TEXT_MAX, RemixForm
from core.config import Settings
from core.errors import InvalidRequestError, LimitReachedError, SeedanceError, TaskNotFoundError
from core.inputs import validated_request
from core.models import MAX_PROMPT_CHARS, ImageInput, Task, TaskStatus, VideoRequest
from core.service import VideoService

log = logging.getLogger("seedance.bot.commands")

Interaction = discord.Interaction[Any]
NOT_YOURS = "Only the person who asked for this video can use its buttons."


class VideoCommands(TaskCommands):
    """What each command and button does; the command group only forwards to it. The commands that
    start a video are here, the ones about existing tasks in its base, `TaskCommands`."""

    def __init__(
        self, service: VideoService, settings: Settings, delivery: Delivery, options: BotOptions
    ) -> None:
        super().__init__(service, settings, options)
        self.delivery = delivery

    # -- responses -------------------------------------------------------------------------------

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
            reading = asyncio.ensure_future(read_images(uploads, spec))
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
            frame = last_frame(task, spec)
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
