"""Fake Ark v3 video-generation API: BytePlus ModelArk, Volcengine Ark and APIYI's passthrough.

Wire format per providers.md §1 (and §5 for APIYI): create / get / list / delete under
`{prefix}/contents/generations/tasks`, Ark error JSON `{"error":{code,message,param,type}}`, strict
validation of body fields (JSON null = absent, as the official SDK sends nulls), loose legacy
`--rs 720p`-style prompt parameters, GET shapes per state, DELETE semantics per §1.10 and a POST to
`callback_url` on every status change. The list (§1.9) takes repeated `filter.task_ids`, pages with
`page_num`/`page_size` (each in [1, 500]), shows one service tier and the last 7 days, and answers
`{"total", "items"}`; `max_page_size` makes it serve fewer items per page than asked, as a server
may. The APIYI flavour has no list and no delete.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import secrets
import string
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import web

from tests.fakes.base import RECORD, FakeProvider, Handler, SimTask, is_int, json_response

Flavour = Literal["byteplus", "volcengine", "apiyi"]

RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
ALL_RES = ("480p", "720p", "1080p")
IMAGE_FORMATS = ("jpeg", "jpg", "png", "webp", "bmp", "tiff", "gif", "heic", "heif")
AUDIO_FORMATS = ("wav", "mp3", "mpeg", "x-wav")
STATUSES = ("queued", "running", "cancelled", "succeeded", "failed", "expired")
SEVEN_DAYS = 7 * 86400.0

# Output pixel sizes, §1.6: 1.0 series and (1.5 pro, 2.x series); ratio order as RATIOS.
_PIXELS_V1 = {
    "480p": ((864, 480), (736, 544), (640, 640), (544, 736), (480, 864), (960, 416)),
    "720p": ((1248, 704), (1120, 832), (960, 960), (832, 1120), (704, 1248), (1504, 640)),
    "1080p": ((1920, 1088), (1664, 1248), (1440, 1440), (1248, 1664), (1088, 1920), (2176, 928)),
}
_PIXELS_V2 = {
    "480p": ((864, 496), (752, 560), (640, 640), (560, 752), (496, 864), (992, 432)),
    "720p": ((1280, 720), (1112, 834), (960, 960), (834, 1112), (720, 1280), (1470, 630)),
    "1080p": ((1920, 1080), (1664, 1248), (1440, 1440), (1248, 1664), (1080, 1920), (2206, 946)),
}


def pixels(resolution: str, ratio: str, *, new_series: bool = True) -> tuple[int, int]:
    table = _PIXELS_V2 if new_series else _PIXELS_V1
    return table[resolution][RATIOS.index(ratio)]


def video_tokens(resolution: str, ratio: str, seconds: int | None, frames: int | None,
                 *, new_series: bool = True) -> int:
    """Billing tokens = w × h × frame count / 1024, where a d-second clip has 24·d + 1 frames.

    The +1 frame (25+4n frame rule) is why the documented 720p 16:9 5 s sample is 108 900 tokens
    rather than 108 000.
    """
    width, height = pixels(resolution, ratio, new_series=new_series)
    count = frames if frames is not None else 24 * (seconds or 5) + 1
    return round(width * height * count / 1024)


@dataclass(frozen=True)
class Family:
    """What one model generation accepts (§1.3, §1.4, §8), kept deliberately small."""

    resolutions: tuple[str, ...] = ALL_RES
    default_resolution: str = "720p"
    durations: tuple[int, int] = (4, 15)
    auto_duration: bool = True  # duration -1 allowed
    default_duration: int = 5
    chosen_duration: int = 5  # what -1 resolves to unless scripted
    frames: bool = False
    audio: bool = True
    t2v: bool = True
    first_frame: bool = True
    first_last: bool = True
    ref_images: int = 9
    ref_videos: int = 3
    ref_audios: int = 3
    audio_alone: bool = False
    lite_refs: bool = False  # 1.0 lite i2v: 1–4 reference images, 16:9, no adaptive
    camera_fixed: bool = False
    draft: bool = False
    flex: bool = False
    priority: bool = True
    tools: bool = True
    new_pixels: bool = True
    adaptive_default: bool = True
    frames_need_adaptive: bool = False  # 2.5: first(/last) frame needs ratio adaptive
    extra_fields: tuple[str, ...] = ()


_V2 = Family()
_V1 = Family(default_resolution="1080p", durations=(2, 12), auto_duration=False, frames=True, audio=False,
             ref_images=0, ref_videos=0, ref_audios=0, camera_fixed=True, flex=True, priority=False,
             tools=False, new_pixels=False, adaptive_default=False)
FAMILIES: dict[str, Family] = {
    "2.0": _V2,
    "2.0-fast": replace(_V2, resolutions=("480p", "720p")),
    "2.0-mini": replace(_V2, resolutions=("480p", "720p")),
    "2.5": replace(_V2, durations=(4, 30), default_duration=-1, chosen_duration=10, ref_images=30,
                   ref_videos=10, ref_audios=10, audio_alone=True, frames_need_adaptive=True,
                   extra_fields=("omni_reference_task_type", "output_format")),
    "1.5-pro": replace(_V2, durations=(4, 12), ref_images=0, ref_videos=0, ref_audios=0,
                       camera_fixed=True, draft=True, flex=True, priority=False, tools=False),
    "1.0-pro": _V1,
    "1.0-pro-fast": replace(_V1, first_last=False),
    "1.0-lite-t2v": replace(_V1, default_resolution="720p", first_frame=False, first_last=False),
    "1.0-lite-i2v": replace(_V1, default_resolution="720p", t2v=False, lite_refs=True, ref_images=4),
}

MODELS: dict[str, dict[str, str]] = {
    "byteplus": {
        "dreamina-seedance-2-0-260128": "2.0",
        "dreamina-seedance-2-0-fast-260128": "2.0-fast",
        "seedance-1-5-pro-251215": "1.5-pro",
        "seedance-1-0-pro-250528": "1.0-pro",
        "seedance-1-0-pro-fast-251015": "1.0-pro-fast",
    },
    "volcengine": {
        "doubao-seedance-2-0-260128": "2.0",
        "doubao-seedance-2-0-fast-260128": "2.0-fast",
        "doubao-seedance-2-0-mini-260615": "2.0-mini",
        "doubao-seedance-2-5-260628": "2.5",
        "doubao-seedance-1-5-pro-251215": "1.5-pro",
        "doubao-seedance-1-0-pro-250528": "1.0-pro",
        "doubao-seedance-1-0-pro-fast-251015": "1.0-pro-fast",
        "doubao-seedance-1-0-lite-t2v-250428": "1.0-lite-t2v",
        "doubao-seedance-1-0-lite-i2v-250428": "1.0-lite-i2v",
    },
    "apiyi": {
        "doubao-seedance-2-0-260128": "2.0",
        "doubao-seedance-2-0-fast-260128": "2.0-fast",
        "doubao-seedance-2-0-mini-260615": "2.0-mini",
        "doubao-seedance-2-5-260628": "2.5",
    },
}
PREFIXES: dict[str, str] = {"byteplus": "/api/v3", "volcengine": "/api/v3", "apiyi": "/seedance/api/v3"}

BASE_FIELDS = frozenset({
    "model", "content", "callback_url", "return_last_frame", "service_tier", "execution_expires_after",
    "generate_audio", "draft", "safety_identifier", "priority", "tools", "resolution", "ratio",
    "duration", "frames", "seed", "camera_fixed", "watermark",
})
MIX_MESSAGE = ("The parameter `content` specified in the request is not valid: first/last frame content "
               "cannot be mixed with reference media content.")
_LEGACY = {"rs": "resolution", "resolution": "resolution", "rt": "ratio", "ratio": "ratio",
           "dur": "duration", "duration": "duration", "seed": "seed", "cf": "camera_fixed",
           "camerafixed": "camera_fixed", "wm": "watermark", "watermark": "watermark", "frames": "frames"}
DEFAULT_FAILURE = ("OutputVideoSensitiveContentDetected.PolicyViolation",
                   "The request failed because the output video may be related to copyright restrictions.")


class ArkError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str = "", type_: str = "BadRequest"):
        super().__init__(message)
        self.status, self.code, self.message, self.param, self.type = status, code, message, param, type_


def invalid(param: str, detail: str) -> ArkError:
    return ArkError(400, "InvalidParameter",
                    f"The parameter `{param}` specified in the request is not valid: {detail}", param)


def missing(param: str) -> ArkError:
    return ArkError(400, "MissingParameter",
                    f"The request failed because it is missing one or multiple required parameters: "
                    f"`{param}`.", param)


def request_id() -> str:
    return f"02{int(time.time() * 1000)}{secrets.token_hex(16)}"


# --- content[] -----------------------------------------------------------------------------------


@dataclass
class Inputs:
    text: str | None = None
    frames: list[tuple[str | None, str]] = field(default_factory=list)  # (explicit role, url)
    ref_images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    audios: list[str] = field(default_factory=list)
    draft_task: str | None = None

    @property
    def has_media(self) -> bool:
        return bool(self.frames or self.ref_images or self.videos or self.audios)


def _check_url(url: str, kind: str) -> str | None:
    """None when `url` is acceptable for a media item of `kind`, else the reason."""
    if re.match(r"^https?://[^/\s]+", url) or re.match(r"^asset://\S+$", url):
        return None
    if not url.startswith("data:"):
        return f"the {kind} url must be an http(s) URL, a base64 data URL or an asset:// ID"
    if kind == "video":
        return "reference_video must be provided as a web url"
    match = re.match(r"^data:(image|audio)/([A-Za-z0-9.+-]+);base64,(.*)$", url, re.S)
    if not match or match.group(1) != kind:
        return f"the {kind} data URL must look like data:{kind}/<format>;base64,<data>"
    fmt = match.group(2)
    if fmt != fmt.lower():
        return f"the {kind} format in the data URL must be lowercase"
    if fmt not in (IMAGE_FORMATS if kind == "image" else AUDIO_FORMATS):
        return f"unsupported {kind} format {fmt}"
    try:
        base64.b64decode(match.group(3), validate=True)
    except binascii.Error:
        return f"the {kind} data URL is not valid base64"
    return None


def _media_url(item: dict[str, Any], i: int, key: str, kind: str) -> str:
    obj = item.get(key)
    if obj is None:
        raise missing(f"content[{i}].{key}")
    if not isinstance(obj, dict):
        raise invalid(f"content[{i}].{key}", f"{key} must be an object like {{\"url\": \"...\"}}, not a "
                      f"{type(obj).__name__}")
    url = obj.get("url")
    if url is None:
        raise missing(f"content[{i}].{key}.url")
    if not isinstance(url, str) or not url:
        raise invalid(f"content[{i}].{key}.url", "url must be a non-empty string")
    reason = _check_url(url, kind)
    if reason:
        raise invalid(f"content[{i}].{key}.url", reason)
    return url


def parse_content(content: Any) -> Inputs:
    if not isinstance(content, list) or not content:
        raise invalid("content", "content must be a non-empty array")
    inputs = Inputs()
    for i, raw in enumerate(content):
        if not isinstance(raw, dict):
            raise invalid(f"content[{i}]", "each content item must be an object")
        item = {k: v for k, v in raw.items() if v is not None}
        kind, role = item.get("type"), item.get("role")
        if kind is None:
            raise missing(f"content[{i}].type")
        if kind == "text":
            if not isinstance(item.get("text"), str):
                raise invalid(f"content[{i}].text", "text must be a string")
            if inputs.text is not None:
                raise invalid("content", "only one text item is allowed")
            inputs.text = item["text"]
        elif kind == "image_url":
            url = _media_url(item, i, "image_url", "image")
            if role not in (None, "first_frame", "last_frame", "reference_image"):
                raise invalid(f"content[{i}].role", f"role {role!r} is not valid for an image")
            if role == "reference_image":
                inputs.ref_images.append(url)
            else:
                inputs.frames.append((role, url))
        elif kind in ("video_url", "audio_url"):
            media = "video" if kind == "video_url" else "audio"
            url = _media_url(item, i, kind, media)
            if role is None:
                raise missing(f"content[{i}].role")
            if role != f"reference_{media}":
                raise invalid(f"content[{i}].role", f"role of a {kind} item must be reference_{media}")
            (inputs.videos if media == "video" else inputs.audios).append(url)
        elif kind == "draft_task":
            draft = item.get("draft_task")
            if not isinstance(draft, dict) or not isinstance(draft.get("id"), str):
                raise invalid(f"content[{i}].draft_task", "draft_task must be an object with an id")
            inputs.draft_task = draft["id"]
        else:
            raise invalid(f"content[{i}].type", f"unknown content type {kind!r}")
    return inputs


def check_mode(fam: Family, model: str, inputs: Inputs) -> None:
    """The mode rules of §1.4: which combinations of content items the model accepts."""
    refs = inputs.ref_images or inputs.videos or inputs.audios
    if inputs.draft_task is not None:
        if not fam.draft:
            raise invalid("content", f"draft_task is not supported by model {model}")
        if inputs.has_media or inputs.text is not None:
            raise invalid("content", "a draft_task item cannot be combined with other content")
        return
    if inputs.frames and refs:
        raise ArkError(400, "InvalidParameter", MIX_MESSAGE, "content")
    roles = [role for role, _ in inputs.frames]
    if roles.count("last_frame") > 1 or len(roles) - roles.count("last_frame") > 1:
        raise invalid("content", "at most one first frame and one last frame image are allowed")
    if "last_frame" in roles:
        if len(roles) != 2:
            raise invalid("content", "a last_frame image needs a first_frame image")
        if roles[0] != "first_frame" and roles[1] != "first_frame":
            raise invalid("content", "role is required for first and last frame images "
                          "(first_frame and last_frame)")
        if not fam.first_last:
            raise invalid("content", f"first and last frame mode is not supported by model {model}")
    elif roles and not fam.first_frame:
        raise invalid("content", f"image-to-video is not supported by model {model}")
    if inputs.ref_images:
        if fam.ref_images == 0:
            raise invalid("content", f"reference images are not supported by model {model}")
        if len(inputs.ref_images) > fam.ref_images:
            raise invalid("content", f"at most {fam.ref_images} reference images are allowed")
    for kind, items, limit in (("video", inputs.videos, fam.ref_videos), ("audio", inputs.audios, fam.ref_audios)):
        if items and limit == 0:
            raise invalid("content", f"reference {kind} is not supported by model {model}")
        if len(items) > limit:
            raise invalid("content", f"at most {limit} reference {kind}s are allowed")
    if inputs.audios and not (inputs.ref_images or inputs.videos) and not fam.audio_alone:
        raise invalid("content", "reference audio cannot be used alone: add at least one reference "
                      "image or reference video")
    if not inputs.has_media:
        if inputs.text is None:
            raise missing("content")
        if not fam.t2v:
            raise invalid("content", f"model {model} needs an image (text-to-video is not supported)")


# --- top-level fields ----------------------------------------------------------------------------


def _get(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    ok = is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise invalid(key, f"{key} must be of type {'integer' if kind is int else kind.__name__}")
    return value


def resolve_params(fam: Family, model: str, body: dict[str, Any], inputs: Inputs) -> dict[str, Any]:
    """Validate the top-level fields strictly and return the effective parameters."""
    lite_ref = fam.lite_refs and bool(inputs.ref_images)
    image_mode = bool(inputs.frames or inputs.ref_images or inputs.videos)
    draft = _get(body, "draft", bool, False)
    if draft and not fam.draft:
        raise invalid("draft", f"draft is not supported by model {model}")
    resolution = _get(body, "resolution", str, "480p" if draft else fam.default_resolution)
    if resolution not in fam.resolutions or (lite_ref and resolution == "1080p"):
        raise invalid("resolution", f"resolution {resolution} is not supported by model {model}")
    if draft and resolution != "480p":
        raise invalid("resolution", "draft mode only supports 480p")
    if fam.adaptive_default:
        default_ratio = "adaptive"
    else:
        default_ratio = "adaptive" if image_mode and not lite_ref else "16:9"
    ratio = _get(body, "ratio", str, default_ratio)
    if ratio not in (*RATIOS, "adaptive"):
        raise invalid("ratio", f"ratio {ratio} is not supported")
    if ratio == "adaptive" and (lite_ref or (not fam.adaptive_default and not image_mode)):
        raise invalid("ratio", f"ratio adaptive is not supported for this mode of model {model}")
    if fam.frames_need_adaptive and inputs.frames and ratio != "adaptive":
        raise invalid("ratio", "first and last frame generation requires ratio adaptive")
    frames = _get(body, "frames", int, None)
    duration = _get(body, "duration", int, fam.default_duration)
    if frames is not None:
        if not fam.frames:
            raise invalid("frames", f"frames is not supported by model {model}")
        if not 29 <= frames <= 289 or (frames - 25) % 4:
            raise invalid("frames", "frames must be in [29, 289] and of the form 25+4n")
    low, high = fam.durations
    if not (low <= duration <= high or (duration == -1 and fam.auto_duration)):
        allowed = f"[{low}, {high}]" + (" or -1" if fam.auto_duration else "")
        raise invalid("duration", f"duration {duration} is not in {allowed} for model {model}")
    seed = _get(body, "seed", int, -1)
    if not -1 <= seed <= 2**32 - 1:
        raise invalid("seed", "seed must be in [-1, 4294967295]")
    camera_fixed = _get(body, "camera_fixed", bool, False)
    if camera_fixed and (not fam.camera_fixed or lite_ref):
        raise invalid("camera_fixed", f"camera_fixed is not supported by model {model} in this mode")
    return_last_frame = _get(body, "return_last_frame", bool, False)
    if return_last_frame and draft:
        raise invalid("return_last_frame", "return_last_frame is not supported in draft mode")
    tier = _get(body, "service_tier", str, "default")
    if tier not in ("default", "flex") or (tier == "flex" and (not fam.flex or draft)):
        raise invalid("service_tier", f"service_tier {tier} is not supported by model {model} here")
    expires = _get(body, "execution_expires_after", int, 172800)
    if not 3600 <= expires <= 259200:
        raise invalid("execution_expires_after", "execution_expires_after must be in [3600, 259200]")
    priority = _get(body, "priority", int, None)
    if priority is not None and (not fam.priority or not 0 <= priority <= 9 or tier == "flex"):
        raise invalid("priority", "priority must be in [0, 9] and is only supported by Seedance 2.0 online")
    safety = _get(body, "safety_identifier", str, None)
    if safety is not None and len(safety) > 64:
        raise invalid("safety_identifier", "safety_identifier must be at most 64 characters")
    callback = _get(body, "callback_url", str, None)
    if callback is not None and not re.match(r"^https?://\S+$", callback):
        raise invalid("callback_url", "callback_url must be an http(s) URL")
    tools = _get(body, "tools", list, None)
    if tools is not None and (not fam.tools or not all(
            isinstance(t, dict) and t.get("type") == "web_search" for t in tools)):
        raise invalid("tools", 'tools must be [{"type": "web_search"}] on a model that supports it')
    generate_audio = _get(body, "generate_audio", bool, fam.audio) and fam.audio
    for name, allowed_values in (("omni_reference_task_type", ("auto", "reference", "edit", "extend")),
                                 ("output_format", ("mp4", "mov"))):
        value = _get(body, name, str, None)
        if value is not None and (name not in fam.extra_fields or value not in allowed_values):
            raise invalid(name, f"{name} {value} is not supported by model {model}")
    return {
        "resolution": resolution, "ratio": ratio, "duration": duration, "frames": frames, "seed": seed,
        "camera_fixed": camera_fixed, "watermark": _get(body, "watermark", bool, False),
        "generate_audio": generate_audio, "draft": draft, "return_last_frame": return_last_frame,
        "service_tier": tier, "execution_expires_after": expires, "priority": priority,
        "safety_identifier": safety, "callback_url": callback,
    }


def legacy_params(text: str | None) -> dict[str, Any]:
    """`--rs 720p --dur 5 --cf false` style parameters at the end of the prompt (§1.5)."""
    found: dict[str, Any] = {}
    for key, raw in re.findall(r"--(\w+)\s+(\S+)", text or ""):
        name = _LEGACY.get(key.lower())
        if name is None:
            continue
        value: Any = raw
        if name in ("duration", "seed", "frames"):
            try:
                value = int(raw)
            except ValueError:
                continue
        elif name in ("camera_fixed", "watermark"):
            if raw.lower() not in ("true", "false"):
                continue
            value = raw.lower() == "true"
        found[name] = value
    return found


# --- the server ----------------------------------------------------------------------------------


class FakeArk(FakeProvider):
    """Ark v3 tasks API. `flavour` picks host prefix, model IDs and (APIYI) the missing routes."""

    provider = "ark"

    def __init__(self, flavour: Flavour = "byteplus", *, models: dict[str, str] | None = None,
                 gzip_quirk: bool = False, max_page_size: int = 500, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_page_size = max_page_size
        if flavour not in PREFIXES:
            raise ValueError(f"unknown Ark flavour {flavour!r}")
        self.flavour = flavour
        # APIYI: a client that does not send `Accept-Encoding: identity` gets plain JSON labelled
        # gzip (Python requests then fails to decode it, per APIYI's docs).
        self.gzip_quirk = gzip_quirk
        self.provider = self.name = flavour
        self.prefix = PREFIXES[flavour]
        self.models = {**MODELS[flavour], **(models or {})}  # model id -> family key

    # --- routes ----------------------------------------------------------------------------------

    def _middlewares(self) -> list[Any]:
        return [self._gzip_quirk_mw, *super()._middlewares()]

    @web.middleware
    async def _gzip_quirk_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        wants_identity = request.headers.get("Accept-Encoding", "").strip().lower() == "identity"
        if self.gzip_quirk and not wants_identity and isinstance(response, web.Response) \
                and "Content-Encoding" not in response.headers:
            response.headers["Content-Encoding"] = "gzip"
        return response

    def _routes(self, app: web.Application) -> None:
        tasks = f"{self.prefix}/contents/generations/tasks"
        app.router.add_post(tasks, self._submit, name="submit")
        app.router.add_get(tasks + "/{id}", self._get, name="get", allow_head=False)
        if self.flavour != "apiyi":  # APIYI offers neither list nor cancel/delete (§5)
            app.router.add_get(tasks, self._list, name="list", allow_head=False)
            app.router.add_delete(tasks + "/{id}", self._delete, name="cancel")

    def _reply(self, request: web.Request, payload: Any, status: int = 200) -> web.Response:
        headers = {"X-Request-Id": request_id()}
        if "X-Client-Request-Id" in request.headers:
            headers["X-Client-Request-Id"] = request.headers["X-Client-Request-Id"]
        return json_response(payload, status, headers)

    def _error(self, exc: ArkError) -> web.Response:
        body = {"error": {"code": exc.code, "message": f"{exc.message} Request id: {request_id()}",
                          "param": exc.param, "type": exc.type}}
        return json_response(body, exc.status)

    def auth_error(self, *, missing: bool) -> web.Response:
        return self._error(ArkError(401, "AuthenticationError",
                                    "The API key or AK/SK in the request is missing or invalid.", "",
                                    "Unauthorized"))

    def error_response(self, status: int) -> web.Response:
        code, msg, kind = {
            400: ("InvalidParameter", "The request is not valid.", "BadRequest"),
            401: ("AuthenticationError", "The API key in the request is missing or invalid.", "Unauthorized"),
            403: ("AccessDenied", "You do not have access to the requested resource.", "Forbidden"),
            404: ("NotFound", "The specified resource is not found.", "NotFound"),
            429: ("RateLimitExceeded.EndpointRPMExceeded", "The request has exceeded the RPM rate limit "
                  "of the endpoint. Please try again later.", "TooManyRequests"),
            500: ("InternalServiceError", "The service encountered an unexpected internal error.",
                  "InternalServerError"),
            503: ("ServerOverloaded", "The service is currently overloaded. Please try again later.",
                  "ServiceUnavailable"),
        }.get(status, (f"HTTP{status}", "The request failed.", "InternalServerError"))
        return self._error(ArkError(status, code, msg, "", kind))

    # --- create ----------------------------------------------------------------------------------

    def _family(self, model: Any) -> tuple[str, Family]:
        if not isinstance(model, str):
            raise invalid("model", "model must be a string")
        if model.startswith("ep-"):
            # Endpoint IDs stand for the flavour's standard 2.0 model.
            return next(m for m, f in self.models.items() if f == "2.0"), FAMILIES["2.0"]
        if model not in self.models:
            if self.flavour == "apiyi":  # APIYI's gateway answers before Ark sees the model [I]
                raise ArkError(503, "model_not_found", f"no available channel for this model {model} "
                               "(该模型无可用渠道)", "", "new_api_error")
            raise ArkError(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does "
                           "not exist or you do not have access to it.", "model", "NotFound")
        return model, FAMILIES[self.models[model]]

    def validate(self, raw: Any) -> tuple[str, Family, Inputs, dict[str, Any]]:
        """Check a create body; return (model id, family, inputs, effective params).

        Raises:
            ArkError: the body is refused (HTTP status, code, message and param as Ark sends them).
        """
        if not isinstance(raw, dict):
            raise ArkError(400, "InvalidParameter", "The request body must be a JSON object.", "")
        body = {k: v for k, v in raw.items() if v is not None}
        if "model" not in body:
            raise missing("model")
        model, fam = self._family(body["model"])
        if "content" not in body:
            raise missing("content")
        if self.strict_fields:
            unknown = sorted(set(body) - BASE_FIELDS - set(fam.extra_fields))
            if unknown:
                raise invalid(unknown[0], f"unknown parameter {unknown[0]}")
        inputs = parse_content(body["content"])
        check_mode(fam, model, inputs)
        # Legacy prompt parameters are loosely validated: each one is kept only if it would pass.
        for name, value in legacy_params(inputs.text).items():
            if name not in body:
                trial = {**body, name: value}
                try:
                    resolve_params(fam, model, trial, inputs)
                except ArkError:
                    continue
                body = trial
        return model, fam, inputs, resolve_params(fam, model, body, inputs)

    async def _submit(self, request: web.Request) -> web.Response:
        raw = request[RECORD].json
        try:
            model, fam, inputs, params = self.validate(raw)
        except ArkError as exc:
            return self._error(exc)
        with self._lock:
            task_id = self._new_id()
            task = self._new_task(task_id, raw, callback_url=params["callback_url"],
                                  max_total=float(params["execution_expires_after"]),
                                  want_last_frame=params["return_last_frame"])
            script = task.script
            duration = params["duration"]
            if duration == -1:
                duration = script.duration or fam.chosen_duration
            ratio = params["ratio"] if params["ratio"] != "adaptive" else (script.ratio or "16:9")
            task.extra.update(params, model=model, family=fam, draft_task_id=inputs.draft_task,
                              resolved_duration=duration, resolved_ratio=ratio,
                              seed=params["seed"] if params["seed"] != -1 else random.randrange(2**31))
        return self._reply(request, {"id": task_id})

    def _new_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.unix()))
        alphabet = string.ascii_lowercase + string.digits
        while True:
            task_id = f"cgt-{stamp}-{''.join(secrets.choice(alphabet) for _ in range(5))}"
            if task_id not in self._tasks:
                return task_id

    # --- read ------------------------------------------------------------------------------------

    def _visible(self, task_id: str, now: float) -> SimTask | None:
        task = self._tasks.get(task_id)
        if task is None or task.deleted or now - task.created >= SEVEN_DAYS:
            return None
        if task.cancelled_at is not None and now - task.cancelled_at >= 86400:
            return None  # cancelled tasks are removed after 24 h [C3 S8]
        return task

    def view(self, task: SimTask, now: float, state: str | None = None) -> dict[str, Any]:
        """The GET object (§1.8) of a task, optionally as it looked in an earlier `state`."""
        state = state or task.state(now)
        x = task.extra
        fam: Family = x["family"]
        changed = {"queued": task.created, "running": task.created + task.queued_for}.get(
            state, task.cancelled_at if state == "cancelled" and task.cancelled_at else task.finished)
        out: dict[str, Any] = {"id": task.id, "model": x["model"], "status": state}
        if state == "succeeded":
            content = {"video_url": task.video_url}
            if task.last_frame_url:
                content["last_frame_url"] = task.last_frame_url
            tokens = task.script.actual_cost
            if tokens is None:
                tokens = video_tokens(x["resolution"], x["resolved_ratio"], x["resolved_duration"],
                                      x["frames"], new_series=fam.new_pixels)
            out["content"] = content
            out["usage"] = {"completion_tokens": int(tokens), "total_tokens": int(tokens)}
        elif state in ("failed", "expired"):
            code, message = DEFAULT_FAILURE if state == "failed" else (
                "TaskExpired", "The task was not completed within execution_expires_after and has expired.")
            out["error"] = {"code": task.script.error_code or code,
                            "message": task.script.error_message or message}
        out["created_at"] = int(self.unix(task.created))
        out["updated_at"] = int(self.unix(changed))
        out["seed"] = x["seed"]
        out["resolution"] = x["resolution"]
        out["ratio"] = x["resolved_ratio"] if state == "succeeded" else x["ratio"]
        if x["frames"] is not None:
            out["frames"] = x["frames"]
        else:
            out["duration"] = x["resolved_duration"] if state == "succeeded" else x["duration"]
        out["framespersecond"] = 24
        out["generate_audio"] = x["generate_audio"]
        out["draft"] = x["draft"]
        if x["draft_task_id"]:
            out["draft_task_id"] = x["draft_task_id"]
        out["service_tier"] = x["service_tier"]
        out["execution_expires_after"] = x["execution_expires_after"]
        if fam.priority:
            out["priority"] = x["priority"] or 0
        if x["safety_identifier"] is not None:
            out["safety_identifier"] = x["safety_identifier"]
        return out

    def _not_found(self, task_id: str) -> web.Response:
        return self._error(ArkError(404, "NotFound.TaskId", f"The specified task {task_id} is not found.",
                                    "id", "NotFound"))

    async def _get(self, request: web.Request) -> web.Response:
        task_id = request.match_info["id"]
        now = self.clock()
        with self._lock:
            task = self._visible(task_id, now)
            payload = self.view(task, now) if task else None
        return self._reply(request, payload) if payload else self._not_found(task_id)

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page_num = self._page_param(query.get("page_num"), "page_num", 1)
            page_size = self._page_param(query.get("page_size"), "page_size", 10)
            status = query.get("filter.status")
            if status is not None and status not in STATUSES:
                raise invalid("filter.status", f"status {status} is not supported")
            tier = query.get("filter.service_tier", "default")
            if tier not in ("default", "flex"):
                raise invalid("filter.service_tier", f"service_tier {tier} is not supported")
        except ArkError as exc:
            return self._error(exc)
        ids = set(query.getall("filter.task_ids", []))
        model = query.get("filter.model")
        now = self.clock()
        with self._lock:
            # Newest first; reversing first keeps tasks created at the same instant newest-first too.
            tasks = [t for t in reversed(self._tasks.values()) if self._visible(t.id, now)]
            tasks = [t for t in tasks
                     if (not ids or t.id in ids) and (status is None or t.state(now) == status)
                     and (model is None or model in (t.extra["model"], t.body.get("model")))
                     and t.extra["service_tier"] == tier]
            tasks.sort(key=lambda t: t.created, reverse=True)
            page_size = min(page_size, self.max_page_size)
            start = (page_num - 1) * page_size
            items = [self.view(t, now) for t in tasks[start:start + page_size]]
        return self._reply(request, {"total": len(tasks), "items": items})

    @staticmethod
    def _page_param(raw: str | None, name: str, default: int) -> int:
        if raw is None:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise invalid(name, f"{name} must be an integer in [1, 500]")
        return int(raw)

    # --- delete ----------------------------------------------------------------------------------

    async def _delete(self, request: web.Request) -> web.Response:
        task_id = request.match_info["id"]
        now = self.clock()
        with self._changed:
            task = self._visible(task_id, now)
            if task is None:
                return self._not_found(task_id)
            state = task.state(now)
            if state == "queued":
                task.cancelled_at = now
            elif state in ("succeeded", "failed", "expired"):
                task.deleted = True
            else:
                return self._error(invalid("id", f"the task {task_id} cannot be cancelled or deleted "
                                           f"while its status is {state}"))
            self._changed.notify_all()
        return self._reply(request, {})

    def callback_payload(self, task: SimTask, state: str) -> Any | None:
        return self.view(task, self.clock(), state)
