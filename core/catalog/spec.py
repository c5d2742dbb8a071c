"""What a model can do (`ModelSpec`), how it is priced (`PriceRule`), and its output pixel sizes.

Facts come from shared/docs/providers.md (section numbers below) and the seeds in shared/seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from core.errors import InvalidRequestError
from core.models import Resolution

Mode = Literal["text", "first_frame", "first_last_frame", "reference"]
MODES: tuple[Mode, ...] = ("text", "first_frame", "first_last_frame", "reference")
FRAME_MODES = frozenset({"first_frame", "first_last_frame"})

FPS = 24  # every Seedance output is 24 fps (§1.6)
TOKEN_FORMULA = "width × height × (24 × seconds + 1) / 1024"


@dataclass(frozen=True, kw_only=True)
class PriceRule:
    """How a model is billed.

    ``tokens``: Ark bills ``w*h*24*s/1024`` tokens (§1.6); the USD price per million tokens is set only
    where a source states it. ``credits``: a table keyed by (resolution, seconds, audio), or a
    per-second rate keyed by (resolution, with reference video) that is rounded up (seedanceapi).
    """

    unit: Literal["tokens", "credits"]
    usd_per_million_tokens: float | None = None
    usd_per_million_tokens_silent: float | None = None  # where a silent video is cheaper (1.5 pro)
    credit_table: tuple[tuple[str, int, bool, float], ...] = ()
    credits_per_second: tuple[tuple[str, bool, float], ...] = ()
    usd_per_credit: float | None = None

    def credits(self, resolution: str, seconds: int, audio: bool, with_video: bool) -> float | None:
        """Credits for one video, or None when the table has no entry for it."""
        for res, secs, with_audio, amount in self.credit_table:
            if (res, secs, with_audio) == (resolution, seconds, audio):
                return amount
        for res, video, rate in self.credits_per_second:
            if (res, video) == (resolution, with_video):
                return float(math.ceil(rate * seconds))
        return None

    def describe(self, *, flex: bool = False) -> str:
        """The rule in one line: the unit, how it is counted, and US dollars where published."""
        if self.unit == "tokens":
            if self.usd_per_million_tokens == 0:
                return "free (offline sandbox)"
            if self.usd_per_million_tokens is None:
                return f"tokens ({TOKEN_FORMULA}); USD price unknown"
            text = f"tokens ({TOKEN_FORMULA}) at ${self.usd_per_million_tokens:.2f} per million"
            if self.usd_per_million_tokens_silent is not None:
                text += f" with audio, ${self.usd_per_million_tokens_silent:.2f} silent"
            return text + ("; flex half price" if flex else "")
        parts: list[str] = []
        rows: dict[tuple[str, bool], list[str]] = {}
        for res, secs, audio, amount in self.credit_table:
            rows.setdefault((res, audio), []).append(f"{amount:g}/{secs}s")
        parts.extend(f"{res}{' with audio' if audio else ''} {', '.join(v)}" for (res, audio), v in rows.items())
        rates: dict[str, list[str]] = {}
        for res, video, per_second in self.credits_per_second:
            rates.setdefault(res, []).append(f"{per_second:g}/s" + (" with a reference video" if video else ""))
        parts.extend(f"{res} {' or '.join(v)}" for res, v in rates.items())
        rounding = " (rounded up)" if self.credits_per_second else ""
        dollars = "USD price unknown" if self.usd_per_credit is None else f"${self.usd_per_credit:g} per credit"
        return f"credits: {'; '.join(parts)}{rounding}; {dollars}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"unit": self.unit}
        if self.unit == "tokens":
            data["usd_per_million_tokens"] = self.usd_per_million_tokens
            if self.usd_per_million_tokens_silent is not None:
                data["usd_per_million_tokens_silent"] = self.usd_per_million_tokens_silent
        else:
            data["table"] = [
                {"resolution": r, "seconds": s, "audio": a, "credits": c} for r, s, a, c in self.credit_table
            ]
            data["per_second"] = [
                {"resolution": r, "with_reference_video": v, "credits_per_second": c}
                for r, v, c in self.credits_per_second
            ]
            data["usd_per_credit"] = self.usd_per_credit
        return data


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model as one provider serves it: its limits, defaults and price."""

    id: str  # the provider's model id as sent on the wire
    provider: str
    label: str
    family: str
    resolutions: tuple[str, ...]
    default_resolution: str
    ratios: tuple[str, ...]
    default_ratio: str
    durations: tuple[int, ...] | None  # explicit choices, or None when `duration_range` applies
    duration_range: tuple[int, int] | None
    auto_duration: bool  # -1 lets the model choose
    default_duration: int
    audio: bool
    default_audio: bool
    modes: frozenset[str]
    max_ref_images: int
    max_ref_videos: int
    max_ref_audios: int
    audio_alone: bool  # reference audio without any reference image or video
    camera_fixed: bool
    watermark: bool
    seed: bool
    return_last_frame: bool
    flex: bool
    draft: bool
    execution_expiry: bool
    data_url_images: bool  # also means Ark content items: data: audio and asset:// ids are accepted
    price: PriceRule
    newest_default: bool = False
    # Limits beyond the common set:
    max_images: int = 2  # all images together, whatever their role
    max_prompt_chars: int = 4000
    prompt_always_required: bool = False  # otherwise only text-to-video needs a prompt
    frame_ratio: str | None = None  # default ratio when a first frame is given (None: default_ratio)
    adaptive_needs_frame: bool = False  # 1.0 series: adaptive only for image-to-video
    frames_need_adaptive: bool = False  # 2.5: first(+last) frame needs ratio adaptive
    reference_resolutions: tuple[str, ...] | None = None  # 1.0 lite: no 1080p with reference images
    aliases: tuple[str, ...] = ()  # other names accepted for `id`

    # -- the questions every front end asks (issue 9: ask these, never re-derive them) ------------

    def duration_bounds(self) -> tuple[int, int]:
        """(shortest, longest) length in seconds, not counting -1: a JSON schema's or Discord option's bounds."""
        if self.durations:
            return min(self.durations), max(self.durations)
        return self.duration_range or (self.default_duration, self.default_duration)

    def duration_choices(self) -> tuple[int, ...]:
        """Every length the model accepts, in seconds, ascending; -1 ("the model chooses") last where allowed."""
        if self.durations:
            values = tuple(sorted(self.durations))
        else:
            low, high = self.duration_bounds()
            values = tuple(range(low, high + 1))
        return values + ((-1,) if self.auto_duration else ())

    def accepts_duration(self, seconds: int) -> bool:
        """Whether ``seconds`` is a length this model takes (-1 where it may choose)."""
        if seconds == -1:
            return self.auto_duration
        if self.durations is not None:
            return seconds in self.durations
        return self.duration_range is not None and self.duration_range[0] <= seconds <= self.duration_range[1]

    def duration_span(self, dash: str = "-") -> str:
        """The lengths in a few characters, without unit or -1: ``5/10/15``, ``4-15`` (``dash`` between bounds)."""
        if self.durations:
            return "/".join(str(d) for d in self.durations)
        low, high = self.duration_bounds()
        return f"{low}{dash}{high}"

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON description, for `seedance models --json` and the MCP model list."""
        return {
            "id": self.id,
            "provider": self.provider,
            "label": self.label,
            "family": self.family,
            "default": self.newest_default,
            "modes": [m for m in MODES if m in self.modes],
            "resolutions": list(self.resolutions),
            "default_resolution": self.default_resolution,
            "ratios": list(self.ratios),
            "default_ratio": self.default_ratio,
            "durations": list(self.durations) if self.durations else None,
            "duration_range": list(self.duration_range) if self.duration_range else None,
            "auto_duration": self.auto_duration,
            "default_duration": self.default_duration,
            "audio": self.audio,
            "default_audio": self.default_audio if self.audio else None,
            "max_images": self.max_images,
            "max_reference_images": self.max_ref_images,
            "max_reference_videos": self.max_ref_videos,
            "max_reference_audios": self.max_ref_audios,
            "audio_alone": self.audio_alone,
            "camera_fixed": self.camera_fixed,
            "watermark": self.watermark,
            "seed": self.seed,
            "return_last_frame": self.return_last_frame,
            "flex": self.flex,
            "draft": self.draft,
            "execution_expiry": self.execution_expiry,
            "data_url_images": self.data_url_images,
            "max_prompt_chars": self.max_prompt_chars,
            "price": {**self.price.to_json(), "rule": self.price.describe(flex=self.flex)},
        }


# Every resolution any model has, lowest first (the order of choices in every front end).
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)

# §1.6: (width, height) per resolution and ratio; 9:21 is the swap of 21:9.
_RATIO_ORDER = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
_PIXELS_10: dict[str, tuple[tuple[int, int], ...]] = {
    "480p": ((864, 480), (736, 544), (640, 640), (544, 736), (480, 864), (960, 416)),
    "720p": ((1248, 704), (1120, 832), (960, 960), (832, 1120), (704, 1248), (1504, 640)),
    "1080p": ((1920, 1088), (1664, 1248), (1440, 1440), (1248, 1664), (1088, 1920), (2176, 928)),
}
_PIXELS_20: dict[str, tuple[tuple[int, int], ...]] = {
    "480p": ((864, 496), (752, 560), (640, 640), (560, 752), (496, 864), (992, 432)),
    "720p": ((1280, 720), (1112, 834), (960, 960), (834, 1112), (720, 1280), (1470, 630)),
    "1080p": ((1920, 1080), (1664, 1248), (1440, 1440), (1248, 1664), (1080, 1920), (2206, 946)),
}


def pixel_size(spec: ModelSpec, resolution: str, ratio: str) -> tuple[int, int]:
    """Output (width, height) per §1.6; ``adaptive`` counts as 16:9, as an estimate.

    The 1.0 series has its own table; 1.5 pro, the 2.x series and the resellers' models use the 2.0 one.

    Raises:
        InvalidRequestError: the resolution or ratio is not in the table.
    """
    table = _PIXELS_10 if spec.family.startswith("1.0") else _PIXELS_20
    if resolution not in table:
        raise InvalidRequestError(f"resolution {resolution} has no pixel size: choose 480p, 720p or 1080p",
                                  field="resolution")
    swap = ratio == "9:21"
    key = "21:9" if swap else "16:9" if ratio == "adaptive" else ratio
    if key not in _RATIO_ORDER:
        raise InvalidRequestError(f"ratio {ratio} has no pixel size: choose one of {', '.join(_RATIO_ORDER)}",
                                  field="ratio")
    width, height = table[resolution][_RATIO_ORDER.index(key)]
    return (height, width) if swap else (width, height)
