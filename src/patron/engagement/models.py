"""Interactions with customers and the tasks (follow-ups, care, win-backs) people work on."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, Timestamped


class InteractionKind(enum.StrEnum):
    call = "call"
    visit = "visit"
    email = "email"
    chat = "chat"
    wechat = "wechat"
    sms = "sms"
    social = "social"


class Direction(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_occurred_at", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[InteractionKind] = mapped_column(
        Enum(InteractionKind, native_enum=False, length=16)
    )
    direction: Mapped[Direction] = mapped_column(
        Enum(Direction, native_enum=False, length=16), default=Direction.outbound
    )
    is_follow_up: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    occurred_at: Mapped[datetime]
    import_hash: Mapped[str | None] = mapped_column(String(32))


class TaskStatus(enum.StrEnum):
    open = "open"
    snoozed = "snoozed"
    done = "done"
    cancelled = "cancelled"


class Task(Timestamped, Base):
    """Work for a person; `idempotency_key` makes a rule's task appear once per period."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32), default="follow_up")
    title: Mapped[str] = mapped_column(String(300))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TaskStatus] = mapped_column(
        Enum(TaskStatus, native_enum=False, length=16), default=TaskStatus.open
    )
    due_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(300))
    source_rule: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class FollowUpPlan(Timestamped, Base):
    """A recurring follow-up (回访) for every owned customer of a grade, every N months."""

    __tablename__ = "follow_up_plans"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    grade: Mapped[str] = mapped_column(String(32), unique=True)
    every_months: Mapped[int] = mapped_column(default=1)
    due_days: Mapped[int] = mapped_column(default=7)
    title: Mapped[str] = mapped_column(String(200), default="回访")
    active: Mapped[bool] = mapped_column(default=True)
