"""A large DuckDB query goes to PostgreSQL in key ranges, each part's lines made while the
part before it is copied: every row once, in key order, and a failing part stops the rest."""

from __future__ import annotations

import math
import threading

import duckdb
import pytest
from psycopg.errors import StringDataRightTruncation
from sqlalchemy import Connection, Engine

from patron.analytics.snapshots import copy_query, copy_query_in_parts

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


def test_a_failing_part_stops_the_copy_and_the_maker(db: Engine) -> None:
    con = _source()
    # A part in the middle carries a value the target column refuses: the writer is busy
    # with the part after it when the COPY fails.
    con.execute(
        f"UPDATE source SET label = 'too long for the column' WHERE k = {ROWS // 2 * 3 + 1}"
    )
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


def test_every_value_arrives_as_it_was(db: Engine) -> None:
    """COPY's text format: text with its escape characters, JSON, NULLs of every type and
    the doubles whose shortest digits are longest come back equal."""
    con = duckdb.connect()
    con.execute(
        r"""
        CREATE TABLE source AS SELECT * FROM (VALUES
            (1, 'tab	here', '{"a": "back\\slash \"quoted\" 上海"}'::JSON, 0.1, true,
             TIMESTAMP '2026-11-24 10:00:00.123456'),
            (2, 'a' || chr(9) || 'b' || chr(10) || 'c' || chr(13) || 'd\N\', '[1, null]'::JSON,
             5e-324, false, TIMESTAMP '1970-01-01 00:00:00'),
            (3, '', '{"line": "x\ny\tz"}'::JSON, '-0.0'::DOUBLE, NULL, NULL),
            (4, NULL, NULL, 1.7976931348623157e308, true, TIMESTAMP '2026-01-01 00:00:01'),
            (5, '\N', '"\\N"'::JSON, 'inf'::DOUBLE, false, NULL),
            (6, '"', 'null'::JSON, '-inf'::DOUBLE, NULL, NULL),
            (7, ',', '{}'::JSON, NULL, NULL, NULL),
            (8, 'x', '{}'::JSON, 2.2250738585072014e-308, NULL, NULL),
            (9, 'y', '{}'::JSON, 0.30000000000000004, NULL, NULL)
        ) t(k, label, doc, x, flag, moment)
        """
    )
    query = "SELECT * FROM source WHERE {} ORDER BY k".format
    with db.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE target (k integer, label text, doc json, x double precision, "
            "flag boolean, moment timestamp) ON COMMIT DROP"
        )
        copy_query_in_parts(
            connection, con, query, "target (k, label, doc, x, flag, moment)", key="k",
            keys="SELECT k FROM source", parts=3,
        )  # fmt: skip
        stored = connection.exec_driver_sql(
            "SELECT k, label, doc::text, x, flag, moment FROM target ORDER BY k"
        ).all()
    expected = con.execute(
        "SELECT k, label, CAST(doc AS VARCHAR), x, flag, moment FROM source ORDER BY k"
    ).fetchall()
    assert len(stored) == 9
    assert [tuple(row) for row in stored] == expected
    assert math.copysign(1, expected[2][3]) == math.copysign(1, stored[2][3]) == -1  # minus zero
    # NaN, which equals nothing, on its own.
    with db.begin() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE one (x double precision) ON COMMIT DROP")
        copy_query_in_parts(
            connection, con, "SELECT 'nan'::DOUBLE AS x FROM range(1) t(k) WHERE {}".format,
            "one (x)", key="k", keys="SELECT 0 AS k",
        )  # fmt: skip
        assert math.isnan(connection.exec_driver_sql("SELECT x FROM one").scalar_one())


def test_columns_go_by_position_and_every_text_type_is_escaped(db: Engine) -> None:
    """Two columns of one name stay two; an enum's text is escaped like any text; a list,
    which COPY's text format would not read back, is refused with the column's name."""
    con = duckdb.connect()
    con.execute("CREATE TYPE mood AS ENUM ('c\\d', 'tab\tbed')")
    with db.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE target (a integer, b integer, m text, n text) ON COMMIT DROP"
        )
        copy_query(
            connection,
            con,
            "SELECT * FROM (SELECT 1 AS x, 'c\\d'::mood AS m) p, "
            "(SELECT 2 AS x, 'tab\tbed'::mood AS X) q",
            "target (a, m, b, n)",
        )
        stored = connection.exec_driver_sql("SELECT a, m, b, n FROM target").all()
        assert [tuple(row) for row in stored] == [(1, "c\\d", 2, "tab\tbed")]
        with pytest.raises(ValueError, match="INTEGER\\[\\] column 'listed'"):
            copy_query(connection, con, "SELECT [1, 2] AS listed", "target (a)")
