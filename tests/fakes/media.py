"""A fake object store / CDN serving finished videos and last-frame PNGs.

It lives on its own host (127.0.0.2 where the OS allows, else 127.0.0.1 on another port) so a test
can tell provider calls from media downloads, and it records every request's headers so a test can
assert that no `Authorization` header or API key ever reaches it. Real providers hand out signed,
expiring links (`…/x.mp4?X-Tos-Expires=86400&X-Tos-Signature=…`); this host checks the signature
and the expiry against its clock and can misbehave per asset: truncated body, oversize body, 404.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.fakes.base import Clock, MediaFault, ThreadedServer

VIDEO_SIZE = (160, 96)  # small but even-sided, so H.264 accepts it
_SECRET = b"fake-tos-signing-key"
_CHUNK = 64 * 1024

_video_cache: bytes | None = None
_png_cache: bytes | None = None
_cache_lock = threading.Lock()


def sample_mp4() -> bytes:
    """A real, playable 0.5 s H.264 MP4 (12 frames at 24 fps), made once per process with PyAV."""
    global _video_cache
    with _cache_lock:
        if _video_cache is None:
            _video_cache = _render_mp4()
        return _video_cache


def _render_mp4() -> bytes:
    import av
    import numpy as np

    width, height = VIDEO_SIZE
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 24)
        for i in range(12):
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[:, : (i + 1) * width // 12] = (40, 120 + i * 10, 200)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def sample_png() -> bytes:
    """A valid PNG the size of the sample video (the "last frame")."""
    global _png_cache
    with _cache_lock:
        if _png_cache is None:
            width, height = VIDEO_SIZE
            raw = b"".join(b"\x00" + bytes((40, 230, 200)) * width for _ in range(height))

            def chunk(kind: bytes, data: bytes) -> bytes:
                return struct.pack(">I", len(data)) + kind + data + struct.pack(
                    ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

            ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
            _png_cache = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                          + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        return _png_cache


@dataclass
class Asset:
    name: str
    kind: str  # "mp4" | "png"
    signed: bool
    published_at: float  # clock time the link was issued
    ttl: float
    fault: MediaFault | None = None
    size: int | None = None  # oversize length
    forced_expired: bool = False


def _bind_media_socket() -> tuple[socket.socket, str]:
    for host in ("127.0.0.2", "127.0.0.1"):
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, 0))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock, host
    raise OSError("cannot bind a loopback address for the media host")


class MediaHost(ThreadedServer):
    """Serves `/tos/<name>.<ext>?X-Tos-…` (signed) and `/cdn/<name>.<ext>` (plain CDN) assets."""

    name = "media"

    def __init__(self, *, clock: Clock = time.monotonic, ttl: float = 86400.0,
                 oversize_bytes: int = 64 * 1024 * 1024, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(host="127.0.0.2", clock=clock)
        self.ttl = ttl
        self.oversize_bytes = oversize_bytes
        self.secrets = secrets  # strings that must never arrive here (e.g. API keys)
        self._assets: dict[str, Asset] = {}

    def _bind(self) -> socket.socket:
        sock, self._host = _bind_media_socket()
        return sock

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/tos/{file}", self._serve_asset, name="media")
        app.router.add_get("/cdn/{file}", self._serve_asset, name="media.cdn")

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, name: str, kind: str = "mp4", *, signed: bool = True,
                published_at: float | None = None, ttl: float | None = None,
                fault: MediaFault | None = None, size: int | None = None) -> str:
        """Register an asset and return its URL (the host may be started later)."""
        asset = Asset(name, kind, signed, self.clock() if published_at is None else published_at,
                      self.ttl if ttl is None else ttl, fault, size)
        with self._lock:
            self._assets[f"{name}.{kind}"] = asset
        return self.url_for(f"{name}.{kind}")

    def url_for(self, file: str) -> str:
        with self._lock:
            asset = self._assets[file]
        if not asset.signed:
            return f"{self._base()}/cdn/{file}"
        expires = int(asset.ttl)
        return (f"{self._base()}/tos/{file}?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Date=20260101T000000Z"
                f"&X-Tos-Expires={expires}&X-Tos-Signature={self._sign(file, expires)}")

    def _base(self) -> str:
        return self.root_url  # raises until started: the port is only known once bound

    @staticmethod
    def _sign(file: str, expires: int) -> str:
        return hmac.new(_SECRET, f"{file}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _asset_for(self, url_or_name: str) -> Asset:
        key = urlsplit(url_or_name).path.rsplit("/", 1)[-1] if "/" in url_or_name else url_or_name
        with self._lock:
            if key in self._assets:
                return self._assets[key]
            matches = [a for k, a in self._assets.items() if k.split(".")[0] == key]
        if len(matches) != 1:
            raise KeyError(url_or_name)
        return matches[0]

    def set_fault(self, url_or_name: str, fault: MediaFault | None, *, size: int | None = None) -> None:
        """Make one asset misbehave: truncated, oversize (with or without Content-Length), missing,
        expired; None restores it."""
        asset = self._asset_for(url_or_name)
        with self._lock:
            asset.fault, asset.size = fault, size

    def expire(self, url_or_name: str | None = None) -> None:
        """Expire one asset's link now (or every link, with no argument)."""
        with self._lock:
            targets = list(self._assets.values()) if url_or_name is None else [self._asset_for(url_or_name)]
            for asset in targets:
                asset.forced_expired = True

    def auth_leaks(self) -> list[Any]:
        """Requests that carried an Authorization header or any registered secret."""
        leaks = []
        for rec in self.requests:
            text = " ".join(f"{k}: {v}" for k, v in rec.headers.items()) + " " + str(rec.query)
            if "Authorization" in rec.headers or any(s and s in text for s in self.secrets):
                leaks.append(rec)
        return leaks

    # --- serving ---------------------------------------------------------------------------------

    async def _serve_asset(self, request: web.Request) -> web.StreamResponse:
        file = request.match_info["file"]
        with self._lock:
            asset = self._assets.get(file)
            now = self.clock()
        if asset is None or asset.fault == "missing":
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        if asset.signed and not self._signature_ok(request, file):
            return _xml_error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                              "does not match the signature you provided.")
        if asset.forced_expired or asset.fault == "expired" or now > asset.published_at + asset.ttl:
            return _xml_error(403, "AccessDenied", "Request has expired")
        data = sample_mp4() if asset.kind == "mp4" else sample_png()
        ctype = "video/mp4" if asset.kind == "mp4" else "image/png"
        if asset.fault == "truncated":
            return await self._send_truncated(request, data, ctype)
        if asset.fault in ("oversize", "oversize_chunked"):
            return await self._send_oversize(request, data, ctype, asset)
        return _ranged(request, data, ctype)

    def _signature_ok(self, request: web.Request, file: str) -> bool:
        try:
            expires = int(request.query.get("X-Tos-Expires", ""))
        except ValueError:
            return False
        return hmac.compare_digest(request.query.get("X-Tos-Signature", ""), self._sign(file, expires))

    async def _send_truncated(self, request: web.Request, data: bytes, ctype: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        if request.transport is not None:
            request.transport.close()  # flush what was sent, then hang up mid-body
        return resp

    async def _send_oversize(self, request: web.Request, data: bytes, ctype: str,
                             asset: Asset) -> web.StreamResponse:
        total = asset.size or self.oversize_bytes
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        if asset.fault == "oversize":
            resp.content_length = total
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        sent = 0
        filler = b"\x00" * _CHUNK
        while sent < total:
            piece = data if sent == 0 else filler
            piece = piece[: total - sent]
            try:
                await resp.write(piece)
            except (ConnectionResetError, RuntimeError):
                return resp  # the client gave up at its size cap
            sent += len(piece)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp


def _ranged(request: web.Request, data: bytes, ctype: str) -> web.Response:
    """Whole body, or a single `Range: bytes=a-b` slice (so resumable downloads work)."""
    spec = request.headers.get("Range", "")
    if spec.startswith("bytes="):
        start_s, _, end_s = spec[6:].partition("-")
        try:
            start = int(start_s) if start_s else len(data) - int(end_s)
            end = int(end_s) if start_s and end_s else len(data) - 1
        except ValueError:
            start, end = -1, -1
        if 0 <= start <= end < len(data) or (0 <= start < len(data) and end >= len(data)):
            end = min(end, len(data) - 1)
            return web.Response(body=data[start: end + 1], status=206, content_type=ctype, headers={
                "Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"})
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
    return web.Response(body=data, content_type=ctype, headers={"Accept-Ranges": "bytes"})


def _xml_error(status: int, code: str, message: str) -> web.Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fake</RequestId></Error>")
    return web.Response(text=body, status=status, content_type="application/xml")
