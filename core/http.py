"""The one shared HTTP client: explicit timeouts, careful retries, tolerant body decoding.

Retry rules (see ``RetryPolicy``):
- idempotent calls (GET, list, retrieve) retry on connect/read failures, 408, 429 and 5xx with
  exponential backoff and jitter, honouring ``Retry-After``;
- a submit (which may create a paid task) retries only when the request provably never reached
  the provider: the connection was refused or never opened, or the provider answered 429.
  Any other failure after the request was sent raises `SubmitUncertainError`, so the service can
  reconcile instead of paying twice.

Size rules: an API answer is read to at most ``max_body_bytes`` (8 MiB by default) on the wire and
again after gzip/deflate is undone, streaming and stopping as soon as it is over, so neither a huge
body nor a small "gzip bomb" can take the process's memory. Over the cap, `ResponseTooLargeError`
(or, for a submit the provider accepted, `SubmitUncertainError`: the task may exist).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from core.backoff import backoff_delay
from core.errors import (
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    SubmitUncertainError,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=10.0)
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # the largest JSON answer seen from a provider is a few kB
USER_AGENT = "seedance-studio/0.1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


class ResponseTooLargeError(ProviderError):
    """The provider's answer was over the size cap (on the wire or once decompressed); it was not read."""

    code = "response_too_large"


class BodyTooLarge(Exception):
    """Raised by `decode_body` and the reader; `HttpClient.request` turns it into a provider error."""

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return backoff_delay(attempt, base=self.initial_delay, cap=self.max_delay, jitter=self.jitter)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (now if now is not None else time.time()), 0.0)


def decode_body(raw: bytes, encoding: str | None, *, max_bytes: int | None = None) -> bytes:
    """Undo Content-Encoding when the body really is encoded; some gateways say gzip and send plain.

    With ``max_bytes``, decompression stops as soon as the output would pass it.

    Raises:
        BodyTooLarge: the decoded body is over ``max_bytes``.
    """
    enc = (encoding or "").lower().strip()
    if enc == "gzip" and raw[:2] == b"\x1f\x8b":
        return _inflate(raw, 16 + zlib.MAX_WBITS, max_bytes, members=True)
    if enc == "deflate":
        return _inflate(raw, zlib.MAX_WBITS, max_bytes, members=False)
    return raw


def _inflate(raw: bytes, wbits: int, max_bytes: int | None, *, members: bool) -> bytes:
    """Decompress ``raw`` (every gzip member when ``members``); ``raw`` itself when it is corrupt or cut."""
    out = bytearray()
    data = raw
    while data:
        inflater = zlib.decompressobj(wbits)
        room = 0 if max_bytes is None else max_bytes + 1 - len(out)  # 0: no limit
        try:
            out += inflater.decompress(data, room)
        except zlib.error:
            return raw
        if max_bytes is not None and len(out) > max_bytes:
            raise BodyTooLarge(f"that decompresses to more than {max_bytes} bytes")
        if not inflater.eof:
            return raw  # cut short: what the old gzip.decompress fallback did
        data = inflater.unused_data if members and inflater.unused_data[:2] == b"\x1f\x8b" else b""
    return bytes(out)


class HttpClient:
    """Wraps one ``httpx.AsyncClient`` for the whole process."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self._client = client or httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        provider: str,
        idempotent: bool,
        json_body: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one API call and return the (fully read) response, whatever its status.

        Raises:
            RateLimitError: still 429 after the retries.
            ProviderUnavailableError: 5xx, time-outs or connection failures after the retries.
            SubmitUncertainError: a non-idempotent call failed after it may have reached the provider
                (including an accepted submit whose answer was over the size cap).
            ResponseTooLargeError: the answer was over ``max_body_bytes``, on the wire or decompressed.
        """
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.policy.max_attempts
            try:
                response = await self._send(method, url, json_body, params, headers, timeout)
            except BodyTooLarge as exc:
                status = exc.status_code
                if not idempotent and (status is None or status < 300):
                    raise SubmitUncertainError(
                        f"{provider} answered the submit with a body {exc.detail}, over the "
                        f"{self.max_body_bytes}-byte limit; the task may exist and was not resent",
                        provider=provider,
                        status_code=status,
                    ) from None
                raise ResponseTooLargeError(
                    f"{provider} sent an answer {exc.detail}, over the {self.max_body_bytes}-byte limit; "
                    "it was not read",
                    provider=provider,
                    status_code=status,
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left this machine: safe to retry even a submit.
                if last:
                    raise ProviderUnavailableError(
                        f"{provider} could not be reached ({type(exc).__name__})", provider=provider
                    ) from exc
                await self._sleep(self.policy.delay(attempt))
                continue
            except httpx.HTTPError as exc:  # sent, then the answer was lost or cut
                if not idempotent:
                    raise SubmitUncertainError(
                        f"{provider} did not answer the submit ({type(exc).__name__}); "
                        "the task may exist and was not resent",
                        provider=provider,
                    ) from exc
                if last:
                    raise ProviderUnavailableError(
                        f"{provider} did not answer ({type(exc).__name__})", provider=provider
                    ) from exc
                await self._sleep(self.policy.delay(attempt))
                continue

            status = response.status_code
            if status not in RETRY_STATUSES:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:
                too_long = retry_after is not None and retry_after > self.policy.max_retry_after
                if last or too_long:
                    raise RateLimitError(
                        f"{provider} is rate limiting requests; try again later",
                        retry_after=retry_after,
                        provider=provider,
                        status_code=429,
                    )
            elif not idempotent:
                raise SubmitUncertainError(
                    f"{provider} answered HTTP {status} to the submit; the task may exist and was not resent",
                    provider=provider,
                    status_code=status,
                )
            elif last:
                raise ProviderUnavailableError(
                    f"{provider} is unavailable (HTTP {status})", provider=provider, status_code=status
                )
            await self._sleep(self.policy.delay(attempt, retry_after))

    async def _send(
        self,
        method: str,
        url: str,
        json_body: Any,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> httpx.Response:
        merged = {"Accept": "application/json", "Accept-Encoding": "gzip, identity"}
        merged.update(headers or {})
        request = self._client.build_request(
            method,
            url,
            json=json_body,
            params=params,
            headers=merged,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await self._client.send(request, stream=True)
        cap = self.max_body_bytes
        try:
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > cap:
                raise BodyTooLarge(f"of {int(declared)} bytes (declared)", response.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > cap:
                    raise BodyTooLarge(f"of more than {cap} bytes", response.status_code)
                chunks.append(chunk)
        finally:
            await response.aclose()
        try:
            body = decode_body(b"".join(chunks), response.headers.get("Content-Encoding"), max_bytes=cap)
        except BodyTooLarge as exc:
            exc.status_code = response.status_code
            raise
        plain_headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=plain_headers, content=body, request=request)


def json_of(response: httpx.Response, *, provider: str) -> Any:
    """The response body as JSON, or a clear error when the provider sent something else."""
    try:
        return json.loads(response.content or b"null")
    except ValueError as exc:
        raise ProviderError(
            f"{provider} sent a response that is not JSON (HTTP {response.status_code})",
            provider=provider,
            status_code=response.status_code,
            code="malformed_response",
        ) from exc
