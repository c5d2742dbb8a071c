"""DiscordEmulator: a local Discord (REST + gateway + attachment CDN) for a real discord.py client.

It runs on aiohttp in the test's own event loop, bound to 127.0.0.1 on an ephemeral port. Point
discord.py at it with :func:`tests.discord_emulator.patch_discord`. The REST handlers live in
``rest.py`` (bot routes) and ``webhooks.py`` (interaction callback and token routes), the world
state and its query helpers in ``world.py``; this module holds the lifecycle, the user actions that
dispatch interactions, fault injection and the event-driven ``wait_for`` helpers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from . import rest, webhooks
from .gateway import Gateway, GatewaySession
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    build_command_data,
    build_interaction_payload,
    check_member_may_use,
    modal_submit_components,
)
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    Channel,
    Guild,
    Message,
    StoredAttachment,
    User,
    iter_components,
)
from .records import Fault
from .snowflake import make_snowflake, snowflake_time
from .world import World

T = TypeVar("T")
API_PREFIX = "/api/v10"


class DiscordEmulator(World):
    """One Discord application with its bot user, guilds, channels, users and messages, served over
    loopback: REST under ``api_base``, the gateway at ``gateway_url``, attachments under ``base_url``.

    Timing knobs (seconds) are constructor arguments so tests can shrink them: ``token_ttl``
    (interaction tokens, 15 min on Discord) and ``response_deadline`` (the 3-second rule).
    """

    def __init__(
        self,
        *,
        token: str = "emulator-bot-token",
        bot_name: str = "Seedance Studio",
        guild_name: str = "Test Guild",
        premium_tier: int = 0,
        channel_names: Sequence[str] = ("general",),
        token_ttl: float = 15 * 60,
        response_deadline: float = 3.0,
        heartbeat_interval: float = 41.25,
    ) -> None:
        self.token = token
        self.response_deadline = response_deadline
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._cond = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.gateway = Gateway(self, heartbeat_interval=heartbeat_interval)
        super().__init__(
            bot_name=bot_name, guild_name=guild_name, premium_tier=premium_tier, channel_names=channel_names,
            token_ttl=token_ttl,
        )
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
        # Uploads go up to 100 MiB (tier 3) and tests send more to provoke 413s.
        app = web.Application(client_max_size=512 * 1024 * 1024, middlewares=[rest.middleware(self)])
        rest.add_routes(app, self)
        webhooks.add_routes(app, self)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.gateway.close_all(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DiscordEmulator.start() has not been awaited")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    async def set_premium_tier(self, guild: Guild, tier: int) -> None:
        """Change a guild's boost tier (upload limit) and tell the connected bot (GUILD_UPDATE)."""
        guild.premium_tier = tier
        await self.gateway.broadcast("GUILD_UPDATE", guild.payload(full=False))

    def _announce(self, event: str, make: Callable[[], dict[str, Any]]) -> None:
        if self.gateway.active is None:
            return
        task = asyncio.get_running_loop().create_task(self.gateway.broadcast(event, make()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        att = self._attachments.get(int(request.match_info["attachment_id"]))
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(body=att.data, headers={"Content-Type": att.content_type})

    # ------------------------------------------------------------------ dispatching interactions

    async def invoke_slash(
        self,
        user: User,
        guild: Guild | None = None,
        channel: Channel | None = None,
        name: str = "video",
        subcommand: str | None = "generate",
        options: Mapping[str, Any] | None = None,
        *,
        group: str | None = None,
        attachments: Mapping[str, Any] | Sequence[Any] = (),
        created_at: dt.datetime | float | None = None,
        locale: str = "en-US",
        attachment_size_limit: int | None = None,
    ) -> InteractionHandle:
        """A user runs ``/name [group] subcommand`` with ``options`` (checked against the synced schema).

        Attachment options take the dict from :meth:`add_attachment`; ``attachments`` may also be a
        mapping of option name to such dicts. ``created_at`` (datetime or Unix seconds) back-dates
        the interaction id, e.g. 16 minutes ago to get an already expired token.
        """
        guild = guild or self.guild
        channel = channel or guild.channel
        opts = dict(options or {})
        extra: list[StoredAttachment] = []
        if isinstance(attachments, Mapping):
            opts.update(attachments)
        else:
            extra = [self._attachment_of(a) for a in attachments]
        data = self._command_data(guild, name, group, subcommand, opts, extra, focused=None)
        command = self._commands[guild.id].get(name) or self._commands[None].get(name)
        check_member_may_use(command, guild.members.get(user.id))
        return await self._dispatch(APPLICATION_COMMAND, user, guild, channel, data, created_at=created_at,
                                    locale=locale, attachment_size_limit=attachment_size_limit)

    async def invoke_autocomplete(
        self,
        user: User,
        guild: Guild | None = None,
        channel: Channel | None = None,
        name: str = "video",
        subcommand: str | None = "generate",
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        group: str | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """The user is typing into option ``focused`` (its value in ``options`` is the partial text)."""
        guild = guild or self.guild
        channel = channel or guild.channel
        opts = dict(options or {})
        opts.setdefault(focused, "")
        data = self._command_data(guild, name, group, subcommand, opts, [], focused=focused)
        return await self._dispatch(AUTOCOMPLETE, user, guild, channel, data, locale=locale)

    async def click_button(self, user: User, message: Message | int, custom_id: str) -> InteractionHandle:
        """The user clicks a button of ``message``; the payload carries the full message (DynamicItem)."""
        return await self._component(user, message, custom_id, component_type=2, values=None)

    async def select_menu(
        self, user: User, message: Message | int, custom_id: str, values: Sequence[str]
    ) -> InteractionHandle:
        return await self._component(user, message, custom_id, component_type=None, values=list(values))

    async def submit_modal(
        self, user: User, opened_by: InteractionHandle, values: Mapping[str, Any]
    ) -> InteractionHandle:
        """The user submits the modal the bot opened in response to ``opened_by``."""
        modal = opened_by.modal
        if modal is None:
            raise ValueError("that interaction was not answered with a modal")
        data = {"custom_id": modal["custom_id"], "components": modal_submit_components(modal, values)}
        guild = opened_by.guild
        return await self._dispatch(MODAL_SUBMIT, user, guild, opened_by.channel, data,
                                    message=opened_by.source_message)

    async def _component(
        self,
        user: User,
        message: Message | int,
        custom_id: str,
        *,
        component_type: int | None,
        values: list[str] | None,
    ) -> InteractionHandle:
        msg = message if isinstance(message, Message) else self.message(message)
        msg = self.message(msg.id)  # always the current stored state
        if msg.deleted:
            raise ValueError(f"message {msg.id} was deleted")
        comp = next((c for c in iter_components(msg.components) if c.get("custom_id") == custom_id), None)
        if comp is None:
            raise ValueError(f"message {msg.id} has no component {custom_id!r}; it has {msg.custom_ids()}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        if component_type is not None and comp.get("type") != component_type:
            raise ValueError(f"component {custom_id!r} has type {comp.get('type')}, not {component_type}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if values is not None:
            data["values"] = values
        channel = self.channels[msg.channel_id]
        guild = self.guilds.get(msg.guild_id) if msg.guild_id is not None else None
        return await self._dispatch(MESSAGE_COMPONENT, user, guild, channel, data, message=msg)

    def _attachment_of(self, value: Any) -> StoredAttachment:
        return value if isinstance(value, StoredAttachment) else self._attachments[int(value["id"])]

    def _command_data(
        self, guild: Guild, name: str, group: str | None, subcommand: str | None,
        options: dict[str, Any], extra: list[StoredAttachment], *, focused: str | None,
    ) -> dict[str, Any]:
        command = self._commands[guild.id].get(name) or self._commands[None].get(name)
        return build_command_data(
            command=command,
            command_id=int(command["id"]) if command else make_snowflake(self.wall()),
            name=name, group=group, subcommand=subcommand, options=options, extra_attachments=extra,
            guild=guild, focused=focused, attachments_by_id=self._attachments,
        )

    async def _dispatch(
        self,
        itype: int,
        user: User,
        guild: Guild | None,
        channel: Channel,
        data: dict[str, Any],
        *,
        created_at: dt.datetime | float | None = None,
        locale: str = "en-US",
        attachment_size_limit: int | None = None,
        message: Message | None = None,
    ) -> InteractionHandle:
        session = self._require_session()
        if isinstance(created_at, dt.datetime):
            created = created_at.timestamp()
        else:
            created = self.wall() if created_at is None else float(created_at)
        interaction_id = make_snowflake(created)
        token = "aW50ZXJhY3Rpb246" + secrets.token_hex(40)
        member = None
        if guild is not None:
            member = guild.members.get(user.id) or self._join(guild, user, permissions=DEFAULT_MEMBER_PERMISSIONS)
        if attachment_size_limit is None:
            base = guild.upload_limit if guild is not None else 10 * 1024 * 1024
            attachment_size_limit = max(base, user.upload_limit or 0)
        payload = build_interaction_payload(
            interaction_id=interaction_id, token=token, type=itype, application_id=self.application_id,
            guild=guild, channel=channel, member=member, user=user, data=data,
            attachment_size_limit=attachment_size_limit, app_permissions=DEFAULT_BOT_PERMISSIONS,
            locale=locale, message=message,
        )
        handle = InteractionHandle(
            id=interaction_id, token=token, type=itype, application_id=self.application_id, user=user,
            guild=guild, channel=channel, payload=payload, created_at=snowflake_time(interaction_id),
            expires_at=snowflake_time(interaction_id) + self.token_ttl,
            attachment_size_limit=attachment_size_limit, source_message=message,
        )
        self._interactions[interaction_id] = handle
        self._by_token[token] = handle
        # Stamp before sending: a fast bot may call back before send_str returns.
        handle.dispatched_at = self.now()
        await session.dispatch("INTERACTION_CREATE", payload)
        await self.notify()
        return handle

    def _require_session(self) -> GatewaySession:
        session = self.gateway.active
        if session is None:
            raise RuntimeError("no bot is connected to the gateway (await client.wait_until_ready() first)")
        return session

    # ------------------------------------------------------------------ gateway controls

    async def wait_until_connected(self, timeout: float = 5.0) -> GatewaySession:
        """Wait until a bot has identified and received every GUILD_CREATE."""
        return await self.wait_for(lambda: self.gateway.active, timeout)

    async def send_reconnect(self) -> None:
        """Gateway op 7: the bot drops the socket and RESUMEs on a new one."""
        await self.gateway.send_reconnect()

    @property
    def identifies(self) -> list[dict[str, Any]]:
        """Every IDENTIFY payload received (``intents``, ``properties``, ``shard``...)."""
        return self.gateway.identifies

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        route: str,
        *,
        times: int = 1,
        status: int = 429,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> Fault:
        """Answer the next ``times`` requests to ``route`` with ``status`` (429 or 5xx) instead.

        ``route`` is "METHOD /template" as in :attr:`routes`, e.g.
        ``"POST /webhooks/{application_id}/{token}"``; "* /template" matches any method. A 429
        carries the ``Via`` header and ``retry_after`` body discord.py needs in order to retry.
        """
        method, _, template = route.partition(" ")
        if template not in {r.partition(" ")[2] for r in self.routes} or (method != "*" and route not in self.routes):
            raise ValueError(f"unknown route {route!r}; known routes: {sorted(self.routes)}")
        messages = {429: "You are being rate limited.", 500: "500: Internal Server Error"}
        fault = Fault(route=route, remaining=times, status=status, retry_after=retry_after, is_global=is_global,
                      code=0, message=messages.get(status, f"{status}: Error"))
        self.faults.append(fault)
        return fault

    @property
    def routes(self) -> set[str]:
        """Every emulated REST route as "METHOD /template"."""
        out = set()
        for route in self.app.router.routes():
            canonical = route.resource.canonical if route.resource is not None else ""
            if canonical.startswith(API_PREFIX) and route.method != "HEAD":
                out.add(f"{route.method} {canonical[len(API_PREFIX):]}")
        return out


    async def notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-evaluated whenever the emulator's state changes (each request, dispatch and gateway
        event), so there is no polling; raises TimeoutError with the last requests on timeout.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    while not (value := predicate()):
                        await self._cond.wait()
                    return value
        except TimeoutError:
            recent = ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-6:])
            raise TimeoutError(f"condition not met within {timeout}s; last requests: {recent or 'none'}") from None

    async def wait_for_message(
        self, channel: Channel | int | None = None, predicate: Callable[[Message], bool] | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """The first (oldest) non-deleted message in ``channel`` matching ``predicate``."""
        def find() -> Message | None:
            return next((m for m in self.messages(channel) if predicate is None or predicate(m)), None)

        return await self.wait_for(find, timeout)

    async def wait_for_response(self, interaction: InteractionHandle, timeout: float = 5.0) -> InteractionHandle:
        """Wait until the bot called back for ``interaction`` (accepted or rejected)."""
        await self.wait_for(lambda: interaction.callbacks, timeout)
        return interaction
