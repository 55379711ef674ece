"""Which (customer, warning) pairs are still cooling: the last action on the pair before today,
fewer than the rule's cooldown days ago, however long the history before it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import duckdb
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.rules.actions import _stage_cooldowns
from patron.rules.models import ActionTaken
from tests import builders

TODAY = date(2026, 7, 2)
RULEBOOK = SimpleNamespace(
    warnings=[
        SimpleNamespace(id="short", cooldown_days=5),
        SimpleNamespace(id="long", cooldown_days=30),
    ]
)
# Per customer: (rule, days before today of each action); whether the pair is cooling.
HISTORIES = {
    "yesterday": (("short", (1,)), True),
    "four_days": (("short", (4,)), True),
    "five_days": (("short", (5,)), False),
    "today_too": (("short", (0, 2)), False),  # acted on today: not held back by a cooldown
    "long_29": (("long", (29, 400)), True),
    "long_30": (("long", (30,)), False),
    "long_old": (("long", (31, 45, 900)), False),
    "old_then_recent": (("long", (700, 3)), True),
    "another_rule": (("gone", (1,)), False),  # a rule no longer in the rulebook
}


def test_the_pairs_still_cooling(db: Engine, sessions: sessionmaker[Session]) -> None:
    expected = set()
    with unit_of_work(sessions) as session:
        for name, ((rule, ages), cooling) in HISTORIES.items():
            customer = builders.customer(session, name)
            for n, age in enumerate(ages):
                taken = datetime.combine(TODAY - timedelta(days=age), datetime.min.time())
                session.add(
                    ActionTaken(
                        idempotency_key=f"{name}-{n}",
                        customer_id=customer.id,
                        rule_id=rule,
                        action="alert",
                        taken_at=taken + timedelta(hours=23, minutes=59),
                    )
                )
            if cooling:
                expected.add((customer.id, rule))
        session.flush()
        con = duckdb.connect()
        con.execute("CREATE TABLE decisions AS SELECT range AS customer_id FROM range(1000)")
        _stage_cooldowns(RULEBOOK, con, session.connection(), TODAY)
    assert set(con.execute("SELECT customer_id, rule_id FROM cooling").fetchall()) == expected
