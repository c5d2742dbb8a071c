"""Run the HTTP server: `serve(settings)` for ``seedance serve``, `serve_http` for ``seedance-mcp --http``.

One process, one `VideoService`: the MCP server over streamable HTTP and, when ``DISCORD_TOKEN``
is set, the Discord bot (``bot.runner.run_bot(service, settings)``) run side by side on it, so a
task started from either shows up in both and is watched exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

    from core.service import VideoService

log = logging.getLogger("seedance.mcp")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
BotRunner = Callable[["VideoService", Settings], Coroutine[Any, Any, None]]


@dataclass
class RunningHttp:
    """A started HTTP server: where it listens and the task that serves it."""

    base_url: str
    port: int
    task: asyncio.Task[None]
    server: uvicorn.Server


def _bind(host: str, port: int, backlog: int = 128) -> socket.socket:
    """Bind before starting uvicorn, so a busy port is a clear error (uvicorn would just exit)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _base_url(settings: Settings, host: str, port: int) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        log.warning("listening on all interfaces without SEEDANCE_PUBLIC_URL: media links will name 127.0.0.1")
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running_http(
    settings: Settings,
    service: VideoService,
    *,
    host: str,
    port: int,
    handle_signals: bool = True,
    progress_interval: float = 3.0,
) -> AsyncIterator[RunningHttp]:
    """Serve MCP over HTTP on ``host:port`` (0: any free port) until the block ends."""
    import uvicorn

    from core.links import MediaLinks, load_secret
    from mcp_server.http_app import ACCEPT_BACKLOG, build_http_app, uvicorn_options
    from mcp_server.server import build_server

    sock = _bind(host, port, ACCEPT_BACKLOG)
    bound_port = int(sock.getsockname()[1])
    base_url = _base_url(settings, host, bound_port)
    links = MediaLinks(load_secret(settings.home), settings.media_dir, base_url)
    server = build_server(
        settings,
        service=service,
        http=True,
        links=links,
        # Paths on the server's disk help only a caller on the same machine.
        expose_paths=host in LOOPBACK and not settings.public_url,
        progress_interval=progress_interval,
    )
    app = build_http_app(server, settings=settings, service=service, links=links, host=host)

    class _Server(uvicorn.Server):
        def capture_signals(self) -> Iterator[None]:  # type: ignore[override]
            if handle_signals:
                return super().capture_signals()  # type: ignore[return-value]
            return contextlib.nullcontext()  # type: ignore[return-value]

    # Header/body time-outs and a connection limit for slow or half-sent requests (http_app).
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5, **uvicorn_options())
    uv = _Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]), name="seedance-http")
    try:
        yield RunningHttp(base_url=base_url, port=bound_port, task=task, server=uv)
    finally:
        uv.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


def load_bot() -> BotRunner:
    """The Discord bot's entry point, imported only when a token is configured."""
    try:
        from bot.runner import run_bot
    except ImportError as exc:
        raise ConfigError(
            f"DISCORD_TOKEN is set but the Discord bot cannot be loaded ({exc}); "
            "unset DISCORD_TOKEN to serve MCP only"
        ) from None
    return run_bot  # type: ignore[no-any-return]


async def serve_async(
    settings: Settings, *, host: str | None = None, port: int | None = None, with_bot: bool | None = None
) -> None:
    """Open the service, serve HTTP (and the bot), and return when either stops."""
    from core.service import open_service

    host = host or settings.mcp_host
    port = settings.mcp_port if port is None else port
    if with_bot is None:
        with_bot = settings.discord_token is not None
    run_bot = load_bot() if with_bot else None  # fail before anything is opened
    if not settings.mcp_tokens:
        log.warning("no MCP tokens configured (SEEDANCE_MCP_TOKENS): every /mcp request will get 401")
    async with open_service(settings, resume=True) as service, running_http(
        settings, service, host=host, port=port
    ) as http:
        print(f"seedance: MCP over HTTP at {http.base_url}/mcp", file=sys.stderr)
        jobs: list[asyncio.Task[Any]] = [http.task]
        if run_bot is not None:
            jobs.append(asyncio.create_task(run_bot(service, settings), name="seedance-bot"))
            print("seedance: Discord bot starting", file=sys.stderr)
        try:
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in jobs[1:]:
                job.cancel()
            await asyncio.gather(*jobs[1:], return_exceptions=True)
        for job in done:
            if job is not http.task and not job.cancelled() and job.exception() is None:
                log.warning("the Discord bot stopped; the HTTP server stops too")
            job.result()  # re-raise what stopped it


NO_TOKENS = (
    "no MCP tokens configured, so every request would be refused: set SEEDANCE_MCP_TOKENS="
    "<long-random-token>=mcp:<name> (or [mcp.tokens] in the SEEDANCE_CONFIG file)"
)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """``seedance serve``: MCP over streamable HTTP, plus the Discord bot when DISCORD_TOKEN is set.

    Refuses to start when it would serve nobody: no MCP token and no Discord bot.

    Raises:
        ConfigError: nothing to serve, the bot cannot be loaded, or the port is busy.
    """
    if not settings.mcp_tokens and settings.discord_token is None:
        raise ConfigError(NO_TOKENS + ", or set DISCORD_TOKEN to run the Discord bot")
    asyncio.run(serve_async(settings, host=host, port=port))


def serve_http(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """``seedance-mcp --http``: MCP over streamable HTTP only."""
    if not settings.mcp_tokens:
        raise ConfigError(NO_TOKENS)
    asyncio.run(serve_async(settings, host=host, port=port, with_bot=False))
