"""Streaming downloads of finished videos and frames into the media folder, and a check that a video is one.

Result links are signed and expire after 24 hours, so the service fetches them as soon as a task
succeeds. Downloads never carry the provider's ``Authorization`` header (the video host is not the
API host), stream to a temporary file with a size cap, and only then take the final name.

Every hop (the link and each redirect) is resolved once; unless the provider itself is local, every
address must be public, and the connection goes to an address that was checked (the URL's name still
goes in ``Host`` and in TLS SNI, and the certificate is checked against it). A DNS answer that changes
between the check and the connection (DNS rebinding) therefore cannot reach this machine's network.

A download has an overall deadline, ``max(120 s, size / 32 KiB/s)`` where size is the declared length
or else the size cap, and must keep up at least 32 KiB/s over every 30 s: a link that trickles
(1 byte every 5 s) fails with ``too_slow`` within about 30 s instead of holding a watcher for days.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from core.errors import ProviderError
from core.http import HttpClient
from core.inputs import address_is_public, host_literal_is_public

DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
MAX_REDIRECTS = 5
MIN_RATE = 32 * 1024  # bytes per second, averaged over RATE_WINDOW
RATE_WINDOW = 30.0  # seconds
MIN_DEADLINE = 120.0  # seconds: the overall deadline is never shorter


class DownloadError(ProviderError):
    """Codes: ``download_failed``, ``link_expired``, ``link_refused``, ``too_large``, ``too_slow``,
    ``timed_out``, ``not_a_video``."""

    code = "download_failed"


def download_deadline(size: int, *, min_rate: float = MIN_RATE, min_deadline: float = MIN_DEADLINE) -> float:
    """Seconds a download of ``size`` bytes may take in all: ``max(min_deadline, size / min_rate)``."""
    return max(min_deadline, size / min_rate)


async def download(
    http: HttpClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    min_rate: float = MIN_RATE,
    rate_window: float = RATE_WINDOW,
    min_deadline: float = MIN_DEADLINE,
) -> int:
    """Stream ``url`` to ``dest``; return the number of bytes written.

    Unless ``allow_private`` (the provider itself is on a local or private network), every hop of
    the download must be a public address: a provider's answer must not make us fetch, and then
    serve as a video, something from this machine's own network.

    Raises:
        DownloadError: the link expired or was refused (``link_expired``, ``link_refused``), the body was
            cut short, it is over ``max_bytes`` (``too_large``), it came slower than ``min_rate`` over
            ``rate_window`` (``too_slow``) or it ran past the overall deadline (``timed_out``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique partial name: two processes fetching the same result never write one file.
    partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = download_deadline(max_bytes, min_rate=min_rate, min_deadline=min_deadline)
    pace = _Pace(loop, min_rate, rate_window)
    try:
        async with asyncio.timeout(deadline) as budget:
            for _ in range(MAX_REDIRECTS + 1):
                async with _open(http, url, allow_private, rate_window) as response:
                    location = response.headers.get("Location")
                    if response.is_redirect and location:
                        url = urljoin(url, location)
                        continue
                    declared = response.headers.get("Content-Length", "").strip()
                    if declared.isdigit():  # a known size: its own, usually much shorter, deadline
                        size_deadline = download_deadline(
                            min(int(declared), max_bytes), min_rate=min_rate, min_deadline=min_deadline
                        )
                        budget.reschedule(min(started + deadline, started + size_deadline))
                    written = await _save(response, partial, max_bytes, pace)
                    break
            else:
                raise DownloadError("the result link redirected too many times")
    except TimeoutError:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise DownloadError(
            f"downloading the result took longer than its deadline ({deadline:.0f} s at most)", code="timed_out"
        ) from None
    except httpx.HTTPError as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        if isinstance(exc, httpx.ReadTimeout):
            raise DownloadError(
                f"the result host sent nothing for {rate_window:.0f} s; download abandoned", code="too_slow"
            ) from exc
        raise DownloadError(f"downloading the result failed ({type(exc).__name__})") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    os.chmod(partial, 0o600)
    os.replace(partial, dest)
    return written


class _Pace:
    """The minimum-throughput rule: at least ``min_rate`` bytes per second over every ``window``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, min_rate: float, window: float) -> None:
        self._loop = loop
        self.min_rate = min_rate
        self.window = window
        self._since = loop.time()
        self._bytes = 0

    def add(self, count: int) -> None:
        self._bytes += count
        now = self._loop.time()
        if now - self._since < self.window:
            return
        rate = self._bytes / (now - self._since)
        if rate < self.min_rate:
            raise DownloadError(
                f"the result came at {rate:.0f} bytes/s, under the {self.min_rate:.0f} bytes/s minimum; "
                "download abandoned",
                code="too_slow",
            )
        self._since, self._bytes = now, 0


@contextlib.asynccontextmanager
async def _open(http: HttpClient, url: str, allow_private: bool, read_timeout: float) -> AsyncIterator[httpx.Response]:
    """One GET of ``url``, connected to an address that was resolved once and checked."""
    target = httpx.URL(url)
    if target.scheme not in ("https", "http") or not target.host:
        raise DownloadError("the result link is not an http(s) URL")
    addresses = await checked_addresses(target.raw_host.decode("ascii"), allow_private)
    timeout = httpx.Timeout(DOWNLOAD_TIMEOUT.connect, read=read_timeout, write=read_timeout, pool=read_timeout)
    # A bare request: no default headers that could carry credentials. "Connection: close" keeps the
    # connection (opened to an address, for a name) out of the shared pool.
    headers = {"Accept": "*/*", "Host": target.netloc.decode("ascii"), "Connection": "close"}
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and not _is_ip(target.host):
        extensions["sni_hostname"] = target.raw_host.decode("ascii")  # TLS and its certificate: the name
    for index, address in enumerate(addresses):
        pinned = target.copy_with(host=address, username=None, password=None)
        try:
            request = http.client.build_request("GET", pinned, headers=headers, timeout=timeout,
                                                extensions=extensions)
            response = await http.client.send(request, stream=True, follow_redirects=False)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if index == len(addresses) - 1:
                raise
            continue  # the next checked address (an IPv6 and an IPv4 one, say)
        try:
            yield response
        finally:
            await response.aclose()
        return


async def checked_addresses(host: str, allow_private: bool) -> list[str]:
    """The addresses ``host`` resolves to, once; all of them public unless ``allow_private``.

    Raises:
        DownloadError: ``link_refused`` when one is not public, ``download_failed`` when the name does not resolve.
    """
    name = host.strip("[]")
    literal = host_literal_is_public(name)
    if literal is False and not allow_private:
        raise DownloadError("the result link points to a local or private address; refused", code="link_refused")
    if _is_ip(name):
        return [name]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DownloadError("the result link's host name does not resolve") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DownloadError("the result link's host name does not resolve")
    if not allow_private and not all(address_is_public(a) for a in addresses):
        raise DownloadError("the result link points to a local or private address; refused", code="link_refused")
    return addresses


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _save(response: httpx.Response, partial: Path, max_bytes: int, pace: _Pace) -> int:
    if response.status_code in (401, 403, 404, 410):
        raise DownloadError(
            f"the result link was refused (HTTP {response.status_code}); it may have expired", code="link_expired"
        )
    if response.status_code >= 400:
        raise DownloadError(f"downloading the result failed (HTTP {response.status_code})")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(f"the result is {int(declared)} bytes, over the {max_bytes}-byte limit", code="too_large")
    written = 0
    with open(partial, "wb") as out:
        async for chunk in response.aiter_bytes():
            written += len(chunk)
            if written > max_bytes:
                raise DownloadError(f"the result is over the {max_bytes}-byte limit", code="too_large")
            out.write(chunk)
            pace.add(len(chunk))
    if declared and declared.isdigit() and written != int(declared):
        raise DownloadError(f"the download was cut short ({written} of {declared} bytes)")
    return written


def verify_video(path: Path) -> None:
    """Check that ``path`` is a video: the container opens, has a video stream, and its first frame decodes.

    Blocking (PyAV): call it with ``asyncio.to_thread`` from async code.

    Raises:
        DownloadError: code ``not_a_video``, one line saying what is wrong (never FFmpeg's own text).
    """
    import av  # local import: only the service needs it, and only after a download

    def refuse(why: str) -> DownloadError:
        return DownloadError(f"the result {path.name} is not a playable video: {why}", code="not_a_video")

    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise refuse("it does not open as a video file (broken, cut short or another kind of file)") from exc
    try:
        if not container.streams.video:
            raise refuse("it holds no video stream")
        stream = container.streams.video[0]
        try:
            for _frame in container.decode(stream):
                return
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
            raise refuse("its first frame does not decode") from exc
        raise refuse("it has no frame that decodes")
    finally:
        container.close()
