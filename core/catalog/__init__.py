"""The capability catalog: every model each provider serves, its limits, defaults and price.

Pure functions, no I/O. `validate` refuses what a provider would reject before anything is sent;
`resolve` also fills each model's defaults; `estimate_cost` prices a request in tokens or credits.
"""

from __future__ import annotations

from .cost import billed_seconds, estimate_cost, estimate_usd
from .rules import get_model, mode_of, models, providers, resolve, validate
from .spec import MODES, ModelSpec, PriceRule, pixel_size

__all__ = [
    "MODES",
    "ModelSpec",
    "PriceRule",
    "billed_seconds",
    "estimate_cost",
    "estimate_usd",
    "get_model",
    "mode_of",
    "models",
    "pixel_size",
    "providers",
    "resolve",
    "validate",
]
