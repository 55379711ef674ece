"""Imported orders earn their points set-based, once, as an explicit earn would."""

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


def _import(engine: Engine, path: Path, *, dry_run: bool = False) -> None:
    settings = Settings(import_batch_size=2)
    import_file(engine=engine, kind="orders", path=path, settings=settings, dry_run=dry_run)


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


def test_imported_paid_orders_earn_once(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, ROWS)
    _import(db, path, dry_run=True)
    assert _ledger(sessions) == []
    _import(db, path)
    with sessions() as session:
        ids = dict(session.execute(select(Order.external_id, Order.id)).all())
    # One point per unit, floored per order; the refunded order earns nothing.
    assert _ledger(sessions) == [
        ("C001", 99, 99, f"earn:order:{ids['O1']}"),
        ("C001", 10, 109, f"earn:order:{ids['O2']}"),
    ]
    _import(db, path)
    with unit_of_work(sessions) as session:
        again = earn_for_order(session=session, order_id=ids["O1"])
        assert again is not None and again.points == 99
    assert len(_ledger(sessions)) == 2
    with sessions() as session:
        balances = dict(
            session.execute(
                select(Customer.external_id, LoyaltyAccount.balance).join(
                    LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id
                )
            ).all()
        )
    assert balances == {"C001": 109}
