"""Fake APIMart (providers.md §4; seed 002): `POST /v1/videos/generations`, `GET /v1/tasks/{id}`.

Submit answers `{"code":200,"data":[{"status":"submitted","task_id":"task_<ULID>"}]}` (data is an
ARRAY). The task goes pending → processing (progress 1–99) → completed | failed | cancelled, and a
completed task carries `result.videos[0].url` as a LIST of strings (live-captured quirk) with
`expires_at`, plus `completed` and `actual_time`. APIMart documents no error JSON, no cancel and
no list; errors here use the OpenAI-style `{"error":{"code","message","type"}}` that client code
reads (`error.message`, and `data.error.message` for failed tasks) [I].
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeProvider, SimTask, is_int, json_response

MODELS = ("doubao-seedance-2.0", "doubao-seedance-2.0-fast", "doubao-seedance-2.0-face",
          "doubao-seedance-2.0-fast-face")
SIZES = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
KNOWN = {"model", "prompt", "duration", "size", "resolution", "seed", "camerafixed", "generate_audio",
         "return_last_frame", "image_urls", "image_with_roles", "video_urls", "audio_urls", "tools",
         "watermark"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 429: "rate_limit_error"}


def ulid(unix_seconds: float) -> str:
    """A 26-character ULID: 48-bit millisecond time + 80 random bits, Crockford base32."""
    value = (int(unix_seconds * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class MartError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _url_list(body: dict[str, Any], key: str, limit: int) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(u, str) and u for u in value):
        raise MartError(f"{key} must be an array of URL strings")
    if len(value) > limit:
        raise MartError(f"{key} accepts at most {limit} items")
    return value


def validate(body: Any, strict: bool = True) -> dict[str, Any]:
    """Check a submit body and return the effective parameters.

    Raises:
        MartError: the request is refused (400).
    """
    if not isinstance(body, dict):
        raise MartError("request body must be a JSON object")
    if strict and (unknown := sorted(set(body) - KNOWN)):
        raise MartError(f"unknown parameter: {unknown[0]}")
    model = body.get("model")
    if model not in MODELS:
        raise MartError(f"invalid model: {model!r}; supported: {', '.join(MODELS)}")
    prompt = body.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 4000):
        raise MartError("prompt must be a string of at most 4000 characters")
    duration = body.get("duration", 5)
    if not is_int(duration) or not 4 <= duration <= 15:
        raise MartError("duration must be an integer between 4 and 15")
    size = body.get("size", "16:9")
    if size not in SIZES:
        raise MartError(f"invalid size: {size!r}; size is an aspect ratio, one of {', '.join(SIZES)}")
    resolution = body.get("resolution", "480p")
    allowed = ("480p", "720p") if "fast" in model else ("480p", "720p", "1080p")
    if resolution not in allowed:
        raise MartError(f"invalid resolution {resolution!r} for {model}")
    for key in ("generate_audio", "return_last_frame", "camerafixed", "watermark"):
        if key in body and not isinstance(body[key], bool):
            raise MartError(f"{key} must be a boolean")
    if "seed" in body and not is_int(body["seed"]):
        raise MartError("seed must be an integer")
    images = _url_list(body, "image_urls", 9)
    videos = _url_list(body, "video_urls", 3)
    audios = _url_list(body, "audio_urls", 3)
    roles = body.get("image_with_roles")
    if roles is not None:
        if images:
            raise MartError("image_urls and image_with_roles are mutually exclusive")
        if not isinstance(roles, list) or not all(
                isinstance(r, dict) and isinstance(r.get("url"), str)
                and r.get("role") in ("first_frame", "last_frame", "reference_image") for r in roles):
            raise MartError("image_with_roles items must be {url, role: first_frame|last_frame|reference_image}")
        kinds = {r["role"] for r in roles}
        if kinds & {"first_frame", "last_frame"} and (kinds & {"reference_image"} or videos or audios):
            raise MartError("first/last frame images cannot be mixed with reference media")
        if "last_frame" in kinds and "first_frame" not in kinds:
            raise MartError("a last_frame image needs a first_frame image")
    if audios and not (images or roles or videos):
        raise MartError("audio_urls needs at least one image or video")
    if not prompt and not (images or roles or videos):
        raise MartError("prompt is required for text-to-video")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(
            isinstance(t, dict) and t.get("type") == "web_search" for t in tools)):
        raise MartError("tools must be [{\"type\": \"web_search\"}]")
    return {"duration": duration, "size": size, "resolution": resolution}


class FakeApimart(FakeProvider):
    """APIMart. No cancel route exists; script(outcome="cancelled") shows the status."""

    provider = "apimart"
    prefix = ""

    def __init__(self, *, estimated_time: int = 60, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.estimated_time = estimated_time

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/videos/generations", self._submit, name="submit")
        app.router.add_get("/v1/tasks/{id}", self._get, name="get", allow_head=False)

    def _error(self, message: str, status: int = 400) -> web.Response:
        return json_response({"error": {"code": status, "message": message,
                                        "type": _TYPES.get(status, "server_error")}}, status)

    def auth_error(self, *, missing: bool) -> web.Response:
        return self._error("Missing API key" if missing else "Invalid API key", 401)

    def error_response(self, status: int) -> web.Response:
        return self._error({429: "Rate limit exceeded, please try again later",
                            404: "Not found"}.get(status, "Service temporarily unavailable"), status)

    async def _submit(self, request: web.Request) -> web.Response:
        body = request[RECORD].json
        try:
            params = validate(body, self.strict_fields)
        except MartError as exc:
            return self._error(exc.message, exc.status)
        with self._lock:
            task_id = f"task_{ulid(self.unix())}"
            task = self._new_task(task_id, body, want_last_frame=bool(body.get("return_last_frame")))
            task.extra.update(params)
        return json_response({"code": 200, "data": [{"status": "submitted", "task_id": task_id}]})

    def data(self, task: SimTask) -> dict[str, Any]:
        now = self.clock()
        state = task.state(now)
        status = {"queued": "pending", "running": "processing", "succeeded": "completed",
                  "expired": "failed"}.get(state, state)
        progress = {"pending": 0, "completed": 100}.get(status, 0)
        if status == "processing":
            elapsed = now - task.created - task.queued_for
            progress = max(1, min(99, int(99 * elapsed / task.running_for))) if task.running_for else 99
        out: dict[str, Any] = {"id": task.id, "status": status, "progress": progress}
        created = int(self.unix(task.created))
        if status == "completed":
            expires = int(self.unix(task.finished)) + 86400
            result: dict[str, Any] = {"videos": [{"url": [task.video_url], "expires_at": expires}]}
            if task.last_frame_url:  # field name undocumented [I]
                result["images"] = [{"url": [task.last_frame_url], "expires_at": expires}]
            out["result"] = result
        if status == "failed":
            out["error"] = {"code": task.script.error_code or "generation_failed",
                            "message": task.script.error_message or
                            "The output video may violate the content policy"}
        out["created"] = created
        if status == "completed":
            out["completed"] = int(self.unix(task.finished))
        out["estimated_time"] = self.estimated_time
        if status == "completed":
            out["actual_time"] = max(1, round(task.queued_for + task.running_for))
        return out

    async def _get(self, request: web.Request) -> web.Response:
        language = request.query.get("language", "en")
        if language not in ("zh", "en", "ko", "ja"):
            return self._error(f"invalid language: {language!r}")
        with self._lock:
            task = self._tasks.get(request.match_info["id"])
            payload = self.data(task) if task else None
        if payload is None:
            return self._error("task not found", 404)
        return json_response({"code": 200, "data": payload})


def is_task_id(value: str) -> bool:
    return re.fullmatch(r"task_[0-9A-HJKMNP-TV-Z]{26}", value) is not None
