"""A random customer history written through the real models, and a tolerant comparison, for
the tests that run Patron's scoring on Spark and on DuckDB and compare the two."""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.models import Customer, OrderStatus, SurveyKind, TicketKind, User
from tests.analytics.history import History, at


def same(left: Any, right: Any) -> bool:
    """Equal, floats to 1e-9 (Spark and DuckDB may add in another order), inside lists and
    dicts too."""
    if isinstance(left, float) and isinstance(right, float | int):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def random_history(sessions: sessionmaker[Session], customers: int = 60) -> None:
    """Customers with random orders, refunds, contacts, tickets, answers, points and tags; some
    owned, some with birthdays before and after 1970."""
    rng = random.Random(8)
    history = History()
    with unit_of_work(sessions) as session:
        owner = User(username="owner", display_name="Owner", role="agent")
        session.add(owner)
        session.flush()
        for n in range(customers):
            key = f"c{n}"
            tags = tuple(rng.sample(["vip", "b2b", "wx", "new"], rng.randint(0, 3)))
            customer_id = history.customer(session, key, created=rng.randint(0, 300), tags=tags)
            customer = session.get(Customer, customer_id)
            assert customer is not None
            if n % 3:
                customer.owner_id, customer.owned_since = owner.id, at(rng.randint(0, 350))
            if n % 4 == 0:
                customer.birthday = date(rng.randint(1950, 2005), rng.randint(1, 12), 28)
            for _ in range(rng.randint(0, 14)):
                status = OrderStatus.refunded if rng.random() < 0.1 else OrderStatus.paid
                channel = rng.choice(["web", "store", "wechat"])
                amount = rng.randint(5, 500) + 0.25
                history.order(session, key, rng.randint(0, 400), amount, status, channel)
            for _ in range(rng.randint(0, 4)):
                history.interaction(session, key, rng.randint(0, 400), follow_up=rng.random() < 0.5)
            for _ in range(rng.randint(0, 3)):
                day = rng.randint(0, 380)
                kind = rng.choice([TicketKind.complaint, TicketKind.inquiry])
                resolved = day + rng.randint(0, 40) if rng.random() < 0.7 else None
                history.ticket(session, key, day, kind=kind, resolved=resolved)
            if rng.random() < 0.5:
                survey = rng.choice([SurveyKind.nps, SurveyKind.csat])
                history.response(session, key, rng.randint(0, 400), survey, rng.randint(0, 10))
            if rng.random() < 0.5:
                history.points(session, key, rng.randint(0, 400), rng.randint(-50, 200))
