"""The one shared HTTP client: explicit timeouts, careful retries, tolerant body decoding.

Retry rules (see ``RetryPolicy``):
- idempotent calls (GET, list, retrieve) retry on connect/read failures, 408, 429 and 5xx with
  exponential backoff and jitter, honouring ``Retry-After``;
- a submit (which may create a paid task) retries only when the request provably never reached
  the provider: the connection was refused or never opened, or the provider answered 429.
  Any other failure after the request was sent raises `SubmitUncertainError`, so the service can
  reconcile instead of paying twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import json
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import (
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    SubmitUncertainError,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=10.0)
USER_AGENT = "seedance-studio/0.1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


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
        base: float = min(self.initial_delay * 2 ** (attempt - 1), self.max_delay)
        return base * (1 - self.jitter * random.random())


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


def decode_body(raw: bytes, encoding: str | None) -> bytes:
    """Undo Content-Encoding when the body really is encoded; some gateways say gzip and send plain."""
    enc = (encoding or "").lower().strip()
    if enc == "gzip" and raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError):
            return raw
    if enc == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return raw
    return raw


class HttpClient:
    """Wraps one ``httpx.AsyncClient`` for the whole process."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
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
            SubmitUncertainError: a non-idempotent call failed after it may have reached the provider.
        """
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.policy.max_attempts
            try:
                response = await self._send(method, url, json_body, params, headers, timeout)
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
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        body = decode_body(raw, response.headers.get("Content-Encoding"))
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
