"""The adapter interface every provider implements, and the shared status → error mapping.

An adapter knows one wire format: it builds the submit body, parses a task (alone or a batch of
them) and maps its errors to `core.errors`. It holds no state and never touches the store. A
callback body is never parsed: the service re-reads the task with `get` when one arrives.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from core.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    SubmitUncertainError,
    TaskNotFoundError,
    register_secret,
)
from core.http import HttpClient, json_of, parse_retry_after
from core.inputs import host_literal_is_public
from core.models import TaskError, TaskStatus, VideoRequest


@dataclass(frozen=True)
class RemoteTask:
    """What the provider says about one task right now, in our vocabulary."""

    remote_id: str
    status: TaskStatus
    video_url: str | None = None
    last_frame_url: str | None = None
    actual_cost: float | None = None
    error: TaskError | None = None
    progress: float | None = None  # 0..1 when the provider reports it
    created_at: datetime | None = None  # the provider's own clock
    # The provider's own time the task reached its final state, only where its answer says so
    # (never the moment we noticed): finished_at - created_at is a true run time.
    finished_at: datetime | None = None
    prompt: str | None = None  # for reconciling a lost submit
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteRef:
    """One task to read in a batch: the provider's id and the model it was made with."""

    remote_id: str
    model: str | None = None


class Provider(abc.ABC):
    """One provider's wire format over the shared `HttpClient`."""

    name: ClassVar[str]
    supports_cancel: ClassVar[bool] = False
    # True when `find_submitted` can tell whether a submit whose answer was lost created a task.
    supports_reconcile: ClassVar[bool] = False
    # True when the provider can POST status changes to a callback URL.
    supports_callback: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""
    # How many tasks one `get_many` call may read; 1 where the API has no batched read.
    max_batch: ClassVar[int] = 1

    def __init__(self, *, http: HttpClient, api_key: str, base_url: str | None = None) -> None:
        self._http = http
        self._api_key = api_key
        register_secret(api_key)
        self.base_url = (base_url or self.default_base_url).rstrip("/")

    def __repr__(self) -> str:  # never show the key
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    # -- the wire format ------------------------------------------------------------------

    @abc.abstractmethod
    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        """Create the task; return the provider's task id.

        ``request`` is already validated and resolved by the catalog (``model`` is set).

        Raises:
            InvalidRequestError, AuthenticationError, InsufficientCreditsError, RateLimitError:
                the provider refused; nothing was created.
            SubmitUncertainError: the answer was lost; a task may exist.
        """

    @abc.abstractmethod
    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        """The task's current state.

        ``model`` is the model the task was made with; an adapter whose API version depends on the
        model (seedanceapi.org) picks it from there, the others ignore it.

        Raises:
            TaskNotFoundError: the provider no longer has the task.
        """

    async def get_many(self, refs: Sequence[RemoteRef]) -> dict[str, RemoteTask]:
        """Several tasks in one request: ``remote_id -> RemoteTask`` for those the provider answered.

        Called with at most `max_batch` refs; the caller counts it as one request against the
        provider's rate budget. An id missing from the answer is simply absent: read it with `get`,
        which says whether the task is gone. The default (and every adapter, for a single ref)
        reads through `get`, where "not found" also leaves the id absent.

        Raises:
            ProviderError and subclasses: the request as a whole failed. A batch that the provider
                refuses (404/400) is a `ProviderError` with code ``batch_refused``, never
                `TaskNotFoundError`: one unknown id must not mark the others as gone.
        """
        unique = {ref.remote_id: ref for ref in refs}
        if len(unique) > self.max_batch:
            raise ValueError(f"{self.name} reads at most {self.max_batch} tasks per request, not {len(unique)}")
        found: dict[str, RemoteTask] = {}
        for ref in unique.values():
            try:
                found[ref.remote_id] = await self.get(ref.remote_id, model=ref.model)
            except TaskNotFoundError:
                continue  # absent: the caller's own `get` reports it
        return found

    async def cancel(self, remote_id: str, *, model: str | None = None) -> None:
        """Cancel a queued task. Raises `NotSupportedError` where the provider has no cancel."""
        raise NotSupportedError(f"{self.name} does not offer cancelling a task")

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        """Tasks created since ``since`` that match ``request``: used to reconcile a lost submit."""
        raise NotSupportedError(f"{self.name} cannot list tasks")

    def expected_seconds(self, request: VideoRequest) -> float | None:
        """How long this request usually takes here, when the provider knows (the sandbox does)."""
        return None

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Fetch a result file to ``dest``; returns its size. Real providers use plain HTTP."""
        from core.media import download  # local import: media depends on http only

        # A provider that is itself on a local or private network (a test server, a proxy)
        # may hand out result links there too; anyone else's links must be public.
        allow_private = host_literal_is_public(urlsplit(self.base_url).hostname or "") is False
        return await download(self._http, url, dest, max_bytes=max_bytes, allow_private=allow_private)

    # -- helpers for adapters ---------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json_body: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = self._auth_headers()
        all_headers.update(headers or {})
        return await self._http.request(
            method,
            self.base_url + path,
            provider=self.name,
            idempotent=idempotent,
            json_body=json_body,
            params=params,
            headers=all_headers,
        )

    @contextlib.contextmanager
    def _reading_submit_answer(self, response: httpx.Response) -> Iterator[None]:
        """Around parsing a submit's answer: a 2xx we cannot read means a task was probably created
        (and charged), so it must be reconciled, never reported as a clean refusal."""
        try:
            yield
        except ProviderError as exc:
            if exc.code == "malformed_response" and 200 <= response.status_code < 300:
                raise SubmitUncertainError(
                    f"{self.name} accepted the submit but its answer has no readable task id; "
                    "the task may exist and was not resent",
                    provider=self.name,
                    status_code=response.status_code,
                ) from exc
            raise

    def _checked_object(
        self,
        response: httpx.Response,
        *,
        error_fields: Callable[[Any], tuple[str | None, str | None]],
        envelope_status: Callable[[dict[str, Any]], int | None],
    ) -> dict[str, Any]:
        """The JSON object of an envelope-style answer (seedanceapi, APIMart), or the error it carries.

        Such providers report errors by HTTP status or inside a 2xx body; ``error_fields`` reads
        (code, message) from a body and ``envelope_status`` says which HTTP status a 2xx body's
        error stands for (None when the body is not an error).
        """
        if response.status_code >= 400:
            try:
                body = self._json(response)
            except ProviderError:  # an HTML error page from a proxy, say
                body = None
            code, message = error_fields(body)
            self._raise_for_status(response, code=code, message=message)
        body = self._json(response)
        if not isinstance(body, dict):
            raise malformed(self.name, "the answer is not a JSON object")
        status = envelope_status(body)
        if status is not None:
            code, message = error_fields(body)
            raise error_from_status(self.name, status, provider_code=code, message=message)
        return body

    def _json(self, response: httpx.Response) -> Any:
        return json_of(response, provider=self.name)

    def _raise_for_status(self, response: httpx.Response, *, code: str | None, message: str | None) -> None:
        """Raise the error class for an HTTP error status, with the provider's own code and text."""
        if response.status_code < 400:
            return
        raise error_from_status(
            self.name,
            response.status_code,
            provider_code=code,
            message=message,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def error_from_status(
    provider: str,
    status: int,
    *,
    provider_code: str | None,
    message: str | None,
    retry_after: float | None = None,
) -> ProviderError | InvalidRequestError | TaskNotFoundError:
    """The one place that turns an HTTP error status into our exception tree."""
    detail = _clean(message) or f"HTTP {status}"
    tag = f" [{provider_code}]" if provider_code else ""
    text = f"{provider}: {detail}{tag}"
    credit_words = ("credit", "balance", "overdue", "quota", "insufficient", "used_up")
    if status == 402 or any(w in (provider_code or "").lower() for w in credit_words):
        return InsufficientCreditsError(text, provider=provider, status_code=status, provider_code=provider_code)
    if status in (401, 403):
        return AuthenticationError(text, provider=provider, status_code=status, provider_code=provider_code)
    if status == 404:
        return TaskNotFoundError(text, code="task_not_found")
    if status == 429:
        return RateLimitError(
            text, retry_after=retry_after, provider=provider, status_code=status, provider_code=provider_code
        )
    if status >= 500:
        return ProviderUnavailableError(text, provider=provider, status_code=status, provider_code=provider_code)
    return InvalidRequestError(text, code="provider_rejected")


def _clean(message: str | None, limit: int = 300) -> str:
    if not message:
        return ""
    one_line = " ".join(str(message).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def malformed(provider: str, what: str, status_code: int | None = None) -> ProviderError:
    """The error for an answer that is not the shape the provider documents."""
    return ProviderError(
        f"{provider} sent an unexpected answer: {what}",
        provider=provider,
        status_code=status_code,
        code="malformed_response",
    )


def present(**values: Any) -> dict[str, Any]:
    """The fields that are set: ``None`` means "the provider's default", so the field is left out."""
    return {key: value for key, value in values.items() if value is not None}


def batch_refused(provider: str, exc: Exception) -> ProviderError:
    """A batched read the provider refused as a whole (see `Provider.get_many`)."""
    return ProviderError(f"{provider} refused a batched task read: {exc}", provider=provider, code="batch_refused")
