"""Issue 11, network findings, each kept fixed: oversized provider answers (11.8), downloads without a
deadline (11.9), DNS rebinding between the check and the connection (11.10).

Every server here is an aiohttp server on 127.0.0.1; names such as ``videos.example`` are answered by a
scripted resolver patched onto the running loop (httpx's own connection resolves through it too), so
nothing leaves the machine. Deadlines in the tests only catch hangs; nothing asserts how fast.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core import inputs as core_inputs
from core import media as core_media
from core.errors import SubmitUncertainError
from core.http import HttpClient, ResponseTooLargeError, decode_body
from core.media import DownloadError, download

HANG = 60.0  # seconds: only a hang is this slow
MiB = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """An aiohttp server on 127.0.0.1 with one handler per path; counts hits per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: dict[str, int] = {}
        self.hosts: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        self.hosts.append(request.headers.get("Host", ""))
        return await self.routes[request.path](request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.aclose()


# -- 11.8: provider answers are capped before and after decompression ------------------------------------


def gzip_bomb(size: int) -> bytes:
    """``size`` bytes of JSON-ish spaces, gzipped to about a thousandth of that."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * MiB
    parts = [packer.compress(b'{"status": "running", "pad": "')]
    parts += [packer.compress(block) for _ in range(size // MiB)]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


async def test_a_gzip_bomb_is_refused_without_inflating_it(server: Server, http: HttpClient) -> None:
    bomb = gzip_bomb(64 * MiB)
    assert len(bomb) < MiB

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    server.routes["/status"] = answer
    with pytest.raises(ResponseTooLargeError) as info:
        await asyncio.wait_for(http.request("GET", server.url("/status"), provider="p", idempotent=True), HANG)
    message = str(info.value)
    assert info.value.code == "response_too_large" and "\n" not in message
    assert "decompresses to more than 8388608 bytes" in message
    assert server.hits["/status"] == 1  # not retried: it would be as large again


@pytest.mark.parametrize("declared", [True, False])
async def test_a_huge_answer_is_cut_off_at_the_cap(server: Server, http: HttpClient, declared: bool) -> None:
    sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = 500 * MiB
        await response.prepare(request)
        try:
            for _ in range(64):  # 64 MiB at most, whatever the client does
                await response.write(b" " * MiB)
                sent += MiB
        except (ConnectionError, RuntimeError):
            pass
        return response

    server.routes["/status"] = huge
    with pytest.raises(ResponseTooLargeError) as info:
        await asyncio.wait_for(http.request("GET", server.url("/status"), provider="p", idempotent=True), HANG)
    assert ("524288000 bytes (declared)" if declared else "more than 8388608 bytes") in str(info.value)


async def test_an_accepted_submit_with_an_oversized_answer_is_uncertain_not_failed(
    server: Server, http: HttpClient
) -> None:
    async def accepted(request: web.Request) -> web.StreamResponse:
        return web.Response(body=gzip_bomb(16 * MiB), headers={"Content-Encoding": "gzip"})

    server.routes["/tasks"] = accepted
    with pytest.raises(SubmitUncertainError) as info:
        await http.request("POST", server.url("/tasks"), provider="p", idempotent=False, json_body={})
    assert "may exist" in str(info.value) and server.hits["/tasks"] == 1


async def test_the_cap_is_configurable_and_small_answers_still_read(server: Server) -> None:
    async def small(request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": "x" * 2000})

    server.routes["/small"] = small
    roomy, tight = HttpClient(), HttpClient(max_body_bytes=1000)
    try:
        assert (await roomy.request("GET", server.url("/small"), provider="p", idempotent=True)).status_code == 200
        with pytest.raises(ResponseTooLargeError):
            await tight.request("GET", server.url("/small"), provider="p", idempotent=True)
    finally:
        await roomy.aclose()
        await tight.aclose()


def test_decode_body_stops_at_the_cap_and_reads_several_gzip_members() -> None:
    import gzip

    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", max_bytes=10) == b"abcd"
    with pytest.raises(Exception, match="decompresses to more than 1000 bytes"):
        decode_body(gzip.compress(b"x" * 5000), "gzip", max_bytes=1000)
    with pytest.raises(Exception, match="decompresses to more than 1000 bytes"):
        decode_body(zlib.compress(b"x" * 5000), "deflate", max_bytes=1000)


# -- 11.9: a download has an overall deadline and a minimum throughput -----------------------------------


def trickle(interval: float, chunk: bytes, count: int, length: int | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            for _ in range(count):
                await response.write(chunk)
                await asyncio.sleep(interval)
        except (ConnectionError, RuntimeError):
            pass
        return response

    return handler


async def test_a_trickling_link_fails_too_slow_and_leaves_nothing(
    server: Server, http: HttpClient, tmp_path: Path
) -> None:
    """The attack: 1 byte every 5 s hung `generate` for 150 s. Here 1 byte every 0.1 s against a 1 s window."""
    server.routes["/v.mp4"] = trickle(0.1, b"x", 600, length=10 * MiB)
    with pytest.raises(DownloadError) as info:
        await asyncio.wait_for(
            download(http, server.url("/v.mp4"), tmp_path / "v.mp4", allow_private=True, min_rate=1000,
                     rate_window=1.0), HANG)
    assert info.value.code == "too_slow" and "bytes/s" in str(info.value)
    assert list(tmp_path.iterdir()) == []


async def test_a_host_that_answers_every_hop_just_in_time_runs_into_the_overall_deadline(
    server: Server, http: HttpClient, tmp_path: Path
) -> None:
    """Each redirect comes just before the read timeout, so no single wait is too long; the whole is."""

    async def slow_hop(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.6)
        raise web.HTTPFound(server.url(f"/r{int(request.path[2:]) + 1}"))

    for n in range(10):
        server.routes[f"/r{n}"] = slow_hop
    with pytest.raises(DownloadError) as info:
        await asyncio.wait_for(
            download(http, server.url("/r0"), tmp_path / "v.mp4", allow_private=True, max_bytes=1000,
                     min_rate=1000, rate_window=1.0, min_deadline=1.5), HANG)
    assert info.value.code == "timed_out" and "deadline" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_the_deadline_scales_with_the_size() -> None:
    assert core_media.download_deadline(1000) == 120.0
    assert core_media.download_deadline(500 * MiB) == 500 * MiB / (32 * 1024)


async def test_a_steady_download_is_unaffected(server: Server, http: HttpClient, tmp_path: Path) -> None:
    server.routes["/v.mp4"] = trickle(0.01, b"v" * 65536, 20, length=20 * 65536)
    size = await asyncio.wait_for(
        download(http, server.url("/v.mp4"), tmp_path / "v.mp4", allow_private=True), HANG)
    assert size == 20 * 65536 and (tmp_path / "v.mp4").stat().st_size == size


# -- 11.10: the connection goes to the address that was checked ------------------------------------------


class Resolver:
    """A scripted DNS: each name answers from its list in turn (the last answer repeats)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.calls.append(name)
        queue = self.answers[name]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], Resolver]:
    """Install a resolver; 127.0.0.1 counts as public (it stands for the checked public address)."""

    def install(answers: dict[str, list[str]]) -> Resolver:
        resolver = Resolver(answers)
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
        real = core_inputs.address_is_public

        def public(text: str) -> bool:
            return text == "127.0.0.1" or real(text)

        monkeypatch.setattr(core_inputs, "address_is_public", public)
        monkeypatch.setattr(core_media, "address_is_public", public, raising=False)
        return resolver

    return install


async def test_a_name_that_rebinds_after_the_check_is_still_fetched_from_the_checked_address(
    server: Server, http: HttpClient, tmp_path: Path, rebinding: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    """First answer: the checked (here: "public") address; any later answer: 127.0.0.3, where nothing
    listens. Before the fix the download resolved the name a second time and connected there."""
    server.routes["/v.mp4"] = trickle(0, b"video", 1, length=5)
    resolver = rebinding({"videos.example": ["127.0.0.1", "127.0.0.3"]})
    dest = tmp_path / "v.mp4"
    size = await asyncio.wait_for(download(http, server.url("/v.mp4", "videos.example"), dest), HANG)
    assert size == 5 and dest.read_bytes() == b"video"
    assert resolver.calls == ["videos.example"]  # resolved once, for the check, and never again
    assert server.hosts == [f"videos.example:{server.port}"]  # the name still goes in Host


async def test_every_redirect_hop_is_checked_and_pinned(
    server: Server, http: HttpClient, tmp_path: Path, rebinding: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    async def hop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(server.url("/cdn/v.mp4", "cdn.example"))

    server.routes["/v.mp4"] = hop
    server.routes["/cdn/v.mp4"] = trickle(0, b"cdn", 1, length=3)
    resolver = rebinding({"videos.example": ["127.0.0.1", "127.0.0.3"], "cdn.example": ["127.0.0.1", "127.0.0.3"]})
    assert await download(http, server.url("/v.mp4", "videos.example"), tmp_path / "v.mp4") == 3
    assert resolver.calls == ["videos.example", "cdn.example"]
    assert server.hosts == [f"videos.example:{server.port}", f"cdn.example:{server.port}"]

    # A hop whose name resolves to a private address is refused before anything is sent to it.
    rebinding({"videos.example": ["127.0.0.1"], "cdn.example": ["10.0.0.7"]})
    with pytest.raises(DownloadError) as info:
        await download(http, server.url("/v.mp4", "videos.example"), tmp_path / "w.mp4")
    assert info.value.code == "link_refused"
    assert server.hits["/cdn/v.mp4"] == 1


# -- 11.6: half-sent requests cannot exhaust the server's file descriptors -------------------------------

SLOW_SERVER = r"""
import asyncio, resource, socket, sys
from pathlib import Path
import uvicorn
from core.config import Settings
from core.links import MediaLinks, load_secret
from mcp_server.http_app import build_http_app, uvicorn_options
from mcp_server.server import build_server

home, guarded = Path(sys.argv[1]), sys.argv[2] == "guarded"
_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
settings = Settings(home=home, mcp_tokens={"slow-test-token-0123456789": "mcp:t"})
service = object()  # the routes used here never reach the service
server = build_server(settings, service=service, http=True)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(128)
links = MediaLinks(load_secret(home), settings.media_dir, "http://127.0.0.1")
app = build_http_app(server, settings=settings, service=service, links=links, host="127.0.0.1")
options = uvicorn_options(header_timeout=2.0) if guarded else {}
config = uvicorn.Config(app, log_level="critical", lifespan="on", **options)
print(sock.getsockname()[1], flush=True)
asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
"""
SLOW_CLIENTS = 700  # more than the server's 512 file descriptors


def health(port: int, timeout: float) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = sock.recv(64)
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEADDR") or sys.platform == "win32", reason="POSIX fd limits")
def test_slow_clients_cannot_exhaust_file_descriptors_and_health_keeps_answering(tmp_path: Path) -> None:
    import subprocess
    import time

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(tmp_path), "guarded"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    slow: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        assert health(port, HANG) == 200
        for _ in range(SLOW_CLIENTS):  # headers begun, never finished
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        assert health(port, HANG) == 200  # the server still accepts and answers
        # And every half-sent request is closed by the server (header timeout or room-making):
        deadline = time.monotonic() + HANG
        for sock in slow[-50:]:
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            try:
                assert sock.recv(1024) == b""  # closed by the server, not left hanging
            except ConnectionResetError:
                pass  # closed to make room (abort): just as closed
        assert proc.poll() is None
    finally:
        for sock in slow:
            sock.close()
        proc.kill()
        proc.wait(timeout=HANG)
