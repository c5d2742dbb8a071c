"""The capability catalog: models per provider, validation, defaults and price estimates."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalog import (
    ModelSpec,
    charge,
    estimate_cost,
    estimate_usd,
    for_pricing,
    format_usd,
    get_model,
    models,
    pixel_size,
    price_text,
    providers,
    resolve,
    task_usd,
    usd,
    validate,
)
from core.errors import InvalidRequestError
from core.models import RATIOS, Cost, ImageInput, ImageRole, MediaInput, Task, TaskError, TaskStatus, VideoRequest

IMG = "https://example.com/cat.png"
DATA_IMG = "data:image/png;base64,iVBORw0KGgo="


def first() -> ImageInput:
    return ImageInput(url=IMG, role=ImageRole.FIRST_FRAME)


def last() -> ImageInput:
    return ImageInput(url="https://example.com/end.png", role=ImageRole.LAST_FRAME)


def refs(n: int) -> tuple[ImageInput, ...]:
    return tuple(ImageInput(url=f"https://example.com/r{i}.png", role=ImageRole.REFERENCE_IMAGE) for i in range(n))


def vids(n: int) -> tuple[MediaInput, ...]:
    return tuple(MediaInput(url=f"https://example.com/v{i}.mp4") for i in range(n))


def auds(n: int) -> tuple[MediaInput, ...]:
    return tuple(MediaInput(url=f"https://example.com/a{i}.mp3") for i in range(n))


def req(**fields: Any) -> VideoRequest:
    fields.setdefault("prompt", "A kitten yawns at the camera")
    return VideoRequest(**fields)


BP20, BP20F = "dreamina-seedance-2-0-260128", "dreamina-seedance-2-0-fast-260128"
BP15, BP10, BP10F = "seedance-1-5-pro-251215", "seedance-1-0-pro-250528", "seedance-1-0-pro-fast-251015"
V20F = "doubao-seedance-2-0-fast-260128"
LITE_T2V, LITE_I2V = "doubao-seedance-1-0-lite-t2v-250428", "doubao-seedance-1-0-lite-i2v-250428"
MINI, S25 = "doubao-seedance-2-0-mini-260615", "doubao-seedance-2-5-260628"


# -- the model lists ---------------------------------------------------------------------------


def test_providers_are_the_seven_configured_names() -> None:
    assert set(providers()) == {"sandbox", "byteplus", "volcengine", "apiyi", "acedata", "seedanceapi", "apimart"}


@pytest.mark.parametrize("provider", providers())
def test_every_provider_has_models_and_exactly_one_default_listed_first(provider: str) -> None:
    specs = models(provider)
    assert specs
    assert [s.newest_default for s in specs].count(True) == 1
    assert specs[0].newest_default
    assert len({s.id for s in specs}) == len(specs)
    assert all(s.provider == provider for s in specs)


@pytest.mark.parametrize(
    ("provider", "default"),
    [
        ("sandbox", "seedance-2-0"),
        ("byteplus", BP20),
        ("volcengine", "doubao-seedance-2-0-260128"),
        ("apiyi", "doubao-seedance-2-0-260128"),
        ("acedata", "doubao-seedance-2-0-260128"),
        ("seedanceapi", "seedance-2.0"),
        ("apimart", "doubao-seedance-2.0"),
    ],
)
def test_default_model_is_the_providers_newest_general_model(provider: str, default: str) -> None:
    assert get_model(provider, None).id == default
    assert resolve(req(), provider).model == default


@pytest.mark.parametrize(
    ("provider", "ids"),
    [
        ("byteplus", {BP20, BP20F, BP15, BP10, BP10F}),
        ("volcengine", {"doubao-seedance-2-0-260128", V20F, "doubao-seedance-1-5-pro-251215",
                        "doubao-seedance-1-0-pro-250528", "doubao-seedance-1-0-pro-fast-251015", LITE_T2V, LITE_I2V}),
        ("apiyi", {"doubao-seedance-2-0-260128", V20F, MINI, S25}),
        ("acedata", {"doubao-seedance-1-0-pro-250528", "doubao-seedance-1-0-pro-fast-251015",
                     "doubao-seedance-1-5-pro-251215", LITE_T2V, LITE_I2V, "doubao-seedance-2-0-260128", V20F,
                     MINI, S25}),
        ("seedanceapi", {"seedance-1.5", "seedance-2.0", "seedance-2.0-fast", "seedance-2-mini"}),
        ("apimart", {"doubao-seedance-2.0", "doubao-seedance-2.0-fast", "doubao-seedance-2.0-face",
                     "doubao-seedance-2.0-fast-face"}),
        ("sandbox", {"seedance-2-0", "seedance-2-0-fast", "seedance-1-5-pro", "seedance-1-0-pro"}),
    ],
)
def test_each_provider_offers_the_documented_model_ids(provider: str, ids: set[str]) -> None:
    assert {s.id for s in models(provider)} == ids


ALL_SPECS = [s for p in providers() for s in models(p)]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.provider}:{s.id}")
def test_every_spec_is_consistent_with_its_own_defaults(spec: ModelSpec) -> None:
    assert spec.default_resolution in spec.resolutions
    assert spec.default_ratio in spec.ratios
    assert spec.frame_ratio is None or spec.frame_ratio in spec.ratios
    assert set(spec.ratios) <= set(RATIOS)
    assert spec.modes <= {"text", "first_frame", "first_last_frame", "reference"} and spec.modes
    assert (spec.durations is None) != (spec.duration_range is None)
    if spec.default_duration == -1:
        assert spec.auto_duration
    elif spec.durations is not None:
        assert spec.default_duration in spec.durations
    else:
        assert spec.duration_range is not None
        assert spec.duration_range[0] <= spec.default_duration <= spec.duration_range[1]
    assert spec.audio or not spec.default_audio
    assert spec.price.unit == ("credits" if spec.provider == "seedanceapi" else "tokens")
    assert spec.to_json()["id"] == spec.id


def test_get_model_refuses_an_unknown_model_and_lists_the_allowed_ids() -> None:
    with pytest.raises(InvalidRequestError) as err:
        get_model("byteplus", "doubao-seedance-2-0-260128")  # a Volcengine id on BytePlus
    assert err.value.field == "model"
    assert "doubao-seedance-2-0-260128" in str(err.value)
    assert BP20 in str(err.value) and BP10F in str(err.value)


def test_unknown_provider_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidRequestError) as err:
        models("runway")
    assert err.value.field == "provider"
    assert "runway" in str(err.value) and "sandbox" in str(err.value)


def test_mini_on_seedanceapi_also_answers_to_its_dotted_name() -> None:
    assert get_model("seedanceapi", "seedance-2.0-mini").id == "seedance-2-mini"
    assert resolve(req(model="seedance-2.0-mini"), "seedanceapi").model == "seedance-2-mini"


# -- validation: each rule refuses one case and accepts its neighbour ----------------------------

REFUSED: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    # modes from the images' roles
    ("byteplus", {"images": (last(),)}, "images", ("last_frame", "first_frame")),
    ("byteplus", {"images": (first(), first())}, "images", ("first_frame",)),
    ("byteplus", {"model": BP10F, "images": (first(), last())}, "images", ("first and last frame", "Pro Fast")),
    ("volcengine", {"model": LITE_T2V, "images": (first(),)}, "images", ("a first frame", "text-to-video")),
    ("volcengine", {"model": LITE_I2V}, "images", ("text-to-video", "Lite")),
    ("byteplus", {"model": BP15, "videos": vids(1)}, "videos", ("reference media", "1.5 Pro")),
    # first/last frame cannot be mixed with reference media (Ark's documented error)
    ("byteplus", {"images": (first(), *refs(1))}, "images", ("cannot be mixed with reference media",)),
    ("byteplus", {"images": (first(),), "videos": vids(1)}, "images", ("cannot be mixed with reference media",)),
    # reference limits
    ("byteplus", {"images": refs(10)}, "images", ("10", "at most 9")),
    ("byteplus", {"videos": vids(4)}, "videos", ("4 reference videos", "at most 3")),
    ("byteplus", {"images": refs(1), "audios": auds(4)}, "audios", ("4 reference audio", "at most 3")),
    ("byteplus", {"audios": auds(1)}, "audios", ("alone", "reference image or video")),
    ("apiyi", {"model": S25, "images": refs(31)}, "images", ("31", "at most 30")),
    ("apiyi", {"model": S25, "videos": vids(11)}, "videos", ("11", "at most 10")),
    ("volcengine", {"model": LITE_I2V, "images": refs(5)}, "images", ("5", "at most 4")),
    ("volcengine", {"model": LITE_I2V, "images": refs(2), "resolution": "1080p"}, "resolution",
     ("1080p", "reference images", "480p or 720p")),
    ("volcengine", {"model": LITE_I2V, "images": refs(2), "ratio": "adaptive"}, "ratio", ("adaptive",)),
    # resolutions
    ("byteplus", {"model": BP20F, "resolution": "1080p"}, "resolution", ("1080p", "Seedance 2.0 Fast", "480p or 720p")),
    ("apiyi", {"model": MINI, "resolution": "1080p"}, "resolution", ("1080p", "Mini", "480p or 720p")),
    ("apimart", {"model": "doubao-seedance-2.0-fast", "resolution": "1080p"}, "resolution", ("1080p", "480p or 720p")),
    ("byteplus", {"model": BP15, "draft": True, "resolution": "720p"}, "resolution", ("720p", "draft", "480p")),
    ("seedanceapi", {"model": "seedance-1.5", "resolution": "1080p"}, "resolution", ("1080p", "480p or 720p")),
    # ratios
    ("byteplus", {"ratio": "9:21"}, "ratio", ("9:21", "adaptive")),
    ("byteplus", {"model": BP10, "ratio": "adaptive"}, "ratio", ("adaptive", "first frame", "16:9")),
    ("apiyi", {"model": S25, "images": (first(),), "ratio": "16:9"}, "ratio", ("16:9", "adaptive")),
    ("seedanceapi", {"model": "seedance-2.0", "ratio": "1:1"}, "ratio", ("1:1", "16:9")),
    # durations
    ("volcengine", {"model": V20F, "duration": 20}, "duration", ("20", V20F, "volcengine", "4–15 seconds or -1")),
    ("byteplus", {"model": BP10, "duration": 13}, "duration", ("13", "2–12 seconds")),
    ("byteplus", {"model": BP10, "duration": -1}, "duration", ("-1", "2–12 seconds")),
    ("byteplus", {"model": BP15, "duration": 3}, "duration", ("3", "4–12 seconds or -1")),
    ("byteplus", {"duration": 16}, "duration", ("16", "4–15 seconds or -1")),
    ("apiyi", {"model": S25, "duration": 31}, "duration", ("31", "4–30 seconds or -1")),
    ("apiyi", {"model": MINI, "duration": -1}, "duration", ("-1", "4–15 seconds")),
    ("seedanceapi", {"model": "seedance-1.5", "duration": 5}, "duration", ("5", "4, 8 or 12 seconds")),
    ("seedanceapi", {"model": "seedance-2.0", "duration": 7}, "duration", ("7", "5, 10 or 15 seconds")),
    ("seedanceapi", {"model": "seedance-2-mini", "duration": 16}, "duration", ("16", "4–15 seconds")),
    ("apimart", {"duration": 16}, "duration", ("16", "4–15 seconds")),
    ("apimart", {"duration": -1}, "duration", ("-1", "4–15 seconds")),
    # audio only where the model makes it
    ("byteplus", {"model": BP10, "generate_audio": True}, "generate_audio", ("true", "Seedance 1.0 Pro", "silent")),
    ("seedanceapi", {"model": "seedance-2.0", "generate_audio": True}, "generate_audio", ("true",)),
    # camera_fixed
    ("byteplus", {"camera_fixed": True}, "camera_fixed", ("true", "Seedance 2.0")),
    ("volcengine", {"model": LITE_I2V, "images": refs(1), "camera_fixed": True}, "camera_fixed",
     ("true", "reference images")),
    # service tier, draft, last frame
    ("byteplus", {"service_tier": "flex"}, "service_tier", ("flex", "online only", "default")),
    ("byteplus", {"model": BP15, "service_tier": "flex", "draft": True}, "service_tier", ("flex", "draft")),
    ("byteplus", {"draft": True}, "draft", ("true", "1.5 Pro")),
    ("byteplus", {"model": BP10, "draft": True}, "draft", ("true",)),
    ("byteplus", {"model": BP15, "draft": True, "return_last_frame": True}, "return_last_frame", ("true", "draft")),
    ("seedanceapi", {"model": "seedance-1.5", "return_last_frame": True}, "return_last_frame", ("true",)),
    # other options a provider has no field for
    ("seedanceapi", {"model": "seedance-1.5", "seed": 42}, "seed", ("42",)),
    ("seedanceapi", {"model": "seedance-1.5", "watermark": True}, "watermark", ("true",)),
    ("apimart", {"execution_expires_after": 3600}, "execution_expires_after", ("3600",)),
    # prompts
    ("byteplus", {"prompt": ""}, "prompt", ("empty", "text-to-video")),
    ("seedanceapi", {"model": "seedance-1.5", "prompt": "", "images": (first(),)}, "prompt",
     ("empty", "every request")),
    ("acedata", {"prompt": "x" * 1001}, "prompt", ("1001", "at most 1000")),
    ("seedanceapi", {"prompt": "x" * 2001}, "prompt", ("2001", "at most 2000")),
    ("apimart", {"prompt": "x" * 4001}, "prompt", ("4001", "at most 4000")),
    ("byteplus", {"prompt": "A cat --dur 99 --wm true"}, "prompt", ("--dur 99", "duration", "own option")),
    ("volcengine", {"prompt": "A cat --rs 1080p"}, "prompt", ("--rs 1080p", "resolution")),
    ("acedata", {"prompt": "A cat --RT=16:9"}, "prompt", ("--RT=16:9", "ratio")),
    ("sandbox", {"prompt": "A cat --cf true"}, "prompt", ("--cf true", "camera_fixed")),
    ("apiyi", {"prompt": "--fps 24 a cat"}, "prompt", ("--fps 24", "24 fps")),
    ("seedanceapi", {"prompt": "A cat --seed 11"}, "prompt", ("--seed 11", "seed")),
    # media URLs
    ("byteplus", {"videos": (MediaInput(url="data:video/mp4;base64,AAAA"),)}, "videos", ("data:video", "https URL")),
    ("apimart", {"images": (ImageInput(url=DATA_IMG),)}, "images", ("data:", "host the file", "https URL")),
    ("seedanceapi", {"images": (ImageInput(url=DATA_IMG),)}, "images", ("data:", "host the file")),
    ("byteplus", {"images": (ImageInput(url="ftp://example.com/cat.png"),)}, "images", ("ftp://", "https URL")),
    ("byteplus", {"images": (ImageInput(url="/home/me/cat.png"),)}, "images", ("/home/me/cat.png", "https URL")),
    ("byteplus", {"images": (ImageInput(url="data:image/PNG;base64,AAAA"),)}, "images", ("lowercase",)),
    ("apimart", {"images": (ImageInput(url="asset://asset-123"),)}, "images", ("asset://asset-123",)),
    ("seedanceapi", {"model": "seedance-1.5", "images": (first(), last())}, "images",
     ("a first and last frame", "text-to-video or a first frame")),
    ("seedanceapi", {"model": "seedance-1.5", "images": refs(1)}, "images", ("reference media",)),
    # the model itself
    ("volcengine", {"model": BP20}, "model", (BP20, "volcengine", "doubao-seedance-2-0-260128")),
]

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("byteplus", {"images": (first(),)}),
    ("byteplus", {"images": (first(), last())}),
    ("byteplus", {"model": BP10F, "images": (first(),)}),
    ("volcengine", {"model": LITE_T2V}),
    ("volcengine", {"model": LITE_I2V, "images": (first(), last())}),
    ("byteplus", {"model": BP15, "images": (first(), last())}),
    ("byteplus", {"images": refs(1), "videos": vids(1), "audios": auds(1)}),
    ("byteplus", {"images": refs(9)}),
    ("byteplus", {"videos": vids(3), "audios": auds(3)}),
    ("byteplus", {"prompt": "", "videos": vids(1)}),
    ("apiyi", {"model": S25, "images": refs(30), "videos": vids(10), "audios": auds(10)}),
    ("apiyi", {"model": S25, "audios": auds(1)}),  # 2.5: audio may be the only reference
    ("volcengine", {"model": LITE_I2V, "images": refs(4), "resolution": "720p", "ratio": "9:16"}),
    ("volcengine", {"model": LITE_I2V, "images": (first(),), "resolution": "1080p", "ratio": "adaptive"}),
    ("byteplus", {"resolution": "1080p"}),
    ("byteplus", {"model": BP20F, "resolution": "720p"}),
    ("apimart", {"resolution": "1080p"}),
    ("byteplus", {"model": BP15, "draft": True, "resolution": "480p"}),
    ("seedanceapi", {"model": "seedance-1.5", "ratio": "9:21"}),
    ("byteplus", {"model": BP10, "images": (first(),), "ratio": "adaptive"}),
    ("apiyi", {"model": S25, "images": (first(),), "ratio": "adaptive"}),
    ("apiyi", {"model": S25, "ratio": "21:9"}),
    ("volcengine", {"model": V20F, "duration": 15}),
    ("volcengine", {"model": V20F, "duration": -1}),
    ("byteplus", {"model": BP10, "duration": 2}),
    ("byteplus", {"model": BP10, "duration": 12}),
    ("byteplus", {"model": BP15, "duration": -1}),
    ("byteplus", {"model": BP15, "duration": 12}),
    ("apiyi", {"model": S25, "duration": 30}),
    ("apiyi", {"model": MINI, "duration": 4}),
    ("seedanceapi", {"model": "seedance-1.5", "duration": 12}),
    ("seedanceapi", {"model": "seedance-2.0", "duration": 10}),
    ("seedanceapi", {"model": "seedance-2-mini", "duration": 7}),
    ("apimart", {"duration": 4}),
    ("apimart", {"duration": 15}),
    ("byteplus", {"model": BP10, "generate_audio": False}),
    ("byteplus", {"model": BP15, "generate_audio": True}),
    ("byteplus", {"model": BP15, "camera_fixed": True}),
    ("volcengine", {"model": LITE_I2V, "images": (first(),), "camera_fixed": True}),
    ("seedanceapi", {"model": "seedance-1.5", "camera_fixed": True}),
    ("byteplus", {"camera_fixed": False}),
    ("byteplus", {"service_tier": "default"}),
    ("byteplus", {"model": BP15, "service_tier": "flex"}),
    ("byteplus", {"model": BP10, "service_tier": "flex"}),
    ("byteplus", {"model": BP15, "draft": True}),
    ("byteplus", {"model": BP15, "return_last_frame": True}),
    ("byteplus", {"seed": 4294967295}),
    ("byteplus", {"seed": -1, "watermark": True, "execution_expires_after": 259200}),
    ("seedanceapi", {"model": "seedance-1.5", "seed": -1}),
    ("byteplus", {"prompt": "", "images": (first(),)}),
    ("apimart", {"prompt": "", "images": (first(),)}),
    ("acedata", {"prompt": "x" * 1000}),
    ("seedanceapi", {"prompt": "x" * 2000}),
    ("apimart", {"prompt": "x" * 4000}),
    ("byteplus", {"prompt": "A fencer lunges -- then the durable crowd roars, --no-flag-here"}),
    ("byteplus", {"prompt": "A slow dolly-in, wide shot, em—dash and a --durable jacket"}),
    ("byteplus", {"images": (ImageInput(url=DATA_IMG),)}),
    ("acedata", {"images": (ImageInput(url=DATA_IMG),)}),
    ("byteplus", {"images": (ImageInput(url="asset://asset-20260101-abc"),)}),
    ("byteplus", {"images": refs(1), "audios": (MediaInput(url="data:audio/mp3;base64,AAAA"),)}),
    ("apimart", {"images": (ImageInput(url="http://example.com/cat.png"),)}),
    ("seedanceapi", {"model": "seedance-1.5", "images": (first(),)}),
    ("seedanceapi", {"model": "seedance-2.0", "images": refs(4)}),
]


def _case_id(case: tuple[Any, ...]) -> str:
    return f"{case[0]}:{','.join(f'{k}={v!r}'[:30] for k, v in case[1].items())}"


@pytest.mark.parametrize(("provider", "fields", "field", "words"), REFUSED, ids=[_case_id(c) for c in REFUSED])
def test_validate_refuses_what_the_provider_would_reject(
    provider: str, fields: dict[str, Any], field: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate(req(**fields), provider)
    message = str(err.value)
    assert err.value.field == field
    assert "\n" not in message
    assert field in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(("provider", "fields"), ACCEPTED, ids=[_case_id(c) for c in ACCEPTED])
def test_validate_accepts_what_the_provider_allows(provider: str, fields: dict[str, Any]) -> None:
    request = req(**fields)
    validate(request, provider)
    resolved = resolve(request, provider)
    validate(resolved, provider)
    assert resolve(resolved, provider) == resolved


@pytest.mark.parametrize(
    ("update", "field", "value"),
    [({"seed": 2**32}, "seed", "4294967296"), ({"seed": -2}, "seed", "-2"),
     ({"execution_expires_after": 345600}, "execution_expires_after", "345600")],
)
def test_validate_checks_ranges_even_on_an_unvalidated_copy(update: dict[str, Any], field: str, value: str) -> None:
    request = req().model_copy(update=update)  # model_copy skips pydantic's own range checks
    with pytest.raises(InvalidRequestError) as err:
        validate(request, "byteplus")
    assert err.value.field == field
    assert value in str(err.value) and "out of range" in str(err.value)


def test_messages_match_the_documented_examples() -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate(req(model=V20F, duration=20), "volcengine")
    assert str(err.value) == (
        "duration 20 is not allowed for doubao-seedance-2-0-fast-260128 on volcengine: choose 4–15 seconds or -1"
    )
    with pytest.raises(InvalidRequestError) as err:
        validate(req(model=BP20F, resolution="1080p"), "byteplus")
    assert str(err.value) == "resolution 1080p is not available for Seedance 2.0 Fast: choose 480p or 720p"


# -- resolve fills defaults and drops what the model does not take --------------------------------

DEFAULTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("byteplus", {}, {"model": BP20, "resolution": "720p", "ratio": "adaptive", "duration": 5,
                      "generate_audio": True, "camera_fixed": None, "service_tier": None, "draft": None,
                      "watermark": False}),
    ("byteplus", {"model": BP10}, {"resolution": "1080p", "ratio": "16:9", "generate_audio": None,
                                   "camera_fixed": False, "service_tier": "default", "draft": None}),
    ("byteplus", {"model": BP10, "images": (first(),)}, {"ratio": "adaptive"}),
    ("byteplus", {"model": BP15}, {"resolution": "720p", "ratio": "adaptive", "draft": False,
                                   "generate_audio": True, "service_tier": "default"}),
    ("byteplus", {"model": BP15, "draft": True}, {"resolution": "480p", "draft": True}),
    ("byteplus", {"model": BP10, "generate_audio": False}, {"generate_audio": None}),
    ("byteplus", {"service_tier": "default"}, {"service_tier": None}),
    ("volcengine", {"model": LITE_I2V, "images": refs(2)}, {"resolution": "720p", "ratio": "16:9",
                                                           "camera_fixed": None}),
    ("volcengine", {"model": LITE_I2V, "images": (first(),)}, {"ratio": "adaptive", "camera_fixed": False}),
    ("apiyi", {"model": S25}, {"duration": -1, "ratio": "adaptive"}),
    ("acedata", {}, {"ratio": "16:9", "generate_audio": False}),
    ("acedata", {"model": S25, "images": (first(),)}, {"ratio": "adaptive"}),
    ("seedanceapi", {"model": "seedance-1.5"}, {"duration": 8, "ratio": "1:1", "resolution": "720p",
                                                "generate_audio": False, "seed": None, "watermark": None}),
    ("seedanceapi", {"model": "seedance-1.5", "seed": -1}, {"seed": None}),
    ("seedanceapi", {}, {"model": "seedance-2.0", "duration": 5, "generate_audio": None}),
    ("apimart", {}, {"model": "doubao-seedance-2.0", "resolution": "480p", "ratio": "16:9", "duration": 5,
                     "execution_expires_after": None}),
    ("sandbox", {}, {"model": "seedance-2-0", "resolution": "720p", "generate_audio": True}),
]


@pytest.mark.parametrize(("provider", "fields", "expected"), DEFAULTS, ids=[_case_id(c) for c in DEFAULTS])
def test_resolve_fills_each_models_defaults(provider: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    resolved = resolve(req(**fields), provider)
    for name, value in expected.items():
        assert getattr(resolved, name) == value, name


def test_resolve_keeps_what_the_user_chose() -> None:
    chosen = req(model=BP15, resolution="1080p", ratio="9:16", duration=-1, generate_audio=False, seed=7,
                 camera_fixed=True, watermark=True, return_last_frame=True, service_tier="flex",
                 execution_expires_after=3600)
    resolved = resolve(chosen, "byteplus")
    assert resolved.model_dump(exclude={"draft"}) == chosen.model_dump(exclude={"draft"})
    assert resolved.draft is False


# -- sizes and prices ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "resolution", "ratio", "size"),
    [
        ("byteplus", BP20, "720p", "16:9", (1280, 720)),
        ("byteplus", BP20, "720p", "4:3", (1112, 834)),
        ("byteplus", BP20, "1080p", "21:9", (2206, 946)),
        ("byteplus", BP15, "480p", "9:16", (496, 864)),
        ("byteplus", BP10, "1080p", "16:9", (1920, 1088)),
        ("byteplus", BP10, "480p", "21:9", (960, 416)),
        ("byteplus", BP20, "720p", "adaptive", (1280, 720)),
        ("seedanceapi", "seedance-1.5", "720p", "9:21", (630, 1470)),
        ("seedanceapi", "seedance-1.5", "480p", "1:1", (640, 640)),
        ("apimart", "doubao-seedance-2.0", "480p", "16:9", (864, 496)),
    ],
)
def test_pixel_size_follows_the_series_table(provider: str, model: str, resolution: str, ratio: str,
                                             size: tuple[int, int]) -> None:
    assert pixel_size(get_model(provider, model), resolution, ratio) == size


def test_pixel_size_refuses_an_unknown_ratio() -> None:
    with pytest.raises(InvalidRequestError) as err:
        pixel_size(get_model("byteplus", None), "720p", "5:4")
    assert err.value.field == "ratio"


def test_token_estimate_bills_every_frame_as_ark_does() -> None:
    # The §1.8 sample bills 108900 tokens for 720p 16:9 5 s: 121 frames (5 s at 24 fps plus one).
    assert estimate_cost(req(ratio="16:9", duration=5), "byteplus") == ("tokens", 108900.0)
    assert estimate_cost(req(ratio="4:3", duration=5), "volcengine") == ("tokens", 1112 * 834 * 121 / 1024)
    assert estimate_cost(req(model=BP10, duration=2), "byteplus") == ("tokens", 1920 * 1088 * 49 / 1024)


def test_an_adaptive_ratio_is_estimated_at_the_largest_shape_it_may_become() -> None:
    widest = max(w * h for w, h in [(1280, 720), (1112, 834), (960, 960), (834, 1112), (720, 1280), (1470, 630)])
    assert estimate_cost(req(ratio="adaptive", duration=5), "byteplus") == ("tokens", widest * 121 / 1024)


def test_auto_duration_is_estimated_at_the_longest_the_model_may_choose() -> None:
    assert estimate_cost(req(duration=-1, ratio="16:9"), "byteplus") == ("tokens", 1280 * 720 * (24 * 15 + 1) / 1024)
    assert estimate_cost(req(model=S25, ratio="16:9"), "apiyi") == ("tokens", 1280 * 720 * (24 * 30 + 1) / 1024)


@pytest.mark.parametrize(
    ("resolution", "duration", "audio", "credits"),
    [("480p", 4, False, 8), ("480p", 8, False, 14), ("480p", 12, False, 19), ("480p", 4, True, 14),
     ("480p", 12, True, 38), ("720p", 4, False, 14), ("720p", 8, True, 56), ("720p", 12, True, 84)],
)
def test_seedanceapi_v1_credits_follow_the_price_table(resolution: str, duration: int, audio: bool,
                                                       credits: int) -> None:
    request = req(model="seedance-1.5", resolution=resolution, duration=duration, generate_audio=audio)
    assert estimate_cost(request, "seedanceapi") == ("credits", credits)


@pytest.mark.parametrize(
    ("fields", "credits"),
    [
        ({"duration": 5}, 240),
        ({"duration": 15}, 720),
        ({"model": "seedance-2.0-fast", "duration": 10}, 320),
        ({"model": "seedance-2-mini", "resolution": "480p", "duration": 5}, math.ceil(14.25 * 5)),
        ({"model": "seedance-2-mini", "resolution": "720p", "duration": 7}, math.ceil(30.75 * 7)),
        ({"model": "seedance-2-mini", "resolution": "720p", "duration": 4, "videos": vids(1)}, 75),
        ({"model": "seedance-2-mini", "resolution": "480p", "duration": 4, "videos": vids(1)}, 36),
    ],
)
def test_seedanceapi_v2_credits(fields: dict[str, Any], credits: int) -> None:
    assert estimate_cost(req(**fields), "seedanceapi") == ("credits", credits)


def test_usd_estimate_uses_known_prices_and_halves_flex() -> None:
    online = estimate_usd(req(model=BP15, ratio="16:9", duration=5), "byteplus")
    assert online == pytest.approx(108900 * 2.4 / 1e6)
    silent_flex = estimate_usd(req(model=BP15, ratio="16:9", duration=5, generate_audio=False,
                                   service_tier="flex"), "byteplus")
    assert silent_flex == pytest.approx(108900 * 1.2 / 1e6 / 2)
    assert estimate_usd(req(), "byteplus") is None  # no 2.0 price in any provider's own words
    assert estimate_usd(req(), "sandbox") == 0.0
    assert estimate_usd(req(duration=10), "seedanceapi") == pytest.approx(4.8)
    v1 = req(model="seedance-1.5", resolution="720p", duration=8, generate_audio=False)
    assert estimate_usd(v1, "seedanceapi") == pytest.approx(0.28)  # 28 credits at 1 USD = 100 credits


def test_estimate_refuses_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError) as err:
        estimate_cost(req(model=BP20F, resolution="1080p"), "byteplus")
    assert err.value.field == "resolution"


# -- property: validation and resolution agree -----------------------------------------------------

_URLS = [IMG, IMG, IMG, DATA_IMG, "asset://asset-1", "ftp://x/y.png", "data:video/mp4;base64,AA", "relative.png",
         "data:audio/wav;base64,AA"]
_PROMPTS = ["A kitten yawns", "A kitten yawns", "", "x" * 1500, "x" * 3000, "wind --dur 99", "--rs 1080p", "a -- b"]


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Three draws in four take the usual branch; shrinking heads there too.
    return st.integers(0, 3).flatmap(lambda i: other if i == 3 else usual)


@st.composite
def provider_requests(draw: st.DrawFn) -> tuple[str, VideoRequest]:
    """A provider and a request for it, biased towards its own models and plain inputs so that both
    the refusing and the accepting paths are exercised often."""
    provider = draw(st.sampled_from(providers()))
    own = [s.id for s in models(provider)]
    model = draw(_mostly(st.sampled_from(own), st.sampled_from(["seedance-2.0-mini", "no-such-model"])))
    role = st.sampled_from(list(ImageRole))
    images = draw(_mostly(st.just([]), st.lists(st.builds(ImageInput, url=st.sampled_from(_URLS), role=role),
                                                max_size=4)))
    media = _mostly(st.just(()), st.lists(st.builds(MediaInput, url=st.sampled_from(_URLS)), max_size=4).map(tuple))
    maybe_bool = _mostly(st.none(), st.booleans())
    request = VideoRequest(
        prompt=draw(st.sampled_from(_PROMPTS)),
        model=model,
        resolution=draw(_mostly(st.none(), st.sampled_from(["480p", "720p", "1080p"]))),
        ratio=draw(_mostly(st.none(), st.sampled_from([*RATIOS, "5:4"]))),
        duration=draw(_mostly(st.none(), st.integers(-2, 32))),
        generate_audio=draw(maybe_bool),
        seed=draw(_mostly(st.none(), st.integers(-1, 2**32 - 1))),
        camera_fixed=draw(maybe_bool),
        watermark=draw(maybe_bool),
        return_last_frame=draw(_mostly(st.just(False), st.just(True))),
        service_tier=draw(_mostly(st.none(), st.sampled_from(["default", "flex"]))),
        draft=draw(maybe_bool),
        execution_expires_after=draw(_mostly(st.none(), st.integers(3600, 259200))),
        images=tuple(images),
        videos=draw(media),
        audios=draw(media),
    )
    return provider, request


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=provider_requests())
def test_validate_and_resolve_agree_for_any_request(case: tuple[str, VideoRequest]) -> None:
    provider, request = case
    try:
        validate(request, provider)
    except InvalidRequestError as err:
        assert err.field
        assert "\n" not in str(err)
        assert err.field in str(err)
        return
    resolved = resolve(request, provider)
    validate(resolved, provider)
    assert resolve(resolved, provider) == resolved
    spec = get_model(provider, resolved.model)
    assert resolved.model == spec.id
    assert resolved.resolution in spec.resolutions and resolved.ratio in spec.ratios
    assert (resolved.generate_audio is None) == (not spec.audio)
    unit, amount = estimate_cost(request, provider)
    assert unit == spec.price.unit and amount > 0


# -- money: US dollars, price rules, charged or not --------------------------------------------------


def test_usd_turns_each_unit_into_dollars_only_where_a_price_is_published() -> None:
    assert usd("byteplus", BP15, "tokens", 1_000_000) == pytest.approx(2.4)
    assert usd("byteplus", BP15, "tokens", 1_000_000, generate_audio=False) == pytest.approx(1.2)
    assert usd("byteplus", BP15, "tokens", 1_000_000, "flex") == pytest.approx(1.2)  # §1.3: flex is 50 %
    assert usd("byteplus", BP10, "tokens", 2_000_000, "default") == pytest.approx(5.0)
    assert usd("seedanceapi", "seedance-2.0", "credits", 240) == pytest.approx(2.4)
    assert usd("seedanceapi", "seedance-1.5", "credits", 28) == pytest.approx(0.28)
    assert usd("sandbox", "seedance-2-0", "tokens", 108900) == 0.0
    # Nobody published these: unknown, never a guess.
    assert usd("byteplus", BP20, "tokens", 108900) is None
    assert usd("volcengine", LITE_T2V, "tokens", 108900) is None
    assert usd("apimart", "doubao-seedance-2.0", "tokens", 108900) is None
    # Not the model's unit, an unknown model or provider, or no amount: None, no exception.
    assert usd("seedanceapi", "seedance-2.0", "tokens", 240) is None
    assert usd("byteplus", "sora-2", "tokens", 1) is None and usd("runway", "x", "tokens", 1) is None
    assert usd("byteplus", BP15, "tokens", None) is None


def test_every_model_has_a_price_rule_that_names_its_unit_and_dollars() -> None:
    for provider in providers():
        for spec in models(provider):
            text = price_text(spec)
            assert text == spec.to_json()["price"]["rule"]
            assert "\n" not in text
            price = spec.price
            if price.unit == "credits":
                assert text.startswith("credits:")
                assert ("$0.01 per credit" in text) == (price.usd_per_credit == 0.01)
            elif price.usd_per_million_tokens == 0:
                assert text.startswith("free")
            else:
                assert text.startswith("tokens (width × height")
                assert ("USD price unknown" in text) == (price.usd_per_million_tokens is None)
    bp15 = price_text(get_model("byteplus", BP15))
    assert "$2.40 per million with audio, $1.20 silent; flex half price" in bp15
    assert "720p 240/5s, 480/10s, 720/15s; $0.01 per credit" in price_text(get_model("seedanceapi", None))
    assert "(rounded up)" in price_text(get_model("seedanceapi", "seedance-2-mini"))


def test_a_price_needs_no_prompt() -> None:
    empty = VideoRequest(resolution="720p", duration=5, ratio="16:9")
    with pytest.raises(InvalidRequestError):
        estimate_cost(empty, "byteplus")  # a text-to-video request cannot be *sent* without words
    assert estimate_cost(for_pricing(empty), "byteplus") == ("tokens", 108900.0)
    assert estimate_cost(for_pricing(VideoRequest(duration=10)), "seedanceapi") == ("credits", 480.0)
    kept = req(prompt="wind --dur 99")
    assert for_pricing(kept) is kept  # a prompt that is given is still checked
    with pytest.raises(InvalidRequestError):
        estimate_cost(for_pricing(kept), "byteplus")


def _task(provider: str = "byteplus", status: TaskStatus = TaskStatus.FAILED, code: str | None = "x",
          remote_id: str | None = "cgt-1", **cost: Any) -> Task:
    return Task(
        id="t1", user="u", provider=provider, model=get_model(provider, None).id, request=req(), status=status,
        remote_id=remote_id, error=TaskError(code=code, message="m") if code else None,
        cost=Cost(unit=get_model(provider, None).price.unit, **cost),
        finished_at=datetime.now(UTC) if status.is_final else None,
    )


@pytest.mark.parametrize(
    ("task", "state", "words"),
    [
        (_task(status=TaskStatus.QUEUED, code=None), None, None),
        (_task(status=TaskStatus.SUCCEEDED, code=None), "charged", "charged"),
        (_task(code="submit_uncertain", remote_id=None), "may_have_been_charged", "check your dashboard"),
        (_task(code="not_created", remote_id=None), "not_charged", "not charged"),
        (_task(code="not_submitted", remote_id=None), "not_charged", "not charged"),
        (_task(code="InvalidParameter", remote_id=None), "not_charged", "never started"),  # refused at submit
        (_task(status=TaskStatus.CANCELLED, code="cancelled"), "not_charged", "cancelled before it ran"),
        (_task(code="OutputVideoSensitiveContentDetected"), "may_have_been_charged", "does not document"),
        (_task(status=TaskStatus.EXPIRED, code="expired"), "may_have_been_charged", "check your dashboard"),
        (_task("seedanceapi", code="generation_failed"), "not_charged", "failed generations cost no credits"),
        (_task("sandbox", code="OutputVideoSensitiveContentDetected"), "not_charged", "never charges"),
    ],
)
def test_charge_says_plainly_whether_a_task_was_billed(task: Task, state: str | None, words: str | None) -> None:
    result = charge(task)
    if state is None:
        assert result is None
    else:
        assert result is not None and result.state == state and words and words in result.text


def test_task_usd_prices_the_stored_amounts_unless_the_task_has_dollars() -> None:
    task = _task("seedanceapi", status=TaskStatus.SUCCEEDED, code=None, estimated=240.0, actual=480.0)
    assert task_usd(task) == (pytest.approx(2.4), pytest.approx(4.8))
    stored = task.model_copy(update={"cost": task.cost.model_copy(update={"usd_estimated": 1.0})})
    assert task_usd(stored)[0] == 1.0
    assert task_usd(_task(estimated=108900.0)) == (None, None)  # byteplus 2.0: no published price
    assert format_usd(None) == "price unknown" and format_usd(0.0) == "free"
    assert format_usd(2.4) == "$2.40" and format_usd(0.0042) == "$0.0042"
