"""What several models offer together: the choices and bounds of one option (a JSON schema, a Discord option).

Each model still checks its own limits on submit (a length one model takes may be too long for another).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.models import RATIOS, SEED_MAX

from .spec import RESOLUTIONS, ModelSpec

__all__ = ["RATIOS", "RESOLUTIONS", "SEED_MAX", "duration_bounds_of", "ratios_of", "resolutions_of"]

DEFAULT_DURATION_BOUNDS = (4, 15)  # when there is no model at all


def resolutions_of(specs: Iterable[ModelSpec]) -> tuple[str, ...]:
    """The resolutions any of ``specs`` has, lowest first."""
    offered = {r for s in specs for r in s.resolutions}
    return tuple(r for r in RESOLUTIONS if r in offered)


def ratios_of(specs: Iterable[ModelSpec]) -> tuple[str, ...]:
    """The ratios any of ``specs`` has, in the order of `core.models.RATIOS`."""
    offered = {r for s in specs for r in s.ratios}
    return tuple(r for r in RATIOS if r in offered)


def duration_bounds_of(specs: Iterable[ModelSpec]) -> tuple[int, int]:
    """(shortest, longest) length in seconds over ``specs``, not counting -1."""
    bounds = [s.duration_bounds() for s in specs]
    if not bounds:
        return DEFAULT_DURATION_BOUNDS
    return min(low for low, _ in bounds), max(high for _, high in bounds)
