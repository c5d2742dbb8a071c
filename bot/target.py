"""Who and where on Discord, as the core stores it: user ids, community scopes, delivery targets.

A task's ``target`` is ``discord:<guild>:<channel>:<interaction>:<message>``: the channel for the
fallback post, the original message for its final card. The interaction token itself lives only in
memory (`bot.progress.Tracker`), for as long as it is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

PREFIX = "discord:"


@dataclass(frozen=True)
class Target:
    guild_id: int
    channel_id: int
    interaction_id: int
    message_id: int = 0

    def __str__(self) -> str:
        return f"{PREFIX}{self.guild_id}:{self.channel_id}:{self.interaction_id}:{self.message_id}"

    @classmethod
    def parse(cls, value: str | None) -> Target | None:
        if not value or not value.startswith(PREFIX):
            return None
        parts = value[len(PREFIX):].split(":")
        if len(parts) < 3 or not all(p.isdigit() for p in parts):
            return None
        ids = [int(p) for p in parts[:4]]
        return cls(*ids)


def user_id(user: discord.abc.User) -> str:
    """The core's user for a Discord account."""
    return f"{PREFIX}{user.id}"


def requester_of(user: str) -> int | None:
    """The Discord user id behind ``discord:<snowflake>``, or None for another front end's user."""
    kind, _, ident = user.partition(":")
    return int(ident) if kind == "discord" and ident.isdigit() else None


def scope_of(guild_id: int | None) -> str | None:
    """The community a server's tasks count against (its limits, budget and channels)."""
    return f"{PREFIX}{guild_id}" if guild_id else None


def role_ids(interaction: discord.Interaction[Any]) -> tuple[str, ...]:
    """The invoking member's role ids (per-role limits); none outside a server."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return ()
    return tuple(str(role.id) for role in member.roles if role.id != member.guild.id)


def where(interaction: discord.Interaction[Any]) -> dict[str, Any]:
    """The ``scope``/``roles``/``channel`` keywords every limited service call takes."""
    return {"scope": scope_of(interaction.guild_id), "roles": role_ids(interaction),
            "channel": str(interaction.channel_id) if interaction.channel_id else None}
