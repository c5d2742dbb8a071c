"""``/video usage`` for members and ``/video-settings`` for a server's admins.

The settings are stored and enforced by the core (`VideoService.update_community_settings`, then
every submit); this module only checks that the person changing them may manage the server.
"""

from __future__ import annotations

from typing import Any

import discord

from bot import panels, render
from bot.target import role_ids, scope_of, user_id
from core.errors import InvalidRequestError
from core.service import VideoService

Interaction = discord.Interaction[Any]
ADMINS_ONLY = "Only members who can Manage Server can change the video settings."


class ServerSettings:
    def __init__(self, service: VideoService) -> None:
        self.service = service

    async def usage(self, interaction: Interaction) -> None:
        usage = await self.service.usage(user_id(interaction.user), scope=scope_of(interaction.guild_id),
                                         roles=role_ids(interaction))
        await interaction.response.send_message(embed=panels.usage_embed(usage), ephemeral=True)

    async def _allowed(self, interaction: Interaction) -> str | None:
        """The server's scope when the member may manage it; otherwise a private refusal and None."""
        scope = scope_of(interaction.guild_id)
        # Discord hides the command from others (default_member_permissions); this also covers a
        # command list synced before that was set.
        if scope is None or not interaction.permissions.manage_guild:
            await interaction.response.send_message(render.error_text(ADMINS_ONLY), ephemeral=True)
            return None
        return scope

    async def show(self, interaction: Interaction) -> None:
        scope = await self._allowed(interaction)
        if scope is not None:
            await self._answer(interaction, scope, None)

    async def change(self, interaction: Interaction, **changes: Any) -> None:
        """Apply ``changes`` (CommunitySettings fields) and show the result, privately."""
        scope = await self._allowed(interaction)
        if scope is None:
            return
        try:
            await self.service.update_community_settings(scope, user_id(interaction.user), **changes)
        except InvalidRequestError as exc:
            await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
            return
        await self._answer(interaction, scope, "✅ Saved. It applies to the next video anyone asks for.")

    async def limits(self, interaction: Interaction, *, running: int | None, per_day: int | None,
                     budget_usd: float | None, reset: bool) -> None:
        if reset:
            await self.change(interaction, max_running_per_user=None, max_tasks_per_day=None, daily_budget_usd=None)
            return
        changes: dict[str, Any] = {}
        if running is not None:
            changes["max_running_per_user"] = running
        if per_day is not None:
            changes["max_tasks_per_day"] = per_day
        if budget_usd is not None:
            changes["daily_budget_usd"] = None if budget_usd < 0 else budget_usd
        await self.change(interaction, **changes)

    async def channel(self, interaction: Interaction, channel: discord.abc.GuildChannel | None, allow: bool) -> None:
        scope = scope_of(interaction.guild_id)
        current = (await self.service.community_settings(scope)).allowed_channels if scope else ()
        if channel is None:
            await self.change(interaction, allowed_channels=())  # every channel again
            return
        ident = str(channel.id)
        chosen = tuple(dict.fromkeys([*current, ident])) if allow else tuple(c for c in current if c != ident)
        await self.change(interaction, allowed_channels=chosen)

    async def role(self, interaction: Interaction, role: discord.Role, *, running: int | None, per_day: int | None,
                   remove: bool) -> None:
        scope = scope_of(interaction.guild_id)
        overrides = {k: v.model_dump() for k, v in (await self.service.community_settings(scope)).role_overrides.items()
                     } if scope else {}
        if remove:
            overrides.pop(str(role.id), None)
        else:
            overrides[str(role.id)] = {"max_running_per_user": running, "max_tasks_per_day": per_day}
        await self.change(interaction, role_overrides=overrides)

    async def model(self, interaction: Interaction, model: str | None) -> None:
        await self.change(interaction, default_model=model.strip() if model else None)

    async def _answer(self, interaction: Interaction, scope: str, note: str | None) -> None:
        settings = await self.service.community_settings(scope)
        embed = panels.settings_embed(settings, self.service.settings.limits)
        await interaction.response.send_message(note, embed=embed, ephemeral=True)
