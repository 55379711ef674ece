"""A large DuckDB query goes to PostgreSQL in key ranges, each part's CSV written while the
part before it is copied: every row once, in key order, and a failing part stops the rest."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import duckdb
import pytest
from psycopg.errors import StringDataRightTruncation
from sqlalchemy import Connection, Engine

from patron.analytics.snapshots import copy_query_in_parts

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

ROWS = 10_000


def _source() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Keys with gaps and a text column that needs CSV quoting.
    con.execute(
        "CREATE TABLE source AS SELECT i * 3 + 1 AS k, 'row, \"' || i || '\"\n上海' AS label "
        f"FROM range({ROWS}) t(i)"
    )
    return con


def _query(condition: str) -> str:
    return f"SELECT k, label FROM source WHERE {condition} ORDER BY k"


def _target(connection: Connection) -> None:
    connection.exec_driver_sql("CREATE TEMP TABLE target (k integer, label text) ON COMMIT DROP")


@pytest.mark.parametrize("parts", [1, 4, 7])
def test_every_row_arrives_once_in_key_order(db: Engine, parts: int) -> None:
    con = _source()
    with db.begin() as connection:
        _target(connection)
        copy_query_in_parts(
            connection, con, _query, "target (k, label)", key="k", keys="SELECT k FROM source",
            parts=parts,
        )  # fmt: skip
        # Physical order: the parts were appended one after another in key order.
        stored = connection.exec_driver_sql("SELECT k, label FROM target ORDER BY ctid").all()
    expected = con.execute(_query("TRUE")).fetchall()
    assert [tuple(row) for row in stored] == expected
    assert len(stored) == ROWS


def test_an_empty_query_copies_nothing(db: Engine) -> None:
    con = _source()
    con.execute("DELETE FROM source")
    with db.begin() as connection:
        _target(connection)
        copy_query_in_parts(
            connection, con, _query, "target (k, label)", key="k", keys="SELECT k FROM source"
        )
        assert connection.exec_driver_sql("SELECT count(*) FROM target").scalar_one() == 0


def test_a_failing_part_stops_the_copy_and_the_writer(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = _source()
    # A part in the middle carries a value the target column refuses: the writer is busy
    # with the part after it when the COPY fails.
    con.execute(
        f"UPDATE source SET label = 'too long for the column' WHERE k = {ROWS // 2 * 3 + 1}"
    )
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    threads_before = threading.active_count()
    with pytest.raises(StringDataRightTruncation), db.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE target (k integer, label varchar(20)) ON COMMIT DROP"
        )
        copy_query_in_parts(
            connection, con, _query, "target (k, label)", key="k", keys="SELECT k FROM source",
            parts=4,
        )  # fmt: skip
    assert threading.active_count() == threads_before
    assert list(tmp_path.iterdir()) == []  # no part's CSV left behind
