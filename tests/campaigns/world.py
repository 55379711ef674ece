"""Builders for campaign tests: scored customers with consent, segments and campaigns."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.analytics.models import ScoringRun
from patron.campaigns import service
from patron.campaigns.models import Campaign, Segment
from patron.campaigns.schemas import CampaignIn, MessageIn, SegmentIn
from patron.customers.models import Customer
from tests import builders

TEMPLATES = {
    "zh_CN": MessageIn(subject="{name}，好久不见", body="{name}（{city}）：送您一张优惠券。"),
    "en": MessageIn(subject="We miss you, {name}", body="Dear {name} in {city}: a voucher."),
}


def scored(
    session: Session, run: ScoringRun, name: str, *, recency: int | None = 120,
    email: str | None = "x@example.com", consent: bool | None = True, **fields: Any,
) -> Customer:  # fmt: skip
    """A customer with an email, email consent and a snapshot with `recency_days`."""
    customer = builders.customer(
        session, name, email=email,
        consent={} if consent is None else {"email": consent}, **fields,
    )  # fmt: skip
    features = {} if recency is None else {"recency_days": recency, "tags": ["vip"]}
    builders.snapshot(session, run, customer, features=features)
    return customer


def segment(session: Session, expression: str = "recency_days > 90") -> Segment:
    """A saved segment."""
    name = f"seg-{builders._next('S')}"
    return service.create_segment(
        session=session, segment_in=SegmentIn(name=name, expression=expression), by=None
    )


def campaign(session: Session, target: Segment, **fields: Any) -> Campaign:
    """A draft email campaign to the segment, holding out nobody unless told."""
    fields.setdefault("holdout_share", 0.0)
    fields.setdefault("templates", TEMPLATES)
    campaign_in = CampaignIn(name="回访", segment_id=target.id, **fields)
    return service.create_campaign(session=session, campaign_in=campaign_in, by=None)
