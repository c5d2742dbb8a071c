"""The ``/video`` slash command group: names, options, choices and autocomplete from the catalog.

Each command only forwards to `VideoCommands`. The choices depend on the configured provider, so the
group is built at start-up; a different provider changes the command hash and triggers a sync.
"""

# No ``from __future__ import annotations``: discord.py reads these signatures at runtime.

import discord
from discord import app_commands

from bot import facts
from bot.admin import ServerSettings
from bot.commands import VideoCommands
from bot.params import GenerateOptions
from bot.stories import StoryCommands, StoryOptions
from core.models import MAX_PROMPT_CHARS

SEED_MAX = facts.SEED_MAX


def build_video_group(video: VideoCommands, admin: ServerSettings, stories: StoryCommands) -> app_commands.Group:
    """``/video`` with choices taken from the configured provider's catalog."""
    specs = video.specs()
    resolutions = facts.resolutions(specs)
    ratios = facts.ratios(specs)
    longest = facts.longest_duration(specs)
    group = app_commands.Group(name="video", description="Generate AI videos with Seedance", guild_only=True)

    @group.command(name="generate", description="Generate a video from a prompt, optionally from a first frame")
    @app_commands.describe(
        prompt="What the video should show",
        image="First frame: a JPEG, PNG or WebP image, each side 300-6000 px",
        last_frame="Last frame (needs a first frame)",
        model="Model (default: the provider's newest)",
        resolution="Output resolution",
        ratio="Aspect ratio; adaptive follows the first frame",
        duration="Length in seconds",
        audio="Generate a soundtrack (models with audio only)",
        seed="Seed for repeatable results (-1: random)",
    )
    @app_commands.choices(
        resolution=[app_commands.Choice(name=r, value=r) for r in resolutions],
        ratio=[app_commands.Choice(name=r, value=r) for r in ratios][:25],
    )
    @app_commands.autocomplete(model=video.model_choices)
    @app_commands.autocomplete(duration=video.duration_choices)
    async def generate(
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        image: discord.Attachment | None = None,
        last_frame: discord.Attachment | None = None,
        model: str | None = None,
        resolution: str | None = None,
        ratio: str | None = None,
        duration: app_commands.Range[int, -1, longest] | None = None,
        audio: bool | None = None,
        seed: app_commands.Range[int, -1, SEED_MAX] | None = None,
    ) -> None:
        await video.generate(interaction, GenerateOptions(
            prompt=prompt, image=image, last_frame=last_frame, model=model, resolution=resolution, ratio=ratio,
            duration=duration, audio=audio, seed=seed))

    @group.command(name="story", description="One long video from 2-6 shots, each starting where the last ended")
    @app_commands.describe(model="Model (default: this server's, else the provider's newest)",
                           resolution="Output resolution", ratio="Aspect ratio", duration="Seconds per shot")
    @app_commands.choices(
        resolution=[app_commands.Choice(name=r, value=r) for r in resolutions],
        ratio=[app_commands.Choice(name=r, value=r) for r in ratios][:25],
    )
    @app_commands.autocomplete(model=video.model_choices)
    @app_commands.autocomplete(duration=video.duration_choices)
    async def story(
        interaction: discord.Interaction,
        model: str | None = None,
        resolution: str | None = None,
        ratio: str | None = None,
        duration: app_commands.Range[int, -1, longest] | None = None,
    ) -> None:
        await stories.open_form(interaction, StoryOptions(
            model=model or await video.default_model(interaction), resolution=resolution, ratio=ratio,
            duration=duration))

    @group.command(name="extend", description="A new clip that starts from the last frame of one of your videos")
    @app_commands.describe(task="One of your finished videos", prompt="What happens next (default: the same prompt)")
    @app_commands.autocomplete(task=video.extendable_task_choices)
    async def extend(
        interaction: discord.Interaction,
        task: str,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
    ) -> None:
        await video.extend_from(interaction, task.strip(), prompt=prompt)

    @group.command(name="status", description="Show one of your tasks")
    @app_commands.describe(task="The task id (suggestions come from your history)")
    @app_commands.autocomplete(task=video.any_task_choices)
    async def status(interaction: discord.Interaction, task: str) -> None:
        await video.status(interaction, task)

    @group.command(name="history", description="Your videos, newest first (only you see this)")
    @app_commands.describe(page="Page number")
    async def history(interaction: discord.Interaction, page: app_commands.Range[int, 1, 10000] = 1) -> None:
        await video.history(interaction, page)

    @group.command(name="cancel", description="Cancel one of your tasks while it is still queued")
    @app_commands.describe(task="The task id (suggestions: your unfinished tasks)")
    @app_commands.autocomplete(task=video.active_task_choices)
    async def cancel(interaction: discord.Interaction, task: str) -> None:
        await video.cancel(interaction, task)

    @group.command(name="queue", description="What runs and waits in this server (only you see this)")
    async def queue(interaction: discord.Interaction) -> None:
        await video.queue(interaction)

    @group.command(name="usage", description="Your videos and spending today, and what is left (only you see this)")
    async def usage(interaction: discord.Interaction) -> None:
        await admin.usage(interaction)

    @group.command(name="models", description="The models you can use, with their limits and prices")
    async def models(interaction: discord.Interaction) -> None:
        await video.models(interaction)

    return group


def build_settings_group(admin: ServerSettings, video: VideoCommands) -> app_commands.Group:
    """``/video-settings``: a top-level command because Discord sets default_member_permissions only
    on top-level commands; members without Manage Server do not see it."""
    group = app_commands.Group(name="video-settings", description="Video limits, channels and roles for this server",
                               guild_only=True, default_permissions=discord.Permissions(manage_guild=True))

    @group.command(name="show", description="This server's video settings")
    async def show(interaction: discord.Interaction) -> None:
        await admin.show(interaction)

    @group.command(name="limits", description="Per-member limits and the server's daily budget")
    @app_commands.describe(running="Videos one member may have running at once (more wait in line)",
                           per_day="Videos one member may start per day",
                           budget_usd="What the whole server may spend per day, in US dollars (-1: no budget)",
                           reset="Back to the operator's limits")
    async def limits(
        interaction: discord.Interaction,
        running: app_commands.Range[int, 1, 100] | None = None,
        per_day: app_commands.Range[int, 1, 10000] | None = None,
        budget_usd: app_commands.Range[float, -1, 100000] | None = None,
        reset: bool = False,
    ) -> None:
        await admin.limits(interaction, running=running, per_day=per_day, budget_usd=budget_usd, reset=reset)

    @group.command(name="channel", description="Allow videos in a channel, or stop allowing it")
    @app_commands.describe(channel="The channel (leave out to allow every channel again)",
                           allow="True: allow it (then only allowed channels work); False: remove it")
    async def channel(
        interaction: discord.Interaction, channel: discord.TextChannel | None = None, allow: bool = True
    ) -> None:
        await admin.channel(interaction, channel, allow)

    @group.command(name="role", description="Give a role its own limits")
    @app_commands.describe(role="The role", running="Videos running at once for its members",
                           per_day="Videos per day for its members", remove="Remove this role's override")
    async def role(
        interaction: discord.Interaction,
        role: discord.Role,
        running: app_commands.Range[int, 1, 100] | None = None,
        per_day: app_commands.Range[int, 1, 10000] | None = None,
        remove: bool = False,
    ) -> None:
        await admin.role(interaction, role, running=running, per_day=per_day, remove=remove)

    @group.command(name="model", description="The model members get when they pick none")
    @app_commands.describe(model="A model id (leave out for the provider's newest)")
    @app_commands.autocomplete(model=video.model_choices)
    async def model(interaction: discord.Interaction, model: str | None = None) -> None:
        await admin.model(interaction, model)

    return group
