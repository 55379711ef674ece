"""Reading the store for a whole-store run: on PostgreSQL two connections read one snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, func, insert, select

from patron.analytics.features import as_of_moment
from patron.analytics.store import one_snapshot, read_store
from patron.customers.models import Customer
from patron.db import create_db_engine
from patron.models import OrderStatus
from patron.orders.models import Order
from patron.schema import migrate
from patron.service.models import Ticket, TicketKind


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


# Times at and around half a second, on both sides of 1970: where rounding to whole seconds
# could go either way.
_TRICKY = [
    datetime(2026, 1, 1, 10, 0, 0, 500_000),
    datetime(2026, 1, 1, 10, 0, 0, 499_999),
    datetime(2026, 1, 1, 10, 0, 0, 500_001),
    datetime(2026, 1, 1, 10, 0, 0, 999_999),
    datetime(1969, 12, 31, 23, 59, 59, 500_000),
    datetime(1969, 12, 31, 23, 59, 59, 499_999),
    datetime(1969, 6, 30, 8, 0, 0, 500_000),
    datetime(1970, 1, 1, 0, 0, 0, 500_000),
]


@pytest.mark.parametrize(
    "moments", [_TRICKY, _TRICKY[:4]], ids=["both sides of 1970", "after 1970 only"]
)
def test_times_read_as_stored_become_the_epoch_seconds_the_server_computed(
    postgres: Engine, moments: list[datetime]
) -> None:
    """The whole-store read takes times and dates as stored and makes them epoch seconds
    itself; one customer's read still asks the server (`CAST(EXTRACT(EPOCH FROM …) AS
    BIGINT)`). Both give every time and date the same seconds, NULL where NULL: with times
    on both sides of 1970 in a column, and with none before it (the shorter way)."""
    ids = []
    for n, moment in enumerate(moments):
        customer = _add_customer(postgres, f"C-{n}")
        ids.append(customer)
        birthday = date(1969, 12, 31) + timedelta(days=200 * n - 700)
        with postgres.begin() as connection:
            connection.execute(
                Customer.__table__.update()
                .where(Customer.id == customer)
                .values(
                    birthday=birthday if n % 3 else None,
                    owned_since=moment if n % 2 else None,
                    created_at=moment,
                )
            )
            connection.execute(
                insert(Order),
                [
                    {
                        "customer_id": customer,
                        "external_id": f"O-{n}-{k}",
                        "ordered_at": moment + timedelta(days=k),
                        "amount": 10,
                        "status": OrderStatus.paid,
                    }
                    for k in range(3)
                ],
            )
            connection.execute(
                insert(Ticket).values(
                    customer_id=customer,
                    kind=TicketKind.complaint,
                    subject="late",
                    opened_at=moment,
                    resolved_at=moment + timedelta(hours=1) if n % 2 else None,
                    closed_at=None if n % 2 else moment + timedelta(microseconds=500_000),
                )
            )
    as_of = as_of_moment(datetime(2026, 1, 2, 10, 0, 0, 500_000))
    whole = read_store(postgres, as_of)
    times = {
        "customers": ("created_ts", "owned_since_ts", "birthday_ts"),
        "orders": ("ts",),
        "tickets": ("ts", "resolved_ts", "closed_ts"),
    }
    for name, columns in times.items():
        for column in columns:
            assert str(whole[name].data.column(column).type) == "int64"
    compared = 0
    for customer in ids:
        one = read_store(postgres, as_of, only=customer)
        for name, columns in times.items():
            rows = whole[name].data.filter(
                pc.equal(whole[name].data.column("customer_id"), customer)
            )
            for column in columns:
                assert rows.column(column).to_pylist() == one[name].data.column(column).to_pylist()
                compared += rows.num_rows
    assert compared > 6 * len(moments)


# Amounts whose nearest doubles are not the naive ones (0.1 + 0.2 style), large ones, refunds
# and a zero: every one must be the double the server's own cast gives.
_AMOUNTS = ["0.10", "0.20", "0.30", "1.15", "2.675", "19.99", "-0.01", "-123.45", "0.00",
            "1.005", "99999999999.99", "-99999999999.99", "8.13", "4.35"]  # fmt: skip


def test_amounts_read_as_cents_are_the_doubles_the_server_casts(postgres: Engine) -> None:
    """The whole-store read takes amounts as whole cents and divides them itself; one
    customer's read asks the server (`CAST(amount AS DOUBLE PRECISION)`). Both give every
    amount the same double, bit for bit."""
    customer = _add_customer(postgres, "C-1")
    with postgres.begin() as connection:
        connection.execute(
            insert(Order),
            [
                {
                    "customer_id": customer,
                    "external_id": f"O-{n}",
                    "ordered_at": datetime(2026, 1, 1),
                    "amount": amount,
                    "status": OrderStatus.paid,
                }
                for n, amount in enumerate(_AMOUNTS)
            ],
        )
        cast = connection.exec_driver_sql(
            "SELECT CAST(amount AS DOUBLE PRECISION) FROM orders ORDER BY external_id"
        ).scalars()
        by_server = list(cast)
    as_of = as_of_moment(datetime(2026, 1, 2))
    whole = read_store(postgres, as_of)["orders"].data
    one = read_store(postgres, as_of, only=customer)["orders"].data
    assert str(whole.column("amount").type) == "double"
    assert sorted(whole.column("amount").to_pylist()) == sorted(by_server)
    assert sorted(one.column("amount").to_pylist()) == sorted(by_server)
    assert sorted(by_server)[0] == -99999999999.99 and 0.3 in by_server
