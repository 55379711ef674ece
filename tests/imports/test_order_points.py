"""Imported orders are history: they earn no points until earned on purpose."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.imports.service import import_file
from patron.loyalty.models import LoyaltyAccount, PointsEntry
from patron.loyalty.service import earn_for_order
from patron.orders.models import Order
from tests.imports.files import ORDER_HEADER, write_csv

ROWS = [
    ["O1", "C001", "2024-03-01 10:00", "99.99", "paid", "web"],
    ["O2", "C001", "2024-03-02 10:00", "10.50", "paid", "web"],
    ["O3", "C002", "2024-03-03 10:00", "500", "refunded", "web"],
]


def _import(engine: Engine, path: Path) -> None:
    import_file(engine=engine, kind="orders", path=path, settings=Settings(import_batch_size=2))


def _ledger(sessions: sessionmaker[Session]) -> list[tuple[str, int, int, str | None]]:
    """(customer, points, balance_after, key) of every entry, oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(
                Customer.external_id,
                PointsEntry.points,
                PointsEntry.balance_after,
                PointsEntry.idempotency_key,
            )
            .join(Customer, Customer.id == PointsEntry.customer_id)
            .order_by(PointsEntry.id)
        )
        return [(c, p, b, k) for c, p, b, k in rows]


def test_imported_orders_bring_history_without_points(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, ROWS)
    _import(db, path)
    assert _ledger(sessions) == []
    with sessions() as session:
        ids = dict(session.execute(select(Order.external_id, Order.id)).all())
    # Earned on purpose, an imported order's points come once, under the order's key.
    with unit_of_work(sessions) as session:
        earned = earn_for_order(session=session, order_id=ids["O1"])
        assert earned is not None and earned.points == 99
    _import(db, path)
    assert _ledger(sessions) == [("C001", 99, 99, f"earn:order:{ids['O1']}")]
    with sessions() as session:
        balances = dict(
            session.execute(
                select(Customer.external_id, LoyaltyAccount.balance).join(
                    LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id
                )
            ).all()
        )
    assert balances == {"C001": 99}
