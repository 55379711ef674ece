"""What the loyalty endpoints take and give."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from patron.loyalty.models import PointsKind
from patron.loyalty.service import MAX_POINTS
from patron.rules.rulebook import Labels
from patron.wire import LocalDateTime

Key = Field(default=None, min_length=1, max_length=200, description="Repeat-safe request key")


class EarnIn(BaseModel):
    """Points for a paid order of the customer (computed by the rulebook), or a given number."""

    model_config = ConfigDict(extra="forbid")

    order_id: int | None = None
    points: int | None = Field(default=None, ge=1, le=MAX_POINTS)
    reason: str = Field(default="", max_length=300)
    idempotency_key: str | None = Key

    @model_validator(mode="after")
    def _one_source(self) -> EarnIn:
        if (self.order_id is None) == (self.points is None):
            raise ValueError("give either order_id (points by the rulebook) or points, not both")
        if self.points is not None and not self.reason.strip():
            raise ValueError("points given by hand need a reason")
        return self


class RedeemIn(BaseModel):
    """Points to spend."""

    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=1, le=MAX_POINTS)
    reason: str = Field(min_length=1, max_length=300)
    idempotency_key: str | None = Key


class AdjustIn(BaseModel):
    """A correction up (positive) or down (negative), with the reason it is needed."""

    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    reason: str = Field(min_length=1, max_length=300)


class EntryOut(BaseModel):
    """One ledger entry: `points` is signed (spending is negative)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    kind: PointsKind
    points: int
    balance_after: int
    reason: str
    order_id: int | None
    occurred_at: LocalDateTime
    expires_at: LocalDateTime | None
    created_by_id: int | None


class EarnOut(BaseModel):
    """The entry written (or written before, for a repeated request); null when nothing is due."""

    entry: EntryOut | None
    balance: int


class TierOut(BaseModel):
    """A member tier and what it takes on the rulebook's basis."""

    id: str
    label: Labels
    threshold: float
    benefits: Labels | None


class TierChangeOut(BaseModel):
    """A move between tiers."""

    model_config = ConfigDict(from_attributes=True)

    from_tier: str | None
    to_tier: str | None
    changed_at: LocalDateTime
    reason: str


class AccountOut(BaseModel):
    """A customer's points, tier with its benefits, the progress to the next tier, history."""

    customer_id: int
    balance: int
    tier: TierOut | None
    tier_since: LocalDateTime | None
    tier_basis: str
    qualifying_value: float
    next_tier: TierOut | None
    to_next_tier: float | None
    tier_history: list[TierChangeOut]
