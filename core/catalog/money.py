"""Money: US dollars for an amount in a provider's unit, each model's price rule as text, and
whether a task that did not succeed was charged.

Only published prices are used (see data.py for each source); where nobody published one the
answer is None ("price unknown"), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import InvalidRequestError
from core.models import Task, TaskStatus, VideoRequest

from .rules import get_model
from .spec import ModelSpec

FLEX_DISCOUNT = 0.5  # §1.3: service_tier flex (offline) costs 50 % of the online price

# What each provider says about a task that it accepted and that then failed (or expired).
# None: the provider's documentation does not say, so the task may have been charged.
_FAILED_TASK_POLICY: dict[str, str | None] = {
    "sandbox": "the sandbox never charges",
    "seedanceapi": "seedanceapi.org: failed generations cost no credits",
}

_MAYBE_SENT = frozenset({"submit_uncertain"})


def usd(
    provider: str,
    model: str,
    unit: str,
    amount: float | None,
    service_tier: str | None = None,
    *,
    generate_audio: bool | None = None,
) -> float | None:
    """``amount`` (in the model's own unit) in US dollars, or None where no price is published.

    ``service_tier`` flex is billed at half price; ``generate_audio`` False picks a cheaper silent
    rate where one is published (None counts as with audio: an estimate errs high). An unknown
    provider or model, or a unit that is not the model's, also gives None.
    """
    if amount is None:
        return None
    try:
        price = get_model(provider, model).price
    except InvalidRequestError:
        return None
    if unit != price.unit:
        return None
    if unit == "credits":
        return None if price.usd_per_credit is None else amount * price.usd_per_credit
    rate = price.usd_per_million_tokens
    if generate_audio is False and price.usd_per_million_tokens_silent is not None:
        rate = price.usd_per_million_tokens_silent
    if rate is None:
        return None
    value = amount * rate / 1_000_000
    return value * FLEX_DISCOUNT if service_tier == "flex" else value


def request_usd(request: VideoRequest, provider: str, unit: str, amount: float) -> float | None:
    """`usd` for a resolved request (its model, tier and audio choice)."""
    return usd(provider, request.model or "", unit, amount, request.service_tier,
               generate_audio=request.generate_audio)


def task_usd(task: Task) -> tuple[float | None, float | None]:
    """(estimated, actual) in US dollars: what the task stores, else priced from its amounts."""
    cost, req = task.cost, task.request
    estimated, actual = cost.usd_estimated, cost.usd_actual
    if estimated is None:
        estimated = usd(task.provider, task.model, cost.unit, cost.estimated, req.service_tier,
                        generate_audio=req.generate_audio)
    if actual is None:
        actual = usd(task.provider, task.model, cost.unit, cost.actual, req.service_tier,
                     generate_audio=req.generate_audio)
    return estimated, actual


def format_usd(value: float | None) -> str:
    """``$0.26`` (more digits below a cent), ``free``, or ``price unknown``."""
    if value is None:
        return "price unknown"
    if value == 0:
        return "free"
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"


def format_amount(unit: str, amount: float) -> str:
    return f"{amount:,.0f} {unit}"


def price_text(spec: ModelSpec) -> str:
    """The model's price rule in one line, as `seedance models` and list_video_models show it."""
    return spec.price.describe(flex=spec.flex)


# -- was it charged? -------------------------------------------------------------------------------

ChargeState = Literal["charged", "not_charged", "may_have_been_charged"]


@dataclass(frozen=True)
class Charge:
    """Whether a final task was billed, and a plain sentence that says so."""

    state: ChargeState
    text: str


def charge(task: Task) -> Charge | None:
    """Was the task charged? None while it is not final.

    Succeeded: charged. Cancelled (a provider cancels only queued tasks), refused before or at
    submit (no provider task id), or never sent/created: not charged. A submit whose answer was
    lost: may have been charged. Accepted then failed or expired: what the provider documents
    (`_FAILED_TASK_POLICY`), otherwise may have been charged.
    """
    if not task.is_final:
        return None
    if task.status is TaskStatus.SUCCEEDED:
        return Charge("charged", "charged: the provider made the video")
    code = task.error.code if task.error else ""
    if code in _MAYBE_SENT:
        return Charge("may_have_been_charged", "may have been charged: check your dashboard")
    if task.status is TaskStatus.CANCELLED:
        return Charge("not_charged", "not charged (cancelled before it ran)")
    if task.never_sent or task.remote_id is None:
        return Charge("not_charged", "not charged (the provider never started it)")
    policy = _FAILED_TASK_POLICY.get(task.provider)
    if policy is not None:
        return Charge("not_charged", f"not charged ({policy})")
    return Charge(
        "may_have_been_charged",
        f"may have been charged: check your dashboard ({task.provider} does not document whether a "
        "failed task is billed)",
    )
