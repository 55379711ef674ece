"""Rulebook versions, the grade and stage history, alerts, and the ledger of actions taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, now

# An idempotency key ("rule:customer:period:n"), unique. PostgreSQL compares it byte by byte
# (collation "C", the same order as the database's C.UTF-8 for UTF-8 text): a run inserts
# millions of keys, and comparing them through the locale took about half of each insert.
IdempotencyKey = String(200).with_variant(String(200, collation="C"), "postgresql")


class RulebookVersion(Base):
    __tablename__ = "rulebook_versions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    document: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=False, index=True)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class StateChange(Base):
    """A grade, stage or tier transition with the rule and run that made it."""

    __tablename__ = "state_changes"
    __table_args__ = (
        Index("ix_state_changes_customer_kind_at", "customer_id", "kind", "changed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    from_value: Mapped[str | None] = mapped_column(String(32))
    to_value: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id", ondelete="SET NULL"))
    rule_id: Mapped[str | None] = mapped_column(String(64))


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_customer_raised_at", "customer_id", "raised_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    message: Mapped[str] = mapped_column(String(400), default="")
    raised_at: Mapped[datetime] = mapped_column(default=now)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id", ondelete="SET NULL"))
    rulebook_version: Mapped[int | None]
    acknowledged_at: Mapped[datetime | None]
    idempotency_key: Mapped[str] = mapped_column(IdempotencyKey, unique=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ActionTaken(Base):
    """One action a rule took; the unique key (rule, customer, period) stops it happening twice."""

    __tablename__ = "actions_taken"
    # A run's cooldown check reads each warning rule's recent actions (`actions._stage_cooldowns`).
    __table_args__ = (Index("ix_actions_taken_rule_taken", "rule_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(IdempotencyKey, unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(default=now)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id", ondelete="SET NULL"))
    rulebook_version: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class WarningRefresh(Base):
    """A customer whose warnings are to be re-evaluated (`patron.rules.refresh`): written in
    the transaction of the change that asks for it, removed once the worker has run it.

    One row per customer, so changes made while a refresh waits are covered by that one run;
    `requests` counts them, and a run removes the row only if no request came in meanwhile.
    """

    __tablename__ = "warning_refreshes"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    requests: Mapped[int] = mapped_column(default=1)
    requested_at: Mapped[datetime] = mapped_column(default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=now, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # While claimed, the claim holds until here; a stopped worker's rows come back after it.
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
