"""The HTTP application: MCP at ``/mcp`` behind bearer tokens, plus the routes that need no token.

    /mcp                           streamable HTTP MCP; 401 without a valid ``Authorization: Bearer``
    /media/<mac>/<file>            finished videos and last frames, under unguessable links
    POST /callbacks/<task>/<token> provider callbacks (checked by the task's own token) → 200 or 404
    /health                        liveness

Built from the SDK's own pieces (its bearer backend, auth context and 401 middleware), so
``get_access_token()`` works in the tools and sessions stay bound to the user who opened them.

Limits that keep one client from starving the others (issue 11, findings 5 and 6):

- MCP sessions (`PerUserSessionManager`): at most ``MAX_SESSIONS_PER_USER`` open sessions per user;
  opening one more closes that user's longest-idle session (its client gets 404 and, as the MCP spec
  says, opens a new one); when all of them are busy the new one is refused with 429. A session idle
  for ``SESSION_IDLE_TIMEOUT`` is closed; ``MAX_SESSIONS`` bounds them all.
- Connections (`uvicorn_options`, for ``uvicorn.Config``): a request's headers must arrive within
  ``HEADER_TIMEOUT`` and its body within ``BODY_TIMEOUT``; at most `connection_limit()` connections
  are kept (below the process's file-descriptor limit); at the limit, the connection that has waited
  longest for its headers is closed to make room, so ``/health`` and real clients keep being served
  while slow ones hang.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.config import Settings
from core.links import MediaLinks
from mcp_server.auth import StaticTokenVerifier
from mcp_server.server import SeedanceMCP

if TYPE_CHECKING:
    from core.service import VideoService

log = logging.getLogger("seedance.mcp")

SESSION_IDLE_TIMEOUT = 600.0  # seconds without a request in flight (the SDK's default is 30 minutes)
MAX_SESSIONS_PER_USER = 10
MAX_SESSIONS = 1000  # all users together (the SDK's default, 10 000, took the server to ~500 MiB)
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive
BODY_TIMEOUT = 60.0  # seconds for its body (MCP bodies are at most 4 MiB)
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection is kept
MAX_CONNECTIONS = 512
MAX_HEADER_BYTES = 16 * 1024
ACCEPT_BACKLOG = 128  # also how many connections one accept round may open

MEDIA_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def served_media_file(file: Path, media_dir: Path) -> Path | None:
    """``file`` if it really is a regular file directly inside ``media_dir``; None otherwise (→ 404).

    A valid link names a file by its name only, but the name could be a symbolic link planted in the
    media folder, or the media folder itself a link: either could lead to any file this server can
    read. Neither is followed; the real path must sit in the real media folder.
    """
    try:
        if media_dir.is_symlink() or file.is_symlink():
            return None
        real = Path(os.path.realpath(file))
        root = Path(os.path.realpath(media_dir))
        if real.parent != root or not stat.S_ISREG(os.stat(real).st_mode):
            return None
    except (OSError, ValueError):
        return None
    return real


def transport_security(settings: Settings, host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection: the SDK's loopback default, widened to the public URL's host."""
    if not settings.public_url:
        return None  # the SDK protects loopback binds by itself
    public = urlsplit(settings.public_url)
    origin = f"{public.scheme}://{public.netloc}"
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[public.netloc, "127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=[origin, "http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def build_http_app(
    server: SeedanceMCP,
    *,
    settings: Settings,
    service: VideoService,
    links: MediaLinks,
    host: str,
) -> Starlette:
    server.streamable_http_app(host=host, transport_security=transport_security(settings, host))
    server.use_session_manager(
        PerUserSessionManager(
            server.session_manager.app,
            security_settings=server.session_manager.security_settings,
            session_idle_timeout=SESSION_IDLE_TIMEOUT,
            max_sessions=MAX_SESSIONS,
            max_sessions_per_user=MAX_SESSIONS_PER_USER,
        )
    )
    verifier = StaticTokenVerifier(settings.mcp_tokens)
    mcp_endpoint = RequireAuthMiddleware(StreamableHTTPASGIApp(server.session_manager), required_scopes=[])

    async def media(request: Request) -> Response:
        file = links.resolve(request.path_params["mac"], request.path_params["name"])
        file = served_media_file(file, links.media_dir) if file is not None else None
        if file is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(file, media_type=MEDIA_TYPES.get(file.suffix.lower(), "application/octet-stream"))

    async def callback(request: Request) -> Response:
        accepted = await service.handle_callback(request.path_params["task_id"], request.path_params["token"])
        if not accepted:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"ok": True})

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/mcp", endpoint=mcp_endpoint),
            Route("/media/{mac}/{name}", media, methods=["GET", "HEAD"]),
            Route("/callbacks/{task_id}/{token}", callback, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier)),
            Middleware(AuthContextMiddleware),
        ],
        # The MCP session manager's lifespan enters the server lifespan once, for the whole process.
        lifespan=lambda _app: server.session_manager.run(),
    )


# -- sessions: per-user caps --------------------------------------------------------------------------


class _UserAtLimit(Exception):
    """Raised under the manager's creation lock when a user's sessions are all busy."""


class PerUserSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager with a cap on the sessions of each user (bearer-token subject).

    At the cap, opening a session closes the same user's longest-idle one, like a browser that keeps
    a bounded number of logins; only when every one of them has a request in flight is the new one
    refused, with 429 and a message saying why. Other users are never affected.
    """

    def __init__(self, *args: Any, max_sessions_per_user: int = MAX_SESSIONS_PER_USER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if max_sessions_per_user < 1:
            raise ValueError("max_sessions_per_user must be at least 1")
        self.max_sessions_per_user = max_sessions_per_user

    def sessions_of(self, requestor: AuthorizationContext) -> list[str]:
        return [sid for sid, owner in self._session_owners.items() if owner == requestor]

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        if requestor is not None:
            mine = self.sessions_of(requestor)
            if len(mine) >= self.max_sessions_per_user:
                victim = self._longest_idle(mine)
                if victim is None:
                    raise _UserAtLimit
                self._evict(victim)
        return super()._admit_session(requestor)

    def _longest_idle(self, session_ids: list[str]) -> str | None:
        idle: list[tuple[float, str]] = []
        for sid in session_ids:
            scope = self._server_instances[sid].idle_scope
            # The transport sets the deadline to infinity while a request is in flight (an open
            # GET stream included) and to last-activity + timeout once the last one ends.
            if scope is not None and math.isfinite(scope.deadline):
                idle.append((scope.deadline, sid))
        return min(idle)[1] if idle else None

    def _evict(self, session_id: str) -> None:
        transport = self._server_instances.pop(session_id, None)
        self._session_owners.pop(session_id, None)
        if transport is None:
            return
        log.info("closing an idle MCP session to admit a new one for the same user")
        if transport.idle_scope is not None:
            transport.idle_scope.cancel()  # ends its server task, which then terminates the transport
        elif self._task_group is not None:
            self._task_group.start_soon(transport.terminate)

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super()._handle_stateful_request(scope, receive, send)
        except _UserAtLimit:
            response = JSONResponse(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32000,
                        "message": f"too many open sessions for this user ({self.max_sessions_per_user}, all busy); "
                        "close one (DELETE /mcp) or try again later",
                    },
                },
                status_code=429,
                headers={"Retry-After": "30"},
            )
            await response(scope, receive, send)


# -- connections: timeouts and a limit -----------------------------------------------------------------


def connection_limit(requested: int = MAX_CONNECTIONS) -> int:
    """``requested``, lowered so connections can never use up the process's file descriptors.

    Half the descriptors above a reserve of 64 (the database, media files, provider connections)
    may be HTTP connections; an accept round may open up to ``ACCEPT_BACKLOG`` more before the limit
    acts, which the other half covers.
    """
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return requested
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return requested
    return max(8, min(requested, (soft - 64) // 2))


def guarded_protocol(
    *, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT, max_connections: int | None = None
) -> type[H11Protocol]:
    """uvicorn's h11 protocol with request timeouts and a connection limit (see the module docstring)."""
    limit = connection_limit() if max_connections is None else max_connections

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase = ""  # "headers" (waiting for a request), "body" (reading it), "app" (answering)
        _since = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._track()
            if len(self.connections) > limit:
                self._make_room()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._track()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timer()
            super().connection_lost(exc)

        def _track(self) -> None:
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                phase = "headers"
            elif cycle.more_body:
                phase = "body"
            else:
                phase = "app"
            if phase == self._phase:
                return
            self._phase, self._since = phase, self.loop.time()
            self._cancel_timer()
            if phase != "app":
                delay = header_timeout if phase == "headers" else body_timeout
                self._timer = self.loop.call_later(delay, self._expire)

        def _cancel_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def _make_room(self) -> None:
            """Over the limit: close whoever has waited longest for its headers (or body); else this one."""
            for phase in ("headers", "body"):
                waiting = [
                    c for c in self.connections
                    if c is not self and isinstance(c, GuardedH11Protocol) and c._phase == phase
                    and not c.transport.is_closing()
                ]
                if waiting:
                    min(waiting, key=lambda c: c._since).transport.abort()
                    return
            log.warning("%d HTTP connections are busy; refusing a new one", len(self.connections) - 1)
            self.transport.abort()

    return GuardedH11Protocol


def uvicorn_options(
    *, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT, max_connections: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that apply the connection limits above."""
    return {
        "http": guarded_protocol(
            header_timeout=header_timeout, body_timeout=body_timeout, max_connections=max_connections
        ),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "backlog": ACCEPT_BACKLOG,
    }
