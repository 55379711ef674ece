"""Writing to the outbox inside the caller's transaction: the message exists iff the event does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.db import now
from patron.errors import InvalidInput
from patron.notify.models import Channel, OutboxMessage, OutboxStatus
from patron.notify.templates import render

CHANNELS = frozenset(channel.value for channel in Channel)
URL_CHANNELS = frozenset({"webhook", "wecom", "dingtalk", "feishu"})


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
    statement = _insert(
        session.get_bind().dialect.name, channel, recipient, subject, body, dedupe_key,
        customer_id, payload,
    )  # fmt: skip
    new_id = session.execute(statement).scalar()
    return None if new_id is None else session.get(OutboxMessage, new_id)


def enqueue_on(
    connection: Connection,
    *,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    dedupe_key: str,
    customer_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int | None:
    """`enqueue` for code that holds a Connection: the new message's id, or None if a duplicate."""
    statement = _insert(
        connection.dialect.name, channel, recipient, subject, body, dedupe_key, customer_id,
        payload,
    )  # fmt: skip
    return connection.execute(statement).scalar()


@dataclass(frozen=True)
class Outgoing:
    """One message for `enqueue_many`."""

    channel: str
    recipient: str
    subject: str
    body: str
    dedupe_key: str
    customer_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def enqueue_many(*, session: Session, messages: Sequence[Outgoing]) -> dict[str, int]:
    """`enqueue` for many messages in a few bulk statements; {dedupe_key: id} of the new ones.

    Keys already in the outbox (or repeated in `messages`) are skipped, as with `enqueue`.
    """
    moment = now()
    rows = [_values(message, moment) for message in messages]
    connection = session.connection()
    write = _unnest if connection.dialect.name == "postgresql" else _multi_values
    new: dict[str, int] = {}
    for start in range(0, len(rows), BULK_ROWS):
        new.update(write(connection, rows[start : start + BULK_ROWS], moment))
    return new


BULK_ROWS = 1_000
_ARRAYS = {"channel": "text", "recipient": "text", "subject": "text", "body": "text",
           "dedupe_key": "text", "customer_id": "bigint", "payload": "text"}  # fmt: skip
# PostgreSQL gets each column as one array and unnests them: seven parameters per statement
# where a multi-row VALUES binds eleven per message, and about four times faster to run.
_UNNEST = text(
    f"INSERT INTO outbox_messages ({', '.join(_ARRAYS)}, status, attempts, next_attempt_at,"
    " created_at) SELECT channel, recipient, subject, body, dedupe_key, customer_id,"
    " CAST(payload AS jsonb), :status, 0, :moment, :moment FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ARRAYS.items())
    + f") AS m({', '.join(_ARRAYS)}) ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key, id"
)


def _unnest(connection: Connection, rows: list[dict[str, Any]], moment: datetime) -> dict[str, int]:
    arrays: dict[str, Any] = {name: [row[name] for row in rows] for name in _ARRAYS}
    arrays["payload"] = [json.dumps(payload, ensure_ascii=False) for payload in arrays["payload"]]
    result = connection.execute(
        _UNNEST, {**arrays, "status": OutboxStatus.pending.value, "moment": moment}
    )
    return dict(result.all())


def _multi_values(
    connection: Connection, rows: list[dict[str, Any]], moment: datetime
) -> dict[str, int]:
    statement = (
        sqlite.insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.dedupe_key, OutboxMessage.id)
    )
    return dict(connection.execute(statement, rows).all())


def enqueue_template(
    *,
    session: Session,
    channel: str,
    recipient: str,
    template: str,
    locale: str,
    values: dict[str, object],
    dedupe_key: str,
    customer_id: int | None = None,
) -> OutboxMessage | None:
    """`enqueue` with the subject and body filled from a named zh_CN or en template."""
    subject, body = render(template, locale, values)
    return enqueue(
        session=session, channel=channel, recipient=recipient, subject=subject, body=body,
        dedupe_key=dedupe_key, customer_id=customer_id,
        payload={"template": template, "locale": locale},
    )  # fmt: skip


def _values(message: Outgoing, moment: datetime) -> dict[str, Any]:
    _check(channel=message.channel, recipient=message.recipient, dedupe_key=message.dedupe_key)
    return {
        "channel": message.channel, "recipient": message.recipient.strip(),
        "subject": message.subject[:300], "body": message.body, "dedupe_key": message.dedupe_key,
        "customer_id": message.customer_id, "payload": dict(message.payload),
        "status": OutboxStatus.pending, "attempts": 0, "next_attempt_at": moment,
        "created_at": moment,
    }  # fmt: skip


def _insert(
    dialect: str,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    dedupe_key: str,
    customer_id: int | None,
    payload: dict[str, Any] | None,
) -> Insert:
    message = Outgoing(channel, recipient, subject, body, dedupe_key, customer_id, payload or {})
    # ON CONFLICT DO NOTHING is atomic on both databases and, unlike a caught IntegrityError,
    # leaves the caller's PostgreSQL transaction usable; SQLite savepoints would commit early.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(OutboxMessage)
        .values(**_values(message, now()))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )


def _check(*, channel: str, recipient: str, dedupe_key: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(
            f"'{channel}' is not a notification channel; use one of {', '.join(sorted(CHANNELS))}."
        )
    address = recipient.strip()
    if not address:
        raise InvalidInput("A notification needs a recipient (an address, URL or user id).")
    if channel in URL_CHANNELS and not address.startswith(("http://", "https://")):
        raise InvalidInput(f"A {channel} notification goes to an http(s) URL, not '{address}'.")
    if channel == "email" and "@" not in address:
        raise InvalidInput(f"'{address}' is not an email address.")
    if channel == "in_app" and not address.isdigit():
        raise InvalidInput(f"An in-app notification goes to a user id, not '{address}'.")
    if not dedupe_key.strip() or len(dedupe_key) > 200:
        raise InvalidInput("A notification's dedupe key must be 1 to 200 characters.")
