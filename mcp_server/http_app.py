"""The HTTP application: MCP at ``/mcp`` behind bearer tokens, plus the routes that need no token.

    /mcp                           streamable HTTP MCP; 401 without a valid ``Authorization: Bearer``
    /media/<mac>/<file>            finished videos and last frames, under unguessable links
    POST /callbacks/<task>/<token> provider callbacks (checked by the task's own token) → 200 or 404
    /health                        liveness

Built from the SDK's own pieces (its bearer backend, auth context and 401 middleware), so
``get_access_token()`` works in the tools and sessions stay bound to the user who opened them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from core.config import Settings
from core.links import MediaLinks
from mcp_server.auth import StaticTokenVerifier
from mcp_server.server import SeedanceMCP

if TYPE_CHECKING:
    from core.service import VideoService

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
