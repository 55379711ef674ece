"""The outbox: a message exists exactly when its event's transaction committed, once per key."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.errors import InvalidInput
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.outbox import Outgoing, enqueue, enqueue_many
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


def test_many_messages_go_in_at_once_and_known_keys_are_skipped(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as session:
        enqueue(
            session=session, channel="email", recipient="a@example.com", subject="s", body="b",
            dedupe_key="bulk-0",
        )  # fmt: skip
    wanted = [
        Outgoing("email", f"c{n}@example.com", f"s{n}", f"b{n}", f"bulk-{n}", payload={"n": n})
        for n in range(2_500)
    ]
    with unit_of_work(sessions) as session:
        new = enqueue_many(session=session, messages=[*wanted, wanted[5]])
    assert set(new) == {f"bulk-{n}" for n in range(1, 2_500)}
    assert _count(sessions) == 2_500
    with sessions() as session:
        stored = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id == new["bulk-7"])
        ).one()
    assert (stored.recipient, stored.payload, stored.status) == (
        "c7@example.com",
        {"n": 7},
        OutboxStatus.pending,
    )


def test_a_bad_message_in_a_batch_refuses_the_whole_batch(sessions: sessionmaker[Session]) -> None:
    batch = [
        Outgoing("email", "ok@example.com", "s", "b", "fine"),
        Outgoing("webhook", "not a url", "s", "b", "broken"),
    ]
    with pytest.raises(InvalidInput, match="http"), unit_of_work(sessions) as session:
        enqueue_many(session=session, messages=batch)
    assert _count(sessions) == 0
