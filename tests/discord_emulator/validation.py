"""Discord's message limits, so the bot's tests catch what the real API would reject.

Each check raises :class:`ApiError` with the status and JSON error code Discord uses; the server
turns it into the response. Only limits a video bot can plausibly hit are modelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .models import FLAG_COMPONENTS_V2, User, iter_components


class ApiError(Exception):
    """An error response in Discord's JSON format: ``{"code": ..., "message": ...}``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code, **self.extra}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def invalid_form(field: str, error_code: str, text: str) -> ApiError:
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        errors={field: {"_errors": [{"code": error_code, "message": text}]}},
    )


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def too_large() -> ApiError:
    return ApiError(413, 40005, "Request entity too large")


def check_message_fields(payload: dict[str, Any], *, file_count: int, total_files: int) -> None:
    """Validate the fields present in a create/edit payload (absent keys are not checked)."""
    content = payload.get("content")
    if content is not None and len(content) > 2000:
        raise invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    for i, embed in enumerate(embeds):
        _check_embed(i, embed)
    if sum(_embed_chars(e) for e in embeds) > 6000:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    if file_count > 10 or total_files > 10:
        raise invalid_form("attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    components = payload.get("components") or []
    flags = payload.get("flags") or 0
    if flags & FLAG_COMPONENTS_V2:
        if payload.get("content") or payload.get("embeds"):
            raise invalid_form("content", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                               "The 'content' and 'embeds' fields cannot be used with components v2")
        if len(iter_components(components)) > 40:
            raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    elif len(components) > 5:
        raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    for comp in iter_components(components):
        custom_id = comp.get("custom_id")
        if custom_id is not None and not 1 <= len(custom_id) <= 100:
            raise invalid_form("components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if comp.get("type") == 2 and comp.get("label") is not None and len(comp["label"]) > 80:
            raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")


def _check_embed(index: int, embed: dict[str, Any]) -> None:
    limits = {"title": 256, "description": 4096}
    for key, limit in limits.items():
        if len(embed.get(key) or "") > limit:
            raise invalid_form(f"embeds.{index}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(f"embeds.{index}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for f in fields:
        if len(f.get("name") or "") > 256 or len(f.get("value") or "") > 1024:
            raise invalid_form(f"embeds.{index}.fields", "BASE_TYPE_MAX_LENGTH", "Embed field is too long.")


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    total += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in embed.get("fields") or [])
    return total


def is_empty(content: str, embeds: list[Any], components: list[Any], attachment_count: int) -> bool:
    return not content and not embeds and not components and attachment_count == 0


def mention_text(content: str, components: list[dict[str, Any]], flags: int) -> str:
    """What Discord scans for mentions: the content, or a components v2 message's text displays."""
    if not flags & FLAG_COMPONENTS_V2:
        return content
    return "\n".join(c.get("content") or "" for c in iter_components(components) if c.get("type") == 10)


def check_media_references(components: list[dict[str, Any]], filenames: list[str]) -> None:
    """A components v2 ``attachment://name`` must name a file of the message (Discord refuses it otherwise)."""
    for comp in iter_components(components):
        media = [item.get("media") or {} for item in comp.get("items") or []] if comp.get("type") == 12 else []
        if comp.get("type") in (11, 13):  # thumbnail, file
            media.append(comp.get("media") or comp.get("file") or {})
        for ref in media:
            url = str(ref.get("url") or "")
            if url.startswith("attachment://") and url[len("attachment://"):] not in filenames:
                raise invalid_form("components", "UNFURLED_MEDIA_ITEM_INVALID_ATTACHMENT",
                                   f"{url} does not name an attachment of this message")


_USER_MENTION = re.compile(r"<@!?(\d+)>")


def resolve_mentions(
    content: str, allowed: dict[str, Any] | None, users: dict[int, User]
) -> tuple[list[User], bool]:
    """Users pinged by ``content`` and whether @everyone/@here pings, honouring allowed_mentions.

    Without ``allowed_mentions`` Discord pings everything written in the content; that is what makes
    a prompt containing ``@everyone`` dangerous.
    """
    parse: Iterable[str] = ("users", "roles", "everyone") if allowed is None else allowed.get("parse") or ()
    explicit = {int(u) for u in (allowed or {}).get("users") or []}
    pinged: list[User] = []
    for match in _USER_MENTION.finditer(content):
        uid = int(match.group(1))
        if uid in users and ("users" in parse or uid in explicit) and users[uid] not in pinged:
            pinged.append(users[uid])
    everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
    return pinged, everyone


def check_autocomplete(data: dict[str, Any]) -> None:
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise invalid_form("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > 25:
        raise invalid_form("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for choice in choices:
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            raise invalid_form("data.choices", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if "value" not in choice:
            raise invalid_form("data.choices", "BASE_TYPE_REQUIRED", "This field is required")


def check_modal(data: dict[str, Any]) -> None:
    if not data.get("custom_id") or not data.get("title"):
        raise invalid_form("data", "BASE_TYPE_REQUIRED", "custom_id and title are required")
    if len(data["title"]) > 45:
        raise invalid_form("data.title", "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length.")
    if not 1 <= len(data.get("components") or []) <= 5:
        raise invalid_form("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")


_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def check_commands(commands: list[dict[str, Any]]) -> None:
    """The bulk-overwrite checks that bite in practice: names, descriptions, the 25 limits."""
    if len(commands) > 100:
        raise invalid_form("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    names = [c.get("name", "") for c in commands]
    if len(set(names)) != len(names):
        raise ApiError(400, 50035, "Invalid Form Body",
                       errors={"_errors": [{"code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                            "message": "Application command names must be unique"}]})
    for i, cmd in enumerate(commands):
        _check_command_node(f"{i}", cmd, is_option=False)


def _check_command_node(path: str, node: dict[str, Any], *, is_option: bool) -> None:
    name = node.get("name", "")
    if not _COMMAND_NAME.match(name) or name != name.lower():
        raise invalid_form(f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    chat_input = node.get("type", 1) == 1 or is_option
    if chat_input and not 1 <= len(node.get("description", "")) <= 100:
        raise invalid_form(f"{path}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    options = node.get("options") or []
    if len(options) > 25:
        raise invalid_form(f"{path}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    if len(node.get("choices") or []) > 25:
        raise invalid_form(f"{path}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for j, opt in enumerate(options):
        _check_command_node(f"{path}.options.{j}", opt, is_option=True)
