"""Model facts for Discord options, asked of the catalog in one place.

The bot derives nothing itself: which models, resolutions, ratios and durations exist, and how a
seed is bounded, all come from `core.catalog` (`ModelSpec.duration_choices`, `resolutions_of`,
`ratios_of`, `duration_bounds_of`, `SEED_MAX`). This module only adds Discord's wording.
"""

from __future__ import annotations

from collections.abc import Sequence

from core import catalog
from core.catalog import SEED_MAX, ModelSpec
from core.errors import InvalidRequestError

__all__ = ["SEED_MAX", "durations", "durations_text", "longest_duration", "ratios", "resolutions", "spec"]


def spec(provider: str, model: str | None) -> ModelSpec | None:
    """The catalog's model (``None``: the provider's default), or None when it has no such model."""
    try:
        return catalog.get_model(provider, model)
    except InvalidRequestError:
        return None


def durations(spec: ModelSpec) -> list[int]:
    """Every length the model accepts, in seconds; -1 ("the model chooses") last where allowed."""
    return list(spec.duration_choices())


def durations_text(spec: ModelSpec) -> str:
    """``4–15 s or auto``, ``5/10 s``."""
    return spec.duration_span("–") + " s" + (" or auto" if spec.auto_duration else "")


def longest_duration(specs: Sequence[ModelSpec]) -> int:
    """The upper bound of the Discord option; the catalog checks each model's own range."""
    return catalog.duration_bounds_of(specs)[1]


def resolutions(specs: Sequence[ModelSpec]) -> list[str]:
    return list(catalog.resolutions_of(specs))


def ratios(specs: Sequence[ModelSpec]) -> list[str]:
    return list(catalog.ratios_of(specs))
