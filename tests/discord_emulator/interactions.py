"""INTERACTION_CREATE payloads and the per-interaction record the emulator keeps.

Payloads follow Discord's shapes exactly where discord.py reads them: a real snowflake ``id``,
``attachment_size_limit`` (a KeyError in discord.py 2.6+ without it), ``member`` with
``permissions``, options nested under SUB_COMMAND(_GROUP) entries, attachments/users/channels in
``data.resolved`` and, for components, the full ``message`` so DynamicItem can rebuild the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import (
    ADMINISTRATOR,
    Channel,
    Guild,
    Member,
    Message,
    MessageVersion,
    StoredAttachment,
    User,
    iter_components,
)
from .records import CallbackRecord

# Interaction types.
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Option types.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11

#: Callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    PING: frozenset({1}),  # PONG; PINGs only come to HTTP-endpoint apps, never over the gateway
    APPLICATION_COMMAND: frozenset({4, 5, 9}),
    MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    AUTOCOMPLETE: frozenset({8}),
    MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}


@dataclass(frozen=True)
class WebhookCall:
    """A follow-up/@original request made with this interaction's token."""

    route: str
    status: int
    error_code: int | None
    after: float  # seconds from dispatch


@dataclass
class InteractionHandle:
    """Everything the emulator knows about one dispatched interaction (also its log)."""

    id: int
    token: str
    type: int
    application_id: int
    user: User
    guild: Guild | None
    channel: Channel
    payload: dict[str, Any]
    created_at: float  # wall-clock Unix seconds, from the snowflake
    expires_at: float  # wall-clock; created_at + token TTL unless expired by hand
    attachment_size_limit: int
    dispatched_at: float | None = None  # emulator monotonic seconds
    source_message: Message | None = None  # the message whose component was used
    callbacks: list[CallbackRecord] = field(default_factory=list)
    original: Message | None = None
    original_edits: list[MessageVersion] = field(default_factory=list)
    followups: list[Message] = field(default_factory=list)
    webhook_calls: list[WebhookCall] = field(default_factory=list)
    timed_out: bool = False  # the 3-second window passed without an accepted callback

    @property
    def acknowledged(self) -> bool:
        return any(cb.accepted for cb in self.callbacks)

    @property
    def first_response(self) -> CallbackRecord | None:
        """The accepted callback (there is at most one)."""
        return next((cb for cb in self.callbacks if cb.accepted), None)

    @property
    def response_latency(self) -> float | None:
        """Seconds from dispatch to the accepted callback."""
        first = self.first_response
        return first.after if first else None

    @property
    def rejected_callbacks(self) -> list[CallbackRecord]:
        return [cb for cb in self.callbacks if not cb.accepted]

    @property
    def autocomplete_choices(self) -> list[dict[str, Any]] | None:
        first = self.first_response
        if first is None or first.type != 8:
            return None
        return list((first.data or {}).get("choices", []))

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (callback type 9 data), if any."""
        first = self.first_response
        return first.data if first is not None and first.type == 9 else None

    @property
    def messages(self) -> list[Message]:
        """The original response (if it is a message) followed by follow-ups, without duplicates."""
        out = [self.original] if self.original is not None else []
        out += [m for m in self.followups if m is not self.original]
        return out


def _option_schema(command: dict[str, Any] | None, group: str | None, sub: str | None) -> list[dict[str, Any]] | None:
    """The option definitions of the leaf that will run, or None when the command was never synced."""
    if command is None:
        return None
    options: list[dict[str, Any]] = command.get("options") or []
    has_subs = any(o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options)
    if group is None and sub is None:
        if has_subs:
            raise ValueError(f"/{command['name']} has subcommands; pass subcommand=")
        return options
    if group is not None:
        grp = next((o for o in options if o.get("type") == SUB_COMMAND_GROUP and o["name"] == group), None)
        if grp is None:
            raise ValueError(f"/{command['name']} has no subcommand group {group!r}")
        options = grp.get("options") or []
    leaf = next((o for o in options if o.get("type") == SUB_COMMAND and o["name"] == sub), None)
    if leaf is None:
        raise ValueError(f"/{command['name']} has no subcommand {sub!r}")
    return list(leaf.get("options") or [])


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, (User, Member)):
        return USER
    if isinstance(value, Channel):
        return CHANNEL
    if isinstance(value, StoredAttachment) or (isinstance(value, dict) and "filename" in value):
        return ATTACHMENT
    raise TypeError(f"cannot infer an option type for {value!r}")


def _check_value(spec: dict[str, Any], value: Any) -> None:
    """Reject values the Discord client itself would never let a user submit."""
    name, kind = spec["name"], spec["type"]
    python_types: dict[int, type | tuple[type, ...]] = {STRING: str, INTEGER: int, BOOLEAN: bool, NUMBER: (int, float)}
    expected = python_types.get(kind)
    if expected is not None and (not isinstance(value, expected) or (kind != BOOLEAN and isinstance(value, bool))):
        raise ValueError(f"option {name!r} expects option type {kind}, got {value!r}")
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of the choices")
    if kind in (INTEGER, NUMBER):
        if value < spec.get("min_value", value) or value > spec.get("max_value", value):
            raise ValueError(f"option {name!r}: {value!r} is out of range")
    if kind == STRING:
        if len(value) < spec.get("min_length", 0) or len(value) > spec.get("max_length", 6000):
            raise ValueError(f"option {name!r}: length {len(value)} is out of range")


def check_member_may_use(command: dict[str, Any] | None, member: Member | None) -> None:
    """Discord shows a command with ``default_member_permissions`` only to members who have them
    (administrators see everything); a test invoking it as anyone else is a test bug."""
    required = int((command or {}).get("default_member_permissions") or 0)
    if member is None or not required or member.permissions & ADMINISTRATOR:
        return
    if member.permissions & required != required:
        raise PermissionError(f"Discord does not offer /{command['name'] if command else '?'} to {member.user.username}"
                              " (default_member_permissions)")


def build_command_data(
    *,
    command: dict[str, Any] | None,
    command_id: int,
    name: str,
    group: str | None,
    subcommand: str | None,
    options: Mapping[str, Any],
    extra_attachments: list[StoredAttachment],
    guild: Guild | None,
    focused: str | None,
    attachments_by_id: Mapping[int, StoredAttachment],
) -> dict[str, Any]:
    """The ``data`` object of an APPLICATION_COMMAND or AUTOCOMPLETE interaction."""
    schema = _option_schema(command, group, subcommand)
    specs = {s["name"]: s for s in schema} if schema is not None else {}
    resolved: dict[str, dict[str, Any]] = {}

    def resolve_attachment(value: Any) -> StoredAttachment:
        if isinstance(value, StoredAttachment):
            return value
        return attachments_by_id[int(value["id"])]

    leaf_options: list[dict[str, Any]] = []
    for opt_name, value in options.items():
        if schema is not None and opt_name not in specs:
            raise ValueError(f"/{name} has no option {opt_name!r}; known: {sorted(specs)}")
        kind = specs[opt_name]["type"] if schema is not None else _infer_type(value)
        opt: dict[str, Any] = {"name": opt_name, "type": kind}
        if opt_name == focused:
            # While typing, Discord sends the raw partial text whatever the option type.
            opt["value"], opt["focused"] = value, True
        elif kind == USER:
            user = value.user if isinstance(value, Member) else value
            opt["value"] = str(user.id)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            member = guild.members.get(user.id) if guild is not None else None
            if member is not None:
                resolved.setdefault("members", {})[str(user.id)] = member.payload(
                    with_user=False, with_permissions=True
                )
        elif kind == CHANNEL:
            opt["value"] = str(value.id)
            resolved.setdefault("channels", {})[str(value.id)] = {
                "id": str(value.id),
                "type": value.type,
                "name": value.name,
                "permissions": str(1 << 10 | 1 << 11),
                "parent_id": None,
            }
        elif kind == ATTACHMENT:
            att = resolve_attachment(value)
            opt["value"] = str(att.id)
            resolved.setdefault("attachments", {})[str(att.id)] = att.payload()
        elif kind == ROLE:
            if guild is None:
                raise ValueError("role options exist only in a guild")
            role_id = int(value["id"]) if isinstance(value, dict) else int(value)
            opt["value"] = str(role_id)
            resolved.setdefault("roles", {})[str(role_id)] = guild.role(role_id)
        elif kind == MENTIONABLE:
            raise NotImplementedError("mentionable options are not emulated")
        else:
            if schema is not None:
                _check_value(specs[opt_name], value)
            opt["value"] = value
        leaf_options.append(opt)

    if schema is not None and focused is None:
        missing = [s["name"] for s in schema if s.get("required") and s["name"] not in options]
        if missing:
            raise ValueError(f"/{name}: required options missing: {missing}")
    for att in extra_attachments:
        resolved.setdefault("attachments", {})[str(att.id)] = att.payload()

    nested: list[dict[str, Any]] = leaf_options
    if subcommand is not None:
        nested = [{"name": subcommand, "type": SUB_COMMAND, "options": nested}]
        if group is not None:
            nested = [{"name": group, "type": SUB_COMMAND_GROUP, "options": nested}]
    data: dict[str, Any] = {"id": str(command_id), "name": name, "type": 1, "options": nested}
    if resolved:
        data["resolved"] = resolved
    if command is not None and command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def build_interaction_payload(
    *,
    interaction_id: int,
    token: str,
    type: int,
    application_id: int,
    guild: Guild | None,
    channel: Channel,
    member: Member | None,
    user: User,
    data: dict[str, Any],
    attachment_size_limit: int,
    app_permissions: int,
    locale: str,
    message: Message | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": type,
        "token": token,
        "version": 1,
        "data": data,
        "channel_id": str(channel.id),
        "channel": {**channel.payload(), "permissions": str(member.permissions if member else 0)},
        "app_permissions": str(app_permissions),
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": attachment_size_limit,
    }
    if guild is not None:
        assert member is not None
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            member=member.payload(with_permissions=True),
            context=0,
            authorizing_integration_owners={"0": str(guild.id)},
        )
    else:
        payload.update(user=user.payload(), context=1, authorizing_integration_owners={"1": str(user.id)})
    if message is not None:
        payload["message"] = message.payload()
    return payload


def modal_submit_components(modal: dict[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Mirror a modal's layout (action rows or labels) with the user's answers filled in."""

    def answer(comp: dict[str, Any]) -> dict[str, Any]:
        cid: str = comp.get("custom_id") or ""
        if comp["type"] == 4:  # text input
            return {"type": 4, "custom_id": cid, "value": str(values.get(cid, comp.get("value") or ""))}
        if comp["type"] in (3, 5, 6, 7, 8):  # selects
            chosen = values.get(cid, [])
            return {"type": comp["type"], "custom_id": cid, "values": list(chosen)}
        return {"type": comp["type"], **({"custom_id": cid} if cid else {})}

    out: list[dict[str, Any]] = []
    for comp in modal.get("components", []):
        if comp["type"] == 1:
            out.append({"type": 1, "components": [answer(c) for c in comp.get("components", [])]})
        elif comp["type"] == 18:
            out.append({"type": 18, "component": answer(comp["component"])})
        else:
            out.append(answer(comp))
    unknown = set(values) - {c.get("custom_id") for c in iter_components(modal.get("components", []))}
    if unknown:
        raise ValueError(f"modal has no inputs {sorted(unknown)}")
    return out
