"""The append-only points ledger, loyalty accounts and member tiers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, now


class PointsKind(enum.StrEnum):
    earn = "earn"
    redeem = "redeem"
    expire = "expire"
    adjust = "adjust"


class LoyaltyAccount(Base):
    """The running balance and tier; locked row by row so redemptions never overspend."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    tier: Mapped[str | None] = mapped_column(String(32), index=True)
    tier_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class PointsEntry(Base):
    __tablename__ = "points_ledger"
    __table_args__ = (Index("ix_points_ledger_customer_occurred_at", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[PointsKind] = mapped_column(Enum(PointsKind, native_enum=False, length=16))
    points: Mapped[int]
    balance_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(300), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TierChange(Base):
    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(32))
    to_tier: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=now)
    reason: Mapped[str] = mapped_column(String(200), default="")


class TierReview(Base):
    """A closed tier-review period: written once, so the period-end review runs once for it."""

    __tablename__ = "tier_reviews"

    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_end: Mapped[datetime]
    reviewed_at: Mapped[datetime]
    upgrades: Mapped[int] = mapped_column(default=0)
    downgrades: Mapped[int] = mapped_column(default=0)
