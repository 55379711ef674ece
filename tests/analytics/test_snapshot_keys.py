"""The score snapshots' keys: a snapshot's customer and run exist, deleting a run deletes its
snapshots, and a customer who has snapshots cannot be deleted.

SQLite has them as foreign keys; PostgreSQL checks them per statement with triggers
(`analytics.snapshot_keys`), which must hold the same way, for a run's COPY too and while a run
is still writing its snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb
import psycopg
import pytest
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from patron.analytics import snapshots
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.analytics.snapshot_keys import TRIGGERS
from patron.customers import service
from patron.customers.models import Customer, CustomerScore
from patron.db import session_factory

ON_POSTGRESQL = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


def _customer(connection: Connection, key: str) -> int:
    return int(
        connection.execute(
            insert(Customer).values(external_id=key, name=key).returning(Customer.id)
        ).scalar_one()
    )


def _run(connection: Connection) -> int:
    return snapshots.insert_run(
        connection, as_of=datetime(2026, 7, 1), horizon_days=90, status="finished"
    )


def _snapshot(connection: Connection, run_id: int, customer_id: int) -> None:
    connection.execute(
        insert(ScoreSnapshot).values(
            run_id=run_id, customer_id=customer_id, warnings="", features={}, explain={}
        )
    )


def _count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(ScoreSnapshot)).scalar_one())


def _waits(connection: Connection, statement: Callable[[], object]) -> None:
    """The statement, in a transaction of its own, waits for another transaction's lock
    (given up after 300 ms); then that transaction is rolled back."""
    connection.begin()
    connection.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
    with pytest.raises(OperationalError) as waited:
        statement()
    assert isinstance(waited.value.orig, psycopg.errors.LockNotAvailable)
    connection.rollback()


def test_a_snapshot_of_a_missing_customer_is_refused(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
    with pytest.raises(IntegrityError), db.begin() as connection:
        _snapshot(connection, run_id, 424242)


def test_a_snapshot_of_a_missing_run_is_refused(db: Engine) -> None:
    with db.begin() as connection:
        customer_id = _customer(connection, "C1")
        run_id = _run(connection)
    with pytest.raises(IntegrityError), db.begin() as connection:
        _snapshot(connection, 424242, customer_id)
    # One statement naming an existing run and a missing one is refused too.
    rows = [(run_id, customer_id), (424242, customer_id)]
    with pytest.raises(IntegrityError, match="424242"), db.begin() as connection:
        connection.execute(
            insert(ScoreSnapshot),
            [{"run_id": r, "customer_id": c, "warnings": "", "features": {}, "explain": {}}
             for r, c in rows],
        )  # fmt: skip
    with db.begin() as connection:
        assert _count(connection) == 0


def test_a_snapshot_moves_to_an_existing_customer_only(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        first, second = _customer(connection, "C1"), _customer(connection, "C2")
        _snapshot(connection, run_id, first)
    with pytest.raises(IntegrityError), db.begin() as connection:
        connection.execute(update(ScoreSnapshot).values(customer_id=424242))
    with db.begin() as connection:
        connection.execute(update(ScoreSnapshot).values(customer_id=second))
        assert connection.execute(select(ScoreSnapshot.customer_id)).scalar_one() == second


def test_a_customer_with_snapshots_cannot_be_deleted(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        kept, plain = _customer(connection, "C1"), _customer(connection, "C2")
        _snapshot(connection, run_id, kept)
    with pytest.raises(IntegrityError), db.begin() as connection:
        connection.execute(delete(Customer).where(Customer.id == kept))
    with db.begin() as connection:
        connection.execute(delete(Customer).where(Customer.id == plain))
        connection.execute(delete(ScoreSnapshot))
        connection.execute(delete(Customer).where(Customer.id == kept))
        assert connection.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


def test_deleting_a_run_deletes_its_snapshots_only(db: Engine) -> None:
    with db.begin() as connection:
        gone, stays = _run(connection), _run(connection)
        customer_id = _customer(connection, "C1")
        _snapshot(connection, gone, customer_id)
        _snapshot(connection, stays, customer_id)
    with db.begin() as connection:
        connection.execute(delete(ScoringRun).where(ScoringRun.id == gone))
        assert connection.execute(select(ScoreSnapshot.run_id)).scalars().all() == [stays]


def test_the_id_of_a_customer_or_run_with_snapshots_cannot_change(db: Engine) -> None:
    with db.begin() as connection:
        run_id, plain_run = _run(connection), _run(connection)
        kept = _customer(connection, "C1")
        _snapshot(connection, run_id, kept)
        # Its score row goes, so that only the snapshot refers to the customer.
        connection.execute(delete(CustomerScore).where(CustomerScore.customer_id == kept))
    for table, row_id in ((Customer, kept), (ScoringRun, run_id)):
        with pytest.raises(IntegrityError), db.begin() as connection:
            connection.execute(update(table).where(table.id == row_id).values(id=row_id + 100))
    with db.begin() as connection:  # another run's id, and other columns, may change
        connection.execute(update(ScoringRun).where(ScoringRun.id == plain_run).values(id=999))
        connection.execute(update(Customer).where(Customer.id == kept).values(name="Renamed"))
        rows = connection.execute(select(ScoreSnapshot.run_id, ScoreSnapshot.customer_id)).all()
    assert rows == [(run_id, kept)]


@ON_POSTGRESQL
def test_postgresql_checks_the_keys_with_triggers(db: Engine) -> None:
    with db.connect() as connection:
        keys = connection.exec_driver_sql(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'score_snapshots'::regclass AND contype = 'f'"
        )
        assert keys.scalars().all() == []
        triggers = connection.exec_driver_sql(
            "SELECT tgname, tgrelid::regclass::text FROM pg_trigger"
        ).all()
    assert {(name, table) for name, (table, *_) in TRIGGERS.items()} <= set(map(tuple, triggers))


@ON_POSTGRESQL
def test_a_run_copy_naming_a_missing_customer_is_refused(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        customer_id = _customer(connection, "C1")
    con = duckdb.connect()
    rows = (
        f"SELECT {run_id} AS run_id, customer_id, '' AS warnings, '{{}}' AS features, "
        f"'{{}}' AS explain FROM (VALUES ({customer_id}), (424242)) AS t(customer_id)"
    )
    target = "score_snapshots (run_id, customer_id, warnings, features, explain)"
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="customer 424242"),
        db.begin() as connection,
    ):
        snapshots.copy_query(connection, con, rows, target)
    with db.connect() as connection:
        assert _count(connection) == 0


@ON_POSTGRESQL
def test_truncating_the_customers_or_runs_empties_the_snapshots(db: Engine) -> None:
    for table in ("customers", "scoring_runs"):
        with db.begin() as connection:
            _snapshot(connection, _run(connection), _customer(connection, f"C-{table}"))
        with db.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {table} CASCADE")
            assert _count(connection) == 0


@ON_POSTGRESQL
def test_a_customer_deleted_while_a_run_writes_their_snapshot_waits_then_fails(
    db: Engine,
) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        customer_id = _customer(connection, "C1")
    with db.connect() as writer, db.connect() as deleter:
        writer.begin()
        _snapshot(writer, run_id, customer_id)  # not committed yet: the run is still writing
        _waits(deleter, lambda: deleter.execute(delete(Customer).where(Customer.id == customer_id)))
        writer.commit()
        with pytest.raises(IntegrityError), deleter.begin():
            deleter.execute(delete(Customer).where(Customer.id == customer_id))
    with db.connect() as connection:
        assert _count(connection) == 1


@ON_POSTGRESQL
def test_a_run_deleted_while_its_snapshots_are_written_waits_then_takes_them(
    db: Engine,
) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        customer_id = _customer(connection, "C1")
    with db.connect() as writer, db.connect() as deleter:
        writer.begin()
        _snapshot(writer, run_id, customer_id)
        _waits(deleter, lambda: deleter.execute(delete(ScoringRun).where(ScoringRun.id == run_id)))
        writer.commit()
        with deleter.begin():
            deleter.execute(delete(ScoringRun).where(ScoringRun.id == run_id))
    with db.connect() as connection:
        assert _count(connection) == 0


@ON_POSTGRESQL
def test_snapshots_of_a_run_being_deleted_wait_then_fail(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        customer_id = _customer(connection, "C1")
    with db.connect() as writer, db.connect() as deleter:
        deleter.begin()
        deleter.execute(delete(ScoringRun).where(ScoringRun.id == run_id))
        _waits(writer, lambda: _snapshot(writer, run_id, customer_id))
        deleter.commit()
        with pytest.raises(IntegrityError, match="scoring run"), writer.begin():
            _snapshot(writer, run_id, customer_id)
    with db.connect() as connection:
        assert _count(connection) == 0


@ON_POSTGRESQL
def test_a_merge_waits_for_a_run_writing_and_moves_its_snapshot(db: Engine) -> None:
    with db.begin() as connection:
        run_id = _run(connection)
        source, into = _customer(connection, "S"), _customer(connection, "W")
    sessions = session_factory(db)
    with db.connect() as writer:
        writer.begin()
        _snapshot(writer, run_id, source)
        with sessions() as session:  # autobegun: set the timeout inside it
            session.connection().exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
            with pytest.raises(OperationalError) as waited:
                service.merge(session=session, source_id=source, into_id=into)
            assert isinstance(waited.value.orig, psycopg.errors.LockNotAvailable)
        writer.commit()
    with sessions() as session, session.begin():
        service.merge(session=session, source_id=source, into_id=into)
    with db.connect() as connection:
        owners = connection.execute(select(ScoreSnapshot.customer_id)).scalars().all()
    assert owners == [into]
