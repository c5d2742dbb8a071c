"""Every model of every provider (providers.md §8, with §1.3, §1.13, §2.2, §3, §4, §5 and the seeds).

Each Ark-format model starts from its family's official limits (`_FAMILIES`) and a provider changes
only what it documents differently (ids, defaults, prompt length, prices).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.models import MAX_PROMPT_CHARS
from core.registry import PROVIDER_NAMES

from .spec import ModelSpec, PriceRule

_ARK_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
_ALL_RES = ("480p", "720p", "1080p")
_LOW_RES = ("480p", "720p")
_ALL_MODES = frozenset({"text", "first_frame", "first_last_frame", "reference"})
_FRAME_MODES = frozenset({"text", "first_frame", "first_last_frame"})
_TOKENS = PriceRule(unit="tokens")
_FREE = PriceRule(unit="tokens", usd_per_million_tokens=0.0)  # the sandbox never charges

# Official limits per family (§1.3, §1.4, §8). Ark accepts data: image URLs and asset:// ids.
_BASE_20 = ModelSpec(
    id="", provider="", label="Seedance 2.0", family="2.0",
    resolutions=_ALL_RES, default_resolution="720p", ratios=_ARK_RATIOS, default_ratio="adaptive",
    durations=None, duration_range=(4, 15), auto_duration=True, default_duration=5,
    audio=True, default_audio=True, modes=_ALL_MODES,
    max_ref_images=9, max_ref_videos=3, max_ref_audios=3, audio_alone=False,
    camera_fixed=False, watermark=True, seed=True, return_last_frame=True,
    flex=False, draft=False, execution_expiry=True, data_url_images=True,
    price=_TOKENS, max_images=9, max_prompt_chars=MAX_PROMPT_CHARS,
)
_BASE_10 = replace(
    _BASE_20, label="Seedance 1.0 Pro", family="1.0-pro", default_resolution="1080p",
    default_ratio="16:9", frame_ratio="adaptive", adaptive_needs_frame=True,
    duration_range=(2, 12), auto_duration=False, audio=False, default_audio=False, modes=_FRAME_MODES,
    max_ref_images=0, max_ref_videos=0, max_ref_audios=0, camera_fixed=True, flex=True, max_images=2,
)
_FAMILIES: dict[str, ModelSpec] = {
    "2.0": _BASE_20,
    "2.0-fast": replace(_BASE_20, label="Seedance 2.0 Fast", family="2.0-fast", resolutions=_LOW_RES),
    # Mini: §8 gives 4–15 without -1; 720p per APIYI and AceData.
    "2.0-mini": replace(_BASE_20, label="Seedance 2.0 Mini", family="2.0-mini", resolutions=_LOW_RES,
                        auto_duration=False),
    # 2.5 (§5): 4–30 s, default -1, 30/10/10 references, audio may be alone, frames need adaptive.
    "2.5": replace(_BASE_20, label="Seedance 2.5", family="2.5", duration_range=(4, 30), default_duration=-1,
                   max_ref_images=30, max_ref_videos=10, max_ref_audios=10, audio_alone=True, max_images=30,
                   frame_ratio="adaptive", frames_need_adaptive=True),
    "1.5-pro": replace(_BASE_20, label="Seedance 1.5 Pro", family="1.5-pro", duration_range=(4, 12),
                       modes=_FRAME_MODES, max_ref_images=0, max_ref_videos=0, max_ref_audios=0,
                       camera_fixed=True, flex=True, draft=True, max_images=2),
    "1.0-pro": _BASE_10,
    "1.0-pro-fast": replace(_BASE_10, label="Seedance 1.0 Pro Fast", family="1.0-pro-fast",
                            modes=frozenset({"text", "first_frame"}), max_images=1),
    "1.0-lite-t2v": replace(_BASE_10, label="Seedance 1.0 Lite (text-to-video)", family="1.0-lite-t2v",
                            default_resolution="720p", ratios=_ARK_RATIOS[:-1], frame_ratio=None,
                            modes=frozenset({"text"}), max_images=0),
    "1.0-lite-i2v": replace(_BASE_10, label="Seedance 1.0 Lite (image-to-video)", family="1.0-lite-i2v",
                            default_resolution="720p", modes=_ALL_MODES - {"text"}, max_ref_images=4,
                            max_images=4, reference_resolutions=_LOW_RES),
}


def _model(family: str, model_id: str, provider: str, **changes: Any) -> ModelSpec:
    return replace(_FAMILIES[family], id=model_id, provider=provider, **changes)


# BytePlus list prices in USD per million tokens, online tier; flex (offline) is half price (§1.3,
# applied in money.usd). Third-party material only [C3], so only the 1.x models carry one; the 2.0
# series, 1.0 Pro Fast, Volcengine (CNY) and the resellers publish no USD token price we could read:
# their USD is "price unknown".
_BP_15 = PriceRule(unit="tokens", usd_per_million_tokens=2.4, usd_per_million_tokens_silent=1.2)
_BP_10 = PriceRule(unit="tokens", usd_per_million_tokens=2.5)

_SANDBOX = (
    _model("2.0", "seedance-2-0", "sandbox", price=_FREE, newest_default=True),
    _model("2.0-fast", "seedance-2-0-fast", "sandbox", price=_FREE),
    _model("1.5-pro", "seedance-1-5-pro", "sandbox", price=_FREE),
    _model("1.0-pro", "seedance-1-0-pro", "sandbox", price=_FREE),
)

# §1.13: the lite models appear only on BytePlus's older page with unconfirmed ids, so they are left out.
_BYTEPLUS = (
    _model("2.0", "dreamina-seedance-2-0-260128", "byteplus", newest_default=True),
    _model("2.0-fast", "dreamina-seedance-2-0-fast-260128", "byteplus"),
    _model("1.5-pro", "seedance-1-5-pro-251215", "byteplus", price=_BP_15),
    _model("1.0-pro", "seedance-1-0-pro-250528", "byteplus", price=_BP_10),
    _model("1.0-pro-fast", "seedance-1-0-pro-fast-251015", "byteplus"),
)

# §8 lists 2.0 Mini and 2.5 only via resellers (AceData, APIYI), so Volcengine direct offers what §8 confirms.
_VOLCENGINE = (
    _model("2.0", "doubao-seedance-2-0-260128", "volcengine", newest_default=True),
    _model("2.0-fast", "doubao-seedance-2-0-fast-260128", "volcengine"),
    _model("1.5-pro", "doubao-seedance-1-5-pro-251215", "volcengine"),
    _model("1.0-pro", "doubao-seedance-1-0-pro-250528", "volcengine"),
    _model("1.0-pro-fast", "doubao-seedance-1-0-pro-fast-251015", "volcengine"),
    _model("1.0-lite-t2v", "doubao-seedance-1-0-lite-t2v-250428", "volcengine"),
    _model("1.0-lite-i2v", "doubao-seedance-1-0-lite-i2v-250428", "volcengine"),
)

# §5: APIYI passes Ark through; the 2.0 models ignore or reject frames, camera_fixed and service_tier.
_APIYI = (
    _model("2.0", "doubao-seedance-2-0-260128", "apiyi", newest_default=True),
    _model("2.0-fast", "doubao-seedance-2-0-fast-260128", "apiyi"),
    _model("2.0-mini", "doubao-seedance-2-0-mini-260615", "apiyi"),
    _model("2.5", "doubao-seedance-2-5-260628", "apiyi"),
)

# §2.2: AceData's own defaults are ratio 16:9 and generate_audio false; text items are ≤ 1000 chars.
# 2.5 keeps adaptive for first frames, which it requires.
_ACE = {"default_ratio": "16:9", "default_audio": False, "max_prompt_chars": 1000}
_ACEDATA = (
    _model("2.0", "doubao-seedance-2-0-260128", "acedata", newest_default=True, **_ACE),
    _model("2.0-fast", "doubao-seedance-2-0-fast-260128", "acedata", **_ACE),
    _model("2.0-mini", "doubao-seedance-2-0-mini-260615", "acedata", **_ACE),
    _model("2.5", "doubao-seedance-2-5-260628", "acedata", **_ACE),
    _model("1.5-pro", "doubao-seedance-1-5-pro-251215", "acedata", **_ACE),
    _model("1.0-pro", "doubao-seedance-1-0-pro-250528", "acedata", frame_ratio=None, **_ACE),
    _model("1.0-pro-fast", "doubao-seedance-1-0-pro-fast-251015", "acedata", frame_ratio=None, **_ACE),
    _model("1.0-lite-t2v", "doubao-seedance-1-0-lite-t2v-250428", "acedata", **_ACE),
    _model("1.0-lite-i2v", "doubao-seedance-1-0-lite-i2v-250428", "acedata", frame_ratio=None, **_ACE),
)


def _v1_credits() -> PriceRule:
    # §3.1 / seeds 001, 004: credits per (resolution, seconds, audio).
    silent = {"480p": (8, 14, 19), "720p": (14, 28, 42)}
    loud = {"480p": (14, 28, 38), "720p": (28, 56, 84)}
    table = tuple(
        (res, secs, audio, float(amounts[i]))
        for audio, rows in ((False, silent), (True, loud))
        for res, amounts in rows.items()
        for i, secs in enumerate((4, 8, 12))
    )
    # The old v1 page said 8 credits = $0.04; the site now sells credits at 1 USD = 100 (§3.2), and
    # one account's credits pay for v1 and v2 alike, so the current rate applies.
    return PriceRule(unit="credits", credit_table=table, usd_per_credit=0.01)


def _v2_table(per_five: float) -> PriceRule:
    table = tuple(("720p", secs, False, per_five * secs / 5) for secs in (5, 10, 15))
    return PriceRule(unit="credits", credit_table=table, usd_per_credit=0.01)


# seedanceapi.org (§3). v1 has no model field; we call it "seedance-1.5" (its docs' title).
# v2 documents only prompt, aspect_ratio, integer duration, model and 1–4 image URLs; no resolution,
# audio, seed or watermark field, so those are off (2.0/Fast are listed as 720p, an assumption).
_SEEDANCEAPI_V1 = ModelSpec(
    id="seedance-1.5", provider="seedanceapi", label="Seedance 1.5 (API v1)", family="v1",
    resolutions=_LOW_RES, default_resolution="720p",
    ratios=("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"), default_ratio="1:1",
    durations=(4, 8, 12), duration_range=None, auto_duration=False, default_duration=8,
    audio=True, default_audio=False, modes=frozenset({"text", "first_frame"}),
    max_ref_images=0, max_ref_videos=0, max_ref_audios=0, audio_alone=False,
    camera_fixed=True, watermark=False, seed=False, return_last_frame=False,
    flex=False, draft=False, execution_expiry=False, data_url_images=False,
    price=_v1_credits(), max_images=1, max_prompt_chars=2000, prompt_always_required=True,
)
_V2 = replace(
    _SEEDANCEAPI_V1, resolutions=("720p",), ratios=("16:9", "9:16", "4:3", "3:4"), default_ratio="16:9",
    durations=(5, 10, 15), default_duration=5, audio=False, camera_fixed=False,
    modes=frozenset({"text", "first_frame", "reference"}), max_ref_images=4, max_images=4,
)
_SEEDANCEAPI = (
    replace(_V2, id="seedance-2.0", label="Seedance 2.0 (API v2)", family="2.0", price=_v2_table(240),
            newest_default=True),
    replace(_V2, id="seedance-2.0-fast", label="Seedance 2.0 Fast (API v2)", family="2.0-fast",
            price=_v2_table(160)),
    # Mini: 4–15 s, 480p/720p, "broader aspect ratios", reference videos, billed per second.
    # llms.txt names it "seedance-2-mini"; "seedance-2.0-mini" is accepted as an alias.
    replace(_V2, id="seedance-2-mini", label="Seedance 2.0 Mini (API v2)", family="2.0-mini",
            resolutions=_LOW_RES, ratios=("16:9", "9:16", "4:3", "3:4", "1:1", "21:9"),
            durations=None, duration_range=(4, 15), max_ref_videos=3, aliases=("seedance-2.0-mini",),
            price=PriceRule(unit="credits", usd_per_credit=0.01, credits_per_second=(
                ("480p", False, 14.25), ("480p", True, 9.0), ("720p", False, 30.75), ("720p", True, 18.75)))),
    _SEEDANCEAPI_V1,
)

# APIMart (§4): resolution default 480p; 1080p for the standard and face models (clone page [C3]);
# duration 4–15 (the clone page and the model itself; APIMart's own page says 5–15); URLs only.
_MART = {
    "default_resolution": "480p", "default_ratio": "16:9", "auto_duration": False, "watermark": False,
    "execution_expiry": False, "data_url_images": False,
}
_APIMART = (
    _model("2.0", "doubao-seedance-2.0", "apimart", newest_default=True, **_MART),
    _model("2.0-fast", "doubao-seedance-2.0-fast", "apimart", **_MART),
    _model("2.0", "doubao-seedance-2.0-face", "apimart", label="Seedance 2.0 (real faces allowed)", **_MART),
    _model("2.0-fast", "doubao-seedance-2.0-fast-face", "apimart", label="Seedance 2.0 Fast (real faces allowed)",
           **_MART),
)

_MODELS: dict[str, tuple[ModelSpec, ...]] = {
    "sandbox": _SANDBOX,
    "byteplus": _BYTEPLUS,
    "volcengine": _VOLCENGINE,
    "apiyi": _APIYI,
    "acedata": _ACEDATA,
    "seedanceapi": _SEEDANCEAPI,
    "apimart": _APIMART,
}
# In the registry's order; a provider in the registry without models fails here, at import.
CATALOG: dict[str, tuple[ModelSpec, ...]] = {name: _MODELS[name] for name in PROVIDER_NAMES}
