"""A run's snapshot rows and latest scores are stored exactly as the plain way stored them.

The plain way is the earlier code, kept here as the reference: on PostgreSQL DuckDB wrote
the whole CSV to a file that was then sent by COPY with the default TOAST compression, and
every customer's score row was updated in place; on SQLite rows went by executemany. The
current path (LZ4 for the snapshot JSON; on PostgreSQL a fresh scores table swapped in, on
SQLite an upsert) must give back the same text for every column, JSON included, on both
databases.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from sqlalchemy import Connection, Engine, func, insert, inspect, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics import kpi_store, snapshots
from patron.analytics.features import as_of_moment
from patron.customers.models import Customer, CustomerScore
from patron.db import create_db_engine
from patron.rules import runs, versions
from tests.rules.scenario import AS_OF, shop

SNAPSHOT_ROWS = (
    "SELECT customer_id, grade, stage, rfm_segment, value_class, clv, p_alive, churn_risk, "
    "warnings, r_score, f_score, CAST(features AS TEXT), CAST(explain AS TEXT) "
    "FROM score_snapshots "
    "WHERE run_id = {run} ORDER BY customer_id"
)
CUSTOMER_ROWS = (
    "SELECT customer_id, grade, stage, rfm_segment, value_class, clv, churn_risk, p_alive, "
    "scored_at FROM customer_scores ORDER BY customer_id"
)
SCORE_TYPES = (
    "customer_id BIGINT, grade VARCHAR(32), stage VARCHAR(32), rfm_segment VARCHAR(32), "
    "value_class VARCHAR(32), clv DOUBLE PRECISION, churn_risk DOUBLE PRECISION, "
    "p_alive DOUBLE PRECISION"
)
MOMENT = as_of_moment(AS_OF)


def _reference_copy(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str, target: str
) -> None:
    raw: Any = connection.connection.driver_connection
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER false)")
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
            copy.write(path.read_bytes())


def _reference_snapshots(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str
) -> None:
    names = ", ".join(snapshots.SNAPSHOT_COLUMNS)
    if connection.dialect.name == "postgresql":
        _reference_copy(connection, con, query, f"score_snapshots ({names})")
        return
    rows = con.execute(query).fetchall()
    marks = ", ".join("?" for _ in snapshots.SNAPSHOT_COLUMNS)
    connection.exec_driver_sql(f"INSERT INTO score_snapshots ({names}) VALUES ({marks})", rows)


def _reference_customers(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str, stamp: datetime
) -> None:
    columns = snapshots.CUSTOMER_COLUMNS
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TABLE IF EXISTS reference_scores")
        connection.exec_driver_sql(f"CREATE TEMP TABLE reference_scores ({SCORE_TYPES})")
        _reference_copy(connection, con, query, "reference_scores")
        connection.exec_driver_sql(
            f"UPDATE customer_scores c SET {', '.join(f'{n} = s.{n}' for n in columns)}, "
            "scored_at = %(stamp)s FROM reference_scores s WHERE c.customer_id = s.customer_id",
            {"stamp": stamp},
        )
        return
    text = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = con.execute(f"SELECT {', '.join(columns)}, '{text}', customer_id FROM ({query})")
    connection.exec_driver_sql(
        f"UPDATE customer_scores SET {', '.join(f'{n} = ?' for n in columns)}, scored_at = ? "
        "WHERE customer_id = ?",
        rows.fetchall(),
    )


def _awkward(con: duckdb.DuckDBPyConnection) -> None:
    """Values the CSV and JSON must carry unchanged: quotes, separators, line breaks,
    backslashes, non-ASCII text, NaN and infinity, NULLs, a CLV that rounds on storing."""
    first, second, third = (
        row[0]
        for row in con.execute("SELECT customer_id FROM features ORDER BY customer_id").fetchall()
    )
    con.execute(
        "UPDATE features SET city = 'a,\"b\"\nc\\\\d 上海', province = NULL, "
        "monetary_avg = 'nan'::DOUBLE, clv = 2.675, p_alive = NULL WHERE customer_id = ?",
        [first],
    )
    con.execute(
        "UPDATE features SET overdue_ratio = 'inf'::DOUBLE, clv = 1234567.005, "
        "churn_risk = 0.1 + 0.2, channel = '' WHERE customer_id = ?",
        [second],
    )
    con.execute(
        "UPDATE features SET rfm_segment = NULL, value_class = '\"quoted\"', "
        "clv = -0.0049 WHERE customer_id = ?",
        [third],
    )


@pytest.fixture
def prepared(db: Engine, sessions: sessionmaker[Session]) -> tuple[duckdb.DuckDBPyConnection, int]:
    shop(sessions)
    with db.connect() as connection:
        version, rulebook = versions.active(connection)
    con, _computed = runs.prepare(db, MOMENT, 90, "bgnbd", rulebook)
    _awkward(con)
    assert version is not None
    return con, version


def _run(connection: Connection) -> int:
    return snapshots.insert_run(
        connection, as_of=MOMENT, horizon_days=90, status="finished", customers=3
    )


def test_snapshot_rows_are_stored_as_the_plain_way_stored_them(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, version = prepared
    with db.begin() as connection:
        fast, plain = _run(connection), _run(connection)
        snapshots.insert_snapshots(connection, con, runs._snapshot_query(con, fast, version))
        _reference_snapshots(connection, con, runs._snapshot_query(con, plain, version)("TRUE"))
        stored = connection.exec_driver_sql(SNAPSHOT_ROWS.format(run=fast)).all()
        expected = connection.exec_driver_sql(SNAPSHOT_ROWS.format(run=plain)).all()
    assert len(stored) == 3
    assert stored == expected
    assert any("上海" in row[11] and "\\n" in row[11] for row in stored)
    assert all(1 <= row[9] <= 5 and 1 <= row[10] <= 5 for row in stored)
    assert any(row[4] == '"quoted"' for row in stored)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite keeps no statistics
def test_the_planner_knows_the_new_runs_snapshots_before_the_summary_reads_them(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, version = prepared
    with db.begin() as connection:
        run_id = _run(connection)
        snapshots.insert_snapshots(connection, con, runs._snapshot_query(con, run_id, version))
        # Sampled inside the run's transaction: the table's row count and the run id's
        # frequency (every row so far is this run's) are what the planner now uses.
        tuples = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'score_snapshots'"
        ).scalar_one()
        frequent = connection.exec_driver_sql(
            "SELECT most_common_vals::text, most_common_freqs FROM pg_stats "
            "WHERE tablename = 'score_snapshots' AND attname = 'run_id'"
        ).one()
    assert tuples == 3
    assert frequent == (f"{{{run_id}}}", [1.0])


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_vacuum_holding_the_snapshot_table_does_not_stop_the_run(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "ANALYZE_LOCK_WAIT", "200ms")
    con, version = prepared
    # The lock a vacuum or another run's ANALYZE holds, which the run's ANALYZE waits for.
    with db.connect() as vacuum:
        vacuum.exec_driver_sql("LOCK TABLE score_snapshots IN SHARE UPDATE EXCLUSIVE MODE")
        with db.begin() as connection:
            run_id = _run(connection)
            snapshots.insert_snapshots(connection, con, runs._snapshot_query(con, run_id, version))
            stored = connection.exec_driver_sql(SNAPSHOT_ROWS.format(run=run_id)).all()
            setting = connection.exec_driver_sql("SHOW lock_timeout").scalar_one()
        vacuum.rollback()
    assert len(stored) == 3
    assert setting == "0"


def test_latest_scores_are_stored_as_the_plain_way_stored_them(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, _version = prepared
    with db.begin() as connection:
        _reference_customers(connection, con, runs._LATEST_SCORES, MOMENT)
        expected = connection.exec_driver_sql(CUSTOMER_ROWS).all()
        connection.exec_driver_sql(
            "UPDATE customer_scores SET grade = NULL, stage = NULL, rfm_segment = NULL, "
            "value_class = NULL, clv = NULL, churn_risk = NULL, p_alive = NULL, scored_at = NULL"
        )
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        stored = connection.exec_driver_sql(CUSTOMER_ROWS).all()
    assert len(stored) == 3 and all(row[1] is not None for row in stored)
    assert stored == expected


def test_a_rerun_restores_changed_scores_and_moves_every_stamp(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, _version = prepared
    later = MOMENT + timedelta(days=1)
    with db.begin() as connection:
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        first = connection.exec_driver_sql(CUSTOMER_ROWS).all()
        changed = first[0][0]
        connection.exec_driver_sql(
            f"UPDATE customer_scores SET grade = 'Z', clv = 9, p_alive = NULL "
            f"WHERE customer_id = {changed}"
        )
    with db.begin() as connection:  # a rerun of the same date: only the changed row differs
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        assert connection.exec_driver_sql(CUSTOMER_ROWS).all() == first
    with db.begin() as connection:  # the next day: every stamp moves, scores stay
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, later)
        moved = connection.exec_driver_sql(CUSTOMER_ROWS).all()
    assert [row[:8] for row in moved] == [row[:8] for row in first]
    assert {str(row[8])[:10] for row in moved} == {str(later)[:10]}


def _new_customer(connection: Connection, external_id: str) -> int:
    with Session(bind=connection) as session:
        customer = Customer(external_id=external_id, name=external_id, grade="B", clv=5)
        session.add(customer)
        session.flush()
        return customer.id


def test_customers_the_run_leaves_out_keep_their_scores_and_new_ones_get_a_row(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, _version = prepared
    with db.begin() as connection:
        kept = _new_customer(connection, "not-in-the-run")
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        rows = {row[0]: row for row in connection.exec_driver_sql(CUSTOMER_ROWS)}
        # After the swap the database still gives each new customer its score row.
        added = _new_customer(connection, "after-the-run")
        scored = connection.execute(
            select(CustomerScore.grade).where(CustomerScore.customer_id == added)
        ).scalar_one()
    assert len(rows) == 4
    assert rows[kept][1] == "B" and rows[kept][8] is None
    assert scored == "B"


def test_the_scores_table_keeps_its_indexes_and_triggers(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    """The swapped-in table (PostgreSQL) has the model's indexes and foreign key, and the
    KPI store's trigger on it: a later edit of a grade still drops the totals per grade."""
    con, _version = prepared
    with db.begin() as connection:
        kpi_store.ensure_store(connection)
        connection.execute(
            insert(kpi_store.run_clv_by).values(
                run_id=1, dimension="grade", owner_key=0, known=True, value="A", total=1.0,
                customers=1,
            )
        )  # fmt: skip
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        # The run's new grades drop the totals per grade: a swap (PostgreSQL) or the keys
        # trigger on the upserted rows (SQLite).
        replaced = connection.execute(select(func.count()).select_from(kpi_store.run_clv_by))
        assert replaced.scalar() == 0
        connection.execute(
            insert(kpi_store.run_clv_by).values(
                run_id=2, dimension="grade", owner_key=0, known=True, value="B", total=1.0,
                customers=1,
            )
        )  # fmt: skip
        connection.exec_driver_sql("UPDATE customer_scores SET grade = 'Z'")
        left = connection.execute(select(func.count()).select_from(kpi_store.run_clv_by)).scalar()
        found = inspect(connection)
        indexes = {index["name"] for index in found.get_indexes("customer_scores")}
        keys = found.get_foreign_keys("customer_scores")
        primary = found.get_pk_constraint("customer_scores")
    assert left == 0
    assert indexes == {index.name for index in CustomerScore.__table__.indexes}
    assert [(key["name"], key["referred_table"]) for key in keys] == [
        ("fk_customer_scores_customer_id_customers", "customers")
    ]
    assert primary["constrained_columns"] == ["customer_id"]


def test_a_failed_run_leaves_the_old_scores(
    db: Engine, prepared: tuple[duckdb.DuckDBPyConnection, int]
) -> None:
    con, _version = prepared
    with db.connect() as connection:
        before = connection.exec_driver_sql(CUSTOMER_ROWS).all()
        connection.rollback()
        transaction = connection.begin()
        snapshots.write_latest_scores(connection, con, runs._LATEST_SCORES, MOMENT)
        assert connection.exec_driver_sql(CUSTOMER_ROWS).all() != before
        transaction.rollback()
        assert connection.exec_driver_sql(CUSTOMER_ROWS).all() == before
        names = {index["name"] for index in inspect(connection).get_indexes("customer_scores")}
    assert names == {index.name for index in CustomerScore.__table__.indexes}


def test_a_failing_query_or_copy_raises_instead_of_hanging(postgres_url: str) -> None:
    """COPY is PostgreSQL's path only, so this runs there alone (temporary tables, no schema)."""
    engine = create_db_engine(postgres_url)
    con = duckdb.connect()
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE one_column (n BIGINT)")
        with pytest.raises(duckdb.Error, match="boom"):
            snapshots.copy_query(connection, con, "SELECT error('boom') AS n", "one_column")
        connection.rollback()
        connection.exec_driver_sql("CREATE TEMP TABLE one_column (n BIGINT)")
        # Two columns for one: the server refuses the rows.
        with pytest.raises(psycopg.Error, match="extra data"):
            snapshots.copy_query(
                connection, con, "SELECT range AS a, range AS b FROM range(2000000)", "one_column"
            )
    engine.dispose()


def test_a_local_setting_holds_inside_the_block_and_is_put_back(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    show = "SELECT current_setting('work_mem')"
    with engine.connect() as connection:
        before = connection.exec_driver_sql(show).scalar_one()
        with snapshots.local_setting(connection, "work_mem", "77MB"):
            assert connection.exec_driver_sql(show).scalar_one() == "77MB"
        assert connection.exec_driver_sql(show).scalar_one() == before
        # A failing block: its own error comes out, and the rollback restores the setting.
        with (
            pytest.raises(DataError, match="division by zero"),
            snapshots.local_setting(connection, "work_mem", "77MB"),
        ):
            connection.exec_driver_sql("SELECT 1 / 0")
        connection.rollback()
        assert connection.exec_driver_sql(show).scalar_one() == before
    engine.dispose()


def test_a_local_setting_on_sqlite_just_runs_the_block(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    with engine.connect() as connection, snapshots.local_setting(connection, "work_mem", "77MB"):
        assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    engine.dispose()
