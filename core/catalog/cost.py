"""Price estimates before paying: Ark tokens from the output pixel size, or a reseller's credits."""

from __future__ import annotations

from typing import Literal

from core.errors import InvalidRequestError
from core.models import VideoRequest

from .money import request_usd
from .rules import get_model, resolve
from .spec import FPS, ModelSpec, pixel_size

PRICING_PROMPT = "(no prompt: priced only)"


def estimate_cost(request: VideoRequest, provider: str) -> tuple[Literal["tokens", "credits"], float]:
    """What the request would cost, in the provider's unit.

    Tokens follow Ark's bill: ``w*h*(24*s+1)/1024``, since an s-second clip has 24*s+1 frames (the
    documented 720p 16:9 5 s task is billed 108,900). With ``duration -1`` the model picks the length
    and with ratio ``adaptive`` the shape, so the estimate takes the largest it may choose: an
    estimate guards a budget, so it errs high.
    Reference videos on 2.0 may also be billed for their input length, which is unknown here.

    Raises:
        InvalidRequestError: the request is invalid for the provider.
    """
    resolved = resolve(request, provider)
    spec = get_model(provider, resolved.model)
    resolution = resolved.resolution or spec.default_resolution
    seconds = billed_seconds(spec, resolved.duration)
    if spec.price.unit == "credits":
        amount = spec.price.credits(resolution, seconds, bool(resolved.generate_audio), bool(resolved.videos))
        if amount is None:
            raise InvalidRequestError(
                f"duration {seconds} at resolution {resolution} has no known price on {provider}", field="duration"
            )
        return "credits", amount
    ratio = resolved.ratio or spec.default_ratio
    ratios = [r for r in spec.ratios if r != "adaptive"] if ratio == "adaptive" else [ratio]
    pixels = max(w * h for w, h in (pixel_size(spec, resolution, r) for r in ratios or ["16:9"]))
    return "tokens", pixels * (FPS * seconds + 1) / 1024


def estimate_usd(request: VideoRequest, provider: str) -> float | None:
    """The estimate in US dollars where a price is published (flex is half price, §1.3), else None.

    Raises:
        InvalidRequestError: the request is invalid for the provider.
    """
    unit, amount = estimate_cost(request, provider)
    return request_usd(resolve(request, provider), provider, unit, amount)


def for_pricing(request: VideoRequest) -> VideoRequest:
    """The request with a stand-in prompt when it has none: a price never depends on the words.

    Text-to-video (and seedanceapi, always) needs a prompt to be *sent*, not to be priced, so an
    estimate without one must still answer. A prompt that is given is kept (and checked).
    """
    if request.prompt:
        return request
    return request.model_copy(update={"prompt": PRICING_PROMPT})


def billed_seconds(spec: ModelSpec, duration: int | None) -> int:
    """Seconds to bill for; ``-1`` (the model chooses) counts as the longest allowed."""
    if duration is None:
        duration = spec.default_duration
    if duration != -1:
        return duration
    if spec.duration_range is not None:
        return spec.duration_range[1]
    return max(spec.durations or (spec.default_duration,))
