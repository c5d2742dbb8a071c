"""The emulated Discord world: application, bot user, guilds, channels, users, messages, commands.

Pure state plus the helpers tests use to set it up and to query it; no networking. The server
(``server.py``) subclasses it with the HTTP/gateway lifecycle and the interaction actions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .interactions import InteractionHandle
from .models import (
    ADMINISTRATOR,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    Channel,
    Guild,
    Member,
    Message,
    StoredAttachment,
    User,
)
from .records import Fault, RequestRecord, SyncRecord
from .snowflake import make_snowflake


class World:
    """State shared by the REST handlers, the gateway and the tests."""

    def __init__(
        self,
        *,
        bot_name: str,
        guild_name: str,
        premium_tier: int,
        channel_names: Sequence[str],
        token_ttl: float,
    ) -> None:
        self.token_ttl = token_ttl
        self._t0 = time.monotonic()
        self._offset = 0.0
        created = self.wall() - 86400 * 365
        self.application_id = make_snowflake(created)
        self.bot_user = User(id=make_snowflake(created), username=bot_name, bot=True)
        self.owner = User(id=make_snowflake(created), username="app-owner")
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.owner.id: self.owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self._messages: dict[int, Message] = {}
        self._attachments: dict[int, StoredAttachment] = {}
        self._interactions: dict[int, InteractionHandle] = {}
        self._by_token: dict[str, InteractionHandle] = {}
        #: Synced commands per scope: guild id, or None for global commands.
        self._commands: dict[int | None, dict[str, dict[str, Any]]] = {None: {}}
        self.sync_calls: list[SyncRecord] = []
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        #: Exceptions raised inside the emulator's own handlers (answered with a 400); should stay empty.
        self.internal_errors: list[Exception] = []
        self.add_guild(guild_name, premium_tier=premium_tier, channels=channel_names)

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    def _announce(self, event: str, make: Callable[[], dict[str, Any]]) -> None:
        """Tell a connected bot about a world change (the server sends it over the gateway)."""

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        """Emulator monotonic seconds since construction (shifted by :meth:`advance_time`)."""
        return time.monotonic() - self._t0 + self._offset

    def wall(self) -> float:
        """Emulator wall clock (Unix seconds), shifted by :meth:`advance_time`."""
        return time.time() + self._offset

    def advance_time(self, seconds: float) -> None:
        """Jump the emulator's clocks forward: ages tokens and the 3-second window without sleeping.

        discord.py's own ``Interaction.is_expired()`` uses the real clock and does not see this.
        """
        self._offset += seconds

    # ------------------------------------------------------------------ world setup

    @property
    def guild(self) -> Guild:
        """The first guild (created by the constructor)."""
        return next(iter(self.guilds.values()))

    @property
    def channel(self) -> Channel:
        """The first text channel of the first guild."""
        return self.guild.channel

    def add_guild(self, name: str, *, premium_tier: int = 0, channels: Sequence[str] = ("general",)) -> Guild:
        """A guild the bot is in. Added while the bot is connected, it is announced by GUILD_CREATE."""
        created = self.wall() - 86400 * 30
        guild = Guild(id=make_snowflake(created), name=name, owner_id=self.owner.id, premium_tier=premium_tier,
                      created_at=created)
        self.guilds[guild.id] = guild
        self._commands[guild.id] = {}
        for user in (self.bot_user, self.owner):
            self._join(guild, user, permissions=ADMINISTRATOR if user is self.owner else DEFAULT_BOT_PERMISSIONS)
        for channel_name in channels:
            self._new_channel(guild, channel_name)
        self._announce("GUILD_CREATE", guild.payload)
        return guild

    def add_channel(self, guild: Guild | None = None, name: str = "videos", *, bot_can_send: bool = True) -> Channel:
        guild = guild or self.guild
        channel = self._new_channel(guild, name, bot_can_send=bot_can_send)
        self._announce("CHANNEL_CREATE", channel.payload)
        return channel

    def _new_channel(self, guild: Guild, name: str, *, bot_can_send: bool = True) -> Channel:
        channel = Channel(id=make_snowflake(self.wall()), name=name, guild_id=guild.id,
                          position=len(guild.channels), bot_can_send=bot_can_send)
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    def add_user(
        self,
        username: str,
        *,
        guilds: Iterable[Guild] | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        admin: bool = False,
        upload_limit: int | None = None,
        global_name: str | None = None,
    ) -> User:
        """A human user, a member of ``guilds`` (default: the first guild; pass ``()`` for none).

        ``upload_limit`` models Nitro: it raises ``attachment_size_limit`` of this user's interactions.
        """
        user = User(id=make_snowflake(self.wall()), username=username, global_name=global_name,
                    upload_limit=upload_limit)
        self.users[user.id] = user
        for guild in [self.guild] if guilds is None else guilds:
            self._join(guild, user, permissions=permissions | (ADMINISTRATOR if admin else 0))
        return user

    def add_role(self, name: str, *, guild: Guild | None = None, members: Iterable[User] = ()) -> int:
        """A role in ``guild`` (announced by GUILD_ROLE_CREATE), given to ``members``; returns its id."""
        guild = guild or self.guild
        role = {**guild.everyone_role(), "id": str(make_snowflake(self.wall())), "name": name, "permissions": "0",
                "position": len(guild.roles) + 1}
        guild.roles.append(role)
        self._announce("GUILD_ROLE_CREATE", lambda: {"guild_id": str(guild.id), "role": role})
        for user in members:
            guild.members[user.id].roles.append(int(role["id"]))
        return int(role["id"])

    def _join(self, guild: Guild, user: User, *, permissions: int) -> Member:
        member = Member(user=user, guild_id=guild.id, joined_at=self.wall(), permissions=permissions)
        guild.members[user.id] = member
        return member

    # ------------------------------------------------------------------ attachments

    def store_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        channel_id: int = 0,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> StoredAttachment:
        att_id = make_snowflake(self.wall())
        url = f"{self.base_url}/attachments/{channel_id}/{att_id}/{filename}"
        att = StoredAttachment(att_id, filename, data, content_type, url, description, ephemeral)
        self._attachments[att_id] = att
        return att

    def add_attachment(
        self, filename: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """A file a user attaches to a command. Returns the ``resolved.attachments`` payload.

        Pass the returned dict as an attachment option value; its ``url`` serves ``data``.
        """
        return self.store_attachment(filename, data, content_type, channel_id=self.channel.id).payload()

    def expire_interaction(self, interaction: InteractionHandle | int) -> None:
        """Make the interaction's token expire now (webhook calls then get 401 / 50027)."""
        self.interaction_log(interaction).expires_at = self.wall()

    # ------------------------------------------------------------------ state used by the handlers

    def add_message(self, msg: Message) -> None:
        self._messages[msg.id] = msg

    def interaction_by_token(self, token: str) -> InteractionHandle | None:
        return self._by_token.get(token)

    def interaction_by_id(self, interaction_id: int) -> InteractionHandle | None:
        return self._interactions.get(interaction_id)

    def commands_scope(self, guild_id: int | None) -> dict[str, dict[str, Any]]:
        return self._commands[guild_id]

    # ------------------------------------------------------------------ queries for assertions

    def messages(
        self, channel: Channel | int | None = None, *, include_deleted: bool = False, include_ephemeral: bool = True
    ) -> list[Message]:
        """Stored messages, oldest first, optionally of one channel."""
        cid = channel.id if isinstance(channel, Channel) else channel
        return [
            m for m in self._messages.values()
            if (cid is None or m.channel_id == cid)
            and (include_deleted or not m.deleted)
            and (include_ephemeral or not m.ephemeral)
        ]

    def message(self, message_id: int) -> Message:
        return self._messages[message_id]

    def interaction_log(self, interaction: InteractionHandle | int) -> InteractionHandle:
        """The live record of an interaction: callbacks, original and its edits, follow-ups."""
        iid = interaction.id if isinstance(interaction, InteractionHandle) else interaction
        return self._interactions[iid]

    @property
    def interactions(self) -> list[InteractionHandle]:
        return list(self._interactions.values())

    def commands(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        """The command list last synced for ``guild`` (or the global list when None)."""
        gid = guild.id if isinstance(guild, Guild) else guild
        return list(self._commands.get(gid, {}).values())

    @property
    def sync_count(self) -> int:
        return len(self.sync_calls)

    def requests_for(self, route: str) -> list[RequestRecord]:
        """Requests that matched ``route`` ("METHOD /template")."""
        return [r for r in self.requests if r.route == route]

    @property
    def unhandled_requests(self) -> list[RequestRecord]:
        """API requests no emulated route matched: the bot used an endpoint we do not model."""
        return [r for r in self.requests if not r.route]
