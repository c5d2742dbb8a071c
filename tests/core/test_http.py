"""`core.http` and `core.media` over real HTTP against a local aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import json
import socket
import stat
import time
import zlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from core import backoff
from core.errors import ProviderError, ProviderUnavailableError, RateLimitError, SubmitUncertainError
from core.http import HttpClient, RetryPolicy, decode_body, json_of, parse_retry_after
from core.media import DownloadError, download
from core.providers.ark import BytePlusProvider

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEY = "sk-test-never-leak-0123456789"


class LocalServer:
    """An aiohttp server on 127.0.0.1 whose answers are scripted per path, recording every request."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Handler]] = defaultdict(deque)
        self.defaults: dict[str, Handler] = {}
        self.seen: list[web.Request] = []
        self.headers: list[dict[str, str]] = []
        self.release = asyncio.Event()  # slow handlers wait on it; set at teardown
        self._runner: web.AppRunner | None = None
        self.port = 0

    def script(self, path: str, *handlers: Handler, default: Handler | None = None) -> None:
        self.scripts[path].extend(handlers)
        if default is not None:
            self.defaults[path] = default

    def hits(self, path: str) -> int:
        return sum(1 for r in self.seen if r.path == path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.seen.append(request)
        self.headers.append(dict(request.headers))
        queue = self.scripts.get(request.path)
        if queue:
            return await queue.popleft()(request)
        if request.path in self.defaults:
            return await self.defaults[request.path](request)
        return web.json_response({"ok": True})

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv = LocalServer()
    await srv.start()
    yield srv
    await srv.stop()


class Sleeps:
    """The retry sleep, recorded and instant."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.hook: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            await self.hook()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[HttpClient]:
    c = HttpClient(policy=RetryPolicy(), sleep=sleeps)
    yield c
    await c.aclose()


def status(code: int, headers: dict[str, str] | None = None, body: str = "") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers, text=body or json.dumps({"error": code}),
                            content_type="application/json" if not body else "text/html")

    return handler


def ok(payload: object = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload if payload is not None else {"id": "task-1"})

    return handler


def drop() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()  # read the request, then hang up without an answer
        return web.Response(status=499)

    return handler


def stall(srv: LocalServer) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await srv.release.wait()
        return web.json_response({})

    return handler


# -- pure parts -------------------------------------------------------------------------------------


def test_retry_delays_double_up_to_the_cap_with_jitter_below(monkeypatch: pytest.MonkeyPatch) -> None:
    flat = RetryPolicy(jitter=0.0)
    assert [flat.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    policy = RetryPolicy()
    monkeypatch.setattr(backoff.random, "random", lambda: 1.0)
    assert [policy.delay(n) for n in (1, 2, 5)] == [0.375, 0.75, 6.0]  # at most 25 % shorter
    monkeypatch.setattr(backoff.random, "random", lambda: 0.0)
    assert [policy.delay(n) for n in (1, 2, 5)] == [0.5, 1.0, 8.0]


def test_retry_after_overrides_the_backoff_within_bounds() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(3, retry_after=0.0) == 0.0
    assert policy.delay(1, retry_after=-4.0) == 0.0
    assert policy.delay(1, retry_after=10_000.0) == policy.max_retry_after


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


def test_decode_body_undoes_only_real_encodings() -> None:
    data = b'{"id": "x"}'
    assert decode_body(gzip.compress(data), "gzip") == data
    assert decode_body(data, "gzip") == data  # says gzip, sends plain
    assert decode_body(b"\x1f\x8b" + b"garbage", "gzip") == b"\x1f\x8b" + b"garbage"  # corrupt: left alone
    assert decode_body(zlib.compress(data), "deflate") == data
    assert decode_body(data, "deflate") == data
    assert decode_body(data, None) == data and decode_body(data, "br") == data


def test_json_of_turns_garbage_into_a_provider_error() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    assert json_of(httpx.Response(200, content=b'{"a": 1}', request=request), provider="p") == {"a": 1}
    assert json_of(httpx.Response(200, content=b"", request=request), provider="p") is None
    for body in (b'{"a": ', b"<html>502 Bad Gateway</html>", b"\xff\xfe"):
        with pytest.raises(ProviderError) as info:
            json_of(httpx.Response(502, content=body, request=request), provider="p")
        assert info.value.code == "malformed_response" and info.value.status_code == 502
        assert "\n" not in str(info.value) and "html" not in str(info.value)


# -- idempotent calls ----------------------------------------------------------------------------------


async def test_idempotent_calls_retry_5xx_until_success(server: LocalServer, client: HttpClient,
                                                         sleeps: Sleeps) -> None:
    server.script("/t", status(503), status(502, body="<html>bad gateway</html>"), status(500), ok())
    response = await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert response.status_code == 200 and response.json() == {"id": "task-1"}
    assert server.hits("/t") == 4 and len(sleeps.delays) == 3
    assert sleeps.delays[0] <= sleeps.delays[1] <= sleeps.delays[2]


async def test_429_honours_retry_after_in_seconds_and_as_a_date(server: LocalServer, client: HttpClient,
                                                                sleeps: Sleeps) -> None:
    date = email.utils.formatdate(time.time() + 7, usegmt=True)
    server.script("/t", status(429, {"Retry-After": "2"}), status(429, {"Retry-After": date}), ok())
    response = await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert response.status_code == 200 and server.hits("/t") == 3
    assert sleeps.delays[0] == 2.0
    assert 5.0 <= sleeps.delays[1] <= 7.0


async def test_persistent_429_raises_rate_limited_with_retry_after(server: LocalServer, client: HttpClient) -> None:
    server.script("/t", default=status(429, {"Retry-After": "1"}))
    with pytest.raises(RateLimitError) as info:
        await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert info.value.retry_after == 1.0 and info.value.status_code == 429
    assert server.hits("/t") == client.policy.max_attempts


async def test_a_retry_after_beyond_the_cap_is_not_waited_out(server: LocalServer, client: HttpClient,
                                                              sleeps: Sleeps) -> None:
    server.script("/t", default=status(429, {"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as info:
        await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert info.value.retry_after == 3600.0
    assert server.hits("/t") == 1 and sleeps.delays == []


async def test_persistent_5xx_raises_unavailable_after_the_attempts(server: LocalServer, client: HttpClient) -> None:
    server.script("/t", default=status(503))
    with pytest.raises(ProviderUnavailableError) as info:
        await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert info.value.status_code == 503 and server.hits("/t") == client.policy.max_attempts


async def test_client_errors_are_returned_not_retried(server: LocalServer, client: HttpClient) -> None:
    server.script("/t", status(400), status(404))
    assert (await client.request("GET", server.url("/t"), provider="p", idempotent=True)).status_code == 400
    assert (await client.request("GET", server.url("/t"), provider="p", idempotent=True)).status_code == 404
    assert server.hits("/t") == 2


async def test_an_idempotent_read_timeout_is_retried(server: LocalServer, client: HttpClient) -> None:
    server.script("/t", stall(server), ok())
    response = await client.request("GET", server.url("/t"), provider="p", idempotent=True, timeout=0.2)
    assert response.status_code == 200 and server.hits("/t") == 2


async def test_a_body_that_lies_about_gzip_is_still_read(server: LocalServer, client: HttpClient) -> None:
    async def lying(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"id": "plain"}', headers={"Content-Type": "application/json",
                                                               "Content-Encoding": "gzip"})

    async def honest(request: web.Request) -> web.StreamResponse:
        return web.Response(body=gzip.compress(b'{"id": "zipped"}'),
                            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    server.script("/t", lying, honest)
    first = await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    second = await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    assert json_of(first, provider="p") == {"id": "plain"}
    assert json_of(second, provider="p") == {"id": "zipped"}
    assert "content-encoding" not in {k.lower() for k in first.headers}


async def test_malformed_json_from_the_server_is_a_clear_error(server: LocalServer, client: HttpClient) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"id": "cgt-1", "sta', content_type="application/json")

    server.script("/t", cut)
    response = await client.request("GET", server.url("/t"), provider="p", idempotent=True)
    with pytest.raises(ProviderError) as info:
        json_of(response, provider="p")
    assert info.value.code == "malformed_response"


# -- submits: never resent once they may have arrived ------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "503", "504-html", "drop", "read-timeout"])
async def test_a_submit_that_may_have_arrived_is_never_resent(
    server: LocalServer, client: HttpClient, sleeps: Sleeps, failure: str
) -> None:
    handler = {
        "500": status(500),
        "503": status(503, {"Retry-After": "1"}),
        "504-html": status(504, body="<html><h1>504 Gateway Time-out</h1></html>"),
        "drop": drop(),
        "read-timeout": stall(server),
    }[failure]
    server.script("/submit", handler, default=ok())
    with pytest.raises(SubmitUncertainError) as info:
        await client.request("POST", server.url("/submit"), provider="p", idempotent=False,
                             json_body={"prompt": "x"}, timeout=0.3)
    assert server.hits("/submit") == 1
    assert sleeps.delays == []
    assert info.value.code == "submit_uncertain" and "\n" not in str(info.value)


async def test_a_submit_answered_429_is_retried(server: LocalServer, client: HttpClient) -> None:
    server.script("/submit", status(429, {"Retry-After": "0"}), ok())
    response = await client.request("POST", server.url("/submit"), provider="p", idempotent=False, json_body={})
    assert response.status_code == 200 and server.hits("/submit") == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_submit_on_a_refused_connection_is_retried_and_arrives_once(sleeps: Sleeps) -> None:
    port = free_port()  # nothing listens here yet: the first attempt is refused
    late = LocalServer()

    async def come_up() -> None:
        if not late.port:
            await late.start(port)

    sleeps.hook = come_up
    client = HttpClient(policy=RetryPolicy(), sleep=sleeps)
    try:
        response = await client.request("POST", f"http://127.0.0.1:{port}/submit", provider="p",
                                        idempotent=False, json_body={"prompt": "x"})
    finally:
        await client.aclose()
        await late.stop()
    assert response.status_code == 200
    assert late.hits("/submit") == 1 and len(sleeps.delays) == 1


async def test_a_submit_that_can_never_connect_is_unavailable_not_uncertain(client: HttpClient,
                                                                           sleeps: Sleeps) -> None:
    with pytest.raises(ProviderUnavailableError) as info:
        await client.request("POST", f"http://127.0.0.1:{free_port()}/submit", provider="p",
                             idempotent=False, json_body={})
    assert not isinstance(info.value, SubmitUncertainError)
    assert len(sleeps.delays) == client.policy.max_attempts - 1


# -- downloads ----------------------------------------------------------------------------------------------


def chunked(data: bytes, *, length: int | None, cut_at: int | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        end = len(data) if cut_at is None else cut_at
        for i in range(0, end, 65536):
            await response.write(data[i:min(i + 65536, end)])
        if cut_at is not None:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    return handler


VIDEO = bytes(range(256)) * 4096  # 1 MiB


async def test_download_streams_to_an_owner_only_file(server: LocalServer, client: HttpClient,
                                                       tmp_path: Path) -> None:
    server.script("/v.mp4", chunked(VIDEO, length=len(VIDEO)), chunked(VIDEO, length=None))
    dest = tmp_path / "media" / "t1.mp4"
    assert await download(client, server.url("/v.mp4"), dest, allow_private=True) == len(VIDEO)
    assert dest.read_bytes() == VIDEO
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    dest.write_bytes(b"old")
    # Replaces the old file; no length needed.
    assert await download(client, server.url("/v.mp4"), dest, allow_private=True) == len(VIDEO)
    assert dest.read_bytes() == VIDEO
    assert sorted(p.name for p in dest.parent.iterdir()) == ["t1.mp4"]


@pytest.mark.parametrize("declared", [True, False])
async def test_download_over_the_size_cap_is_refused_and_cleaned_up(
    server: LocalServer, client: HttpClient, tmp_path: Path, declared: bool
) -> None:
    server.script("/v.mp4", chunked(VIDEO, length=len(VIDEO) if declared else None))
    dest = tmp_path / "t1.mp4"
    with pytest.raises(DownloadError) as info:
        await download(client, server.url("/v.mp4"), dest, max_bytes=100_000, allow_private=True)
    assert info.value.code == "too_large"
    assert list(tmp_path.iterdir()) == []


async def test_a_truncated_download_fails_and_leaves_nothing(server: LocalServer, client: HttpClient,
                                                            tmp_path: Path) -> None:
    server.script("/v.mp4", chunked(VIDEO, length=len(VIDEO), cut_at=len(VIDEO) // 2))
    dest = tmp_path / "t1.mp4"
    with pytest.raises(DownloadError) as info:
        await download(client, server.url("/v.mp4"), dest, allow_private=True)
    assert info.value.code == "download_failed"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "expected"), [(403, "link_expired"), (404, "link_expired"),
                                                (410, "link_expired"), (500, "download_failed")])
async def test_refused_links_are_reported(server: LocalServer, client: HttpClient, tmp_path: Path,
                                          code: int, expected: str) -> None:
    server.script("/v.mp4", status(code, body="<Error><Code>AccessDenied</Code></Error>"))
    with pytest.raises(DownloadError) as info:
        await download(client, server.url("/v.mp4"), tmp_path / "t1.mp4", allow_private=True)
    assert info.value.code == expected
    assert list(tmp_path.iterdir()) == []


async def test_download_refuses_non_http_links(client: HttpClient, tmp_path: Path) -> None:
    for url in ("file:///etc/passwd", "ftp://x/y.mp4", "sandbox://x"):
        with pytest.raises(DownloadError):
            await download(client, url, tmp_path / "t1.mp4", allow_private=True)


async def test_a_provider_download_never_carries_the_api_key(server: LocalServer, client: HttpClient,
                                                              tmp_path: Path) -> None:
    """The adapter talks to its API with the key, then fetches the video from the media host without it,
    also across a redirect to a CDN."""
    adapter = BytePlusProvider(http=client, api_key=KEY, base_url=server.url("/api/v3"))
    server.script("/api/v3/contents/generations/tasks/cgt-1", ok({"id": "cgt-1", "status": "running"}))

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(server.url("/cdn/v.mp4"))

    server.script("/tos/v.mp4", redirect)
    server.script("/cdn/v.mp4", chunked(VIDEO, length=len(VIDEO)))
    await adapter.get("cgt-1")
    assert server.headers[0].get("Authorization") == f"Bearer {KEY}"  # the API call did carry it

    await adapter.download(server.url("/tos/v.mp4?X-Tos-Signature=abc"), tmp_path / "v.mp4", max_bytes=10**8)

    media = [(r.path, h) for r, h in zip(server.seen, server.headers, strict=True) if not r.path.startswith("/api")]
    assert [path for path, _ in media] == ["/tos/v.mp4", "/cdn/v.mp4"]
    for _, headers in media:
        assert "Authorization" not in headers
        assert KEY not in json.dumps(headers)
    assert (tmp_path / "v.mp4").read_bytes() == VIDEO



async def test_a_result_link_to_a_private_address_is_refused_unless_the_provider_is_local(
    server: LocalServer, client: HttpClient, tmp_path: Path
) -> None:
    server.script("/v.mp4", chunked(VIDEO, length=len(VIDEO)))
    with pytest.raises(DownloadError) as info:
        await download(client, server.url("/v.mp4"), tmp_path / "t1.mp4")
    assert info.value.code == "link_refused"
    assert not list(tmp_path.iterdir())
    # The adapter of a provider that is itself local (a test server, a proxy) may fetch local links.
    adapter = BytePlusProvider(http=client, api_key="k", base_url=server.url("/api/v3"))
    assert await adapter.download(server.url("/v.mp4"), tmp_path / "t2.mp4", max_bytes=10**8) == len(VIDEO)
