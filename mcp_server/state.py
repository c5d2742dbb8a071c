"""What every tool call shares: the settings, the one `VideoService`, and who the caller is.

The service is owned by the server's lifespan, never by a request: generations run in its
tasks, so a client that times out or disconnects loses nothing. Over stdio the service is opened
in the background right after start-up, so ``initialize`` and ``tools/list`` are answered before
the heavier modules (HTTP client, SQLite, the sandbox renderer) are even imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import Settings, local_user

if TYPE_CHECKING:
    from core.links import MediaLinks
    from core.service import VideoService

log = logging.getLogger("seedance.mcp")


class NotAuthenticatedError(Exception):
    """An HTTP tool call without a verified user; the auth middleware should make this impossible."""


@dataclass
class AppState:
    settings: Settings
    http: bool = False
    links: MediaLinks | None = None  # HTTP mode: links to files this server serves
    expose_paths: bool = True  # whether local file paths mean anything to the caller
    progress_interval: float = 3.0  # seconds between progress notifications while waiting
    _service: VideoService | None = None
    _ready: asyncio.Future[VideoService] | None = field(default=None, repr=False)

    @property
    def stdio_user(self) -> str:
        return self.settings.user or local_user()

    def current_user(self) -> str:
        """The caller: the configured user over stdio, the bearer token's user over HTTP."""
        if not self.http:
            return self.stdio_user
        from mcp.server.auth.middleware.auth_context import get_access_token

        token = get_access_token()
        if token is None or not token.subject:
            raise NotAuthenticatedError("this request carries no valid bearer token")
        return token.subject

    async def service(self) -> VideoService:
        if self._service is not None:
            return self._service
        if self._ready is None:
            raise RuntimeError("the service is not open: the server's lifespan has not started")
        self._service = await asyncio.shield(self._ready)
        return self._service


def _import_service() -> None:
    import core.service  # noqa: F401 - loads the heavy modules so the import below is instant


async def _own_service(state: AppState, stop: asyncio.Event) -> None:
    """Open the service, publish it, and keep it open until ``stop`` (one task enters and exits it)."""
    assert state._ready is not None
    try:
        # The heavy imports happen on a worker thread so the event loop keeps answering the client.
        await asyncio.to_thread(_import_service)
        from core.service import open_service

        async with open_service(state.settings, resume=True) as service:
            state._ready.set_result(service)
            await stop.wait()
    except BaseException as exc:
        if not state._ready.done():
            state._ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("shutting down"))
            state._ready.exception()  # mark retrieved: a tool that asks gets it; nobody else must
        if not isinstance(exc, Exception):
            raise
        log.exception("could not open the video service")


def make_lifespan(
    state: AppState, service: VideoService | None
) -> Callable[[Any], AbstractAsyncContextManager[AppState]]:
    """The server lifespan: use ``service`` if given (shared with the Discord bot), else own one."""

    @contextlib.asynccontextmanager
    async def lifespan(_server: Any) -> AsyncIterator[AppState]:
        if service is not None:
            state._service = service
            yield state
            return
        state._service = None
        state._ready = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        owner = asyncio.create_task(_own_service(state, stop), name="seedance-service")
        try:
            yield state
        finally:
            stop.set()
            await owner
            state._service = None

    return lifespan
