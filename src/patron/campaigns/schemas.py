"""What the campaigns API takes and gives."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from patron.campaigns.models import CampaignStatus
from patron.wire import LocalDateTime


class SegmentIn(BaseModel):
    """A named rule expression over customer features, e.g. `recency_days > 90`."""

    name: str = Field(min_length=1, max_length=100)
    expression: str = Field(min_length=1, max_length=4000)
    description: str = Field(default="", max_length=2000)


class SegmentView(BaseModel):
    """A saved segment and the features it reads."""

    id: int
    name: str
    expression: str
    description: str
    features: list[str]
    created_at: LocalDateTime


class MessageIn(BaseModel):
    """A subject and body with placeholders such as `{name}`; `{{` and `}}` are braces."""

    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=10_000)


class CampaignIn(BaseModel):
    """A campaign to a saved segment; `templates` maps a locale (zh_CN, en) to its message."""

    name: str = Field(min_length=1, max_length=200)
    segment_id: int
    channel: str = Field(default="email", max_length=16)
    templates: dict[str, MessageIn] = Field(min_length=1, max_length=2)
    default_locale: str = Field(default="zh_CN", max_length=8)
    holdout_share: float = Field(default=0.1, ge=0.0, le=0.9)
    cap_messages: int = Field(default=2, ge=1, le=100)
    cap_days: int = Field(default=7, ge=1, le=365)
    measure_days: int = Field(default=30, ge=1, le=365)


class CampaignView(BaseModel):
    """A campaign, its settings and, once launched, its launch counts."""

    id: int
    name: str
    segment_id: int
    channel: str
    templates: dict[str, MessageIn]
    default_locale: str
    holdout_share: float
    cap_messages: int
    cap_days: int
    measure_days: int
    status: CampaignStatus
    summary: dict[str, object]
    created_by_id: int | None
    created_at: LocalDateTime
    launched_at: LocalDateTime | None


class AudienceView(BaseModel):
    """How many the segment holds now, and how they would split if launched now."""

    segment: int
    treated: int
    holdout: int
    suppressed: dict[str, int]


class LaunchView(AudienceView):
    """What a launch did; a repeated launch sends nothing and says `already_launched`."""

    campaign_id: int
    launched_at: LocalDateTime
    already_launched: bool


class GroupResult(BaseModel):
    """Purchases of one group in the measuring window."""

    customers: int
    buyers: int
    orders: int
    revenue: Decimal
    conversion_rate: float | None
    revenue_per_customer: Decimal | None


class ResultsView(BaseModel):
    """Treated against held out: paid orders within the window after the launch."""

    campaign_id: int
    window_start: LocalDateTime
    window_end: LocalDateTime
    complete: bool
    treated: GroupResult
    holdout: GroupResult
    conversion_difference: float | None
    revenue_per_customer_difference: Decimal | None


class OptOutIn(BaseModel):
    """A channel the customer no longer wants campaign messages on (`*`: any channel)."""

    channel: str = Field(default="*", min_length=1, max_length=16)
    reason: str = Field(default="", max_length=200)
