"""MCP over streamable HTTP: `running_http` (used by ``seedance serve``, see the `serve` package) and
`serve_http` for ``seedance-mcp --http``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

    from core.service import VideoService

log = logging.getLogger("seedance.mcp")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


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


async def serve_http_async(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Open the service and serve MCP over HTTP until the server stops."""
    from core.service import open_service

    host = host or settings.mcp_host
    port = settings.mcp_port if port is None else port
    async with open_service(settings, resume=True) as service, running_http(
        settings, service, host=host, port=port
    ) as http:
        print(f"seedance: MCP over HTTP at {http.base_url}/mcp", file=sys.stderr)
        await http.task


NO_TOKENS = (
    "no MCP tokens configured, so every request would be refused: set SEEDANCE_MCP_TOKENS="
    "<long-random-token>=mcp:<name> (or [mcp.tokens] in the SEEDANCE_CONFIG file)"
)


def serve_http(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """``seedance-mcp --http``: MCP over streamable HTTP only."""
    if not settings.mcp_tokens:
        raise ConfigError(NO_TOKENS)
    asyncio.run(serve_http_async(settings, host=host, port=port))
