"""What tasks, follow-up plans and timeline entries look like coming in and going out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patron.engagement.models import InteractionKind, TaskStatus
from patron.wire import LocalDateTime


class _In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class TaskIn(_In):
    """A new task; a follow-up (the default kind) is about a customer."""

    title: str = Field(min_length=1, max_length=300)
    customer_id: int | None = None
    assignee_id: int | None = Field(default=None, description="Default: the caller")
    kind: str = Field(default="follow_up", min_length=1, max_length=32)
    due_at: LocalDateTime | None = None
    notes: str = Field(default="", max_length=4000)


class AssignIn(_In):
    """Give the task to this user."""

    assignee_id: int


class SnoozeIn(_In):
    """Put the task aside until then."""

    until: LocalDateTime


class CompleteIn(_In):
    """What came of it; a follow-up is also logged as this kind of contact."""

    outcome: str = Field(min_length=1, max_length=300)
    interaction_kind: InteractionKind = InteractionKind.call
    summary: str = Field(default="", max_length=4000)


class TaskView(BaseModel):
    """A task as the API shows it; `overdue` is as of the request."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    assignee_id: int | None
    kind: str
    title: str
    notes: str
    status: TaskStatus
    due_at: LocalDateTime | None
    snoozed_until: LocalDateTime | None
    completed_at: LocalDateTime | None
    outcome: str | None
    source_rule: str | None
    created_by_id: int | None
    created_at: LocalDateTime
    overdue: bool = False


class PlanIn(_In):
    """A grade's recurring follow-up: every N months, due N days after it appears."""

    every_months: int = Field(ge=1, le=12)
    due_days: int = Field(default=7, ge=0, le=90)
    title: str = Field(default="回访", min_length=1, max_length=200)
    active: bool = True


class PlanView(BaseModel):
    """A grade's recurring follow-up plan."""

    model_config = ConfigDict(from_attributes=True)

    grade: str
    every_months: int
    due_days: int
    title: str
    active: bool


class TimelineEntry(BaseModel):
    """One event in a customer's history: `kind` names its table, `id` its row."""

    kind: str
    id: int
    at: LocalDateTime
    title: str
    detail: dict[str, Any]


class TimelinePage(BaseModel):
    """A page of the timeline, newest first; pass `next_cursor` back for the next."""

    items: list[TimelineEntry]
    next_cursor: str | None
    limit: int
