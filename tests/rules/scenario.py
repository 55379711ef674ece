"""A small shop for rulebook runs: three customers, one owner, and a rulebook that acts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.rules import versions
from tests.analytics.history import START, History, at

AS_OF = START + timedelta(days=400)

RULEBOOK = """
grades:
  - {id: A, label: {en: A}, when: "orders_total >= 3"}
  - {id: C, label: {en: C}, when: "TRUE"}
stages:
  - {id: active, label: {en: a}, when: "recency_days <= 90"}
  - {id: lapsed, label: {en: l}, when: "TRUE"}
segments:
  - {id: big, label: {en: big}, tag: big, when: "grade = 'A'"}
warnings:
  - id: gone_quiet
    label: {zh_CN: 沉默, en: quiet}
    when: "recency_days > 90"
    cooldown_days: 30
    actions:
      - task: {assignee: owner, due_days: 2, title: {zh_CN: "回访 {name}", en: "Call {name}"}}
      - alert: true
pool:
  recycle: [{grades: [C], no_follow_up_days: 30, no_purchase_days: 60}]
"""


def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    history = History()
    with unit_of_work(sessions) as session:
        owner = User(username="li", role=Role.agent, team="east")
        session.add(owner)
        session.flush()
        for key in ("loyal", "quiet", "single"):
            history.customer(session, key)
        for day in (300, 350, 390):
            history.order(session, "loyal", day, 100)
        for day in (10, 50, 100):
            history.order(session, "quiet", day, 80)
        history.order(session, "single", 200, 30)
        for key in ("quiet", "single"):
            customer = session.get(Customer, history.customers[key])
            assert customer is not None
            customer.owner_id, customer.owned_since = owner.id, at(150)
        versions.apply(session.connection(), RULEBOOK)
    return history.customers
