"""A rule's `notify` action writes outbox messages in the scoring run's transaction, once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import User
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.notify.models import InAppNotification, OutboxMessage
from patron.notify.settings import NotifySettings
from patron.notify.worker import drain
from patron.rules import runs, versions
from tests.notify.receivers import smtp_server
from tests.rules.scenario import AS_OF, shop

RULEBOOK = """
grades:
  - {id: C, label: {en: C}, when: "TRUE"}
stages:
  - {id: any, label: {en: any}, when: "TRUE"}
warnings:
  - id: gone_quiet
    label: {zh_CN: 客户沉默, en: Gone quiet}
    when: "recency_days > 90"
    cooldown_days: 30
    actions:
      - notify: owner
        message: {zh_CN: "{name} 已沉默", en: "{name} has gone quiet"}
      - notify: customer
        channel: email
        message: {zh_CN: "{name}，好久不见", en: "We miss you, {name}"}
      - notify: customer
        channel: sms
        message: {zh_CN: "{name}，回来看看", en: "Come back, {name}"}
"""


def _messages(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_notify_actions_are_enqueued_once_and_delivered(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = shop(sessions)
    with unit_of_work(sessions) as session:
        quiet = session.get(Customer, ids["quiet"])
        assert quiet is not None
        quiet.email = "quiet@example.com"
        owner_id = session.scalars(select(User.id).where(User.username == "li")).one()
        versions.apply(session.connection(), RULEBOOK)
    first = runs.run_scoring(engine=db, as_of=AS_OF)
    runs.run_scoring(engine=db, as_of=AS_OF)
    messages = _messages(sessions)
    assert first.applied["notifications"] == 6 and len(messages) == 6
    assert Counter(m.channel for m in messages) == Counter({"in_app": 5, "email": 1})
    [email] = [m for m in messages if m.channel == "email"]
    assert (email.recipient, email.customer_id) == ("quiet@example.com", ids["quiet"])
    assert (email.subject, email.body) == ("客户沉默", "quiet，好久不见")
    relayed = {m.subject for m in messages if m.payload["audience"] == "customer"} - {"客户沉默"}
    assert relayed == {"请通过email转告客户 single", "请通过sms转告客户 single",
                       "请通过sms转告客户 quiet"}  # fmt: skip
    assert {m.recipient for m in messages if m.channel == "in_app"} == {str(owner_id)}
    with smtp_server() as (mailbox, port):
        report = drain(db, settings=NotifySettings(smtp_host="127.0.0.1", smtp_port=port))
    assert report.sent == 6
    assert [(m["To"], m.get_content().strip()) for m in mailbox.messages] == [
        ("quiet@example.com", "quiet，好久不见")
    ]
    with sessions() as session:
        bell = session.scalars(select(InAppNotification.body)).all()
    assert sorted(bell) == sorted(
        ["quiet 已沉默", "single 已沉默", "single，好久不见", "single，回来看看", "quiet，回来看看"]
    )
