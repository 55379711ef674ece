"""Notifications as the rest of Patron uses them: a rule's `notify` action, a user's in-app
notifications, and the outbox's state for admins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, func, select, update
from sqlalchemy.orm import Session

from patron.api.pagination import SortKey, paginate
from patron.auth.models import User
from patron.config import get_settings
from patron.customers.models import Customer
from patron.db import now
from patron.errors import NotFound
from patron.notify.models import InAppNotification, OutboxMessage, OutboxStatus
from patron.notify.outbox import enqueue_on
from patron.notify.settings import get_notify_settings
from patron.notify.templates import render

NOTIFICATION_SORT = {"id": SortKey(InAppNotification.id, int)}
OUTBOX_SORT = {"id": SortKey(OutboxMessage.id, int)}


def notify_for_rule(
    connection: Connection,
    *,
    audience: str,
    channel: str,
    customer_id: int,
    customer_name: str,
    user_id: int | None,
    subject: str,
    body: str,
    dedupe_key: str,
) -> bool:
    """Enqueue a rule's message in the run's transaction; False when there is nobody to tell.

    `user_id` is the customer's owner (or, for a pool customer, the manager who stands in).
    What Patron cannot send itself (SMS, WeChat, a customer without an email address) becomes
    an in-app notification asking that user to pass the message on.
    """
    target = _direct_target(connection, audience, channel, customer_id, user_id)
    extra = {"audience": audience, "rule_channel": channel}
    if target is not None:
        kind, address = target
        enqueue_on(
            connection, channel=kind, recipient=address, subject=subject, body=body,
            dedupe_key=dedupe_key, customer_id=customer_id, payload=extra,
        )  # fmt: skip
        return True
    if user_id is None:
        return False
    if audience == "customer":
        values: dict[str, object] = {"customer": customer_name, "channel": channel, "message": body}
        subject, body = render("relay_to_customer", get_settings().locale, values)
    enqueue_on(
        connection, channel="in_app", recipient=str(user_id), subject=subject, body=body,
        dedupe_key=dedupe_key, customer_id=customer_id, payload=extra,
    )  # fmt: skip
    return True


def _direct_target(
    connection: Connection, audience: str, channel: str, customer_id: int, user_id: int | None
) -> tuple[str, str] | None:
    if channel == "webhook":
        url = get_notify_settings().webhook_url
        return ("webhook", url) if url else None
    if channel == "email":
        if audience == "customer":
            address = connection.execute(
                select(Customer.email).where(Customer.id == customer_id)
            ).scalar()
        elif user_id is not None:
            address = connection.execute(select(User.email).where(User.id == user_id)).scalar()
        else:
            address = None
        return ("email", address) if address else None
    return None


def in_app_page(
    session: Session, *, user_id: int, unread_only: bool, cursor: str | None, limit: int
) -> tuple[Sequence[InAppNotification], str | None]:
    """One page of a user's in-app notifications, newest first."""
    query = select(InAppNotification).where(InAppNotification.user_id == user_id)
    if unread_only:
        query = query.where(InAppNotification.read_at.is_(None))
    return paginate(
        session, query, sort="-id", keys=NOTIFICATION_SORT, id_column=InAppNotification.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip


def unread_count(session: Session, *, user_id: int) -> int:
    """How many of the user's notifications are unread."""
    query = select(func.count()).where(
        InAppNotification.user_id == user_id, InAppNotification.read_at.is_(None)
    )
    return session.scalar(query) or 0


def mark_read(session: Session, *, user_id: int, notification_id: int) -> InAppNotification:
    """Mark one of the user's notifications read (again is harmless); another's is not found."""
    found = session.scalar(
        select(InAppNotification).where(
            InAppNotification.id == notification_id, InAppNotification.user_id == user_id
        )
    )
    if found is None:
        raise NotFound(f"you have no notification with id {notification_id}")
    if found.read_at is None:
        found.read_at = now()
        session.flush()
    return found


def mark_all_read(session: Session, *, user_id: int) -> int:
    """Mark all the user's unread notifications read; how many there were."""
    result = session.execute(
        update(InAppNotification)
        .where(InAppNotification.user_id == user_id, InAppNotification.read_at.is_(None))
        .values(read_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount)


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    """Messages per status and channel."""
    rows = session.execute(
        select(OutboxMessage.status, OutboxMessage.channel, func.count()).group_by(
            OutboxMessage.status, OutboxMessage.channel
        )
    ).all()
    counts: dict[str, dict[str, int]] = {status.value: {} for status in OutboxStatus}
    for status, channel, n in rows:
        counts[OutboxStatus(status).value][channel] = n
    return counts


def oldest_waiting(session: Session) -> datetime | None:
    """When the oldest message still waiting to be delivered was written."""
    waiting = [OutboxStatus.pending, OutboxStatus.failed, OutboxStatus.sending]
    return session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(waiting))
    )


def outbox_page(
    session: Session, *, status: str | None, channel: str | None, cursor: str | None, limit: int
) -> tuple[Sequence[OutboxMessage], str | None]:
    """One page of outbox messages, newest first, optionally of one status and channel."""
    query = select(OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return paginate(
        session, query, sort="-id", keys=OUTBOX_SORT, id_column=OutboxMessage.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
