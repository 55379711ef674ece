"""What tickets, surveys, invitations and answers look like coming in and going out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.service.models import Priority, SurveyKind, TicketKind, TicketStatus
from patron.wire import LocalDateTime

Channel = Literal["phone", "email", "chat", "wechat", "social", "in_store"]


class _In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class TicketIn(_In):
    """A new ticket about the customer in the address."""

    kind: TicketKind
    subject: str = Field(min_length=1, max_length=300)
    channel: Channel = "phone"
    priority: Priority = Priority.normal
    description: str = Field(default="", max_length=20000)
    category: str | None = Field(default=None, max_length=64, description="Complaint category")
    root_causes: list[str] = Field(default_factory=list, description="Root-cause tags")
    assignee_id: int | None = None


class TicketPatch(_In):
    """Change a ticket's description, complaint category or root-cause tags."""

    description: str | None = Field(default=None, max_length=20000)
    category: str | None = Field(default=None, max_length=64)
    root_causes: list[str] | None = None


class TransitionIn(_In):
    """Move the ticket to this status."""

    to: TicketStatus


class AssignIn(_In):
    """Give the ticket to this user."""

    assignee_id: int


class TicketView(BaseModel):
    """A ticket with its SLA due times; `breached` is as of the request."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    kind: TicketKind
    channel: str
    priority: Priority
    status: TicketStatus
    subject: str
    description: str
    category: str | None
    root_causes: list[str]
    assignee_id: int | None
    opened_at: LocalDateTime
    first_response_at: LocalDateTime | None
    resolved_at: LocalDateTime | None
    closed_at: LocalDateTime | None
    response_due_at: LocalDateTime | None
    resolution_due_at: LocalDateTime | None
    escalated_at: LocalDateTime | None
    # The SLA clock stops while waiting for the customer; the due times move by the pauses.
    paused_at: LocalDateTime | None = None
    paused_hours: float = 0.0
    resolutions: int = 0
    allowed_transitions: list[TicketStatus] = []
    breached: bool = False


class SurveyIn(_In):
    """A survey: CSAT and NPS get their standard score question; custom ones list theirs
    (`{"id", "type": scale|choice|text, "text", "min", "max", "options", "required"}`)."""

    kind: SurveyKind
    name: str = Field(min_length=1, max_length=200)
    questions: list[dict[str, Any]] | None = None


class SurveyView(BaseModel):
    """A survey and its questions."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SurveyKind
    name: str
    questions: list[dict[str, Any]]
    active: bool


class InvitationIn(_In):
    """Invite the customer to a survey (by id, else the standard one of `kind`)."""

    survey_id: int | None = None
    kind: SurveyKind = SurveyKind.nps
    valid_days: int = Field(default=14, ge=1, le=365)


class InvitationView(BaseModel):
    """An invitation; send the customer `token` (answered at /api/v1/public/surveys/{token})."""

    id: int
    survey_id: int
    customer_id: int
    ticket_id: int | None
    ticket_resolution: int | None = None
    expires_at: LocalDateTime
    used_at: LocalDateTime | None
    # The outbox message carrying the link, or why none was sent (no_consent, opted_out, ...).
    outbox_id: int | None = None
    not_sent_reason: str | None = None
    token: str


class PublicSurvey(BaseModel):
    """What a customer sees before answering: the survey's questions, nothing about others."""

    kind: SurveyKind
    name: str
    questions: list[dict[str, Any]]
    expires_at: LocalDateTime


class AnswerIn(_In):
    """A customer's answer: `score` for CSAT (1-5) and NPS (0-10), `answers` by question id."""

    score: int | None = None
    answers: dict[str, Any] = Field(default_factory=dict)
    comment: str = Field(default="", max_length=4000)


class AnswerOut(BaseModel):
    """The stored answer."""

    id: int
    kind: SurveyKind
    score: int | None
    answered_at: LocalDateTime
