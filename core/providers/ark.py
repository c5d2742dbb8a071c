"""The Ark v3 wire format: BytePlus ModelArk, Volcengine Ark and APIYI's Ark passthrough.

All three serve the same JSON (providers.md §1, §5): create ``POST /contents/generations/tasks``
→ ``{"id": "cgt-…"}``, read ``GET …/{id}``, list ``GET …?page_num=&page_size=&filter.model=``,
cancel ``DELETE …/{id}``. They differ only in host, and APIYI offers neither cancel nor list.
The content-building and task-parsing helpers here are also used by AceData, whose body is Ark-style.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from core.errors import (
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    SubmitUncertainError,
    TaskNotFoundError,
)
from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask, unix_to_datetime

logger = logging.getLogger(__name__)

TASKS_PATH = "/contents/generations/tasks"

# The one status table (providers.md §1.8). Anything else is logged and treated as still running:
# the task's own execution_expires_after deadline ends it if it never moves on.
ARK_STATUS: dict[str, TaskStatus] = {
    "queued": TaskStatus.QUEUED,
    "running": TaskStatus.RUNNING,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "expired": TaskStatus.EXPIRED,
    "cancelled": TaskStatus.CANCELLED,
}

# Reconciling a lost submit: Ark's created_at is whole Unix seconds (truncated) from the provider's
# clock, and ``since`` comes from ours, so a little slack keeps a task created in the same second in
# view. Kept small: a wider window only adds other people's older tasks to the candidates.
RECONCILE_CLOCK_SLACK = timedelta(seconds=2)
RECONCILE_PAGE_SIZE = 50
RECONCILE_MAX_PAGES = 20


def malformed(provider: str, what: str, status_code: int | None = None) -> ProviderError:
    """The error for a body that is JSON but not the shape the provider documents."""
    return ProviderError(
        f"{provider} sent an unexpected response: {what}",
        provider=provider,
        status_code=status_code,
        code="malformed_response",
    )


def build_content(request: VideoRequest) -> list[dict[str, Any]]:
    """The Ark ``content[]`` array: the prompt, then images, videos and audio, each with its role.

    Roles are always written out: an image without a role next to a reference video counts as a
    first frame and makes Ark refuse the mix (providers.md §1.4), and AceData requires them.
    """
    content: list[dict[str, Any]] = []
    if request.prompt:
        content.append({"type": "text", "text": request.prompt})
    for image in request.images:
        content.append({"type": "image_url", "image_url": {"url": image.url}, "role": image.role.value})
    for video in request.videos:
        content.append({"type": "video_url", "video_url": {"url": video.url}, "role": "reference_video"})
    for audio in request.audios:
        content.append({"type": "audio_url", "audio_url": {"url": audio.url}, "role": "reference_audio"})
    return content


def generation_fields(request: VideoRequest, *, camera_fixed_key: str = "camera_fixed") -> dict[str, Any]:
    """The top-level generation parameters that are set; ``None`` means "the model's default" and is omitted."""
    values: dict[str, Any] = {
        "resolution": request.resolution,
        "ratio": request.ratio,
        "duration": request.duration,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
        camera_fixed_key: request.camera_fixed,
        "watermark": request.watermark,
        # Sent only when asked for: false is the default, and Ark refuses the field next to draft:true.
        "return_last_frame": True if request.return_last_frame else None,
        "service_tier": request.service_tier,
        "draft": request.draft,
        "execution_expires_after": request.execution_expires_after,
        "safety_identifier": request.safety_identifier,
    }
    return {key: value for key, value in values.items() if value is not None}


def parse_status(provider: str, raw: Any, table: dict[str, TaskStatus], remote_id: str) -> TaskStatus:
    """Map a provider status word through ``table``; an unknown word means "still running"."""
    if not isinstance(raw, str):
        raise malformed(provider, f"task {remote_id} has no status")
    status = table.get(raw.strip().lower())
    if status is None:
        logger.warning("%s: task %s has an unknown status %r; treating it as running", provider, remote_id, raw)
        return TaskStatus.RUNNING
    return status


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def task_error(status: TaskStatus, raw_error: Any) -> TaskError | None:
    """The task's error in our vocabulary; failed and expired tasks always get one, even if the provider is silent."""
    error = dict_or_empty(raw_error)
    code = error.get("code")
    message = error.get("message")
    if code or message:
        return TaskError(
            code=str(code) if code else status.value,
            message=" ".join(str(message).split()) if message else f"the task {status.value}",
        )
    if status is TaskStatus.FAILED:
        return TaskError(code="failed", message="the provider reported the task as failed without a reason")
    if status is TaskStatus.EXPIRED:
        return TaskError(code="expired", message="the task did not finish before its execution deadline")
    return None


def parse_ark_task(provider: str, data: Any, *, remote_id: str | None = None) -> RemoteTask:
    """One Ark task object (GET body, list item or callback body) as a `RemoteTask`.

    Every field but ``status`` may be missing or null: running tasks carry no ``content`` or
    ``usage``, and successful ones may leave ``error`` out instead of sending null.
    """
    if not isinstance(data, dict):
        raise malformed(provider, "a task is not a JSON object")
    task_id = text_or_none(data.get("id")) or remote_id
    if task_id is None:
        raise malformed(provider, "a task has no id")
    raw_status = data.get("status")
    status = parse_status(provider, raw_status, ARK_STATUS, task_id)
    content = dict_or_empty(data.get("content"))
    usage = dict_or_empty(data.get("usage"))
    extra: dict[str, Any] = {"raw_status": raw_status}
    for key in (
        "model", "resolution", "ratio", "duration", "seed", "generate_audio", "service_tier", "draft",
        "safety_identifier",
    ):
        if data.get(key) is not None:
            extra[key] = data[key]
    return RemoteTask(
        remote_id=task_id,
        status=status,
        video_url=text_or_none(content.get("video_url")),
        last_frame_url=text_or_none(content.get("last_frame_url")),
        actual_cost=number_or_none(usage.get("completion_tokens")),
        error=task_error(status, data.get("error")),
        created_at=unix_to_datetime(data.get("created_at")),
        extra=extra,
    )


def error_parts(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` from an OpenAI-style ``{"error": {...}}`` body; ``(None, None)`` if it is not one."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None, None
    error = dict_or_empty(body.get("error")) if isinstance(body, dict) else {}
    code, message = error.get("code"), error.get("message")
    if not error and isinstance(body, dict):
        message = body.get("message")
    return (str(code) if code else None), (str(message) if message else None)


def callback_json(body: Any) -> Any:
    """A callback body as parsed JSON, whether the web layer hands over bytes, text or JSON."""
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return body


class ArkProvider(Provider):
    """The official Ark v3 format. Subclasses set the host and which optional endpoints exist."""

    cost_unit = "tokens"
    # Headers some hosts need on every call (APIYI's gateway mislabels gzip).
    extra_headers: ClassVar[dict[str, str]] = {}

    async def _ark_call(
        self, method: str, path: str, *, idempotent: bool, json_body: Any = None, params: Any = None
    ) -> httpx.Response:
        return await self._call(
            method,
            TASKS_PATH + path,
            idempotent=idempotent,
            json_body=json_body,
            params=params,
            headers=dict(self.extra_headers),
        )

    def _raise_for_error(self, response: httpx.Response) -> None:
        code, message = error_parts(response)
        self._raise_for_status(response, code=code, message=message)

    def build_body(self, request: VideoRequest, *, callback_url: str | None = None) -> dict[str, Any]:
        """The create-task JSON for ``request``."""
        body: dict[str, Any] = {"model": request.model, "content": build_content(request)}
        body.update(generation_fields(request))
        if callback_url and self.supports_callback:
            body["callback_url"] = callback_url
        return body

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        if not request.model:
            raise InvalidRequestError("no model was chosen for this request", field="model")
        response = await self._ark_call(
            "POST", "", idempotent=False, json_body=self.build_body(request, callback_url=callback_url)
        )
        try:
            self._raise_for_error(response)
        except TaskNotFoundError as exc:
            # At create time a 404 means the model or endpoint is unknown or not activated, not a task.
            raise InvalidRequestError(str(exc), field="model", code="provider_rejected") from exc
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        task_id = text_or_none(body.get("id")) if isinstance(body, dict) else None
        if task_id is None:
            # The provider accepted the create, so a paid task probably exists but its id is
            # unreadable: let the service reconcile rather than report a clean failure.
            raise SubmitUncertainError(
                f"{self.name} accepted the submit but its answer has no readable task id",
                provider=self.name,
                status_code=response.status_code,
            )
        return task_id

    async def get(self, remote_id: str) -> RemoteTask:
        response = await self._ark_call("GET", "/" + quote(remote_id, safe=""), idempotent=True)
        self._raise_for_error(response)
        return parse_ark_task(self.name, self._json(response), remote_id=remote_id)

    async def cancel(self, remote_id: str) -> None:
        """Cancel a queued task.

        Ark's DELETE also *deletes the record* of a finished task (providers.md §1.10), which would
        lose a result not yet downloaded, so the task is read first and only a queued one is deleted.

        Raises:
            NotSupportedError: this host has no cancel endpoint.
            InvalidRequestError: the task is running (or the provider refused); only queued tasks can be cancelled.
            TaskNotFoundError: the provider no longer has the task.
        """
        if not self.supports_cancel:
            raise NotSupportedError(f"{self.name} does not offer cancelling a task")
        current = await self.get(remote_id)
        if current.status is TaskStatus.CANCELLED:
            return
        if current.status is not TaskStatus.QUEUED:
            raise InvalidRequestError(
                f"{self.name}: only a queued task can be cancelled; this one is {current.status.value}",
                code="not_cancellable",
            )
        response = await self._ark_call("DELETE", "/" + quote(remote_id, safe=""), idempotent=True)
        if response.status_code == 404:
            self._raise_for_error(response)
        if response.status_code >= 400:
            # The task started between the read and the DELETE (or was already cancelled).
            code, message = error_parts(response)
            detail = f" ({message})" if message else ""
            raise InvalidRequestError(
                f"{self.name}: only a queued task can be cancelled; the provider refused{detail}",
                code="not_cancellable",
            )

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        """Tasks that may be the one a lost submit created, oldest first.

        Heuristic (Ark list items do not echo the prompt): the first page (newest 50) of the list
        filtered by model and service tier, keeping tasks created at or after ``since`` (less
        `RECONCILE_CLOCK_SLACK`) whose model, resolution, ratio, duration, seed, audio and service
        tier agree with the request wherever both sides have a concrete value (``adaptive`` and
        ``-1`` resolve to a concrete value, so they match anything). Another submit with the same
        settings in the same window matches too, so the oldest comes first (ours was sent at
        ``since``) and the caller should skip any task it has already linked to another row.
        """
        if not self.supports_reconcile:
            raise NotSupportedError(f"{self.name} cannot list tasks")
        params: dict[str, Any] = {"page_num": 1, "page_size": RECONCILE_PAGE_SIZE}
        if request.model:
            params["filter.model"] = request.model
        if request.service_tier:
            # The list shows only one tier per call, and "default" when none is named.
            params["filter.service_tier"] = request.service_tier
        earliest = since - RECONCILE_CLOCK_SLACK
        tasks: list[RemoteTask] = []
        # Newest first, page by page, until a page reaches back past ``since``: under load the
        # lost task may sit behind many newer ones.
        for page in range(1, RECONCILE_MAX_PAGES + 1):
            params["page_num"] = page
            response = await self._ark_call("GET", "", idempotent=True, params=params)
            self._raise_for_error(response)
            body = self._json(response)
            items = body.get("items") if isinstance(body, dict) else None
            if items is None and isinstance(body, dict):
                items = []  # an empty page may leave ``items`` out
            if not isinstance(items, list):
                raise malformed(self.name, "the task list has no items array", response.status_code)
            page_tasks = [parse_ark_task(self.name, item) for item in items]
            tasks += page_tasks
            oldest = min((t.created_at for t in page_tasks if t.created_at), default=None)
            if len(items) < RECONCILE_PAGE_SIZE or oldest is None or oldest < earliest:
                break
        found = [t for t in tasks if t.created_at is not None and t.created_at >= earliest and _matches(request, t)]
        # Ark lists newest first and created_at is whole seconds: break ties by list position so
        # same-second submits come back in the order they were made.
        ordered = sorted(enumerate(found), key=lambda pair: (pair[1].created_at or earliest, -pair[0]))
        return [task for _, task in ordered]

    def parse_callback(self, body: Any) -> RemoteTask:
        """Ark POSTs the same JSON as a GET to ``callback_url`` on every status change."""
        return parse_ark_task(self.name, callback_json(body))


def _matches(request: VideoRequest, task: RemoteTask) -> bool:
    """True unless a parameter that both the request and the listed task state concretely differs."""
    got = task.extra
    # An endpoint id (ep-…) is echoed back as the model name, so only a plain model id can be compared.
    if request.model and not request.model.startswith("ep-") and "model" in got and got["model"] != request.model:
        return False
    wanted: dict[str, Any] = {
        "resolution": request.resolution,
        "ratio": None if request.ratio == "adaptive" else request.ratio,
        "duration": None if request.duration == -1 else request.duration,
        "seed": None if request.seed == -1 else request.seed,
        "generate_audio": request.generate_audio,
        "service_tier": request.service_tier,
        # Per-user: one user's lost submit is never matched with another user's task.
        "safety_identifier": request.safety_identifier,
    }
    return all(value is None or key not in got or got[key] == value for key, value in wanted.items())


class BytePlusProvider(ArkProvider):
    """BytePlus ModelArk (international)."""

    name = "byteplus"
    supports_cancel = True
    supports_reconcile = True
    supports_callback = True
    default_base_url = "https://ark.ap-southeast.bytepluses.com/api/v3"


class VolcengineProvider(ArkProvider):
    """Volcengine Ark (China)."""

    name = "volcengine"
    supports_cancel = True
    supports_reconcile = True
    supports_callback = True
    default_base_url = "https://ark.cn-beijing.volces.com/api/v3"


class ApiyiProvider(ArkProvider):
    """APIYI's Ark passthrough: same JSON, no cancel and no list (providers.md §5)."""

    name = "apiyi"
    supports_cancel = False
    supports_reconcile = False
    # APIYI documents no callback_url, so none is sent; the service polls.
    supports_callback = False
    default_base_url = "https://api.apiyi.com/seedance/api/v3"
    # APIYI's gateway can label a plain body as gzip; ask for no encoding at all.
    extra_headers: ClassVar[dict[str, str]] = {"Accept-Encoding": "identity"}
