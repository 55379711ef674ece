"""Delivering the outbox: claim due messages under a lease, send each, record the outcome.

A claim is atomic: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, one UPDATE under
SQLite's single write lock. A claimed row is 'sending' until its lease runs out; a worker that
crashed leaves it to be claimed again then. Each claim counts as an attempt, so a message that
keeps failing (or keeps crashing its worker) ends 'dead' with its last error.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, insert, or_, select, update

from patron.auth.models import User
from patron.db import now
from patron.notify.channels import SENDERS, DeliveryFailed, Envelope
from patron.notify.models import InAppNotification, OutboxMessage, OutboxStatus
from patron.notify.settings import NotifySettings, get_notify_settings

log = logging.getLogger("patron.notify")
Sender = Callable[[Envelope, NotifySettings], None]
M = OutboxMessage


@dataclass
class DeliveryReport:
    """What one pass of delivery did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    lost: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in self.__dict__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def worker_name() -> str:
    """A name unique to this worker process, recorded on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(attempts: int, settings: NotifySettings) -> timedelta:
    """The wait before the next try: the base doubled per attempt so far, up to the cap."""
    seconds = settings.notify_backoff_seconds * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.notify_backoff_cap_seconds))


def _due(moment: datetime, max_attempts: int) -> ColumnElement[bool]:
    waiting = and_(
        M.status.in_([OutboxStatus.pending, OutboxStatus.failed]), M.next_attempt_at <= moment
    )
    abandoned = and_(
        M.status == OutboxStatus.sending, M.lease_until < moment, M.attempts < max_attempts
    )
    return or_(waiting, abandoned)


def _bury_abandoned(connection: Connection, moment: datetime, max_attempts: int) -> int:
    """Messages whose workers kept stopping mid-delivery, out of attempts: dead, not retried."""
    result = connection.execute(
        update(M)
        .where(M.status == OutboxStatus.sending, M.lease_until < moment, M.attempts >= max_attempts)
        .values(
            status=OutboxStatus.dead, lease_until=None, claimed_by=None,
            last_error="the worker stopped while delivering it, on every attempt",
        )
    )  # fmt: skip
    return result.rowcount


def claim(
    engine: Engine, *, worker: str, settings: NotifySettings, moment: datetime | None = None
) -> list[Envelope]:
    """Take up to a batch of due messages for `worker`: 'sending', leased, one more attempt."""
    moment = moment or now()
    limit, most = settings.notify_batch_size, settings.notify_max_attempts
    due = _due(moment, most)
    claimed = update(M).values(
        status=OutboxStatus.sending,
        claimed_by=worker,
        lease_until=moment + timedelta(seconds=settings.notify_lease_seconds),
        attempts=M.attempts + 1,
    )
    columns = (
        M.id,
        M.channel,
        M.recipient,
        M.subject,
        M.body,
        M.dedupe_key,
        M.customer_id,
        M.payload,
    )
    with engine.begin() as connection:
        _bury_abandoned(connection, moment, most)
        if connection.dialect.name == "postgresql":
            # Rows another worker is claiming are skipped, not waited for.
            picked = (
                select(M.id)
                .where(due)
                .order_by(M.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(connection.execute(picked).scalars())
            if not ids:
                return []
            rows = connection.execute(claimed.where(M.id.in_(ids), due).returning(*columns)).all()
        else:
            # One statement under SQLite's write lock: no other worker can claim these rows too.
            picked = select(M.id).where(due).order_by(M.id).limit(limit)
            rows = connection.execute(
                claimed.where(M.id.in_(picked), due).returning(*columns)
            ).all()
    return sorted((Envelope(*row) for row in rows), key=lambda envelope: envelope.id)


def _still_mine(worker: str, message_id: int) -> ColumnElement[bool]:
    return and_(M.id == message_id, M.claimed_by == worker, M.status == OutboxStatus.sending)


def _renew(engine: Engine, worker: str, message_id: int, settings: NotifySettings) -> bool:
    """Extend the lease just before sending; False if another worker has taken the message."""
    until = now() + timedelta(seconds=settings.notify_lease_seconds)
    with engine.begin() as connection:
        result = connection.execute(
            update(M).where(_still_mine(worker, message_id)).values(lease_until=until)
        )
    return result.rowcount == 1


def _mark_sent(connection: Connection, worker: str, envelope: Envelope) -> bool:
    done = update(M).where(_still_mine(worker, envelope.id))
    values = {
        "status": OutboxStatus.sent,
        "sent_at": now(),
        "lease_until": None,
        "last_error": None,
    }
    return connection.execute(done.values(**values)).rowcount == 1


def _store_in_app(connection: Connection, worker: str, envelope: Envelope) -> bool:
    """In-app delivery is a row: written in the same transaction that marks the message sent."""
    user_id = int(envelope.recipient) if envelope.recipient.isdigit() else None
    if (
        user_id is None
        or connection.execute(select(User.id).where(User.id == user_id)).first() is None
    ):
        raise DeliveryFailed(
            f"there is no user with id '{envelope.recipient}' to notify in the app"
        )
    if not _mark_sent(connection, worker, envelope):
        return False
    connection.execute(
        insert(InAppNotification).values(
            user_id=user_id, subject=envelope.subject, body=envelope.body,
            customer_id=envelope.customer_id, outbox_id=envelope.id, created_at=now(),
        )
    )  # fmt: skip
    return True


def _record_failure(
    engine: Engine, worker: str, envelope: Envelope, error: str, settings: NotifySettings
) -> str:
    with engine.begin() as connection:
        attempts = connection.execute(select(M.attempts).where(M.id == envelope.id)).scalar_one()
        dead = attempts >= settings.notify_max_attempts
        values = {
            "status": OutboxStatus.dead if dead else OutboxStatus.failed,
            "next_attempt_at": now() + backoff(attempts, settings),
            "lease_until": None,
            "last_error": error[:2000],
        }
        changed = connection.execute(
            update(M).where(_still_mine(worker, envelope.id)).values(**values)
        )
    if changed.rowcount != 1:
        return "lost"
    return "dead" if dead else "retrying"


def deliver_one(
    engine: Engine,
    envelope: Envelope,
    *,
    worker: str,
    settings: NotifySettings,
    senders: Mapping[str, Sender] = SENDERS,
) -> str:
    """Send one claimed message; 'sent', 'retrying', 'dead' or 'lost' (taken by another)."""
    if not _renew(engine, worker, envelope.id, settings):
        return "lost"
    try:
        if envelope.channel == "in_app":
            with engine.begin() as connection:
                return "sent" if _store_in_app(connection, worker, envelope) else "lost"
        sender = senders.get(envelope.channel)
        if sender is None:
            raise DeliveryFailed(f"Patron cannot deliver on the channel '{envelope.channel}'")
        sender(envelope, settings)
    except DeliveryFailed as exc:
        log.warning("outbox message %s (%s) failed: %s", envelope.id, envelope.channel, exc.message)
        return _record_failure(engine, worker, envelope, exc.message, settings)
    with engine.begin() as connection:
        return "sent" if _mark_sent(connection, worker, envelope) else "lost"


def deliver_due(
    engine: Engine,
    *,
    worker: str | None = None,
    settings: NotifySettings | None = None,
    senders: Mapping[str, Sender] = SENDERS,
) -> DeliveryReport:
    """Claim one batch of due messages and deliver them."""
    settings = settings or get_notify_settings()
    worker = worker or worker_name()
    envelopes = claim(engine, worker=worker, settings=settings)
    report = DeliveryReport(claimed=len(envelopes))
    for envelope in envelopes:
        outcome = deliver_one(engine, envelope, worker=worker, settings=settings, senders=senders)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def drain(
    engine: Engine,
    *,
    worker: str | None = None,
    settings: NotifySettings | None = None,
    senders: Mapping[str, Sender] = SENDERS,
    max_batches: int = 1_000,
) -> DeliveryReport:
    """Deliver batch after batch until nothing is due (or `max_batches` were taken)."""
    worker = worker or worker_name()
    total = DeliveryReport()
    for _ in range(max_batches):
        report = deliver_due(engine, worker=worker, settings=settings, senders=senders)
        total.add(report)
        if report.claimed == 0:
            break
    return total
