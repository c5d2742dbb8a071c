"""Per-community settings: what a Discord server's admins may set, and the limits they produce.

The operator's limits (`core.config.Limits`) protect the operator's money and are a ceiling; a
community (``scope``, e.g. ``discord:<guild id>``) may only tighten them, and may give roles their
own limits within that ceiling. The core enforces the result on every submit, whatever front end
it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from core.config import Limits


class RoleLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_running_per_user: int | None = Field(default=None, ge=1, le=100)
    max_tasks_per_day: int | None = Field(default=None, ge=1, le=10_000)


class CommunitySettings(BaseModel):
    """``None`` means "the operator's limit"; an empty ``allowed_channels`` means every channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_running_per_user: int | None = Field(default=None, ge=1, le=100)
    max_tasks_per_day: int | None = Field(default=None, ge=1, le=10_000)
    daily_budget_usd: float | None = Field(default=None, ge=0)  # for the whole community, per day
    allowed_channels: tuple[str, ...] = ()
    role_overrides: dict[str, RoleLimits] = Field(default_factory=dict)
    default_model: str | None = None

    def limits_for(self, operator: Limits, roles: Sequence[str] = ()) -> Limits:
        """The limits a member with ``roles`` gets: the most generous of their roles' overrides (or the
        community's own), never above the operator's."""
        running, per_day = self.max_running_per_user, self.max_tasks_per_day
        granted = [self.role_overrides[r] for r in roles if r in self.role_overrides]
        if granted:
            running = _most(r.max_running_per_user for r in granted) or running
            per_day = _most(r.max_tasks_per_day for r in granted) or per_day
        return operator.model_copy(
            update={
                "max_running_per_user": _least(operator.max_running_per_user, running),
                "max_tasks_per_day": _least(operator.max_tasks_per_day, per_day),
                "community_daily_budget_usd": self.daily_budget_usd,
            }
        )

    def allows_channel(self, channel: str | None) -> bool:
        return not self.allowed_channels or channel is None or channel in self.allowed_channels


def _least(operator: int | None, community: int | None) -> int | None:
    if operator is None:
        return community
    if community is None:
        return operator
    return min(operator, community)


def _most(values: object) -> int | None:
    numbers = [v for v in values if isinstance(v, int)]  # type: ignore[attr-defined]
    return max(numbers) if numbers else None
