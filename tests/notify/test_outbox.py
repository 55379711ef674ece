"""The outbox: a message exists exactly when its event's transaction committed, once per key."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.errors import InvalidInput
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.outbox import enqueue
from tests import builders


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_enqueue_writes_a_pending_message(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        person = builders.customer(session)
        message = enqueue(
            session=session,
            channel="email",
            recipient="ops@example.com",
            subject="Hello",
            body="A body",
            dedupe_key="welcome:1",
            customer_id=person.id,
            payload={"template": "welcome"},
        )
    assert message is not None
    with sessions() as session:
        stored = session.scalars(select(OutboxMessage)).one()
    assert stored.status == OutboxStatus.pending
    assert (stored.attempts, stored.customer_id, stored.payload) == (
        0,
        person.id,
        {"template": "welcome"},
    )


def test_a_second_enqueue_with_the_same_key_adds_nothing(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        first = enqueue(
            session=session,
            channel="email",
            recipient="a@example.com",
            subject="s",
            body="b",
            dedupe_key="same",
        )
        again = enqueue(
            session=session,
            channel="email",
            recipient="b@example.com",
            subject="s",
            body="b",
            dedupe_key="same",
        )
    with unit_of_work(sessions) as session:
        later = enqueue(
            session=session,
            channel="webhook",
            recipient="http://127.0.0.1:1/",
            subject="s",
            body="b",
            dedupe_key="same",
        )
    assert first is not None and again is None and later is None
    assert _count(sessions) == 1


def test_a_rolled_back_transaction_leaves_no_message(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        enqueue(
            session=session,
            channel="email",
            recipient="a@example.com",
            subject="s",
            body="b",
            dedupe_key="lost",
        )
        raise RuntimeError("the event failed after the message was written")
    assert _count(sessions) == 0


@pytest.mark.parametrize(
    ("channel", "recipient", "key", "complaint"),
    [
        ("pigeon", "a@example.com", "k", "not a notification channel"),
        ("email", "  ", "k", "needs a recipient"),
        ("email", "a@example.com", "", "dedupe key"),
    ],
)
def test_bad_messages_are_refused(
    sessions: sessionmaker[Session], channel: str, recipient: str, key: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint), unit_of_work(sessions) as session:
        enqueue(
            session=session,
            channel=channel,
            recipient=recipient,
            subject="s",
            body="b",
            dedupe_key=key,
        )
    assert _count(sessions) == 0
