"""Service and complaint tickets, surveys and their responses."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, Timestamped


class TicketKind(enum.StrEnum):
    inquiry = "inquiry"
    presale = "presale"
    aftersale = "aftersale"
    complaint = "complaint"


class TicketStatus(enum.StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_for_customer = "waiting_for_customer"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Ticket(Timestamped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_opened_at", "customer_id", "opened_at"),
        Index("ix_tickets_status_resolution_due", "status", "resolution_due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[TicketKind] = mapped_column(Enum(TicketKind, native_enum=False, length=16))
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    priority: Mapped[Priority] = mapped_column(
        Enum(Priority, native_enum=False, length=16), default=Priority.normal
    )
    status: Mapped[TicketStatus] = mapped_column(
        Enum(TicketStatus, native_enum=False, length=24), default=TicketStatus.new
    )
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(64))
    root_causes: Mapped[list[str]] = mapped_column(default=list)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    opened_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # While waiting for the customer the SLA clock stops: `paused_at` is when it stopped, and
    # `paused_hours` the business hours of all pauses so far (the due times moved by them).
    paused_at: Mapped[datetime | None]
    paused_hours: Mapped[float] = mapped_column(default=0.0)
    # How many times the ticket was resolved: each resolution gets its own CSAT invitation.
    resolutions: Mapped[int] = mapped_column(default=0)
    import_hash: Mapped[str | None] = mapped_column(String(32))


class SurveyKind(enum.StrEnum):
    csat = "csat"
    nps = "nps"
    custom = "custom"


class Survey(Timestamped, Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[SurveyKind] = mapped_column(Enum(SurveyKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)


class SurveyResponse(Base):
    """One answer: NPS scores 0-10, CSAT scores 1-5."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        Index("ix_survey_responses_customer_answered_at", "customer_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[SurveyKind] = mapped_column(Enum(SurveyKind, native_enum=False, length=16))
    score: Mapped[int | None]
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime]
    import_hash: Mapped[str | None] = mapped_column(String(32))


class SurveyInvitation(Timestamped, Base):
    """One customer's invitation to answer a survey; its signed token works once, until expiry."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        Index("ix_survey_invitations_customer_created_at", "customer_id", "created_at"),
        # One invitation per resolution of a ticket, however often the resolving is retried.
        UniqueConstraint("ticket_id", "ticket_resolution"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    ticket_resolution: Mapped[int | None]
    # The message that carries the link, or why none was sent (no_consent, opted_out, ...).
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    not_sent_reason: Mapped[str | None] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    response_id: Mapped[int | None] = mapped_column(ForeignKey("survey_responses.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
