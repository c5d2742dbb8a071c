"""Look models up, refuse what a provider would reject, and fill in each model's defaults.

Every refusal is an `InvalidRequestError` whose one-line message names the field, the value and what
is allowed, and whose ``field`` is that field's name in `VideoRequest`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from core.errors import InvalidRequestError
from core.models import SEED_MAX, ImageRole, VideoRequest

from .data import CATALOG
from .spec import FRAME_MODES, ModelSpec

# §1.5 legacy inline flags. The provider reads them with loose validation, so they would slip past
# ours (e.g. "--dur 99"): refuse them and point to the real option.
_FLAG_OPTION = {
    "rs": "resolution", "resolution": "resolution", "rt": "ratio", "ratio": "ratio",
    "dur": "duration", "duration": "duration", "frames": "duration", "seed": "seed",
    "cf": "camera_fixed", "camerafixed": "camera_fixed", "camera_fixed": "camera_fixed",
    "wm": "watermark", "watermark": "watermark", "fps": "", "framespersecond": "",
}
_FLAG = re.compile(
    r"(?<!\S)--(" + "|".join(sorted(_FLAG_OPTION, key=len, reverse=True)) + r")(?=[\s=]|$)(?:[\s=]+([^\s-]\S*))?",
    re.IGNORECASE,
)
_MIX_MESSAGE = (
    "images: first/last frame content cannot be mixed with reference media content "
    "(reference images, videos or audio); send either frames or references"
)


def providers() -> tuple[str, ...]:
    """Every provider id the catalog knows, the built-in sandbox first."""
    return tuple(CATALOG)


def models(provider: str) -> tuple[ModelSpec, ...]:
    """The models ``provider`` serves, its default first.

    Raises:
        InvalidRequestError: unknown provider (field ``provider``).
    """
    specs = CATALOG.get(provider)
    if specs is None:
        raise InvalidRequestError(f"provider {provider!r} is unknown: choose {_choices(CATALOG)}", field="provider")
    return tuple(sorted(specs, key=lambda s: not s.newest_default))


def get_model(provider: str, model: str | None) -> ModelSpec:
    """The model's spec; ``None`` gives the provider's default model.

    Raises:
        InvalidRequestError: unknown provider, or a model the provider does not serve (field ``model``).
    """
    specs = models(provider)
    if model is None:
        return specs[0]
    for spec in specs:
        if model == spec.id or model in spec.aliases:
            return spec
    raise InvalidRequestError(
        f"model {model!r} is not offered by {provider}: choose {_choices(s.id for s in specs)}", field="model"
    )


def mode_of(request: VideoRequest) -> str:
    """The generation mode the request's media imply (the roles decide, as on Ark §1.4)."""
    if request.reference_images() or request.videos or request.audios:
        return "reference"
    if request.last_frame() is not None:
        return "first_last_frame"
    if request.first_frame() is not None:
        return "first_frame"
    return "text"


def validate(request: VideoRequest, provider: str) -> None:
    """Refuse, before anything is sent, whatever the provider would reject.

    Raises:
        InvalidRequestError: one line naming the field, the value and what is allowed.
    """
    spec = get_model(provider, request.model)
    mode = _check_media(request, spec)
    _check_prompt(request, spec, mode)
    _check_output(request, spec, mode)
    _check_options(request, spec, mode)


def resolve(request: VideoRequest, provider: str) -> VideoRequest:
    """Validate, then return a copy with the model id and every default the model has filled in.

    Options the model does not support are ``None`` in the result (``return_last_frame`` is False).

    Raises:
        InvalidRequestError: as `validate`.
    """
    validate(request, provider)
    spec = get_model(provider, request.model)
    mode = mode_of(request)
    draft = bool(request.draft) if spec.draft else None
    camera = spec.camera_fixed and mode != "reference"
    update: dict[str, Any] = {
        "model": spec.id,
        "resolution": request.resolution or ("480p" if draft else spec.default_resolution),
        "ratio": request.ratio or _default_ratio(spec, mode),
        "duration": spec.default_duration if request.duration is None else request.duration,
        "generate_audio": _pick(request.generate_audio, spec.default_audio) if spec.audio else None,
        "seed": request.seed if spec.seed else None,
        "camera_fixed": _pick(request.camera_fixed, False) if camera else None,
        "watermark": _pick(request.watermark, False) if spec.watermark else None,
        "return_last_frame": request.return_last_frame and spec.return_last_frame,
        "service_tier": (request.service_tier or "default") if spec.flex else None,
        "draft": draft,
        "execution_expires_after": request.execution_expires_after if spec.execution_expiry else None,
    }
    return request.model_copy(update=update)


# -- the checks ------------------------------------------------------------------------------


def _check_media(request: VideoRequest, spec: ModelSpec) -> str:
    images, where = request.images, _where(spec)
    firsts = sum(1 for i in images if i.role is ImageRole.FIRST_FRAME)
    lasts = sum(1 for i in images if i.role is ImageRole.LAST_FRAME)
    if firsts > 1 or lasts > 1:
        raise InvalidRequestError("images: give at most one first_frame and one last_frame", field="images")
    if lasts and not firsts:
        raise InvalidRequestError("images: a last_frame needs a first_frame as well", field="images")
    has_refs = bool(request.reference_images() or request.videos or request.audios)
    if (firsts or lasts) and has_refs:
        raise InvalidRequestError(_MIX_MESSAGE, field="images")
    mode = mode_of(request)
    if mode not in spec.modes:
        field = "images"
        if mode == "reference" and not request.reference_images():
            field = "videos" if request.videos else "audios"
        raise InvalidRequestError(
            f"{field}: {_MODE_NAMES[mode]} is not available for {where}: it supports "
            f"{_choices(_MODE_NAMES[m] for m in _MODE_NAMES if m in spec.modes)}",
            field=field,
        )
    _check_counts(request, spec, where)
    if len(images) > spec.max_images:  # all roles together (seedanceapi v1 takes one image)
        raise InvalidRequestError(f"images: {len(images)} given, {where} takes at most {spec.max_images}",
                                  field="images")
    for image in images:
        _check_url(image.url, "images", spec, data_kind="image")
    for video in request.videos:
        _check_url(video.url, "videos", spec, data_kind=None)  # §1.4: reference videos are web URLs only
    for audio in request.audios:
        _check_url(audio.url, "audios", spec, data_kind="audio")
    return mode


def _check_counts(request: VideoRequest, spec: ModelSpec, where: str) -> None:
    counts = (
        ("images", "reference images", len(request.reference_images()), spec.max_ref_images),
        ("videos", "reference videos", len(request.videos), spec.max_ref_videos),
        ("audios", "reference audio clips", len(request.audios), spec.max_ref_audios),
    )
    for field, what, count, limit in counts:
        if count > limit:
            allowed = f"at most {limit}" if limit else "none"
            raise InvalidRequestError(f"{field}: {count} {what} given, {where} takes {allowed}", field=field)
    if request.audios and not (request.reference_images() or request.videos) and not spec.audio_alone:
        raise InvalidRequestError(
            f"audios: reference audio cannot be used alone on {where}: add a reference image or video",
            field="audios",
        )


def _check_url(url: str, field: str, spec: ModelSpec, *, data_kind: str | None) -> None:
    shown = url if len(url) <= 60 else url[:57] + "..."
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.netloc:
        return
    if scheme == "asset" and spec.data_url_images and url[len("asset://"):]:
        return  # Ark asset-library ids (§1.4)
    if scheme == "data":
        if not spec.data_url_images:
            raise InvalidRequestError(
                f"{field}: data: URLs are not accepted by {spec.provider}: host the file and pass its https URL",
                field=field,
            )
        if data_kind and re.match(rf"data:{data_kind}/[a-z0-9.+-]+;base64,.", url):
            return
        allowed = f"data:{data_kind}/<lowercase format>;base64,..." if data_kind else "an https URL"
        raise InvalidRequestError(f"{field}: {shown!r} is not accepted: use {allowed}", field=field)
    allowed = "an https URL" + (" or a data: URL" if spec.data_url_images and data_kind == "image" else "")
    raise InvalidRequestError(f"{field}: {shown!r} is not a usable URL: use {allowed}", field=field)


def _check_prompt(request: VideoRequest, spec: ModelSpec, mode: str) -> None:
    prompt = request.prompt
    flag = _FLAG.search(prompt)
    if flag:
        option = _FLAG_OPTION[flag.group(1).lower()]
        fix = f"set {option} with its own option" if option else "remove it (output is always 24 fps)"
        raise InvalidRequestError(
            f"prompt carries the inline flag {flag.group(0).strip()!r}, which would bypass validation: {fix}",
            field="prompt",
        )
    if not prompt and (mode == "text" or spec.prompt_always_required):
        need = "every request" if spec.prompt_always_required else "text-to-video"
        raise InvalidRequestError(f"prompt is empty: {_where(spec)} needs a prompt for {need}", field="prompt")
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt has {len(prompt)} characters: {_where(spec)} takes at most {spec.max_prompt_chars}",
            field="prompt",
        )


def _check_output(request: VideoRequest, spec: ModelSpec, mode: str) -> None:
    res, ratio, where = request.resolution, request.ratio, _where(spec)
    if res is not None:
        allowed, why = spec.resolutions, ""
        if request.draft and spec.draft:
            allowed, why = ("480p",), " in draft mode"  # §1.3: draft output is 480p only
        elif mode == "reference" and spec.reference_resolutions:
            allowed, why = spec.reference_resolutions, " with reference images"
        if res not in allowed:
            raise InvalidRequestError(
                f"resolution {res} is not available for {spec.label}{why}: choose {_choices(allowed)}",
                field="resolution",
            )
    if ratio is not None:
        if ratio not in spec.ratios:
            raise InvalidRequestError(f"ratio {ratio} is not available for {where}: choose {_choices(spec.ratios)}",
                                      field="ratio")
        if ratio == "adaptive" and spec.adaptive_needs_frame and mode not in FRAME_MODES:
            raise InvalidRequestError(
                f"ratio adaptive needs a first frame on {spec.label}: choose "
                f"{_choices(r for r in spec.ratios if r != 'adaptive')}", field="ratio")
        if ratio != "adaptive" and spec.frames_need_adaptive and mode in FRAME_MODES:
            raise InvalidRequestError(
                f"ratio {ratio} is not allowed with a first frame on {spec.label}: use adaptive", field="ratio")
    if request.duration is not None and not spec.accepts_duration(request.duration):
        raise InvalidRequestError(
            f"duration {request.duration} is not allowed for {spec.id} on {spec.provider}: "
            f"choose {_durations_text(spec)}", field="duration")
    if request.generate_audio and not spec.audio:
        raise InvalidRequestError(
            f"generate_audio true is not available for {where}: it makes silent videos", field="generate_audio")


def _check_options(request: VideoRequest, spec: ModelSpec, mode: str) -> None:
    where = _where(spec)
    # VideoRequest's own validators check these ranges too, but a copy made with model_copy skips them.
    if request.seed is not None and not -1 <= request.seed <= SEED_MAX:
        raise InvalidRequestError(f"seed {request.seed} is out of range: choose -1 (random) to {SEED_MAX}",
                                  field="seed")
    expiry = request.execution_expires_after
    if expiry is not None and not 3600 <= expiry <= 259200:
        raise InvalidRequestError(f"execution_expires_after {expiry} is out of range: choose 3600–259200 seconds",
                                  field="execution_expires_after")
    if request.seed is not None and request.seed != -1 and not spec.seed:
        raise InvalidRequestError(f"seed {request.seed} cannot be set on {where}: leave it out", field="seed")
    if request.camera_fixed and not spec.camera_fixed:
        raise InvalidRequestError(f"camera_fixed true is not available for {where}", field="camera_fixed")
    if request.camera_fixed and mode == "reference":
        raise InvalidRequestError("camera_fixed true cannot be used with reference images", field="camera_fixed")
    if request.watermark and not spec.watermark:
        raise InvalidRequestError(f"watermark true is not available for {where}", field="watermark")
    if request.return_last_frame and not spec.return_last_frame:
        raise InvalidRequestError(f"return_last_frame true is not available for {where}", field="return_last_frame")
    if request.draft and not spec.draft:
        raise InvalidRequestError(f"draft true is not available for {where}: only Seedance 1.5 Pro drafts",
                                  field="draft")
    if request.draft and request.return_last_frame:
        raise InvalidRequestError("return_last_frame true cannot be used with draft: a draft has no last frame",
                                  field="return_last_frame")
    if request.service_tier == "flex":
        if not spec.flex:
            raise InvalidRequestError(f"service_tier flex is not available for {where}: it runs online only; "
                                      "choose default", field="service_tier")
        if request.draft:
            raise InvalidRequestError("service_tier flex cannot be used with draft: choose default",
                                      field="service_tier")
    if request.execution_expires_after is not None and not spec.execution_expiry:
        raise InvalidRequestError(
            f"execution_expires_after {request.execution_expires_after} cannot be set on {where}: leave it out",
            field="execution_expires_after")


# -- helpers ---------------------------------------------------------------------------------

_MODE_NAMES = {
    "text": "text-to-video",
    "first_frame": "a first frame",
    "first_last_frame": "a first and last frame",
    "reference": "reference media",
}


def _where(spec: ModelSpec) -> str:
    return f"{spec.label} on {spec.provider}"


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _default_ratio(spec: ModelSpec, mode: str) -> str:
    if mode in FRAME_MODES and spec.frame_ratio is not None:
        return spec.frame_ratio
    return spec.default_ratio


def _durations_text(spec: ModelSpec) -> str:
    if spec.durations is not None:
        text = _choices(str(d) for d in spec.durations) + " seconds"
    else:
        text = spec.duration_span("–") + " seconds"
    return text + (" or -1" if spec.auto_duration else "")


def _choices(items: Iterable[str]) -> str:
    values = list(items)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]
