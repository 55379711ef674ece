"""Set-based actions change the store exactly as acting on each customer on the spot did."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.db import Base, unit_of_work
from patron.rules import runs, versions
from tests.analytics.history import History, at
from tests.conftest import _empty_all_tables
from tests.rules import reference_actions
from tests.rules.scenario import AS_OF

# Two warnings on the same customers: the first sets a tag and releases the customer, the
# second clears that tag and releases again, so the order of the writes shows in the result.
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
  - id: a_quiet
    label: {zh_CN: 沉默, en: quiet}
    when: "recency_days > 90"
    actions:
      - set_tag: quiet
      - set_tag: watch
      - move_to_pool: true
      - alert: true
      - task: {assignee: manager, due_days: 3, title: {en: "Call {name}"}}
  - id: b_single
    label: {en: single}
    when: "orders_total = 1"
    actions:
      - clear_tag: quiet
      - move_to_pool: true
      - set_tag: single
pool:
  recycle: [{grades: [C], no_follow_up_days: 30, no_purchase_days: 60}]
"""
# The rows a run's actions write or change; columns stamped with the wall clock left out.
COMPARED = (
    "customers",
    "customer_tags",
    "ownership_changes",
    "audit_log",
    "tasks",
    "alerts",
    "actions_taken",
    "state_changes",
)
CLOCK_COLUMNS = {"updated_at", "created_at", "scored_at"}


def _shop(sessions: sessionmaker[Session]) -> None:
    history = History()
    with unit_of_work(sessions) as session:
        owner = User(username="li", role=Role.agent, team="east")
        manager = User(username="wang", role=Role.manager, team="east")
        session.add_all([owner, manager])
        session.flush()
        for number in range(12):
            key = f"c{number}"
            history.customer(session, key, tags=("quiet",) if number % 3 == 0 else ())
            for day in range(300 - 20 * number, 400, 40 + 15 * number)[: 1 + number % 4]:
                history.order(session, key, day, 50 + number)
            customer = session.get(Customer, history.customers[key])
            assert customer is not None
            if number % 4:
                customer.owner_id, customer.owned_since = owner.id, at(100)
        versions.apply(session.connection(), RULEBOOK)


def _rows(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with db.connect() as connection:
        for name in COMPARED:
            table: Table = Base.metadata.tables[name]
            columns = [c for c in table.columns if c.name not in CLOCK_COLUMNS]
            order = list(table.primary_key.columns)
            found[name] = [tuple(r) for r in connection.execute(select(*columns).order_by(*order))]
    return found


def _run(db: Engine, sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    _empty_all_tables(db)
    _shop(sessions)
    outcome = runs.run_scoring(engine=db, as_of=AS_OF)
    rows = _rows(db)
    rows["applied"] = [tuple(sorted(outcome.applied.items()))]
    return rows


def test_batched_actions_write_the_same_rows_as_acting_one_customer_at_a_time(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = _run(db, sessions)
    assert batched["ownership_changes"] and batched["tasks"] and batched["alerts"]
    assert any(tag == "single" for _, tag, *_ in batched["customer_tags"])

    one_at_a_time = reference_actions._effect

    def on_the_spot(*args: Any, **kwargs: Any) -> None:
        """Every action written as soon as it is taken, as before batching."""
        one_at_a_time(*args, **kwargs)
        context, connection = args[5], args[6]
        context.flush_changes(connection)

    # The per-row step as it was, each action written on the spot.
    monkeypatch.setattr(reference_actions, "_effect", on_the_spot)
    monkeypatch.setattr(runs, "apply_decisions", reference_actions.apply_decisions)
    assert _run(db, sessions) == batched
