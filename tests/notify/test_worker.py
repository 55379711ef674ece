"""Outbox delivery end to end: real SMTP and HTTP receivers, retries, leases and crashes."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now, unit_of_work
from patron.notify.models import InAppNotification, OutboxMessage, OutboxStatus
from patron.notify.outbox import enqueue
from patron.notify.settings import NotifySettings
from patron.notify.worker import backoff, claim, deliver_one, drain
from tests import builders
from tests.notify.receivers import http_receiver, smtp_server

SECRET = "worker-test-secret"


def _settings(**fields: object) -> NotifySettings:
    values: dict[str, object] = {"webhook_secret": SECRET, "notify_max_attempts": 3} | fields
    return NotifySettings(**values)


def _add(sessions: sessionmaker[Session], channel: str, recipient: str, key: str) -> None:
    with unit_of_work(sessions) as session:
        enqueue(
            session=session, channel=channel, recipient=recipient, subject=f"subject {key}",
            body=f"body {key}", dedupe_key=key,
        )  # fmt: skip


def _message(sessions: sessionmaker[Session], key: str) -> OutboxMessage:
    with sessions() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()


def _make_due(db: Engine) -> None:
    with db.begin() as connection:
        connection.execute(update(OutboxMessage).values(next_attempt_at=now() - timedelta(1)))


def test_an_email_is_delivered_once_and_marked_sent(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    _add(sessions, "email", "owner@example.com", "mail-1")
    with smtp_server() as (mailbox, port):
        settings = _settings(smtp_host="127.0.0.1", smtp_port=port)
        first = drain(db, settings=settings)
        second = drain(db, settings=settings)
    assert (first.sent, second.claimed) == (1, 0)
    assert [m["Subject"] for m in mailbox.messages] == ["subject mail-1"]
    assert mailbox.messages[0].get_content().strip() == "body mail-1"
    stored = _message(sessions, "mail-1")
    assert (stored.status, stored.attempts, stored.last_error) == (OutboxStatus.sent, 1, None)
    assert stored.sent_at is not None and stored.lease_until is None


def test_a_message_of_a_rolled_back_transaction_is_never_sent(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
            builders.customer(session)
            enqueue(
                session=session, channel="webhook", recipient=receiver.url, subject="s",
                body="b", dedupe_key="ghost",
            )  # fmt: skip
            raise RuntimeError("the event failed")
        report = drain(db, settings=_settings())
    assert report.claimed == 0 and receiver.requests == []


def test_failures_back_off_then_the_message_dies_with_the_last_error(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (500, {"error": f"boom {len(receiver.requests)}"})
        _add(sessions, "webhook", receiver.url, "flaky")
        settings = _settings()
        before = now()
        assert drain(db, settings=settings).retrying == 1
        waiting = _message(sessions, "flaky")
        assert (waiting.status, waiting.attempts) == (OutboxStatus.failed, 1)
        assert waiting.next_attempt_at >= before + backoff(1, settings)
        assert drain(db, settings=settings).claimed == 0  # not due yet
        _make_due(db)
        assert drain(db, settings=settings).retrying == 1
        assert _message(sessions, "flaky").next_attempt_at >= before + backoff(2, settings)
        _make_due(db)
        assert drain(db, settings=settings).dead == 1
        _make_due(db)
        assert drain(db, settings=settings).claimed == 0
    dead = _message(sessions, "flaky")
    assert (dead.status, dead.attempts) == (OutboxStatus.dead, 3)
    assert dead.last_error is not None and "boom 3" in dead.last_error
    assert len(receiver.requests) == 3


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = NotifySettings(notify_backoff_seconds=10, notify_backoff_cap_seconds=60)
    assert [backoff(n, settings).total_seconds() for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_a_crashed_workers_message_is_retried_after_its_lease_and_delivered_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        _add(sessions, "webhook", receiver.url, "crash")
        settings = _settings()
        [taken] = claim(db, worker="crashed", settings=settings)  # then the worker dies
        assert drain(db, worker="other", settings=settings).claimed == 0  # lease still held
        with db.begin() as connection:
            connection.execute(update(OutboxMessage).values(lease_until=now() - timedelta(1)))
        assert drain(db, worker="other", settings=settings).sent == 1
        # The crashed worker coming back late cannot send or mark it again.
        assert deliver_one(db, taken, worker="crashed", settings=settings) == "lost"
    assert [r.headers["X-Patron-Delivery"] for r in receiver.requests] == ["crash"]
    stored = _message(sessions, "crash")
    assert (stored.status, stored.attempts, stored.claimed_by) == (OutboxStatus.sent, 2, "other")


def test_a_message_that_keeps_crashing_its_worker_ends_dead(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    _add(sessions, "webhook", "http://127.0.0.1:9/", "poison")
    settings = _settings(notify_max_attempts=2)
    for _ in range(2):
        assert len(claim(db, worker="doomed", settings=settings)) == 1
        with db.begin() as connection:
            connection.execute(update(OutboxMessage).values(lease_until=now() - timedelta(1)))
    assert claim(db, worker="doomed", settings=settings) == []
    stored = _message(sessions, "poison")
    assert stored.status == OutboxStatus.dead and "stopped" in (stored.last_error or "")


def test_in_app_messages_become_notifications_for_the_user(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as session:
        user = builders.user(session)
    _add(sessions, "in_app", str(user.id), "bell")
    _add(sessions, "in_app", "999999", "nobody")
    report = drain(db, settings=_settings(notify_max_attempts=1))
    assert (report.sent, report.dead) == (1, 1)
    with sessions() as session:
        [shown] = session.scalars(select(InAppNotification)).all()
    assert (shown.user_id, shown.subject, shown.read_at) == (user.id, "subject bell", None)
    assert "no user with id" in (_message(sessions, "nobody").last_error or "")


def test_two_workers_at_once_deliver_each_message_exactly_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        for n in range(40):
            _add(sessions, "webhook", receiver.url, f"race-{n}")
        settings = _settings(notify_batch_size=3)
        start = threading.Barrier(2)
        reports = {}

        def work(name: str) -> None:
            start.wait()
            reports[name] = drain(db, worker=name, settings=settings)

        workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in (1, 2)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    delivered = Counter(r.headers["X-Patron-Delivery"] for r in receiver.requests)
    assert delivered == Counter({f"race-{n}": 1 for n in range(40)})
    assert sum(report.sent for report in reports.values()) == 40
    with sessions() as session:
        statuses = set(session.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.sent}
