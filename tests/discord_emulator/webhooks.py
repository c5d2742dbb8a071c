"""Interaction callback and the token (webhook) routes: @original, follow-ups, follow-up messages.

Realism the bot's tests rely on:

* the first callback must arrive within ``response_deadline`` (3 s) of dispatch, else
  404 ``10062 Unknown interaction``; a second callback gets 400 ``40060``;
* token routes answer 401 ``50027 Invalid Webhook Token`` once the token expired (``token_ttl``
  after the id's timestamp) or when the 3-second window passed with no callback, and
  404 ``10015 Unknown Webhook`` before the interaction was acknowledged;
* uploads above the interaction's ``attachment_size_limit`` get 413 ``40005``;
* the first follow-up after a deferred (type 5) response fills the "thinking" placeholder instead
  of creating a message, keeping the defer's ephemerality (as Discord documents).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .interactions import ALLOWED_CALLBACKS, APPLICATION_COMMAND, AUTOCOMPLETE, InteractionHandle, WebhookCall
from .messages import WEBHOOK_CREATE_FLAGS, Body, create_message, edit_message, read_body
from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_DEFAULT,
    Message,
)
from .records import CallbackRecord
from .rest import API, json_response, no_content
from .validation import ApiError, check_autocomplete, check_modal, invalid_form, unknown_message

if TYPE_CHECKING:
    from .server import DiscordEmulator

TokenHandler = Callable[[web.Request, InteractionHandle], Awaitable[web.Response]]


def add_routes(app: web.Application, emu: DiscordEmulator) -> None:
    w = WebhookRoutes(emu)
    hook = API + r"/webhooks/{application_id:\d+}/{token}"
    msg = hook + r"/messages/{message_id:\d+}"
    app.router.add_post(API + r"/interactions/{interaction_id:\d+}/{token}/callback", w.callback)
    app.router.add_get(hook + "/messages/@original", w.token_route(w.get_original))
    app.router.add_patch(hook + "/messages/@original", w.token_route(w.edit_original))
    app.router.add_delete(hook + "/messages/@original", w.token_route(w.delete_original))
    app.router.add_post(hook, w.token_route(w.followup))
    app.router.add_get(msg, w.token_route(w.get_message))
    app.router.add_patch(msg, w.token_route(w.edit_message))
    app.router.add_delete(msg, w.token_route(w.delete_message))


def _invalid_token() -> ApiError:
    return ApiError(401, 50027, "Invalid Webhook Token")


class WebhookRoutes:
    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu

    # ---- the callback

    async def callback(self, request: web.Request) -> web.Response:
        emu = self.emu
        handle = emu.interaction_by_id(int(request.match_info["interaction_id"]))
        if handle is None or handle.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        body = await read_body(request)
        payload = body.json if isinstance(body.json, dict) else {}
        cb_type, data = payload.get("type"), payload.get("data") or {}
        after = emu.now() - (handle.dispatched_at or 0.0)
        already = handle.acknowledged
        # Status 0 = still being processed; set to the answer below either way.
        record = CallbackRecord(type=cb_type, data=data, files=[], after=after, status=0)  # type: ignore[arg-type]
        handle.callbacks.append(record)
        try:
            if already:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            if handle.timed_out or after > emu.response_deadline:
                handle.timed_out = True
                raise ApiError(404, 10062, "Unknown interaction")
            if cb_type not in ALLOWED_CALLBACKS[handle.type] or (cb_type in (6, 7) and handle.source_message is None):
                raise invalid_form("type", "INTERACTION_CALLBACK_TYPE_INVALID",
                                   f"Callback type {cb_type} is not valid for interaction type {handle.type}")
            message = self._apply(handle, cb_type, Body(json=data, files=body.files))
        except ApiError as err:
            record.status, record.error_code = err.status, err.code
            raise
        if message is not None and cb_type in (4, 7):
            record.files = message.attachments[len(message.attachments) - len(body.files):] if body.files else []
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            record.status = 204
            return no_content()
        record.status = 200
        return json_response(self._callback_body(handle, cb_type, message))

    def _apply(self, handle: InteractionHandle, cb_type: int, body: Body) -> Message | None:
        emu = self.emu
        msg_type = MESSAGE_CHAT_INPUT_COMMAND if handle.type in (APPLICATION_COMMAND, AUTOCOMPLETE) else MESSAGE_DEFAULT
        data = body.json or {}
        if cb_type in (4, 5):
            if cb_type == 5:
                # The "Bot is thinking..." placeholder: only ephemerality comes from the defer.
                body = Body(json={"flags": int(data.get("flags") or 0) & FLAG_EPHEMERAL})
            msg = create_message(
                emu, channel=handle.channel, body=body, route="interaction_callback",
                limit=handle.attachment_size_limit, allowed_flags=WEBHOOK_CREATE_FLAGS, author=emu.bot_user,
                msg_type=msg_type, webhook_id=handle.application_id,
                extra_flags=FLAG_LOADING if cb_type == 5 else 0,
            )
            msg.interaction_id = handle.id
            msg.interaction_metadata = self._metadata(handle)
            handle.original = msg
            return msg
        if cb_type in (6, 7):
            source = handle.source_message
            assert source is not None
            if cb_type == 7:
                edit_message(emu, source, body, route="interaction_callback", limit=handle.attachment_size_limit)
            handle.original = source
            return source
        if cb_type == 8:
            check_autocomplete(data)
        elif cb_type == 9:
            check_modal(data)
        return None

    def _metadata(self, handle: InteractionHandle, **extra: str) -> dict[str, Any]:
        owners = {"0": str(handle.guild.id)} if handle.guild is not None else {"1": str(handle.user.id)}
        meta: dict[str, Any] = {
            "id": str(handle.id), "type": handle.type, "user": handle.user.payload(),
            "authorizing_integration_owners": owners, **extra,
        }
        if handle.source_message is not None:
            meta["interacted_message_id"] = str(handle.source_message.id)
        return meta

    def _callback_body(self, handle: InteractionHandle, cb_type: int, message: Message | None) -> dict[str, Any]:
        interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            interaction.update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
            if cb_type in (4, 5, 7):
                resource["message"] = message.payload()
        return {"interaction": interaction, "resource": resource}

    # ---- token routes

    def token_route(self, handler: TokenHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Resolve and check the token, then log the call on the interaction whatever the outcome."""

        async def wrapped(request: web.Request) -> web.Response:
            emu = self.emu
            handle = emu.interaction_by_token(request.match_info["token"])
            if handle is None or str(handle.application_id) != request.match_info["application_id"]:
                raise _invalid_token()
            info = request.match_info
            route = f"{request.method} {info.route.resource.canonical[len(API):]}"  # type: ignore[union-attr]
            after = emu.now() - (handle.dispatched_at or 0.0)
            try:
                self._check_token(handle)
                response = await handler(request, handle)
            except ApiError as err:
                handle.webhook_calls.append(WebhookCall(route, err.status, err.code, after))
                raise
            handle.webhook_calls.append(WebhookCall(route, response.status, None, after))
            return response

        return wrapped

    def _check_token(self, handle: InteractionHandle) -> None:
        emu = self.emu
        if emu.wall() >= handle.expires_at:
            raise _invalid_token()
        if not handle.acknowledged:
            if handle.timed_out or emu.now() - (handle.dispatched_at or 0.0) > emu.response_deadline:
                raise _invalid_token()  # Discord invalidates the token when the 3 s pass unanswered
            raise ApiError(404, 10015, "Unknown Webhook")

    def _original(self, handle: InteractionHandle) -> Message:
        if handle.original is None or handle.original.deleted:
            raise unknown_message()
        return handle.original

    def _own_message(self, request: web.Request, handle: InteractionHandle) -> Message:
        mid = int(request.match_info["message_id"])
        msg = next((m for m in handle.messages if m.id == mid and not m.deleted), None)
        if msg is None:
            raise unknown_message()
        return msg

    async def get_original(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        return json_response(self._original(handle).payload())

    async def edit_original(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        msg = self._original(handle)
        body = await read_body(request)
        edit_message(self.emu, msg, body, route="webhook_original", limit=handle.attachment_size_limit)
        handle.original_edits.append(msg.versions[-1])
        return json_response(msg.payload())

    async def delete_original(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        self._original(handle).deleted = True
        return no_content()

    async def followup(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        emu = self.emu
        body = await read_body(request)
        original = handle.original
        first = handle.first_response
        if original is not None and original.loading and first is not None and first.type == 5:
            # Discord: the first follow-up to a deferred response replaces the loading message.
            edit_message(emu, original, body, route="followup", limit=handle.attachment_size_limit)
            msg = original
        else:
            extra = {"original_response_message_id": str(original.id)} if original is not None else {}
            msg = create_message(
                emu, channel=handle.channel, body=body, route="followup", limit=handle.attachment_size_limit,
                allowed_flags=WEBHOOK_CREATE_FLAGS, author=emu.bot_user, msg_type=MESSAGE_CHAT_INPUT_COMMAND,
                webhook_id=handle.application_id,
            )
            msg.interaction_id = handle.id
            msg.interaction_metadata = self._metadata(handle, **extra)
        handle.followups.append(msg)
        if request.query.get("wait", "").lower() not in ("1", "true"):
            return no_content()
        return json_response(msg.payload())

    async def get_message(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        return json_response(self._own_message(request, handle).payload())

    async def edit_message(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        msg = self._own_message(request, handle)
        body = await read_body(request)
        edit_message(self.emu, msg, body, route="webhook_message", limit=handle.attachment_size_limit)
        if msg is handle.original:
            handle.original_edits.append(msg.versions[-1])
        return json_response(msg.payload())

    async def delete_message(self, request: web.Request, handle: InteractionHandle) -> web.Response:
        self._own_message(request, handle).deleted = True
        return no_content()
