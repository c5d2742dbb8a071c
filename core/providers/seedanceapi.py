"""seedanceapi.org: a reseller with its own small JSON API, in two versions chosen by model.

- v1 (seeds 001 and 004, the catalog's ``seedance-1.5``): ``POST /v1/generate`` without a ``model``
  field, ``duration`` as the *string* "4"/"8"/"12", ``fixed_lens`` for a fixed camera and
  ``image_urls`` (the first frame).
- v2 (the catalog's 2.0 family: ``seedance-2.0``, ``seedance-2.0-fast``, ``seedance-2-mini``):
  ``POST /v2/generate`` with ``model`` and an integer ``duration``; images go in ``images`` (roles are
  not expressible: first frame first, then last frame, then references) and reference videos in
  ``reference_video_urls``. Only prompt, model, duration, aspect ratio, ``images`` and Mini's
  ``reference_video_urls`` are documented for v2 (providers.md §3.2); ``resolution`` is what several
  clients send; ``generate_audio`` and ``callback_url`` are assumed to work as in v1. Which inputs
  a model takes, and so its version, comes from the catalog, the one place model facts live.

Both answer ``{"code", "message", "data"}``. ``data`` of a status call holds ``task_id``,
``status`` (IN_PROGRESS | SUCCESS | FAILED), ``consumed_credits``, ``created_at`` (ISO-8601),
``request`` (an echo of the input), ``response`` (a list of video URLs) and ``error_message``.

The status endpoint differs per version and a task id does not say which version made it, so the
version comes from the task's model; the id is the provider's own, as its dashboard shows it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

import httpx

from core import catalog
from core.catalog import ModelSpec
from core.errors import InvalidRequestError, TaskNotFoundError
from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask, malformed, present
from core.providers.readers import first_verbatim, integer, iso_datetime, verbatim
from core.providers.readers import int_code as _int_code
from core.providers.readers import number as _number
from core.providers.readers import text as _text

__all__ = ["SeedanceApiProvider", "api_version"]

log = logging.getLogger(__name__)

Version = Literal["v1", "v2"]
# Ids that older releases stored for v2 tasks carried this prefix; still accepted when read.
LEGACY_V2_PREFIX = "v2:"
# The catalog's family of the one v1 model; every other seedanceapi family is served by v2.
_V1_FAMILY = "v1"

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
    supports_cancel: ClassVar[bool] = False
    supports_reconcile: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://seedanceapi.org"

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        spec = catalog.get_model(self.name, request.model)
        _refuse_what_the_model_cannot_take(request, spec)
        version = _version_of(spec)
        body = _v2_body(request, spec) if version == "v2" else _v1_body(request)
        if callback_url is not None:
            body["callback_url"] = callback_url
        response = await self._call("POST", f"/{version}/generate", idempotent=False, json_body=body)
        with self._reading_submit_answer(response):
            envelope = self._envelope(response)
            data = envelope.get("data")
            task_id = data.get("task_id") if isinstance(data, dict) else None
            if integer(task_id) is not None:
                task_id = str(task_id)
            if not isinstance(task_id, str) or not task_id:
                raise malformed(self.name, "the submit answer has no data.task_id")
        return task_id

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        """The task, from the status endpoint of the API version its model uses.

        Without a model (or with one the catalog does not know) v1 is asked first, then v2. An id
        stored with the legacy ``v2:`` prefix is read from v2 without it.

        Raises:
            TaskNotFoundError: the provider does not have the task (under either version, if unknown).
        """
        versions: tuple[Version, ...]
        if remote_id.startswith(LEGACY_V2_PREFIX):
            remote_id, versions = remote_id[len(LEGACY_V2_PREFIX) :], ("v2",)
        else:
            known = api_version(model)
            versions = (known,) if known else ("v1", "v2")
        for version in versions[:-1]:
            try:
                return await self._status(version, remote_id)
            except TaskNotFoundError:
                continue
        return await self._status(versions[-1], remote_id)

    async def _status(self, version: Version, task_id: str) -> RemoteTask:
        response = await self._call("GET", f"/{version}/status", idempotent=True, params={"task_id": task_id})
        return self._task(self._envelope(response).get("data"), task_id)

    # -- parsing ----------------------------------------------------------------------------

    def _envelope(self, response: httpx.Response) -> dict[str, Any]:
        """The ``{code, message, data}`` body, or the error it (or the HTTP status) carries."""
        return self._checked_object(response, error_fields=_error_fields, envelope_status=_envelope_error_status)

    def _task(self, data: Any, remote_id: str) -> RemoteTask:
        if not isinstance(data, dict):
            raise malformed(self.name, "the status answer has no data object")
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
            created_at=iso_datetime(data.get("created_at")),
            prompt=_prompt_of(request),
            extra=extra,
        )


# -- API version and request bodies ---------------------------------------------------------


def api_version(model: str | None) -> Version | None:
    """The API version that serves ``model`` per the catalog; None for no model or one it does not know."""
    if model is None:
        return None
    try:
        return _version_of(catalog.get_model("seedanceapi", model))
    except InvalidRequestError:
        return None


def _version_of(spec: ModelSpec) -> Version:
    return "v1" if spec.family == _V1_FAMILY else "v2"


def _refuse_what_the_model_cannot_take(request: VideoRequest, spec: ModelSpec) -> None:
    """Refuse before sending what the catalog says this model cannot take, rather than silently
    drop inputs the user is paying to have used."""
    refusals = (
        ("images", request.last_frame() is not None and "first_last_frame" not in spec.modes, "a last-frame image"),
        ("images", len(request.reference_images()) > spec.max_ref_images, "that many reference images"),
        ("videos", len(request.videos) > spec.max_ref_videos, "that many reference videos"),
        ("audios", len(request.audios) > spec.max_ref_audios, "that many reference audio files"),
    )
    for field, refused, what in refusals:
        if refused:
            message = f"seedanceapi {spec.id} does not take {what}"
            raise InvalidRequestError(message, field=field, code="unsupported_input")


def _v1_body(request: VideoRequest) -> dict[str, Any]:
    first = request.first_frame()
    return {"prompt": request.prompt} | present(
        aspect_ratio=request.ratio,
        resolution=request.resolution,
        duration=None if request.duration is None else str(request.duration),  # v1 wants "4" / "8" / "12"
        generate_audio=request.generate_audio,
        fixed_lens=request.camera_fixed,
        image_urls=None if first is None else [first.url],
    )


def _v2_body(request: VideoRequest, spec: ModelSpec) -> dict[str, Any]:
    # The model as asked: an alias ("seedance-2.0-mini") goes out as the user named it.
    # Roles are not part of the v2 format: the list goes in role order, first frame first.
    images = [i for i in (request.first_frame(), request.last_frame()) if i is not None]
    images.extend(request.reference_images())
    return {"model": request.model or spec.id, "prompt": request.prompt} | present(
        aspect_ratio=request.ratio,
        resolution=request.resolution,
        duration=request.duration,
        generate_audio=request.generate_audio,
        images=[i.url for i in images] or None,
        reference_video_urls=[v.url for v in request.videos] or None,  # only models that take them (Mini)
    )


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
    return verbatim(request.get("prompt")) if isinstance(request, dict) else None


def _first_url(value: Any) -> str | None:
    return first_verbatim(value)


def _progress(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return max(0.0, min(number / 100 if number > 1 else number, 1.0))
