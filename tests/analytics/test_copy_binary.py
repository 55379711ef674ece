"""COPY in PostgreSQL's binary format: every column type it encodes arrives as the text format
would have brought it, a value the column cannot hold is refused, and a column without an
exact binary form sends the whole COPY as text."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest
from sqlalchemy import Connection, Engine

from patron.analytics import copy_binary, snapshots

on_postgres = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

COLUMNS = (
    "k integer, big bigint, small smallint, tiny smallint, x double precision, y real, "
    "n double precision, flag boolean, label text, code varchar(8), doc json, "
    "moment timestamp, day date"
)
NAMES = "k, big, small, tiny, x, y, n, flag, label, code, doc, moment, day"
# Each row a set of edge values: the types' limits, NULLs, text the text format escapes,
# times on either side of PostgreSQL's epoch (2000) and DuckDB's (1970), and infinity.
SOURCE = r"""
CREATE TABLE source AS SELECT * FROM (VALUES
    (1, -9223372036854775808, -32768, (-128)::TINYINT, '-0.0'::DOUBLE, 1.5::FLOAT, 7, true,
     'tab	here', 'a\b', '{"a": "back\\slash 上海"}',
     TIMESTAMP '1999-12-31 23:59:59.999999', DATE '1999-12-31'),
    (2, 9223372036854775807, 32767, 127::TINYINT, 'nan'::DOUBLE, 'inf'::FLOAT, -7, false,
     'a' || chr(10) || 'b' || chr(13) || 'c\N', '\N', '[1, null]',
     TIMESTAMP '2000-01-01 00:00:00', DATE '2000-01-01'),
    (3, 0, 0, 0::TINYINT, 5e-324, 1e-45::FLOAT, NULL, NULL, '', '', '{}',
     TIMESTAMP '1970-01-01 00:00:00', DATE '1970-01-01'),
    (4, NULL, NULL, NULL, NULL, NULL, 0, true, NULL, NULL, NULL, NULL, NULL),
    (5, 1, 1, 1::TINYINT, 0.30000000000000004, '-0.0'::FLOAT, 9007199254740992, false,
     '"quoted", comma', '上海', 'null',
     TIMESTAMP '2026-11-24 10:00:00.123456', DATE '2026-11-24'),
    (6, -1, -1, (-1)::TINYINT, '-inf'::DOUBLE, NULL, 1, NULL, 'x', 'y', '"s"',
     TIMESTAMP 'infinity', DATE 'infinity'),
    (7, 2, 2, 2::TINYINT, 1.7976931348623157e308, 3.4028235e38::FLOAT, 2, true, 'z', 'w', '2',
     TIMESTAMP '-infinity', DATE '-infinity'),
    (8, 3, 3, 3::TINYINT, 2.2250738585072014e-308, 0.1::FLOAT, 3, false, 'v', 'u', '3',
     TIMESTAMP '1900-03-01 12:34:56.5', DATE '0001-01-01')
) t(k, big, small, tiny, x, y, n, flag, label, code, doc, moment, day)
"""
QUERY = f"SELECT {NAMES} FROM source ORDER BY k"


def _source() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(SOURCE)
    return con


def _rows_as_text(connection: Connection, table: str) -> list[Any]:
    """Each stored row as the server's own text of it (minus zero and NaN included)."""
    return connection.exec_driver_sql(f"SELECT {table}::text FROM {table} ORDER BY k").all()


@on_postgres
def test_every_encoded_type_arrives_as_the_text_format_brings_it(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = _source()
    chosen: list[bool] = []
    encoder = copy_binary.encoder

    def recording(schema: pa.Schema, kinds: list[str]) -> copy_binary.Encoder | None:
        made = encoder(schema, kinds)
        chosen.append(made is not None)
        return made

    with db.begin() as connection:
        for table in ("as_binary", "as_text"):
            connection.exec_driver_sql(f"CREATE TEMP TABLE {table} ({COLUMNS}) ON COMMIT DROP")
        monkeypatch.setattr(copy_binary, "encoder", recording)
        snapshots.copy_query(connection, con, QUERY, f"as_binary ({NAMES})")
        monkeypatch.setattr(copy_binary, "encoder", lambda _schema, _kinds: None)
        snapshots.copy_query(connection, con, QUERY, f"as_text ({NAMES})")
        binary = _rows_as_text(connection, "as_binary")
        text = _rows_as_text(connection, "as_text")
        moments = connection.exec_driver_sql(
            "SELECT moment::text, day::text FROM as_binary ORDER BY k"
        ).all()
    assert chosen == [True]
    assert len(binary) == 8
    assert binary == text
    # And as written, not merely the same on both paths.
    assert [tuple(row) for row in moments] == [
        ("1999-12-31 23:59:59.999999", "1999-12-31"),
        ("2000-01-01 00:00:00", "2000-01-01"),
        ("1970-01-01 00:00:00", "1970-01-01"),
        (None, None),
        ("2026-11-24 10:00:00.123456", "2026-11-24"),
        ("infinity", "infinity"),
        ("-infinity", "-infinity"),
        ("1900-03-01 12:34:56.5", "0001-01-01"),
    ]
    assert "(1,-9223372036854775808,-32768,-128,-0,1.5,7,t," in binary[0][0]
    assert "NaN,Infinity,-7,f," in binary[1][0]


@on_postgres
def test_a_value_the_column_cannot_hold_is_refused_and_nothing_stays(db: Engine) -> None:
    con = duckdb.connect()
    with db.connect() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE narrow (k smallint)")
        connection.commit()
        with pytest.raises(pa.ArrowInvalid, match="32768 not in range"), connection.begin():
            snapshots.copy_query(
                connection, con, "SELECT range AS k FROM range(32760, 32770)", "narrow (k)"
            )
        assert connection.exec_driver_sql("SELECT count(*) FROM narrow").scalar_one() == 0


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("0.1::DECIMAL(5, 2)", "float8"),  # the server's decimal-to-float rounding is kept
        ("1.0::DOUBLE", "int4"),
        ("1::INTEGER", "text"),
        ("0.1::DOUBLE", "float4"),  # a double made a real: rounded once, by the server
        ("TIMESTAMP_NS '2026-01-01 00:00:00.000000501'", "timestamp"),
        ("TIMESTAMPTZ '2026-01-01 00:00:00+08'", "timestamptz"),
        ("'x'::ENUM('x', 'y')", "text"),
        ("'1.5'", "numeric"),
    ],
)
def test_a_column_without_an_exact_binary_form_sends_text(sql: str, kind: str) -> None:
    schema = duckdb.connect().sql(f"SELECT 1 AS k, {sql} AS v").to_arrow_table().schema
    assert copy_binary.encoder(schema, ["int4", kind]) is None
    assert copy_binary.encoder(schema, ["int4"]) is None  # a column too many


@on_postgres
def test_a_decimal_into_a_double_column_arrives_rounded_by_the_server(db: Engine) -> None:
    con = duckdb.connect()
    with db.begin() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE d (k int, x float8) ON COMMIT DROP")
        snapshots.copy_query(connection, con, "SELECT 1 AS k, 0.1::DECIMAL(5, 2) AS x", "d (k, x)")
        assert connection.exec_driver_sql("SELECT x FROM d").scalar_one() == 0.1


@on_postgres
def test_the_target_columns_are_read_in_the_listed_order(db: Engine) -> None:
    with db.begin() as connection:
        connection.exec_driver_sql(f"CREATE TEMP TABLE t ({COLUMNS}) ON COMMIT DROP")
        with connection.connection.driver_connection.cursor() as cursor:
            assert copy_binary.column_kinds(cursor, "t (day, k, code)") == [
                "date",
                "int4",
                "varchar",
            ]
            assert copy_binary.column_kinds(cursor, "t")[:3] == ["int4", "int8", "int2"]
            assert copy_binary.column_kinds(cursor, "t (k, missing)") is None
