"""Segments, campaigns, who each campaign reached or held out, and channel opt-outs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, now


class CampaignStatus(enum.StrEnum):
    draft = "draft"
    launched = "launched"


class RecipientGroup(enum.StrEnum):
    treated = "treated"
    holdout = "holdout"
    suppressed = "suppressed"


class Segment(Base):
    """A saved rule expression over the features of each customer's latest scoring."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    expression: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Campaign(Base):
    """A message to a segment through one channel, with a holdout and a measuring window.

    `templates` maps a locale (zh_CN, en) to {"subject": ..., "body": ...} with `{name}`-style
    placeholders; `summary` holds the launch's counts.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    default_locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    holdout_share: Mapped[float] = mapped_column(default=0.1)
    cap_messages: Mapped[int] = mapped_column(default=2)
    cap_days: Mapped[int] = mapped_column(default=7)
    measure_days: Mapped[int] = mapped_column(default=30)
    status: Mapped[CampaignStatus] = mapped_column(
        Enum(CampaignStatus, native_enum=False, length=16), default=CampaignStatus.draft
    )
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    launched_at: Mapped[datetime | None]


class CampaignRecipient(Base):
    """One audience member of a launched campaign: sent to, held out, or suppressed (why)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        # The frequency cap counts a customer's recent sends across campaigns.
        Index(
            "ix_campaign_recipients_customer_group_decided", "customer_id", "group", "decided_at"
        ),
    )

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    group: Mapped[RecipientGroup] = mapped_column(
        Enum(RecipientGroup, native_enum=False, length=16)
    )
    reason: Mapped[str | None] = mapped_column(String(32))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime] = mapped_column(default=now)


class OptOut(Base):
    """A customer who asked not to receive campaign messages on a channel (`*`: on any)."""

    __tablename__ = "campaign_opt_outs"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
