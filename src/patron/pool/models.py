"""Ownership moves: assignment, claims from the public pool (公海), releases and recycling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, now


class OwnershipChange(Base):
    __tablename__ = "ownership_changes"
    __table_args__ = (Index("ix_ownership_changes_customer_at", "customer_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    from_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    to_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
