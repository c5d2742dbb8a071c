"""REST routes the bot calls with its bot token, plus the middleware every request goes through.

The middleware logs each request, applies scripted faults (429 with ``Via``, 5xx), checks the
``Authorization: Bot <token>`` header on bot routes and turns :class:`ApiError` into Discord JSON.
Responses use exactly ``Content-Type: application/json``: discord.py compares that header as a
string, and aiohttp's ``json_response`` would append ``; charset=utf-8`` (docs/discord.md §3.6).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .messages import BODY_KEY, CHANNEL_CREATE_FLAGS, create_message, edit_message, read_body
from .models import MIB, Channel, Guild, Message
from .records import RequestRecord, SyncRecord
from .snowflake import make_snowflake
from .validation import ApiError, check_commands, unknown_message

if TYPE_CHECKING:
    from .server import DiscordEmulator

API = "/api/v10"
_log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def _fault_response(fault: Any) -> web.Response:
    if fault.status == 429:
        headers = {
            "Via": "1.1 google",  # without it discord.py assumes a Cloudflare ban and raises
            "Retry-After": str(math.ceil(fault.retry_after)),
            "X-RateLimit-Scope": "global" if fault.is_global else "user",
        }
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": fault.message, "retry_after": fault.retry_after, "global": fault.is_global, "code": 0}
        return json_response(body, 429, headers)
    return json_response({"message": fault.message, "code": fault.code}, fault.status)


def middleware(emu: DiscordEmulator) -> Any:
    @web.middleware
    async def handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/gateway/"):
            return await handler(request)
        info = request.match_info
        matched = info.http_exception is None
        canonical = info.route.resource.canonical if matched and info.route.resource is not None else ""
        is_api = request.path.startswith(API)
        template = canonical[len(API):] if is_api else canonical
        route = f"{request.method} {template}" if matched else ""
        path = request.path[len(API):] if is_api else request.path
        fault = next(
            (f for f in emu.faults if f.remaining > 0 and f.route.partition(" ")[2] == template
             and f.route.partition(" ")[0] in ("*", request.method)),
            None,
        ) if matched else None
        try:
            if fault is not None:
                fault.remaining -= 1
                fault.hits.append(emu.now())
                response: web.StreamResponse = _fault_response(fault)
            elif not matched:
                status = info.http_exception.status  # type: ignore[union-attr]
                raise ApiError(status, 0, f"{status}: {info.http_exception.reason}")  # type: ignore[union-attr]
            else:
                needs_bot_auth = is_api and not template.startswith(("/webhooks/", "/interactions/"))
                if needs_bot_auth and request.headers.get("Authorization") != f"Bot {emu.token}":
                    raise ApiError(401, 0, "401: Unauthorized")
                response = await handler(request)
            error_code = fault.code if fault is not None else None
        except ApiError as err:
            response = json_response(err.body(), err.status, err.headers)
            error_code = err.code
        except Exception as exc:  # noqa: BLE001 - reported below and kept in internal_errors
            # An emulator bug must not look like a Discord 5xx: discord.py would retry it with
            # multi-second sleeps. Answer 400 at once and keep the exception for the test.
            _log.exception("discord emulator failed on %s %s", request.method, request.path)
            emu.internal_errors.append(exc)
            response = json_response({"message": f"emulator error: {exc!r}", "code": 0}, 400)
            error_code = 0
        body = request.get(BODY_KEY)
        emu.requests.append(
            RequestRecord(
                method=request.method,
                path=path,
                route=route,
                query=dict(request.query),
                status=response.status,
                at=emu.now(),
                json=body.json if body is not None else None,
                files=tuple((f.filename, len(f.data)) for f in body.files) if body is not None else (),
                error_code=error_code,
            )
        )
        await emu.notify()
        return response

    return handle


def add_routes(app: web.Application, emu: DiscordEmulator) -> None:
    r = BotRoutes(emu)
    # Numeric ids only, so "@me" and "@original" never match an id placeholder.
    names = ("application_id", "guild_id", "channel_id", "message_id", "user_id")
    a, g, c, m, u = ("{" + name + r":\d+}" for name in names)
    app.router.add_get(f"{API}/users/@me", r.get_me)
    app.router.add_post(f"{API}/users/@me/channels", r.create_dm)
    app.router.add_get(f"{API}/users/{u}", r.get_user)
    app.router.add_get(f"{API}/oauth2/applications/@me", r.get_application)
    app.router.add_get(f"{API}/gateway", r.get_gateway)
    app.router.add_get(f"{API}/gateway/bot", r.get_gateway_bot)
    app.router.add_get(f"{API}/applications/{a}/commands", r.get_commands)
    app.router.add_put(f"{API}/applications/{a}/commands", r.put_commands)
    app.router.add_get(f"{API}/applications/{a}/guilds/{g}/commands", r.get_commands)
    app.router.add_put(f"{API}/applications/{a}/guilds/{g}/commands", r.put_commands)
    app.router.add_get(f"{API}/guilds/{g}", r.get_guild)
    app.router.add_get(f"{API}/guilds/{g}/channels", r.get_guild_channels)
    app.router.add_get(f"{API}/guilds/{g}/members/{u}", r.get_member)
    app.router.add_get(f"{API}/channels/{c}", r.get_channel)
    app.router.add_post(f"{API}/channels/{c}/typing", r.typing)
    app.router.add_get(f"{API}/channels/{c}/messages", r.list_messages)
    app.router.add_post(f"{API}/channels/{c}/messages", r.create_message)
    app.router.add_get(f"{API}/channels/{c}/messages/{m}", r.get_message)
    app.router.add_patch(f"{API}/channels/{c}/messages/{m}", r.edit_message)
    app.router.add_delete(f"{API}/channels/{c}/messages/{m}", r.delete_message)


class BotRoutes:
    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu

    # ---- lookups that raise Discord's "Unknown X" errors

    def _guild(self, request: web.Request) -> Guild:
        guild = self.emu.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _channel(self, request: web.Request) -> Channel:
        channel = self.emu.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _channel_message(self, request: web.Request, channel: Channel) -> Message:
        try:
            msg = self.emu.message(int(request.match_info["message_id"]))
        except KeyError:
            raise unknown_message() from None
        # Ephemeral messages exist only for the token routes (discord-api-docs#6253).
        if msg.channel_id != channel.id or msg.deleted or msg.ephemeral:
            raise unknown_message()
        return msg

    def _check_application(self, request: web.Request) -> None:
        if int(request.match_info["application_id"]) != self.emu.application_id:
            raise ApiError(403, 50001, "Missing Access")

    def _upload_limit(self, channel: Channel) -> int:
        guild = self.emu.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        return guild.upload_limit if guild is not None else 10 * MIB

    # ---- users, application, gateway

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response({**self.emu.bot_user.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.emu.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        user = self.emu.users.get(int((body.json or {}).get("recipient_id", 0)))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        existing = next((c for c in self.emu.channels.values() if c.type == 1 and c.recipients == [user]), None)
        if existing is None:
            existing = Channel(id=make_snowflake(self.emu.wall()), name="", guild_id=None, type=1, recipients=[user])
            self.emu.channels[existing.id] = existing
        return json_response(existing.payload())

    async def get_application(self, request: web.Request) -> web.Response:
        emu = self.emu
        return json_response(
            {
                "id": str(emu.application_id),
                "name": emu.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": emu.owner.payload(),
                "team": None,
                "verify_key": secrets.token_hex(32),
                "flags": 0,
                "rpc_origins": [],
                "bot": emu.bot_user.payload(),
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.emu.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.emu.gateway_url, "shards": 1, "session_start_limit": limit})

    # ---- application commands

    def _scope(self, request: web.Request) -> int | None:
        self._check_application(request)
        if "guild_id" not in request.match_info:
            return None
        return self._guild(request).id

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(list(self.emu.commands_scope(self._scope(request)).values()))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = await read_body(request)
        commands = body.json if isinstance(body.json, list) else []
        check_commands(commands)
        store = self.emu.commands_scope(scope)
        synced: dict[str, dict[str, Any]] = {}
        for cmd in commands:
            # An overwrite keeps the id of a command with the same name, like Discord does.
            previous = store.get(cmd["name"])
            full = {
                **cmd,
                "id": previous["id"] if previous else str(make_snowflake(self.emu.wall())),
                "application_id": str(self.emu.application_id),
                "version": str(make_snowflake(self.emu.wall())),
                "type": cmd.get("type", 1),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "nsfw": cmd.get("nsfw", False),
            }
            if scope is not None:
                full["guild_id"] = str(scope)
            synced[cmd["name"]] = full
        store.clear()
        store.update(synced)
        self.emu.sync_calls.append(SyncRecord(guild_id=scope, names=tuple(synced), at=self.emu.now()))
        return json_response(list(synced.values()))

    # ---- guilds and channels

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        return json_response({**guild.payload(full=False), "approximate_member_count": len(guild.members)})

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        return json_response([c.payload() for c in self._guild(request).channels])

    async def get_member(self, request: web.Request) -> web.Response:
        member = self._guild(request).members.get(int(request.match_info["user_id"]))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    # ---- channel messages

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", 50))))
        visible = sorted(self.emu.messages(channel, include_ephemeral=False), key=lambda m: m.id, reverse=True)
        if "before" in q:
            visible = [m for m in visible if m.id < int(q["before"])]
        if "after" in q:
            visible = sorted((m for m in visible if m.id > int(q["after"])), key=lambda m: m.id)
        return json_response([m.payload() for m in visible[:limit]])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = await read_body(request)
        if not channel.bot_can_send:
            raise ApiError(403, 50013, "Missing Permissions")
        msg = create_message(
            self.emu, channel=channel, body=body, route="channel", limit=self._upload_limit(channel),
            allowed_flags=CHANNEL_CREATE_FLAGS, author=self.emu.bot_user,
        )
        return json_response(msg.payload())

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_response(self._channel_message(request, channel).payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = await read_body(request)
        msg = self._channel_message(request, channel)
        edit_message(self.emu, msg, body, route="channel_edit", limit=self._upload_limit(channel))
        return json_response(msg.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._channel_message(request, channel).deleted = True
        return no_content()
