"""Writing to the outbox inside the caller's transaction: the message exists iff the event does."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.db import now
from patron.errors import InvalidInput
from patron.notify.models import Channel, OutboxMessage, OutboxStatus

CHANNELS = frozenset(channel.value for channel in Channel)


def enqueue(
    *,
    session: Session,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    dedupe_key: str,
    customer_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxMessage | None:
    """Add a message to the outbox, or nothing (None) when `dedupe_key` is already there.

    Runs in the caller's transaction and never commits: a rolled-back event sends nothing.
    """
    _check(channel=channel, recipient=recipient, dedupe_key=dedupe_key)
    values = {
        "channel": channel,
        "recipient": recipient,
        "subject": subject[:300],
        "body": body,
        "dedupe_key": dedupe_key,
        "customer_id": customer_id,
        "payload": dict(payload or {}),
        "status": OutboxStatus.pending,
        "attempts": 0,
        "next_attempt_at": now(),
        "created_at": now(),
    }
    # ON CONFLICT DO NOTHING is atomic on both databases and, unlike a caught IntegrityError,
    # leaves the caller's PostgreSQL transaction usable; SQLite savepoints would commit early.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    new_id = session.execute(statement).scalar()
    return None if new_id is None else session.get(OutboxMessage, new_id)


def _check(*, channel: str, recipient: str, dedupe_key: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(
            f"'{channel}' is not a notification channel; use one of {', '.join(sorted(CHANNELS))}."
        )
    if not recipient.strip():
        raise InvalidInput("A notification needs a recipient (an address, URL or user id).")
    if not dedupe_key.strip() or len(dedupe_key) > 200:
        raise InvalidInput("A notification's dedupe key must be 1 to 200 characters.")
