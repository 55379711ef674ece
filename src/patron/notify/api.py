"""/api/v1/notifications (the signed-in user's in-app notifications) and /api/v1/outbox
(what is waiting, sent or dead, for admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from patron.api.access import Actor, Permission
from patron.api.deps import CurrentActor, SessionDep, requires
from patron.api.errors import responses
from patron.api.masking import mask_email
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from patron.notify import service
from patron.notify.models import Channel, OutboxMessage, OutboxStatus
from patron.notify.outbox import URL_CHANNELS
from patron.wire import LocalDateTime

router = APIRouter(tags=["notifications"], responses=responses(401, 403, 422))
# The outbox is operational record-keeping: whoever may read the audit log may read it.
OutboxReader = Annotated[Actor, requires(Permission.audit_read)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


class NotificationView(BaseModel):
    """An in-app notification."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    body: str
    customer_id: int | None
    created_at: LocalDateTime
    read_at: LocalDateTime | None


class Unread(BaseModel):
    """How many notifications are unread."""

    unread: int


class Marked(BaseModel):
    """How many notifications were marked read."""

    marked: int


class OutboxView(BaseModel):
    """An outbox message; the recipient is masked (no email local part, no URL query)."""

    id: int
    channel: str
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: LocalDateTime
    last_error: str | None
    customer_id: int | None
    dedupe_key: str
    created_at: LocalDateTime
    sent_at: LocalDateTime | None


class OutboxSummary(BaseModel):
    """Messages per status and channel, and the oldest still waiting."""

    counts: dict[str, dict[str, int]]
    oldest_waiting_since: LocalDateTime | None


def _masked(message: OutboxMessage) -> str:
    if message.channel == "email":
        return mask_email(message.recipient) or ""
    if message.channel in URL_CHANNELS:
        # Robot and webhook URLs carry their access keys in the query.
        return message.recipient.split("?", 1)[0]
    return message.recipient


def _outbox_view(message: OutboxMessage) -> OutboxView:
    fields: dict[str, Any] = {
        name: getattr(message, name) for name in OutboxView.model_fields if name != "recipient"
    }
    return OutboxView(**fields, recipient=_masked(message))


@router.get("/notifications", summary="My in-app notifications")
def my_notifications(
    session: SessionDep,
    actor: CurrentActor,
    unread: Annotated[bool, Query(description="Only those not yet read")] = False,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[NotificationView]:
    """The signed-in user's notifications, newest first."""
    rows, next_cursor = service.in_app_page(
        session, user_id=actor.user_id, unread_only=unread, cursor=cursor, limit=limit
    )
    items = [NotificationView.model_validate(row) for row in rows]
    return Page(items=items, next_cursor=next_cursor, limit=limit)


@router.get("/notifications/unread-count", summary="How many of my notifications are unread")
def my_unread_count(session: SessionDep, actor: CurrentActor) -> Unread:
    """The number for the bell in the page header."""
    return Unread(unread=service.unread_count(session, user_id=actor.user_id))


@router.post(
    "/notifications/{notification_id}/read",
    summary="Mark one of my notifications read",
    responses=responses(404),
)
def read_notification(
    session: SessionDep, actor: CurrentActor, notification_id: int
) -> NotificationView:
    """Marks it read (again is harmless); someone else's notification is 404."""
    found = service.mark_read(session, user_id=actor.user_id, notification_id=notification_id)
    return NotificationView.model_validate(found)


@router.post("/notifications/read-all", summary="Mark all my notifications read")
def read_all_notifications(session: SessionDep, actor: CurrentActor) -> Marked:
    """Marks every unread notification of the signed-in user read."""
    return Marked(marked=service.mark_all_read(session, user_id=actor.user_id))


@router.get("/outbox", summary="Outgoing messages and their delivery state")
def outbox(
    session: SessionDep,
    actor: OutboxReader,
    status: OutboxStatus | None = None,
    channel: Channel | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[OutboxView]:
    """Newest first; filter by status (e.g. `dead`) and channel. Admins only."""
    rows, next_cursor = service.outbox_page(
        session,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[_outbox_view(row) for row in rows], next_cursor=next_cursor, limit=limit)


@router.get("/outbox/summary", summary="Outbox counts per status and channel")
def outbox_summary(session: SessionDep, actor: OutboxReader) -> OutboxSummary:
    """What is pending, sending, sent, failed (retrying) and dead. Admins only."""
    return OutboxSummary(
        counts=service.outbox_counts(session),
        oldest_waiting_since=service.oldest_waiting(session),
    )
