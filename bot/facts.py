"""Model facts for Discord options, asked of the catalog in one place.

The bot derives nothing itself: which models, resolutions, ratios and durations exist, and how a
seed is bounded, all come from `core.catalog` and `core.models`. When the catalog publishes a
`ModelSpec` API for "which durations, in what words" (issue 9), only this module changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from annotated_types import Le

from core import catalog
from core.catalog import ModelSpec
from core.errors import InvalidRequestError
from core.models import VideoRequest


def _seed_max() -> int:
    # VideoRequest's own field bound is the one source of the seed range.
    for rule in VideoRequest.model_fields["seed"].metadata:
        if isinstance(rule, Le):
            bound: int = rule.le  # type: ignore[assignment]
            return bound
    raise RuntimeError("VideoRequest.seed lost its upper bound")


SEED_MAX = _seed_max()


def spec(provider: str, model: str | None) -> ModelSpec | None:
    """The catalog's model (``None``: the provider's default), or None when it has no such model."""
    try:
        return catalog.get_model(provider, model)
    except InvalidRequestError:
        return None


def durations(spec: ModelSpec) -> list[int]:
    """Every length the model accepts, in seconds; -1 ("the model chooses") last where allowed."""
    if spec.durations:
        values = list(spec.durations)
    else:
        low, high = spec.duration_range or (spec.default_duration, spec.default_duration)
        values = list(range(low, high + 1))
    return values + ([-1] if spec.auto_duration else [])


def durations_text(spec: ModelSpec) -> str:
    """``4–12 s or auto``, ``5/10 s``."""
    if spec.durations:
        text = "/".join(str(d) for d in spec.durations) + " s"
    else:
        low, high = spec.duration_range or (spec.default_duration, spec.default_duration)
        text = f"{low}–{high} s"
    return text + (" or auto" if spec.auto_duration else "")


def longest_duration(specs: Iterable[ModelSpec]) -> int:
    """The upper bound of the Discord option; the catalog checks each model's own range."""
    return max((d for s in specs for d in durations(s)), default=15)


def ordered_union(groups: Sequence[tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    for group in groups:
        out += [item for item in group if item not in out]
    return out


def resolutions(specs: Sequence[ModelSpec]) -> list[str]:
    return ordered_union([s.resolutions for s in specs])


def ratios(specs: Sequence[ModelSpec]) -> list[str]:
    return ordered_union([s.ratios for s in specs])
