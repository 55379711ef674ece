"""Reading the store for a whole-store run: on PostgreSQL two connections read one snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from patron.analytics.features import as_of_moment
from patron.analytics.store import one_snapshot, read_store
from patron.customers.models import Customer
from patron.db import create_db_engine
from patron.models import OrderStatus
from patron.orders.models import Order
from patron.schema import migrate


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Engine]:
    """The process's PostgreSQL database, migrated and emptied of customers and orders."""
    engine = create_db_engine(postgres_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE customers RESTART IDENTITY CASCADE")
    yield engine
    engine.dispose()


def _add_customer(engine: Engine, external_id: str) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                insert(Customer)
                .values(external_id=external_id, name=external_id)
                .returning(Customer.id)
            ).scalar_one()
        )


def _count(cursor: object) -> int:
    cursor.execute("SELECT count(*) FROM customers")  # type: ignore[attr-defined]
    (n,) = cursor.fetchone()  # type: ignore[attr-defined]
    return int(n)


def test_both_connections_see_the_store_as_it_was_when_the_read_began(
    postgres: Engine,
) -> None:
    _add_customer(postgres, "C-1")
    with one_snapshot(postgres) as (first, second):
        # Committed after the snapshot was taken and before the second connection's first
        # statement: a second transaction of its own would see it.
        _add_customer(postgres, "C-2")
        assert _count(first) == 1
        assert _count(second) == 1
    with postgres.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Customer)) == 2


def test_the_two_connection_read_gives_every_table_in_full(postgres: Engine) -> None:
    ids = [_add_customer(postgres, f"C-{n}") for n in range(3)]
    with postgres.begin() as connection:
        connection.execute(
            insert(Order),
            [
                {
                    "customer_id": customer,
                    "external_id": f"O-{customer}-{n}",
                    "ordered_at": datetime(2026, 1, 1 + n),
                    "amount": 10 * (n + 1),
                    "status": OrderStatus.paid,
                }
                for customer in ids
                for n in range(4)
            ],
        )
    tables = read_store(postgres, as_of_moment(datetime(2026, 1, 3)))
    assert list(tables) == [
        "customers",
        "tags",
        "orders",
        "products",
        "interactions",
        "tickets",
        "responses",
        "points",
        "tier_changes",
    ]
    assert sorted(tables["customers"].data.column("customer_id").to_pylist()) == ids
    orders = tables["orders"].data
    # Orders on 1, 2 and 3 January of each customer: the 4th is after the cut.
    assert orders.num_rows == 9
    assert sorted(orders.column("amount").to_pylist()) == [10.0] * 3 + [20.0] * 3 + [30.0] * 3
