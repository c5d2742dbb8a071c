"""Fake seedanceapi.org, API v1 and v2 on one server (providers.md §3; seeds 001/004 win).

Envelope `{"code": 200, "message": "success", "data": {...}}`; statuses IN_PROGRESS → SUCCESS |
FAILED; `data.response` is an array of URLs; `consumed_credits` from the published credit tables
(0 unless SUCCESS). v1 takes `duration` as the STRING "4"/"8"/"12" and at most one image; v2 takes
a `model` and an integer duration. Errors use `{"code", "message", "data": null}` where `code` is
the documented name (INVALID_DURATION, …), or the HTTP status with `error_code_style="http"`
(the exact error body is undocumented).
"""

from __future__ import annotations

import math
import re
import secrets
import time
from typing import Any, Literal

from aiohttp import web

from tests.fakes.base import RECORD, FakeProvider, SimTask, is_int, json_response

V1_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
V1_CREDITS = {  # (resolution, seconds) -> (without audio, with audio), seed 004
    ("480p", 4): (8, 14), ("480p", 8): (14, 28), ("480p", 12): (19, 38),
    ("720p", 4): (14, 28), ("720p", 8): (28, 56), ("720p", 12): (42, 84),
}
V2_MODELS = ("seedance-2.0", "seedance-2.0-fast", "seedance-2.0-mini", "seedance-2-mini")
V2_RATIOS = ("16:9", "9:16", "4:3", "3:4")  # llms.txt: the 2.0 / Fast text-to-video ratios
MINI_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9")  # "broader aspect ratios" [I]
MESSAGES = {
    "INVALID_PROMPT": "The prompt is invalid or empty",
    "INVALID_ASPECT_RATIO": "Unsupported aspect ratio value",
    "INVALID_RESOLUTION": "Resolution must be 480p or 720p",
    "INVALID_DURATION": "Duration must be 4, 8, or 12 seconds",
    "TOO_MANY_IMAGES": "Maximum 1 image URL allowed in image_urls array",
    "INVALID_MODEL": "Unsupported model",
    "INVALID_PARAMETER": "Invalid parameter",
    "INVALID_API_KEY": "API key is missing or invalid",
    "INSUFFICIENT_CREDITS": "Not enough credits for this operation",
    "TASK_NOT_FOUND": "Task ID not found or does not belong to your account",
    "RATE_LIMITED": "Too many requests, please slow down",
    "INTERNAL_ERROR": "Server error, please try again later",
}
STATUS_FOR = {"INVALID_API_KEY": 401, "INSUFFICIENT_CREDITS": 402, "TASK_NOT_FOUND": 404,
              "RATE_LIMITED": 429, "INTERNAL_ERROR": 500}


class SeedError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code, self.message = code, message or MESSAGES[code]
        self.status = STATUS_FOR.get(code, 400)


def v2_credits(model: str, resolution: str, seconds: int, has_video: bool) -> int:
    if model == "seedance-2.0":
        return 48 * seconds  # 5/10/15 s = 240/480/720
    if model == "seedance-2.0-fast":
        return 32 * seconds  # 160/320/480
    rate = {("480p", False): 14.25, ("480p", True): 9.0, ("720p", False): 30.75,
            ("720p", True): 18.75}[(resolution, has_video)]
    return math.ceil(rate * seconds)


def _common(body: dict[str, Any], known: set[str], strict: bool) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 2000:
        raise SeedError("INVALID_PROMPT")
    unknown = sorted(set(body) - known)
    if strict and unknown:
        raise SeedError("INVALID_PARAMETER", f"Unknown parameter: {unknown[0]}")
    for key in ("generate_audio", "fixed_lens", "public"):
        if key in body and not isinstance(body[key], bool):
            raise SeedError("INVALID_PARAMETER", f"{key} must be a boolean")
    callback = body.get("callback_url")
    if callback is not None and (not isinstance(callback, str) or not re.match(r"^https?://\S+$", callback)):
        raise SeedError("INVALID_PARAMETER", "callback_url must be a public http(s) URL")


def _urls(body: dict[str, Any], key: str, limit: int, code: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(
            isinstance(u, str) and re.match(r"^https?://\S+$", u) for u in value):
        raise SeedError("INVALID_PARAMETER", f"{key} must be an array of http(s) URLs")
    if len(value) > limit:
        raise SeedError(code, None if code == "TOO_MANY_IMAGES" and limit == 1 else
                        f"Maximum {limit} URLs allowed in {key}")
    return value


def validate_v1(body: dict[str, Any], strict: bool) -> dict[str, Any]:
    _common(body, {"prompt", "aspect_ratio", "resolution", "duration", "generate_audio", "fixed_lens",
                   "image_urls", "callback_url"}, strict)
    ratio = body.get("aspect_ratio", "1:1")
    if ratio not in V1_RATIOS:
        raise SeedError("INVALID_ASPECT_RATIO")
    resolution = body.get("resolution", "720p")
    if resolution not in ("480p", "720p"):
        raise SeedError("INVALID_RESOLUTION")
    duration = body.get("duration", "8")
    if not isinstance(duration, str) or duration not in ("4", "8", "12"):
        raise SeedError("INVALID_DURATION")  # integers are refused: the field is a string enum
    _urls(body, "image_urls", 1, "TOO_MANY_IMAGES")
    audio = bool(body.get("generate_audio", False))
    return {"credits": V1_CREDITS[(resolution, int(duration))][audio]}


def validate_v2(body: dict[str, Any], strict: bool) -> dict[str, Any]:
    _common(body, {"prompt", "model", "aspect_ratio", "resolution", "duration", "generate_audio",
                   "images", "reference_video_urls", "callback_url", "public"}, strict)
    model = body.get("model", "seedance-2.0")
    if model not in V2_MODELS:
        raise SeedError("INVALID_MODEL", f"Unsupported model: {model}")
    mini = "mini" in model
    ratio = body.get("aspect_ratio", "16:9")
    if ratio not in (MINI_RATIOS if mini else V2_RATIOS):
        raise SeedError("INVALID_ASPECT_RATIO")
    resolution = body.get("resolution", "720p")
    if resolution not in ("480p", "720p"):
        raise SeedError("INVALID_RESOLUTION")
    duration = body.get("duration", 5)
    if not is_int(duration) or not (4 <= duration <= 15 if mini else duration in (5, 10, 15)):
        raise SeedError("INVALID_DURATION", "Duration must be an integer: 4-15 for Mini, "
                        "5, 10 or 15 for Seedance 2.0 / Fast")
    _urls(body, "images", 4, "TOO_MANY_IMAGES")
    videos = _urls(body, "reference_video_urls", 3, "INVALID_PARAMETER")
    if videos and not mini:
        raise SeedError("INVALID_PARAMETER", "reference_video_urls is only supported by Mini")
    return {"credits": v2_credits("seedance-2.0-mini" if mini else model, resolution, duration,
                                  bool(videos))}


class FakeSeedanceApi(FakeProvider):
    """seedanceapi.org: `/v1/generate`, `/v1/status`, `/v2/generate`, `/v2/status`.

    `credits`: the account balance (None = unlimited); a submit costing more than what is left
    answers 402 INSUFFICIENT_CREDITS. Failed tasks give their credits back.
    """

    provider = "seedanceapi"
    prefix = ""

    def __init__(self, *, credits: int | None = None,
                 error_code_style: Literal["name", "http"] = "name", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_credits = credits
        self.error_code_style = error_code_style

    def _routes(self, app: web.Application) -> None:
        for version in ("v1", "v2"):
            app.router.add_post(f"/{version}/generate", self._submit, name=f"submit.{version}")
            app.router.add_get(f"/{version}/status", self._status, name=f"get.{version}", allow_head=False)

    # --- errors and credits ----------------------------------------------------------------------

    def _error(self, exc: SeedError) -> web.Response:
        if self.error_code_style == "http":
            body = {"code": exc.status, "message": f"{exc.code}: {exc.message}", "data": None}
        else:
            body = {"code": exc.code, "message": exc.message, "data": None}
        return json_response(body, exc.status)

    def auth_error(self, *, missing: bool) -> web.Response:
        return self._error(SeedError("INVALID_API_KEY"))

    def error_response(self, status: int) -> web.Response:
        code = {400: "INVALID_PARAMETER", 401: "INVALID_API_KEY", 402: "INSUFFICIENT_CREDITS",
                404: "TASK_NOT_FOUND", 429: "RATE_LIMITED"}.get(status, "INTERNAL_ERROR")
        exc = SeedError(code)
        exc.status = status
        return self._error(exc)

    def _spent(self) -> int:
        now = self.clock()
        return sum(t.extra["credits"] for t in self._tasks.values()
                   if t.state(now) not in ("failed", "expired", "cancelled"))

    @property
    def credits(self) -> int | None:
        """Balance left: reserved at submit, spent on SUCCESS, given back on FAILED."""
        with self._lock:
            return None if self.initial_credits is None else self.initial_credits - self._spent()

    def set_credits(self, credits: int | None) -> None:
        """Set the balance left now (None = unlimited)."""
        with self._lock:
            self.initial_credits = None if credits is None else credits + self._spent()

    # --- handlers --------------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.Response:
        version = request.path.split("/")[1]
        body = request[RECORD].json
        try:
            if not isinstance(body, dict):
                raise SeedError("INVALID_PARAMETER", "Request body must be a JSON object")
            info = (validate_v1 if version == "v1" else validate_v2)(body, self.strict_fields)
            with self._lock:
                left = self.credits
                if left is not None and left < info["credits"]:
                    raise SeedError("INSUFFICIENT_CREDITS")
                task_id = f"seed15{secrets.token_hex(6)}pro" if version == "v1" else \
                    f"seed20{secrets.token_hex(8)}"
                task = self._new_task(task_id, body, callback_url=body.get("callback_url"))
                task.extra.update(version=version, credits=info["credits"])
        except SeedError as exc:
            return self._error(exc)
        return json_response({"code": 200, "message": "success",
                              "data": {"task_id": task_id, "status": "IN_PROGRESS"}})

    def data(self, task: SimTask, state: str | None = None) -> dict[str, Any]:
        state = state or task.state(self.clock())
        status = {"succeeded": "SUCCESS", "queued": "IN_PROGRESS", "running": "IN_PROGRESS"}.get(
            state, "FAILED")
        credits = task.script.actual_cost if task.script.actual_cost is not None else task.extra["credits"]
        error = None
        if status == "FAILED":
            error = task.script.error_message or "Generation failed: the content may violate the usage policy"
        return {
            "task_id": task.id, "status": status,
            "consumed_credits": int(credits) if status == "SUCCESS" else 0,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.unix(task.created))),
            "request": task.body,
            "response": [task.video_url] if status == "SUCCESS" else [],
            "error_message": error,
        }

    async def _status(self, request: web.Request) -> web.Response:
        version = request.path.split("/")[1]
        task_id = request.query.get("task_id", "")
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.extra["version"] != version:
                return self._error(SeedError("TASK_NOT_FOUND"))
            payload = self.data(task)
        return json_response({"code": 200, "message": "success", "data": payload})

    def callback_payload(self, task: SimTask, state: str) -> Any | None:
        if state in ("queued", "running"):
            return None
        return {"code": 200, "message": "success", "data": self.data(task, state)}
