"""The emulator's state objects and their Discord JSON shapes.

Everything here is plain mutable dataclasses so tests can read (and, when they must, tweak) the
emulated world directly. ``*_payload()`` methods render the exact JSON discord.py parses; the
required keys were checked against discord.py 2.7.1 (see docs/discord.md §3.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .snowflake import iso_timestamp

MIB = 1024 * 1024

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
USE_EXTERNAL_APPS = 1 << 50

#: What an ordinary member can do in a default text channel.
DEFAULT_MEMBER_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | USE_EXTERNAL_APPS
)
#: What the bot was invited with (sent as ``app_permissions``).
DEFAULT_BOT_PERMISSIONS = DEFAULT_MEMBER_PERMISSIONS | MENTION_EVERYONE

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15

# Message types.
MESSAGE_DEFAULT = 0
MESSAGE_CHAT_INPUT_COMMAND = 20


def upload_limit_for_tier(premium_tier: int) -> int:
    """Per-message upload limit of a guild by boost tier (10 MiB floor since 2025-01)."""
    return {2: 50 * MIB, 3: 100 * MIB}.get(premium_tier, 10 * MIB)


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    #: Nitro raises the interaction ``attachment_size_limit`` for this user's interactions.
    upload_limit: int | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Member:
    user: User
    guild_id: int
    joined_at: float
    permissions: int = DEFAULT_MEMBER_PERMISSIONS
    roles: list[int] = field(default_factory=list)
    nick: str | None = None

    def payload(self, *, with_user: bool = True, with_permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": iso_timestamp(self.joined_at),
            "nick": self.nick,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "avatar": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


@dataclass
class Channel:
    id: int
    name: str
    guild_id: int | None
    type: int = 0  # 0 = GUILD_TEXT, 1 = DM
    position: int = 0
    #: False makes bot posts here fail with 403 Missing Permissions (50013).
    bot_can_send: bool = True
    recipients: list[User] = field(default_factory=list)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        if self.type == 1:
            return {
                "id": str(self.id),
                "type": 1,
                "last_message_id": None,
                "recipients": [u.payload() for u in self.recipients],
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    channels: list[Channel] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    created_at: float = 0.0
    #: Roles besides @everyone, as their REST payloads (see ``World.add_role``).
    roles: list[dict[str, Any]] = field(default_factory=list)

    def role(self, role_id: int) -> dict[str, Any]:
        return next(r for r in [self.everyone_role(), *self.roles] if int(r["id"]) == role_id)

    @property
    def upload_limit(self) -> int:
        return upload_limit_for_tier(self.premium_tier)

    @property
    def channel(self) -> Channel:
        """The first text channel (the default place to invoke commands)."""
        return self.channels[0]

    def everyone_role(self) -> dict[str, Any]:
        # The @everyone role shares the guild's id.
        return {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(DEFAULT_MEMBER_PERMISSIONS),
            "position": 0,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def payload(self, *, full: bool = True) -> dict[str, Any]:
        """GUILD_CREATE shape (``full``) or the GUILD_UPDATE / REST shape."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "features": [],
            "premium_tier": self.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(self.premium_tier, 0),
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "roles": [self.everyone_role(), *self.roles],
            "emojis": [],
            "stickers": [],
        }
        if full:
            data.update(
                unavailable=False,
                large=False,
                joined_at=iso_timestamp(self.created_at),
                member_count=len(self.members),
                channels=[c.payload() for c in self.channels],
                members=[m.payload() for m in self.members.values()],
                threads=[],
                voice_states=[],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return data


@dataclass
class StoredAttachment:
    """A file the bot uploaded, or one a user attached to a command (bytes kept for assertions)."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass(frozen=True)
class MessageVersion:
    """One state of a message: its creation or one edit, with the route that produced it."""

    route: str
    at: float  # emulator clock (seconds, see DiscordEmulator.now)
    content: str
    embeds: tuple[dict[str, Any], ...]
    components: tuple[dict[str, Any], ...]
    attachments: tuple[tuple[str, int], ...]  # (filename, size)
    flags: int


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author: User
    #: Route that created it: "channel", "interaction_callback" or "followup".
    route: str
    created_at: float  # wall-clock Unix seconds
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    mentions: list[User] = field(default_factory=list)
    mention_everyone: bool = False
    type: int = MESSAGE_DEFAULT
    #: Set for messages made through an interaction token (== application id).
    webhook_id: int | None = None
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    edited_at: float | None = None
    deleted: bool = False
    versions: list[MessageVersion] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred "Bot is thinking..." placeholder."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def filenames(self) -> list[str]:
        return [a.filename for a in self.attachments]

    def shown_text(self) -> str:
        """What a reader sees as text: the content, or the text displays of a components v2 message."""
        return self.content or "\n".join(self.texts())

    def texts(self) -> list[str]:
        """The text displays of a components v2 message, in order (nested containers included)."""
        return [c.get("content") or "" for c in iter_components(self.components) if c.get("type") == 10]

    def media_urls(self) -> list[str]:
        """The media gallery items' URLs (``attachment://...`` for uploaded files)."""
        return [str((item.get("media") or {}).get("url")) for c in iter_components(self.components)
                if c.get("type") == 12 for item in c.get("items") or []]

    def custom_ids(self) -> list[str]:
        """Every component ``custom_id`` in the message, nested rows/containers included."""
        return [c["custom_id"] for c in iter_components(self.components) if "custom_id" in c]

    def snapshot(self, route: str, at: float) -> MessageVersion:
        return MessageVersion(
            route=route,
            at=at,
            content=self.content,
            embeds=tuple(self.embeds),
            components=tuple(self.components),
            attachments=tuple((a.filename, a.size) for a in self.attachments),
            flags=self.flags,
        )

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "content": self.content,
            "author": self.author.payload(),
            "timestamp": iso_timestamp(self.created_at),
            "edited_timestamp": iso_timestamp(self.edited_at) if self.edited_at else None,
            "tts": False,
            "mention_everyone": self.mention_everyone,
            "mentions": [u.payload() for u in self.mentions],
            "mention_roles": [],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": list(self.embeds),
            "components": list(self.components),
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        return data


def iter_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten action rows, containers, sections and labels into a list of leaf-and-parent dicts."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(components))
    while stack:
        comp = stack.pop()
        out.append(comp)
        children: list[dict[str, Any]] = list(comp.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                children.append(comp[key])
        stack.extend(reversed(children))
    return out
