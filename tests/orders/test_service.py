"""Bulk ingestion under concurrency: overlapping batches at once store each order and each
new customer once, and neither fails."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.db import now, unit_of_work
from patron.orders import service
from patron.orders.models import Order, Product
from patron.orders.schemas import BulkResult


def _batch(numbers: range) -> list[dict[str, object]]:
    return [
        {
            "external_id": f"RACE-{n}", "customer_external_id": f"NEW-{n % 7}",
            "ordered_at": "2024-06-01", "amount": n, "product_id": f"SKU-{n % 5}",
        }
        for n in numbers
    ]  # fmt: skip


def test_overlapping_batches_at_once_store_everything_once(sessions: sessionmaker[Session]) -> None:
    batches = [_batch(range(0, 300)), _batch(range(150, 450)), _batch(range(0, 450))]
    results: list[BulkResult] = []
    failures: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def ingest(rows: list[dict[str, object]]) -> None:
        start.wait()
        try:
            with unit_of_work(sessions) as session:
                results.append(service.ingest(session=session, rows=rows, moment=now()))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=ingest, args=(rows,)) for rows in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(r.inserted for r in results) == 450
    assert sum(r.inserted + r.existing for r in results) == 300 + 300 + 450
    assert sum(r.customers_created for r in results) == 7
    with sessions() as session:
        counts = [
            session.scalar(select(func.count()).select_from(m)) for m in (Order, Customer, Product)
        ]
    assert counts == [450, 7, 5]
