"""Fake AceData Cloud Seedance API (providers.md §2; seed 000 wins where they disagree).

`POST /seedance/videos` validates the body against AceData's OpenAPI schema (content items are
`additionalProperties: false`, audio/video items need their role, text ≤ 1000 chars, the model
enum, `camerafixed` not `camera_fixed`) and then runs in one of three modes:
- `callback_url` set: answers `{"task_id"}` at once and later POSTs the final envelope there;
- `async: true`: answers `{"success": true, "task_id", "trace_id"}` at once;
- neither: holds the connection until the task ends and answers the final envelope (sync mode).
`POST /seedance/tasks` (`retrieve` / `retrieve_batch`, recorded as routes "get" / "batch") serves
task records, a batch as `{"items", "count"}` without the unknown ids; how a pending record
looks (`pending_style`) and which `data` shape a result has (`data_shape`) are switches, because
AceData documents both shapes and neither pending form.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from typing import Any, Literal

from aiohttp import web

from tests.fakes.ark import FAMILIES, RATIOS, Family, video_tokens
from tests.fakes.base import RECORD, FakeProvider, SimTask, is_int, json_response

MODELS: dict[str, str] = {
    "doubao-seedance-1-0-pro-250528": "1.0-pro",
    "doubao-seedance-1-0-pro-fast-251015": "1.0-pro-fast",
    "doubao-seedance-1-5-pro-251215": "1.5-pro",
    "doubao-seedance-1-0-lite-t2v-250428": "1.0-lite-t2v",
    "doubao-seedance-1-0-lite-i2v-250428": "1.0-lite-i2v",
    "doubao-seedance-2-0-260128": "2.0",
    "doubao-seedance-2-0-fast-260128": "2.0-fast",
    "doubao-seedance-2-0-mini-260615": "2.0-mini",
    "doubao-seedance-2-5-260628": "2.5",
}
# (type, minimum, maximum) or (type, enum) per top-level field, from the OpenAPI schema.
_FIELDS: dict[str, tuple[Any, ...]] = {
    "resolution": (str, ("480p", "720p", "1080p", "4k")),
    "ratio": (str, (*RATIOS, "adaptive")),
    "duration": (int, -1, 30),
    "frames": (int, 29, 289),
    "seed": (int, -1, 4294967295),
    "camerafixed": (bool,),
    "watermark": (bool,),
    "generate_audio": (bool,),
    "callback_url": (str,),
    "async": (bool,),
    "return_last_frame": (bool,),
    "execution_expires_after": (int, 3600, 259200),
    "omni_reference_task_type": (str, ("auto", "reference", "edit", "extend")),
    "output_format": (str, ("mp4", "mov")),
    "tools": (list,),
    "priority": (int, 0, 9),
    "safety_identifier": (str,),
    "service_tier": (str, ("default", "flex")),  # seed 000 and the MCP server; not in the OpenAPI
}
_ITEM_KEYS = {
    "text": ({"type", "text"}, None),
    "image_url": ({"type", "image_url", "role"}, ("first_frame", "last_frame", "reference_image")),
    "audio_url": ({"type", "audio_url", "role"}, ("reference_audio",)),
    "video_url": ({"type", "video_url", "role"}, ("reference_video",)),
}


class AceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad(message: str) -> AceError:
    return AceError(400, "bad_request", message)


def validate(body: Any) -> tuple[str, Family]:
    """Check a `/seedance/videos` body; return (model, family).

    Raises:
        AceError: the documented 400 `bad_request` with a short message.
    """
    if not isinstance(body, dict):
        raise bad("request body is invalid.")
    for key in ("model", "content"):
        if key not in body:
            raise bad(f"{key} is required.")
    model = body["model"]
    if model not in MODELS:
        raise bad("model is invalid.")
    fam = FAMILIES[MODELS[model]]
    for key, value in body.items():
        if key in ("model", "content"):
            continue
        if key not in _FIELDS:
            raise bad(f"{key} is not allowed.")
        spec = _FIELDS[key]
        kind = spec[0]
        if not (is_int(value) if kind is int else isinstance(value, kind)):
            raise bad(f"{key} is invalid.")
        if len(spec) == 2 and value not in spec[1] or len(spec) == 3 and not spec[1] <= value <= spec[2]:
            raise bad(f"{key} is invalid.")
    _validate_content(body["content"])
    _validate_extras(body, model, fam)
    return model, fam


def _validate_content(content: Any) -> None:
    if not isinstance(content, list) or not content:
        raise bad("content is invalid.")
    for i, item in enumerate(content):
        if not isinstance(item, dict) or item.get("type") not in _ITEM_KEYS:
            raise bad(f"content[{i}].type is invalid.")
        kind = item["type"]
        allowed, roles = _ITEM_KEYS[kind]
        extra = sorted(set(item) - allowed)
        if extra:
            raise bad(f"content[{i}].{extra[0]} is not allowed.")
        if kind == "text":
            text = item.get("text")
            if not isinstance(text, str) or len(text) > 1000:
                raise bad(f"content[{i}].text is invalid.")
            continue
        media = item.get(kind)
        if not isinstance(media, dict) or set(media) != {"url"} or not isinstance(media["url"], str):
            # A bare string (`"image_url": "https://…"`) lands here: seed 000 says 400.
            raise bad(f"content[{i}].{kind} is invalid.")
        if kind != "image_url" and "role" not in item:
            raise bad(f"content[{i}].role is required.")
        if "role" in item and item["role"] not in (roles or ()):
            raise bad(f"content[{i}].role is invalid.")


def _validate_extras(body: dict[str, Any], model: str, fam: Family) -> None:
    resolution = body.get("resolution")
    if resolution == "4k" and model != "doubao-seedance-2-0-260128":
        raise bad("resolution is invalid.")
    if resolution not in (None, "4k") and resolution not in fam.resolutions:
        raise bad("resolution is invalid.")
    frames = body.get("frames")
    if frames is not None and (frames - 25) % 4:
        raise bad("frames is invalid.")
    callback = body.get("callback_url")
    if callback is not None and not re.match(r"^https?://\S+$", callback):
        raise bad("callback_url is invalid.")
    if len(body.get("safety_identifier") or "") > 64:
        raise bad("safety_identifier is invalid.")
    tools = body.get("tools")
    if tools is not None and (len(tools) > 1 or not all(
            isinstance(t, dict) and t.get("type") == "web_search"
            and set(t) <= {"type", "limit", "max_keyword", "sources"} for t in tools)):
        raise bad("tools is invalid.")


class FakeAceData(FakeProvider):
    """AceData Cloud. `pending_style`: "absent" (no `response` while pending) or "processing"
    (`response.data.status` "processing"); `data_shape`: "flat" or "ark" (Ark task passthrough)."""

    provider = "acedata"
    prefix = ""

    def __init__(self, *, pending_style: Literal["absent", "processing"] = "absent",
                 data_shape: Literal["flat", "ark"] = "flat",
                 unknown_task: Literal["404", "empty"] = "404", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending_style = pending_style
        self.data_shape = data_shape
        self.unknown_task = unknown_task

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/seedance/videos", self._submit, name="submit")
        app.router.add_post("/seedance/tasks", self._retrieve, name="get")

    def route_for(self, request: web.Request, body: Any) -> str | None:
        # One path, two actions: a batch retrieve is counted (and faulted) as its own route.
        route = super().route_for(request, body)
        if route == "get" and isinstance(body, dict) and body.get("action") == "retrieve_batch":
            return "batch"
        return route

    # --- errors ----------------------------------------------------------------------------------

    def _error(self, exc: AceError) -> web.Response:
        return json_response({"success": False, "error": {"code": exc.code, "message": exc.message},
                              "trace_id": str(uuid.uuid4())}, exc.status)

    def auth_error(self, *, missing: bool) -> web.Response:
        if missing:  # AceData documents a missing token as a 400, not a 401
            return self._error(AceError(400, "no_token", "No token specified for the request."))
        return self._error(AceError(401, "invalid_token", "The specified token is invalid or wrong."))

    def error_response(self, status: int) -> web.Response:
        code, message = {
            400: ("bad_request", "The request is invalid."),
            401: ("invalid_token", "The specified token is invalid or wrong."),
            403: ("used_up", "Your balance is not sufficient to complete this request."),
            404: ("not_found", "The requested resource was not found."),
            413: ("request_too_large", "The request is too large."),
            429: ("too_many_requests", "You have exceeded the rate limit."),
            500: ("api_error", "fetch failed"),
        }.get(status, ("api_error", "Internal server error."))
        return self._error(AceError(status, code, message))

    # --- submit ----------------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        body = request[RECORD].json
        try:
            model, fam = validate(body)
        except AceError as exc:
            return self._error(exc)
        ace_id, trace_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self._lock:
            task = self._new_task(ace_id, body, callback_url=body.get("callback_url"),
                                  max_total=float(body.get("execution_expires_after", 172800)),
                                  want_last_frame=bool(body.get("return_last_frame")),
                                  signed_media=False)
            duration = body.get("duration", fam.default_duration)
            if duration == -1:
                duration = task.script.duration or fam.chosen_duration
            ratio = body.get("ratio", "16:9")
            task.extra.update(
                trace_id=trace_id, model=model, family=fam, duration=duration,
                ratio=ratio if ratio != "adaptive" else (task.script.ratio or "16:9"),
                resolution=body.get("resolution", fam.default_resolution), frames=body.get("frames"),
                cgt=f"cgt-{time.strftime('%Y%m%d%H%M%S', time.gmtime(self.unix()))}-{uuid.uuid4().hex[:5]}",
                seed=body.get("seed", -1) if body.get("seed", -1) != -1 else random.randrange(2**31),
            )
        if "callback_url" in body:
            return json_response({"task_id": ace_id})
        if body.get("async"):
            return json_response({"success": True, "task_id": ace_id, "trace_id": trace_id})
        while True:  # sync mode: hold the connection until the task ends
            with self._lock:
                if task.state(self.clock()) not in ("queued", "running"):
                    envelope = self.envelope(task)
                    break
            await asyncio.sleep(0.01)
        return json_response(envelope, 200)

    # --- records ---------------------------------------------------------------------------------

    def envelope(self, task: SimTask) -> dict[str, Any]:
        """The final (or, per `pending_style`, pending) `response` envelope of a task."""
        now = self.clock()
        state = task.state(now)
        x = task.extra
        head = {"task_id": task.id, "trace_id": x["trace_id"]}
        if state in ("failed", "expired", "cancelled"):
            code = task.script.error_code or ("task_expired" if state == "expired" else "api_error")
            message = task.script.error_message or (
                "The task has expired." if state == "expired" else
                "The request failed because the output video may be related to copyright restrictions.")
            return {"success": False, **head, "error": {"code": code, "message": message}}
        if self.data_shape == "ark":
            data = self._ark_data(task, state)
        else:
            data = {"task_id": x["cgt"], "status": "succeeded" if state == "succeeded" else "processing",
                    "video_url": task.video_url if state == "succeeded" else None,
                    "last_frame_url": task.last_frame_url if state == "succeeded" else None,
                    "model": x["model"]}
        return {"success": True, **head, "data": data}

    def _ark_data(self, task: SimTask, state: str) -> dict[str, Any]:
        x = task.extra
        out: dict[str, Any] = {"id": x["cgt"], "model": x["model"], "status": state}
        if state == "succeeded":
            out["content"] = {"video_url": task.video_url}
            if task.last_frame_url:
                out["content"]["last_frame_url"] = task.last_frame_url
        resolution = x["resolution"] if x["resolution"] != "4k" else "1080p"
        out.update(seed=x["seed"], resolution=x["resolution"], ratio=x["ratio"], framespersecond=24,
                   execution_expires_after=task.body.get("execution_expires_after", 172800))
        if x["frames"] is not None:
            out["frames"] = x["frames"]
        else:
            out["duration"] = x["duration"]
        if state == "succeeded":
            tokens = task.script.actual_cost
            if tokens is None:
                tokens = video_tokens(resolution, x["ratio"], x["duration"], x["frames"],
                                      new_series=x["family"].new_pixels)
            out["usage"] = {"completion_tokens": int(tokens), "total_tokens": int(tokens)}
        out["created_at"] = int(self.unix(task.created))
        out["updated_at"] = int(self.unix(task.changed_at(self.clock())))
        return out

    def record(self, task: SimTask) -> dict[str, Any]:
        now = self.clock()
        state = task.state(now)
        done = state not in ("queued", "running")
        rec: dict[str, Any] = {
            "id": task.id, "type": "videos", "trace_id": task.extra["trace_id"],
            "created_at": round(self.unix(task.created), 3),
            "api_id": "9f0e5c1a-seedance-videos", "application_id": "fake-application",
            "credential_id": "fake-credential", "user_id": "fake-user", "request": task.body,
        }
        if state != "queued":
            rec["started_at"] = round(self.unix(task.created + task.queued_for), 3)
        if done:
            rec["finished_at"] = round(self.unix(task.finished), 3)
            rec["elapsed"] = round(task.queued_for + task.running_for, 3)
            rec["response"] = self.envelope(task)
        elif self.pending_style == "processing":
            rec["response"] = self.envelope(task)
        return rec

    async def _retrieve(self, request: web.Request) -> web.Response:
        body = request[RECORD].json
        if not isinstance(body, dict):
            return self._error(bad("request body is invalid."))
        action = body.get("action", "retrieve")
        with self._lock:
            if action == "retrieve":
                task_id = body.get("id")
                task = self._tasks.get(task_id) if isinstance(task_id, str) else None
                if task is None:
                    if self.unknown_task == "empty":
                        return json_response({})
                    return self._error(AceError(404, "not_found", "The task was not found."))
                return json_response(self.record(task))
            if action == "retrieve_batch":
                ids = body.get("ids")
                if not isinstance(ids, list):
                    return self._error(bad("ids is invalid."))
                items = [self.record(self._tasks[i]) for i in ids if isinstance(i, str) and i in self._tasks]
                return json_response({"items": items, "count": len(items)})
        return self._error(bad("action is invalid."))

    def callback_payload(self, task: SimTask, state: str) -> Any | None:
        # AceData calls back once, with the final envelope (seed 000).
        return self.envelope(task) if state not in ("queued", "running") else None
