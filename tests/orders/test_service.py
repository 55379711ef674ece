"""Bulk ingestion under concurrency: overlapping batches at once store each order and each
new customer once, and neither fails."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.db import now
from patron.orders.models import Order, Product
from tests.orders.racing import ingest_at_once


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
    results, failures = ingest_at_once(sessions, batches, now())
    assert failures == []
    assert sum(r.inserted for r in results) == 450
    assert sum(r.inserted + r.existing for r in results) == 300 + 300 + 450
    assert sum(r.customers_created for r in results) == 7
    with sessions() as session:
        counts = [
            session.scalar(select(func.count()).select_from(m)) for m in (Order, Customer, Product)
        ]
    assert counts == [450, 7, 5]
