"""APIMart (``api.apimart.ai``): OpenAI-style video generations and a unified task endpoint.

Submit ``POST /v1/videos/generations`` with flat fields (``model``, ``prompt``, ``duration``,
``size`` = the aspect ratio, ``resolution``, ``seed``, ``generate_audio``, ``return_last_frame``,
``camerafixed``, ``image_urls`` or ``image_with_roles``, ``video_urls``, ``audio_urls``); the answer's
``data`` is a *list*: ``{"code": 200, "data": [{"status": "submitted", "task_id": "task_…"}]}``.

Poll ``GET /v1/tasks/{task_id}``: ``data.status`` is pending | processing | completed | failed |
cancelled, ``data.progress`` is 0–100, and a completed task has ``data.result.videos[0].url``, which
the live service sends as a *list* of strings although the docs show a string (both are read).

Guesses, documented as such: where the last frame appears when ``return_last_frame`` is set (no
source shows it; ``_last_frame_url`` tries the likely places), the exact error JSON (client code
reads ``error.message`` on submit and ``data.error.message`` on a failed task), and the ``watermark``
field (seen only in one client's type).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import httpx

from core.models import ImageRole, TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask, malformed
from core.providers.readers import first_verbatim, unix_datetime
from core.providers.readers import int_code as _int_code
from core.providers.readers import number as _number
from core.providers.readers import text as _text

__all__ = ["ApimartProvider"]

log = logging.getLogger(__name__)

# The one status map. "submitted" is what the submit answer says; "error" and "canceled" are
# spellings other clients of this API guard against; "expired" is a guess that costs nothing.
_STATUS: dict[str, TaskStatus] = {
    "submitted": TaskStatus.QUEUED,
    "pending": TaskStatus.QUEUED,
    "queued": TaskStatus.QUEUED,
    "processing": TaskStatus.RUNNING,
    "running": TaskStatus.RUNNING,
    "in_progress": TaskStatus.RUNNING,
    "completed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "error": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
    "canceled": TaskStatus.CANCELLED,
    "expired": TaskStatus.EXPIRED,
}


class ApimartProvider(Provider):
    """The APIMart wire format for ``doubao-seedance-2.0`` and its fast / face variants."""

    name: ClassVar[str] = "apimart"
    supports_cancel: ClassVar[bool] = False
    supports_reconcile: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    default_base_url: ClassVar[str] = "https://api.apimart.ai"

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        # APIMart documents no callback for video tasks; the service polls.
        response = await self._call("POST", "/v1/videos/generations", idempotent=False, json_body=build_body(request))
        with self._reading_submit_answer(response):
            body = self._checked(response)
            data = body.get("data")
            first = data[0] if isinstance(data, list) and data else data
            task_id = None
            if isinstance(first, dict):
                task_id = first.get("task_id") or first.get("id")
            if not isinstance(task_id, str) or not task_id:
                raise malformed(self.name, "the submit answer has no data[0].task_id")
        return task_id

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        response = await self._call("GET", f"/v1/tasks/{remote_id}", idempotent=True)
        body = self._checked(response)
        data = body.get("data")
        if not isinstance(data, dict):
            raise malformed(self.name, "the task answer has no data object")
        return self._task(data, remote_id)

    # -- parsing ----------------------------------------------------------------------------

    def _checked(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON body, or the error it (or the HTTP status) carries."""
        return self._checked_object(response, error_fields=_error_fields, envelope_status=_envelope_error_status)

    def _task(self, data: dict[str, Any], remote_id: str) -> RemoteTask:
        raw = data.get("status")
        extra: dict[str, Any] = {}
        status = _STATUS.get(raw.strip().lower()) if isinstance(raw, str) else None
        if status is None:
            # Unknown words keep the task running; the service's expiry deadline ends it.
            log.warning("apimart task %s has an unknown status %r; treating it as running", remote_id, raw)
            status = TaskStatus.RUNNING
            extra["raw_status"] = raw
        result = data.get("result")
        result = result if isinstance(result, dict) else {}
        error = None
        if status is TaskStatus.FAILED:
            code, message = _task_error(data)
            error = TaskError(
                code=code or "generation_failed", message=message or "apimart reported that the generation failed"
            )
        progress = _number(data.get("progress"))  # documented as 0–100
        if progress is not None:
            progress = max(0.0, min(progress / 100, 1.0))
        if status is TaskStatus.SUCCEEDED:
            progress = 1.0
        return RemoteTask(
            remote_id=remote_id,
            status=status,
            video_url=_video_url(result),
            last_frame_url=_last_frame_url(result),
            error=error,
            progress=progress,
            created_at=unix_datetime(data.get("created")),
            # ``completed`` is documented on completed tasks only; whatever final status carries it.
            finished_at=unix_datetime(data.get("completed")) if status.is_final else None,
            prompt=_text(data.get("prompt")),
            extra=extra,
        )


# -- request body ---------------------------------------------------------------------------


def build_body(request: VideoRequest) -> dict[str, Any]:
    """The submit JSON for ``request`` (already validated and resolved by the catalog)."""
    body: dict[str, Any] = {"model": request.model}
    if request.prompt:  # optional when images or videos carry the content
        body["prompt"] = request.prompt
    _put(body, "duration", request.duration)
    _put(body, "size", request.ratio)  # APIMart's "size" is the aspect ratio, not pixels
    _put(body, "resolution", request.resolution)
    _put(body, "seed", request.seed)
    _put(body, "generate_audio", request.generate_audio)
    _put(body, "camerafixed", request.camera_fixed)
    _put(body, "watermark", request.watermark)
    if request.return_last_frame:
        body["return_last_frame"] = True
    images = request.images
    if images:
        if _plain_urls_suffice(request):
            body["image_urls"] = [i.url for i in images]
        else:
            body["image_with_roles"] = [{"url": i.url, "role": i.role.value} for i in images]
    if request.videos:
        body["video_urls"] = [v.url for v in request.videos]
    if request.audios:
        body["audio_urls"] = [a.url for a in request.audios]
    return body


def _plain_urls_suffice(request: VideoRequest) -> bool:
    """``image_urls`` means "one first frame" or "several references"; anything else needs roles.

    A lone image in ``image_urls`` is read as the first frame, several as references (seed 002's
    examples); a last frame, a single reference image or a first frame next to references can only
    be said with ``image_with_roles``.
    """
    roles = [i.role for i in request.images]
    if roles == [ImageRole.FIRST_FRAME]:
        return True
    return len(roles) >= 2 and all(r is ImageRole.REFERENCE_IMAGE for r in roles)


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


# -- tolerant readers -----------------------------------------------------------------------


def _video_url(result: dict[str, Any]) -> str | None:
    videos = result.get("videos")
    if isinstance(videos, list):
        for video in videos:
            url = _url_of(video)
            if url:
                return url
    return _url_of(result.get("video_url")) or _url_of(result.get("url"))


def _last_frame_url(result: dict[str, Any]) -> str | None:
    """Where the last frame may be: undocumented, so the likely places in order (a guess)."""
    for key in ("last_frame_url", "last_frame", "last_frame_image"):
        url = _url_of(result.get(key))
        if url:
            return url
    videos = result.get("videos")
    if isinstance(videos, list) and videos and isinstance(videos[0], dict):
        url = _url_of(videos[0].get("last_frame_url")) or _url_of(videos[0].get("last_frame"))
        if url:
            return url
    images = result.get("images")
    if isinstance(images, list):
        for image in images:
            url = _url_of(image)
            if url:
                return url
    return None


def _url_of(value: Any) -> str | None:
    """A URL from a string, a list of strings, or an object whose ``url`` is either."""
    if isinstance(value, dict):
        value = value.get("url")
    return first_verbatim(value)


def _task_error(data: dict[str, Any]) -> tuple[str | None, str | None]:
    error = data.get("error")
    if isinstance(error, dict):
        return _text(error.get("code")) or _text(error.get("type")), _text(error.get("message"))
    if isinstance(error, str):
        return None, _text(error)
    return None, _text(data.get("fail_reason")) or _text(data.get("message"))


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"error": {...}}`` or ``{"code", "message"}`` bodies."""
    if not isinstance(body, dict):
        return None, None
    code: str | None = None
    message: str | None = None
    error = body.get("error")
    if isinstance(error, dict):
        code = _text(error.get("code")) or _text(error.get("type"))
        message = _text(error.get("message"))
    elif isinstance(error, str):
        message = _text(error)
    raw_code = body.get("code")
    if code is None and isinstance(raw_code, str) and _int_code(raw_code) is None:
        code = _text(raw_code)
    message = message or _text(body.get("message")) or _text(body.get("msg"))
    return code, message


def _envelope_error_status(body: dict[str, Any]) -> int | None:
    """The HTTP-like status of an error inside an HTTP 2xx answer; None when it reports success."""
    numeric = _int_code(body.get("code"))
    if numeric is not None:
        if numeric == 0 or 200 <= numeric < 300:
            return None
        return numeric if 400 <= numeric < 600 else 400
    if body.get("error"):
        code, _ = _error_fields(body)
        return _status_for_code(code)
    return None


def _status_for_code(code: str | None) -> int:
    word = (code or "").lower()
    if "not_found" in word or "notfound" in word:
        return 404
    if "auth" in word or "api_key" in word or "token" in word:
        return 401
    if "rate" in word or "too_many" in word:
        return 429
    if any(w in word for w in ("server", "unavailable", "overload", "internal", "timeout")):
        return 503  # OpenAI-style `type: server_error` and friends: the provider's fault, retried
    # Credit words ("insufficient", "quota", ...) are recognised by error_from_status itself.
    return 400


