"""Streaming downloads of finished videos and frames into the media folder.

Result links are signed and expire after 24 hours, so the service fetches them as soon as a task
succeeds. Downloads never carry the provider's ``Authorization`` header (the video host is not the
API host), stream to a temporary file with a size cap, and only then take the final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from core.errors import ProviderError
from core.http import HttpClient
from core.inputs import host_resolves_public

DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
MAX_REDIRECTS = 5


class DownloadError(ProviderError):
    code = "download_failed"


async def download(
    http: HttpClient, url: str, dest: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_private: bool = False
) -> int:
    """Stream ``url`` to ``dest``; return the number of bytes written.

    Unless ``allow_private`` (the provider itself is on a local or private network), every hop of
    the download must be a public address: a provider's answer must not make us fetch, and then
    serve as a video, something from this machine's own network.

    Raises:
        DownloadError: the link expired or was refused, the body was cut short, or it is over ``max_bytes``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique partial name: two processes fetching the same result never write one file.
    partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        for _ in range(MAX_REDIRECTS + 1):
            await _check_link(url, allow_private)
            # A bare request: no default headers that could carry credentials, a long read timeout.
            async with http.client.stream(
                "GET", url, headers={"Accept": "*/*"}, timeout=DOWNLOAD_TIMEOUT, follow_redirects=False
            ) as response:
                location = response.headers.get("Location")
                if response.is_redirect and location:
                    url = urljoin(url, location)
                    continue
                written = await _save(response, partial, max_bytes)
                break
        else:
            raise DownloadError("the result link redirected too many times")
    except httpx.HTTPError as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise DownloadError(f"downloading the result failed ({type(exc).__name__})") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    os.chmod(partial, 0o600)
    os.replace(partial, dest)
    return written


async def _check_link(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DownloadError("the result link is not an http(s) URL")
    if not allow_private and not await host_resolves_public(parts.hostname):
        raise DownloadError("the result link points to a local or private address; refused", code="link_refused")


async def _save(response: httpx.Response, partial: Path, max_bytes: int) -> int:
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
    if declared and declared.isdigit() and written != int(declared):
        raise DownloadError(f"the download was cut short ({written} of {declared} bytes)")
    return written
