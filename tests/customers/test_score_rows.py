"""Every customer has its score row: inserted one by one, in bulk, after a failed bulk insert."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from patron.customers.models import Customer, CustomerScore
from patron.imports.bulk import insert_many
from patron.imports.references import _bare_customer, customers_table

WHEN = datetime(2026, 6, 30, 12)


def _rows(prefix: str, n: int) -> list[dict[str, str]]:
    return [{"external_id": f"{prefix}{i}", "name": f"{prefix} {i}"} for i in range(n)]


def _bare(prefix: str, n: int) -> list[dict[str, Any]]:
    """Rows as an orders import creates the customers it has not met."""
    return [_bare_customer(f"{prefix}{i}", WHEN) for i in range(n)]


def _without_a_row(connection: Connection) -> int:
    missing = (
        select(func.count())
        .select_from(Customer)
        .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.customer_id.is_(None))
    )
    return int(connection.scalar(missing) or 0)


def _trigger_installed(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        sql = "SELECT count(*) FROM sqlite_master WHERE name = 'customer_score_rows'"
    else:
        sql = "SELECT count(*) FROM pg_trigger WHERE tgname = 'customer_score_rows'"
    return connection.exec_driver_sql(sql).scalar() == 1


def test_a_bulk_insert_gives_each_new_customer_one_score_row(db: Engine) -> None:
    with db.begin() as connection:
        connection.execute(insert(Customer), _rows("seed", 5))  # one by one, by the trigger
        insert_many(connection, customers_table, _bare("bulk", 300))
        assert _without_a_row(connection) == 0
        assert connection.scalar(select(func.count()).select_from(CustomerScore)) == 305
        assert _trigger_installed(connection)
    with db.begin() as connection:
        # The trigger is back for the next customer inserted one by one.
        connection.execute(insert(Customer), _rows("later", 1))
        assert _without_a_row(connection) == 0


def test_a_failed_bulk_insert_leaves_the_trigger_and_a_row_for_each_customer(db: Engine) -> None:
    with db.begin() as connection:
        insert_many(connection, customers_table, _bare("seed", 3))
    with db.connect() as connection:
        with pytest.raises(IntegrityError):
            insert_many(connection, customers_table, _bare("new", 2) + _bare("seed", 1))
        if db.dialect.name == "sqlite":
            # SQLite undoes the failing row only; the caller may go on in the transaction.
            insert_many(connection, customers_table, _bare("next", 2))
            assert _trigger_installed(connection)
            connection.commit()
        else:
            connection.rollback()
    with db.connect() as connection:
        assert _without_a_row(connection) == 0
        assert _trigger_installed(connection)
        stored = connection.scalar(select(func.count()).select_from(CustomerScore))
    # SQLite keeps the two rows before the failing one, then the two next: 3 + 2 + 2.
    assert stored == (7 if db.dialect.name == "sqlite" else 3)


def test_a_bulk_insert_rolled_back_leaves_the_trigger(db: Engine) -> None:
    """The trigger is dropped and made again inside the caller's transaction, so a rollback
    of that transaction (the bulk insert its first write) brings the trigger back with it."""
    with db.begin() as connection:
        insert_many(connection, customers_table, _bare("seed", 1))
    with db.connect() as connection:
        with pytest.raises(IntegrityError):
            insert_many(connection, customers_table, _bare("new", 2) + _bare("seed", 1))
        connection.rollback()
    with db.connect() as connection:
        assert _trigger_installed(connection)
    with db.begin() as connection:
        connection.execute(insert(Customer), _rows("later", 1))
        assert _without_a_row(connection) == 0


def test_another_connection_never_sees_the_trigger_missing_during_a_bulk_insert(
    db: Engine,
) -> None:
    """While a bulk insert's transaction is open, the trigger's absence is not visible to
    another connection (which would insert customers without their score rows)."""
    with db.connect() as bulk:
        insert_many(bulk, customers_table, _bare("bulk", 2))
        with db.connect() as other:
            assert _trigger_installed(other)
        bulk.commit()
