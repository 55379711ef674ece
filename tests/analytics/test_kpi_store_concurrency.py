"""The KPI store stays exact when transactions write orders of the same customers at once
(PostgreSQL, where writers run side by side; SQLite has one writer at a time).

The insert trigger leaves a customer's first purchase alone when an earlier one is stored,
taking only a key-share lock on it: two ingesting batches of the same customers then do not
wait for each other, while a recount of those customers (a refunded order) waits for the
batch to commit and counts its orders. Each test holds one transaction open, runs the other
on a thread until it commits or waits for a lock, then compares the store with a rebuild.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text, update
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.kpi_store import ensure_store
from patron.orders import repository
from patron.orders.models import Order, OrderStatus
from tests import builders
from tests.imports.kpi_rebuild import assert_store_exact

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

FIRST = datetime(2023, 3, 1, 10, 0)
LATER = datetime(2024, 6, 1, 12, 0)
EARLIER = datetime(2022, 1, 5, 9, 0)
BUYERS = 12


def _shop(db: Engine, sessions: sessionmaker[Session]) -> list[int]:
    """Customers with one paid order on FIRST, then two without a purchase; the store built."""
    with sessions.begin() as session:
        people = [builders.customer(session, f"客户{n}") for n in range(BUYERS + 2)]
        for person in people[:BUYERS]:
            builders.order(session, person, "50.00", FIRST)
        ids = [person.id for person in people]
    with db.begin() as conn:
        ensure_store(conn)
    return ids


def _ingest(conn: Connection, tag: str, orders: list[tuple[int, datetime]]) -> None:
    """Orders inserted as bulk ingestion inserts them: one statement for the batch."""
    rows = [
        {"external_id": f"{tag}-{n}", "customer_id": customer, "ordered_at": moment,
         "amount": Decimal("20.00"), "status": OrderStatus.paid, "channel": "web",
         "currency": "CNY", "quantity": None, "product_id": None, "custom_fields": {},
         "import_hash": None, "created_at": LATER}
        for n, (customer, moment) in enumerate(orders)
    ]  # fmt: skip
    assert len(repository.insert_orders(conn, rows)) == len(rows)


class Other(threading.Thread):
    """A second transaction on its own connection, committed at the end of `work`."""

    def __init__(self, engine: Engine, work: Callable[[Connection], None]) -> None:
        super().__init__(daemon=True)
        self.engine, self.work = engine, work
        self.pid: int | None = None
        self.started = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.engine.begin() as conn:
                self.pid = conn.scalar(text("SELECT pg_backend_pid()"))
                self.started.set()
                self.work(conn)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            self.started.set()

    def settle(self) -> bool:
        """Wait until the transaction has committed (True) or waits for a lock (False)."""
        assert self.started.wait(60)
        guard = time.monotonic() + 120  # against a hang only: either state comes in ms
        lock_wait = text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid")
        while self.is_alive():
            with self.engine.connect() as conn:
                if conn.scalar(lock_wait, {"pid": self.pid}):
                    return False
            assert time.monotonic() < guard, "the other transaction neither ended nor waited"
            time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return True

    def finish(self) -> None:
        self.join(120)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error


def _refund(customer: int) -> Callable[[Connection], Any]:
    """The customer's orders on FIRST refunded: their first purchase is counted again."""

    def work(conn: Connection) -> None:
        conn.execute(
            update(Order)
            .where(Order.customer_id == customer, Order.ordered_at == FIRST)
            .values(status=OrderStatus.refunded)
        )

    return work


def test_batches_of_the_same_buyers_do_not_wait_for_each_other(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = _shop(db, sessions)
    buyers, new = ids[:BUYERS], ids[BUYERS:]
    with db.begin() as conn:
        # Later orders of every buyer, an earlier one of the first, a first purchase of a new one.
        _ingest(conn, "A", [*((c, LATER) for c in buyers), (buyers[0], EARLIER), (new[0], LATER)])
        other = Other(db, lambda c: _ingest(
            c, "B", [*((b, LATER) for b in buyers), (buyers[1], EARLIER), (new[1], LATER)]
        ))  # fmt: skip
        other.start()
        assert other.settle(), "the second batch waited for the first one's row locks"
    other.finish()
    compared = assert_store_exact(db)
    assert compared.first_purchases == BUYERS + 2


@pytest.mark.parametrize("refund_first", [False, True], ids=["batch first", "refund first"])
def test_a_recount_beside_a_batch_counts_its_orders(
    db: Engine, sessions: sessionmaker[Session], refund_first: bool
) -> None:
    ids = _shop(db, sessions)
    buyer = ids[0]
    first: Callable[[Connection], Any] = _refund(buyer)
    second: Callable[[Connection], Any] = lambda c: _ingest(c, "A", [(buyer, LATER)])  # noqa: E731
    if not refund_first:
        first, second = second, first
    with db.begin() as conn:
        first(conn)
        other = Other(db, second)
        other.start()
        # The later writer must wait for this commit: the store would miss this change else.
        assert not other.settle(), "the second transaction did not wait for the first"
    other.finish()
    compared = assert_store_exact(db)
    assert compared.first_purchases == BUYERS
    with db.connect() as conn:
        stored = conn.scalar(
            text("SELECT first_paid_at FROM kpi_first_purchases WHERE customer_id = :c"),
            {"c": buyer},
        )
    assert stored == LATER
