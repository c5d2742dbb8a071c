"""Creating and editing stored messages from a request body (JSON or multipart).

Shared by the channel routes and the interaction/webhook routes so both enforce the same rules:
upload size first (Discord's edge answers 413 before looking at the JSON), then field limits,
then the empty-message check.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from .models import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    Channel,
    Message,
    StoredAttachment,
    User,
)
from .snowflake import make_snowflake
from .validation import (
    ApiError,
    check_media_references,
    check_message_fields,
    invalid_form,
    is_empty,
    mention_text,
    resolve_mentions,
    too_large,
)

if TYPE_CHECKING:
    from .server import DiscordEmulator

CHANNEL_CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
WEBHOOK_CREATE_FLAGS = CHANNEL_CREATE_FLAGS | FLAG_EPHEMERAL


@dataclass
class UploadedFile:
    index: int  # n of the files[n] form field
    filename: str
    data: bytes
    content_type: str


@dataclass
class Body:
    json: Any = None  # an object for messages, a list for command syncs
    files: list[UploadedFile] = field(default_factory=list)


#: Where read_body leaves the parsed body so the middleware can log it.
BODY_KEY = web.RequestKey("emu.body", Body)


async def read_body(request: web.Request) -> Body:
    """Parse a discord.py request: JSON, or multipart ``payload_json`` + ``files[n]``."""
    ctype = request.content_type
    body = Body()
    if ctype == "application/json":
        raw = await request.read()
        body.json = json.loads(raw) if raw else None
    elif ctype.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            if part.name == "payload_json":
                body.json = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                index = int(part.name[len("files[") : -1])
                data = await part.read()
                filename = part.filename or f"file{index}"
                guessed = mimetypes.guess_type(filename)[0]
                body.files.append(UploadedFile(index, filename, bytes(data), guessed or "application/octet-stream"))
    request[BODY_KEY] = body
    return body


def _store_files(
    emu: DiscordEmulator, channel_id: int, payload: dict[str, Any], files: list[UploadedFile], ephemeral: bool
) -> list[StoredAttachment]:
    described = {str(a.get("id")): a for a in payload.get("attachments") or []}
    out = []
    for f in files:
        meta = described.get(str(f.index), {})
        filename = meta.get("filename") or f.filename
        out.append(
            emu.store_attachment(
                filename, f.data, f.content_type, channel_id=channel_id,
                description=meta.get("description"), ephemeral=ephemeral,
            )
        )
    return out


def _check_size(files: list[UploadedFile], limit: int) -> None:
    if sum(len(f.data) for f in files) > limit:
        raise too_large()


def create_message(
    emu: DiscordEmulator,
    *,
    channel: Channel,
    body: Body,
    route: str,
    limit: int,
    allowed_flags: int,
    author: User,
    msg_type: int = 0,
    webhook_id: int | None = None,
    extra_flags: int = 0,
) -> Message:
    _check_size(body.files, limit)
    payload = body.json or {}
    check_message_fields(payload, file_count=len(body.files), total_files=len(body.files))
    flags = (int(payload.get("flags") or 0) & allowed_flags) | extra_flags
    content = payload.get("content") or ""
    embeds = list(payload.get("embeds") or [])
    components = list(payload.get("components") or [])
    if not extra_flags & FLAG_LOADING and is_empty(content, embeds, components, len(body.files)):
        raise ApiError(400, 50006, "Cannot send an empty message")
    if payload.get("tts") and not isinstance(payload["tts"], bool):
        raise invalid_form("tts", "BASE_TYPE_BOOLEAN", "Must be either true or false.")
    created = emu.wall()
    msg = Message(
        id=make_snowflake(created),
        channel_id=channel.id,
        guild_id=channel.guild_id,
        author=author,
        route=route,
        created_at=created,
        content=content,
        embeds=embeds,
        components=components,
        attachments=_store_files(emu, channel.id, payload, body.files, bool(flags & FLAG_EPHEMERAL)),
        flags=flags,
        allowed_mentions=payload.get("allowed_mentions"),
        type=msg_type,
        webhook_id=webhook_id,
    )
    check_media_references(components, [a.filename for a in msg.attachments])
    msg.mentions, msg.mention_everyone = resolve_mentions(
        mention_text(content, components, flags), msg.allowed_mentions, emu.users)
    msg.versions.append(msg.snapshot(route, emu.now()))
    emu.add_message(msg)
    return msg


def edit_message(emu: DiscordEmulator, msg: Message, body: Body, *, route: str, limit: int) -> None:
    """Apply a PATCH: keys present replace, ``attachments`` lists what to keep, files are added."""
    _check_size(body.files, limit)
    payload = body.json or {}
    if "attachments" in payload:
        listed = {str(a.get("id")) for a in payload["attachments"] or []}
        kept = [a for a in msg.attachments if str(a.id) in listed]
    else:
        kept = list(msg.attachments)
    check_message_fields(payload, file_count=len(body.files), total_files=len(kept) + len(body.files))
    new_files = _store_files(emu, msg.channel_id, payload, body.files, msg.ephemeral)
    content = (payload["content"] or "") if "content" in payload else msg.content
    embeds = list(payload["embeds"] or []) if "embeds" in payload else msg.embeds
    components = list(payload["components"] or []) if "components" in payload else msg.components
    attachments = kept + new_files
    if is_empty(content, embeds, components, len(attachments)):
        raise ApiError(400, 50006, "Cannot send an empty message")
    was_loading = msg.loading
    flags = msg.flags & ~FLAG_LOADING
    if "flags" in payload and payload["flags"] is not None:
        # Only these can change on edit; ephemeral is fixed and components v2 cannot be unset.
        new = int(payload["flags"])
        flags = (flags & ~FLAG_SUPPRESS_EMBEDS) | (new & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
    msg.content, msg.embeds, msg.components = content, embeds, components
    msg.attachments, msg.flags = attachments, flags
    if "allowed_mentions" in payload:
        msg.allowed_mentions = payload["allowed_mentions"]
    check_media_references(msg.components, [a.filename for a in msg.attachments])
    msg.mentions, msg.mention_everyone = resolve_mentions(
        mention_text(msg.content, msg.components, msg.flags), msg.allowed_mentions, emu.users)
    if not was_loading:  # filling a deferred "thinking" placeholder is not an edit
        msg.edited_at = emu.wall()
    msg.versions.append(msg.snapshot(route, emu.now()))
