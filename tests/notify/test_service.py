"""Where a rule's notification goes, by audience and channel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.notify.models import OutboxMessage
from patron.notify.service import notify_for_rule
from patron.notify.settings import get_notify_settings
from tests import builders


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_notify_settings.cache_clear()
    yield
    get_notify_settings.cache_clear()


def _notify(db: Engine, audience: str, channel: str, customer_id: int, user_id: int | None) -> bool:
    with db.begin() as connection:
        return bool(notify_for_rule(
            connection, audience=audience, channel=channel, customer_id=customer_id,
            customer_name="王五", user_id=user_id, subject="提醒", body="内容",
            dedupe_key=f"{audience}:{channel}:{customer_id}:{user_id}",
        ))  # fmt: skip


def _sent(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.subject).order_by(
                OutboxMessage.id
            )
        )
        return [(c, r, s) for c, r, s in rows]


def test_owner_notifications_go_by_email_when_asked_and_known(
    db: Engine, sessions: sessionmaker[Session], fresh_settings: None
) -> None:
    with unit_of_work(sessions) as session:
        with_mail = builders.user(session, email="li@example.com")
        without = builders.user(session)
        person = builders.customer(session)
    assert _notify(db, "owner", "email", person.id, with_mail.id)
    assert _notify(db, "owner", "email", person.id, without.id)
    assert _notify(db, "owner", "in_app", person.id, with_mail.id)
    assert _sent(sessions) == [
        ("email", "li@example.com", "提醒"),
        ("in_app", str(without.id), "提醒"),
        ("in_app", str(with_mail.id), "提醒"),
    ]


def test_webhook_notifications_need_a_configured_url(
    db: Engine,
    sessions: sessionmaker[Session],
    fresh_settings: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with unit_of_work(sessions) as session:
        owner = builders.user(session)
        person = builders.customer(session)
    assert _notify(db, "customer", "webhook", person.id, owner.id)
    monkeypatch.setenv("PATRON_WEBHOOK_URL", "https://hooks.example.com/patron")
    get_notify_settings.cache_clear()
    assert _notify(db, "owner", "webhook", person.id, owner.id)
    assert _sent(sessions) == [
        ("in_app", str(owner.id), "请通过webhook转告客户 王五"),
        ("webhook", "https://hooks.example.com/patron", "提醒"),
    ]


def test_nobody_to_tell_enqueues_nothing(
    db: Engine, sessions: sessionmaker[Session], fresh_settings: None
) -> None:
    with unit_of_work(sessions) as session:
        person = builders.customer(session)
    assert not _notify(db, "owner", "in_app", person.id, None)
    assert not _notify(db, "customer", "sms", person.id, None)
    assert _sent(sessions) == []
