"""seedanceapi.org: a reseller with its own small JSON API, in two versions chosen by model.

- v1 (seeds 001 and 004, the catalog's ``seedance-1.5``): ``POST /v1/generate`` without a ``model``
  field, ``duration`` as the *string* "4"/"8"/"12", ``fixed_lens`` for a fixed camera and at most
  one ``image_urls`` entry (the first frame).
- v2 (``seedance-2.0``, ``seedance-2.0-fast``, Mini as ``seedance-2-mini`` or ``seedance-2.0-mini``):
  ``POST /v2/generate`` with ``model`` and an integer ``duration``; images go in ``images`` (roles are
  not expressible: first frame first, then last frame, then references) and Mini also takes
  ``reference_video_urls``. Only prompt, model, duration, aspect ratio, ``images`` and Mini's
  ``reference_video_urls`` are documented for v2 (providers.md §3.2); ``resolution`` is what several
  clients send; ``generate_audio`` and ``callback_url`` are assumed to work as in v1.

Both answer ``{"code", "message", "data"}``. ``data`` of a status call holds ``task_id``,
``status`` (IN_PROGRESS | SUCCESS | FAILED), ``consumed_credits``, ``created_at`` (ISO-8601),
``request`` (an echo of the input), ``response`` (a list of video URLs) and ``error_message``.

The status endpoint differs per version but a task id does not say which version made it, so the
id this adapter hands out for a v2 task carries a ``v2:`` prefix; v1 ids are the provider's own.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx

from core.errors import InvalidRequestError, ProviderError
from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask
from core.providers.readers import int_code as _int_code
from core.providers.readers import number as _number
from core.providers.readers import text as _text

__all__ = ["MINI_MODELS", "V1_MODEL", "V2_MODELS", "SeedanceApiProvider"]

log = logging.getLogger(__name__)

V1_MODEL = "seedance-1.5"
# The site's llms.txt calls Mini "seedance-2-mini"; "seedance-2.0-mini" is the catalog's alias.
MINI_MODELS = frozenset({"seedance-2-mini", "seedance-2.0-mini"})
V2_MODELS = frozenset({"seedance-2.0", "seedance-2.0-fast"}) | MINI_MODELS
V2_PREFIX = "v2:"

# The one status map. PENDING/QUEUED are not documented; they are here so that a queue state,
# should the service ever report one, reads as queued rather than as an unknown word.
_STATUS: dict[str, TaskStatus] = {
    "PENDING": TaskStatus.QUEUED,
    "QUEUED": TaskStatus.QUEUED,
    "IN_PROGRESS": TaskStatus.RUNNING,
    "SUCCESS": TaskStatus.SUCCEEDED,
    "FAILED": TaskStatus.FAILED,
}

# Documented error codes and the HTTP status the docs give them. They matter when the envelope
# carries an error inside an HTTP 200, where only the body says what went wrong.
_CODE_STATUS: dict[str, int] = {
    "INVALID_API_KEY": 401,
    "INSUFFICIENT_CREDITS": 402,
    "TASK_NOT_FOUND": 404,
    "TOO_MANY_IMAGES": 400,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
}
_CODE_WORD = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")
_OK_WORDS = frozenset({"success", "ok"})


class SeedanceApiProvider(Provider):
    """The seedanceapi.org wire format (v1 for ``seedance-1.5``, v2 for the 2.0 family)."""

    name: ClassVar[str] = "seedanceapi"
    cost_unit: ClassVar[Literal["tokens", "credits"]] = "credits"
    supports_cancel: ClassVar[bool] = False
    supports_reconcile: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://seedanceapi.org"

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        v2 = is_v2_model(request.model)
        body = _v2_body(request) if v2 else _v1_body(request)
        if callback_url is not None:
            body["callback_url"] = callback_url
        response = await self._call("POST", "/v2/generate" if v2 else "/v1/generate", idempotent=False, json_body=body)
        with self._reading_submit_answer(response):
            envelope = self._envelope(response)
            data = envelope.get("data")
            task_id = data.get("task_id") if isinstance(data, dict) else None
            if isinstance(task_id, int) and not isinstance(task_id, bool):
                task_id = str(task_id)
            if not isinstance(task_id, str) or not task_id:
                raise self._malformed("the submit answer has no data.task_id")
        return (V2_PREFIX + task_id) if v2 else task_id

    async def get(self, remote_id: str) -> RemoteTask:
        v2, task_id = split_remote_id(remote_id)
        response = await self._call(
            "GET", "/v2/status" if v2 else "/v1/status", idempotent=True, params={"task_id": task_id}
        )
        envelope = self._envelope(response)
        return self._task(envelope.get("data"), remote_id)

    def parse_callback(self, body: Any) -> RemoteTask:
        """A callback as a task. Its body is undocumented; assumed to be the status ``data``
        object, bare or inside the usual envelope."""
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and "task_id" not in body:
            body = body["data"]
        if not isinstance(body, dict):
            raise self._malformed("the callback body is not a JSON object")
        task_id = body.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise self._malformed("the callback has no task_id")
        request = body.get("request")
        model = body.get("model") or (request.get("model") if isinstance(request, dict) else None)
        v2 = is_v2_model(model) if isinstance(model, str) else False
        return self._task(body, (V2_PREFIX + task_id) if v2 else task_id)

    # -- parsing ----------------------------------------------------------------------------

    def _envelope(self, response: httpx.Response) -> dict[str, Any]:
        """The ``{code, message, data}`` body, or the error it (or the HTTP status) carries."""
        return self._checked_object(response, error_fields=_error_fields, envelope_status=_envelope_error_status)

    def _task(self, data: Any, remote_id: str) -> RemoteTask:
        if not isinstance(data, dict):
            raise self._malformed("the status answer has no data object")
        raw = data.get("status")
        raw_status = raw.strip().upper() if isinstance(raw, str) else ""
        extra: dict[str, Any] = {}
        status = _STATUS.get(raw_status)
        if status is None:
            # Unknown words keep the task running; the service's expiry deadline ends it.
            log.warning("seedanceapi task %s has an unknown status %r; treating it as running", remote_id, raw)
            status = TaskStatus.RUNNING
            extra["raw_status"] = raw
        error = None
        if status is TaskStatus.FAILED:
            message = _text(data.get("error_message")) or "seedanceapi reported that the generation failed"
            code = _text(data.get("error_code")) or "generation_failed"
            error = TaskError(code=code, message=message)
        request = data.get("request")
        return RemoteTask(
            remote_id=remote_id,
            status=status,
            video_url=_first_url(data.get("response")),
            actual_cost=_number(data.get("consumed_credits")),
            error=error,
            progress=_progress(data.get("progress")),
            created_at=_iso_datetime(data.get("created_at")),
            prompt=_prompt_of(request),
            extra=extra,
        )

    def _malformed(self, what: str) -> ProviderError:
        return ProviderError(
            f"{self.name} sent an unexpected answer: {what}", provider=self.name, code="malformed_response"
        )


# -- request bodies -------------------------------------------------------------------------


def is_v2_model(model: str | None) -> bool:
    """v2 serves the 2.0 family; everything else (``seedance-1.5``, unset) is v1."""
    return model is not None and (model in V2_MODELS or model.startswith("seedance-2"))


def split_remote_id(remote_id: str) -> tuple[bool, str]:
    """``(is_v2, provider task id)`` for an id this adapter handed out."""
    if remote_id.startswith(V2_PREFIX):
        return True, remote_id[len(V2_PREFIX) :]
    return False, remote_id


def _v1_body(request: VideoRequest) -> dict[str, Any]:
    # v1 takes one first-frame image and nothing else; refuse rather than silently drop inputs
    # the user is paying to have used.
    if request.last_frame() or request.reference_images():
        raise InvalidRequestError(
            "seedanceapi v1 (seedance-1.5) takes only a first-frame image", field="images", code="unsupported_input"
        )
    _refuse_media(request, videos=True)
    body: dict[str, Any] = {"prompt": request.prompt}
    _put(body, "aspect_ratio", request.ratio)
    _put(body, "resolution", request.resolution)
    if request.duration is not None:
        body["duration"] = str(request.duration)  # v1 wants "4" / "8" / "12"
    _put(body, "generate_audio", request.generate_audio)
    _put(body, "fixed_lens", request.camera_fixed)
    first = request.first_frame()
    if first is not None:
        body["image_urls"] = [first.url]
    return body


def _v2_body(request: VideoRequest) -> dict[str, Any]:
    mini = request.model in MINI_MODELS
    _refuse_media(request, videos=not mini)
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    _put(body, "aspect_ratio", request.ratio)
    _put(body, "resolution", request.resolution)
    _put(body, "duration", request.duration)
    _put(body, "generate_audio", request.generate_audio)
    # Roles are not part of the v2 format: the list goes in role order, first frame first.
    images = [i for i in (request.first_frame(), request.last_frame()) if i is not None]
    images.extend(request.reference_images())
    if images:
        body["images"] = [i.url for i in images]
    if mini and request.videos:
        body["reference_video_urls"] = [v.url for v in request.videos]
    return body


def _refuse_media(request: VideoRequest, *, videos: bool) -> None:
    if videos and request.videos:
        raise InvalidRequestError(
            f"seedanceapi does not take reference videos for {request.model or V1_MODEL}",
            field="videos",
            code="unsupported_input",
        )
    if request.audios:
        raise InvalidRequestError("seedanceapi does not take reference audio", field="audios", code="unsupported_input")


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


# -- tolerant readers -----------------------------------------------------------------------


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """``(error code word, message)`` from an envelope; the code word's place is undocumented."""
    if not isinstance(body, dict):
        return None, None
    code: str | None = None
    message = _text(body.get("message")) or _text(body.get("msg"))
    raw_code = body.get("code")
    if isinstance(raw_code, str) and _int_code(raw_code) is None and raw_code.lower() not in _OK_WORDS:
        code = raw_code
    error = body.get("error")
    if isinstance(error, dict):
        code = code or _text(error.get("code"))
        message = message or _text(error.get("message"))
    elif isinstance(error, str):
        if _CODE_WORD.match(error):
            code = code or error
        else:
            message = message or error
    code = code or _text(body.get("error_code"))
    if code is None and message:
        # The code word may only appear in the text: "INSUFFICIENT_CREDITS" or "INSUFFICIENT_CREDITS: …".
        head = message.split(":", 1)[0].strip()
        if _CODE_WORD.match(head):
            code = head
    if message and message.lower() in _OK_WORDS:
        message = None
    return code, message


def _envelope_error_status(body: dict[str, Any]) -> int | None:
    """The HTTP-like status of an error carried in the envelope, None when it reports success."""
    numeric = _int_code(body.get("code"))
    code, _ = _error_fields(body)
    if numeric is not None:
        if numeric == 0 or 200 <= numeric < 300:
            return None
        if 400 <= numeric < 600:
            return numeric
        return _status_for_code(code) or 400
    if (isinstance(body.get("code"), str) and code is not None) or body.get("error"):
        return _status_for_code(code) or 400
    return None


def _status_for_code(code: str | None) -> int | None:
    if not code:
        return None
    upper = code.upper()
    if upper in _CODE_STATUS:
        return _CODE_STATUS[upper]
    if upper.startswith("INVALID_"):
        return 400
    if "NOT_FOUND" in upper:
        return 404
    if "CREDIT" in upper:
        return 402
    return None


def _prompt_of(request: Any) -> str | None:
    # Kept verbatim (not whitespace-normalised): it is compared with ours to reconcile a lost submit.
    prompt = request.get("prompt") if isinstance(request, dict) else None
    return prompt if isinstance(prompt, str) and prompt else None


def _first_url(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        return next((v for v in value if isinstance(v, str) and v), None)
    return None


def _progress(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return max(0.0, min(number / 100 if number > 1 else number, 1.0))


def _iso_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
