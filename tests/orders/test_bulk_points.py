"""A bulk batch's points, written set-based (one statement on PostgreSQL), are exactly the
ledger that `points_for_order` and a running balance give, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.loyalty import service as loyalty
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind
from patron.orders import service
from patron.orders.models import Order
from patron.orders.schemas import BulkResult
from patron.rules import versions
from tests import builders
from tests.loyalty.conftest import activate
from tests.orders.racing import ingest_at_once

MOMENT = datetime(2024, 6, 3, 12, 0)
BONUSES = [
    {"min_amount": 500, "extra_points": 50},
    {"channels": ["wechat", "jd"], "multiplier": 1.5},
    {"grades": ["A"], "min_amount": 100, "multiplier": 1.1, "extra_points": 7},
]
AMOUNTS = ["0.01", "0.99", "1.00", "99.99", "100.00", "333.33", "499.99", "500.00", "1234.56"]
CHANNELS = [None, "wechat", "store", "jd"]
GRADES = ["A", "B", None]


def _ledger(session: Session) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(
            PointsEntry.customer_id, PointsEntry.kind, PointsEntry.points,
            PointsEntry.balance_after, PointsEntry.reason, PointsEntry.order_id,
            PointsEntry.occurred_at, PointsEntry.expires_at, PointsEntry.idempotency_key,
            PointsEntry.created_by_id,
        ).order_by(PointsEntry.id)
    )  # fmt: skip
    return [tuple(row) for row in rows]


def _balances(session: Session) -> dict[int, int]:
    query = select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)
    return dict(session.execute(query).all())


def _ingest(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> BulkResult:
    with unit_of_work(sessions) as session:
        return service.ingest(session=session, rows=rows, moment=MOMENT)


def _expected(
    session: Session, before: dict[int, int], external_ids: list[str]
) -> list[tuple[Any, ...]]:
    """The entries `points_for_order` gives the batch's orders, in order id order, each with
    the balance its customer has after it."""
    rules = versions.active(session.connection())[1].loyalty
    balances = dict(before)
    entries = []
    orders = session.scalars(
        select(Order).where(Order.external_id.in_(external_ids)).order_by(Order.id)
    ).all()
    for order in orders:
        if order.status.value != "paid":
            continue
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        points = min(loyalty.points_for_order(rules, order, customer.grade), loyalty.MAX_POINTS)
        if points <= 0:
            continue
        balances[order.customer_id] = balances.get(order.customer_id, 0) + points
        entries.append((
            order.customer_id, PointsKind.earn, points, balances[order.customer_id],
            f"order {order.external_id}", order.id, MOMENT, loyalty.add_months(MOMENT, 24),
            f"earn:order:{order.id}", None,
        ))  # fmt: skip
    return entries


def test_a_batch_earns_exactly_what_points_for_order_gives_and_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    activate(
        db, "loyalty", points_per_unit=0.7, grade_multipliers={"A": 2.0, "B": 1.5},
        bonus=BONUSES,
    )  # fmt: skip
    with sessions.begin() as session:
        customers = [builders.customer(session, grade=grade) for grade in GRADES]
        # One customer has points already: the batch's entries go on from that balance.
        builders.points(session, customers[0], 40, reason="welcome")
        ids = [customer.id for customer in customers]
    rows: list[dict[str, Any]] = []
    for n, amount in enumerate(AMOUNTS * 2):
        row = {
            "external_id": f"P-{n}", "customer_id": ids[n % len(ids)],
            "ordered_at": "2024-06-01T10:00:00", "amount": amount,
        }  # fmt: skip
        channel = CHANNELS[n % len(CHANNELS)]
        if channel:
            row["channel"] = channel
        rows.append(row)
    rows.append(rows[0] | {"external_id": "P-refunded", "status": "refunded"})
    rows.append(rows[1] | {"external_id": "P-bad", "amount": "-3"})
    rows.append({"external_id": "P-new", "customer_external_id": "NEW-1", "amount": "88.80",
                 "ordered_at": "2024-06-01"})  # fmt: skip
    with sessions() as session:
        before = _balances(session)
        ledger_before = _ledger(session)
    result = _ingest(sessions, rows)
    assert (result.inserted, result.rejected, result.customers_created) == (len(rows) - 1, 1, 1)
    assert [(e.row, e.external_id) for e in result.errors] == [(len(rows) - 2, "P-bad")]
    with sessions() as session:
        external_ids = [row["external_id"] for row in rows if row["external_id"] != "P-bad"]
        expected = _expected(session, before, external_ids)
        # Most paid orders earn; the smallest floor to nothing and get no entry.
        assert 12 <= len(expected) < len(rows) - 2
        assert _ledger(session) == ledger_before + expected
        after = _balances(session)
        for customer, balance in after.items():
            earned = session.scalar(
                select(func.sum(PointsEntry.points)).where(PointsEntry.customer_id == customer)
            )
            assert balance == earned
    # The same batch again stores nothing and credits nothing.
    again = _ingest(sessions, rows)
    assert (again.inserted, again.existing, again.rejected) == (0, len(rows) - 1, 1)
    with sessions() as session:
        assert _ledger(session) == ledger_before + expected
        assert _balances(session) == after


def test_overlapping_batches_at_once_credit_each_order_once(
    sessions: sessionmaker[Session],
) -> None:
    """Three batches sharing orders and customers, at once: each order earns once, every
    balance is the sum of its entries and each entry's balance_after follows the one before."""
    with sessions.begin() as session:
        ids = [builders.customer(session).id for _ in range(5)]

    def batch(numbers: range) -> list[dict[str, Any]]:
        return [
            {"external_id": f"RACE-{n}", "customer_id": ids[n % 5], "ordered_at": "2024-06-01",
             "amount": f"{n}.50"}
            for n in numbers
        ]  # fmt: skip

    batches = [batch(range(1, 200)), batch(range(100, 300)), batch(range(1, 300))]
    _, failures = ingest_at_once(sessions, batches, MOMENT)
    assert failures == []
    with sessions() as session:
        entries = session.execute(
            select(PointsEntry.customer_id, PointsEntry.points, PointsEntry.balance_after).order_by(
                PointsEntry.id
            )
        ).all()
        assert len(entries) == 299
        assert sum(points for _, points, _ in entries) == sum(range(1, 300))
        balances = _balances(session)
    running: dict[int, int] = {}
    for customer, points, balance_after in entries:
        running[customer] = running.get(customer, 0) + points
        assert balance_after == running[customer]
    assert balances == running


def test_many_digit_multipliers_earn_the_exact_product_on_both_paths(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    """Factors whose product needs more than Decimal's default 28 digits: (1 - 1e-16) ×
    (1 + 1e-16) is 1 - 1e-32, which 28 digits round up to 1. Both the bulk path (numeric on
    PostgreSQL) and `points_for_order` floor the exact product: one point less than the
    rounded one would give."""
    activate(
        db, "loyalty", points_per_unit=0.7, grade_multipliers={"A": 0.9999999999999999},
        bonus=[{"multiplier": "1.0000000000000001"}],
    )  # fmt: skip
    with sessions.begin() as session:
        customer_id = builders.customer(session, grade="A").id
    amounts = ["10.00", "1000.00", "999999.99", "3.33"]
    rows = [
        {"external_id": f"D-{n}", "customer_id": customer_id, "amount": amount,
         "ordered_at": "2024-06-01T10:00:00"}
        for n, amount in enumerate(amounts)
    ]  # fmt: skip
    with sessions() as session:
        before = _balances(session)
    _ingest(sessions, rows)
    factor = Fraction("0.7") * Fraction("0.9999999999999999") * Fraction("1.0000000000000001")
    exact = [math.floor(Fraction(amount) * factor) for amount in amounts]
    assert exact[:2] == [6, 699]  # 7 and 700 less 1e-31 and 1e-29
    with sessions() as session:
        expected = _expected(session, before, [row["external_id"] for row in rows])
        assert [entry[2] for entry in expected] == exact
        assert [entry[2] for entry in _ledger(session)] == exact
