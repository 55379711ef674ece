"""Outgoing webhook subscriptions: where an integration wants which events, and the secret
their signatures are made with."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, Timestamped


class WebhookSubscription(Timestamped, Base):
    """An admin's subscription: every event of `events` is POSTed to `url`, signed with
    HMAC-SHA256 under `secret` (kept to sign with, never shown again after creation)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
