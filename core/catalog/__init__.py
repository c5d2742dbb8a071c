"""The capability catalog: every model each provider serves, its limits, defaults and price.

Pure functions, no I/O. `validate` refuses what a provider would reject before anything is sent;
`resolve` also fills each model's defaults; `estimate_cost` prices a request in tokens or credits;
`usd` turns an amount into US dollars where a price is published; `charge` says whether a task
that did not succeed was billed.
"""

from __future__ import annotations

from .cost import PRICING_PROMPT, billed_seconds, estimate_cost, estimate_usd, for_pricing
from .money import Charge, charge, format_amount, format_usd, price_text, request_usd, task_usd, usd
from .offer import RATIOS, RESOLUTIONS, SEED_MAX, duration_bounds_of, ratios_of, resolutions_of
from .rules import get_model, mode_of, models, providers, resolve, validate
from .spec import MODES, ModelSpec, PriceRule, pixel_size

__all__ = [
    "MODES",
    "PRICING_PROMPT",
    "RATIOS",
    "RESOLUTIONS",
    "SEED_MAX",
    "Charge",
    "ModelSpec",
    "PriceRule",
    "billed_seconds",
    "charge",
    "duration_bounds_of",
    "estimate_cost",
    "estimate_usd",
    "for_pricing",
    "format_amount",
    "format_usd",
    "get_model",
    "mode_of",
    "models",
    "pixel_size",
    "price_text",
    "ratios_of",
    "providers",
    "request_usd",
    "resolutions_of",
    "resolve",
    "task_usd",
    "usd",
    "validate",
]
