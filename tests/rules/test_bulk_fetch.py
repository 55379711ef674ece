"""Rows fetched from the store into Arrow and DuckDB: on PostgreSQL by COPY with the query's
parameters written in as literals, which must select exactly the rows the bound parameters do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from sqlalchemy import Connection, DateTime, Engine, bindparam, event, text

from patron.rules.bulk_write import fetch_into_duckdb, fetch_table

SCHEMA = (("n", pa.int64()), ("label", pa.string()))
LABELS = ["plain", "it's", "100%", "back\\slash", "", None, "NA", ":colon", "多"]
START = datetime(2026, 6, 30, 23, 59, 59, 123456)
# Row n is taken at START - 0.123456 s + (n - 5) * 0.123456 s: row 5 exactly at START.
STEP = START - START.replace(microsecond=0)


@pytest.fixture
def connection(db: Engine) -> Iterator[Connection]:
    with db.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE fetched_rows (n BIGINT, label TEXT, at TIMESTAMP)"
        )
        connection.execute(
            text("INSERT INTO fetched_rows (n, label, at) VALUES (:n, :label, :at)").bindparams(
                bindparam("at", type_=DateTime())
            ),
            [
                {"n": n, "label": label, "at": START.replace(microsecond=0) + (n - 4) * STEP}
                for n, label in enumerate(LABELS)
            ],
        )
        yield connection
        connection.exec_driver_sql("DROP TABLE fetched_rows")


QUERY = text(
    "SELECT n, label FROM fetched_rows "
    "WHERE (label IN :labels OR label IS NULL) AND at >= :since AND n IN :numbers"
).bindparams(
    bindparam("labels", expanding=True),
    bindparam("since", type_=DateTime()),
    bindparam("numbers", expanding=True),
)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(tuple(row.values()) for row in table.to_pylist())


def _bound(connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What the statement selects with its parameters bound by the driver."""
    return sorted(tuple(row) for row in connection.execute(QUERY, params))


@pytest.mark.parametrize(
    "params",
    [
        # Every label, numbers among many (a list far longer than any IN the planner unrolls).
        {"labels": LABELS[:5] + LABELS[6:], "numbers": list(range(-5000, 5000))},
        # A quote, a percent sign and a backslash, each only matching itself.
        {"labels": ["it's", "100%", "back\\slash", "it''s", "100%%"], "numbers": list(range(9))},
        # The moment to the microsecond: the row at exactly START is in, the one before it out.
        {"labels": LABELS[:5] + LABELS[6:], "numbers": list(range(9)), "since": START},
        # An empty list selects nothing.
        {"labels": ["plain"], "numbers": []},
    ],
)
def test_fetched_rows_are_the_bound_statements_rows(
    connection: Connection, params: dict[str, Any]
) -> None:
    params = {"since": datetime(2000, 1, 1), **params}
    expected = _bound(connection, params)
    fetched = fetch_table(connection, QUERY, params, SCHEMA)
    assert fetched.schema == pa.schema(list(SCHEMA))
    assert _rows(fetched) == expected
    con = duckdb.connect()
    fetch_into_duckdb(connection, con, QUERY, params, "got", SCHEMA)
    assert sorted(con.execute("SELECT * FROM got").fetchall()) == expected


def test_the_moment_bound_to_the_microsecond(connection: Connection) -> None:
    """`since` at START keeps the rows from START on (n >= 5), not the one 0.123456 s before."""
    params = {"labels": LABELS[:5] + LABELS[6:], "numbers": list(range(9)), "since": START}
    fetched = fetch_table(connection, QUERY, params, SCHEMA)
    assert [row[0] for row in _rows(fetched)] == [5, 6, 7, 8]


def test_no_rows_make_an_empty_table_of_the_schema(connection: Connection) -> None:
    fetched = fetch_table(connection, "SELECT n, label FROM fetched_rows WHERE 1 = 0", {}, SCHEMA)
    assert fetched.num_rows == 0
    assert fetched.schema == pa.schema(list(SCHEMA))


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_postgresql_rows_come_by_copy(connection: Connection) -> None:
    """No row of a PostgreSQL fetch goes through the driver as a Python tuple: the statement
    runs inside one COPY, not as a query of its own."""
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(connection, "before_cursor_execute", seen)
    try:
        params = {"labels": ["plain"], "numbers": [0], "since": datetime(2000, 1, 1)}
        con = duckdb.connect()
        fetch_into_duckdb(connection, con, QUERY, params, "got", SCHEMA)
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert con.execute("SELECT * FROM got").fetchall() == [(0, "plain")]
    assert not any("fetched_rows" in statement for statement in statements)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_booleans_come_back_as_booleans(connection: Connection) -> None:
    """COPY writes a boolean as `t` or `f`; the table holds True and False (and NULL)."""
    query = "SELECT n, CASE WHEN n > 6 THEN NULL ELSE n > 4 END AS big FROM fetched_rows"
    fetched = fetch_table(connection, query, {}, (("n", pa.int64()), ("big", pa.bool_())))
    assert _rows(fetched) == [(n, None if n > 6 else n > 4) for n in range(9)]


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"numbers": [1, 2.5]}, "mixes values of types float, int"),
        ({"numbers": [1, True]}, "mixes values of types bool, int"),
        ({"numbers": [float("nan")]}, "is a float"),
        ({"since": datetime(2026, 1, 1, tzinfo=UTC)}, "time with a zone"),
    ],
)
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_value_a_literal_would_change_is_refused(
    connection: Connection, params: dict[str, Any], refused: str
) -> None:
    """A literal of these could select other rows than the bound value: refused, loudly."""
    params = {"labels": ["plain"], "numbers": [0], "since": datetime(2000, 1, 1), **params}
    with pytest.raises(ValueError, match=refused):
        fetch_table(connection, QUERY, params, SCHEMA)
