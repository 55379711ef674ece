"""Moving rows between a run's DuckDB tables and the store in bulk, on SQLite and PostgreSQL.

A scoring run writes millions of rows (actions, their keys, history). One statement per row,
or a Python dict per row, takes minutes at a million customers, so rows are made by a DuckDB
query and reach the store as one COPY on PostgreSQL and as chunked executemany on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, text

from patron.analytics.snapshots import copy_query

# Rows per executemany on SQLite.
CHUNK_ROWS = 10_000
# How SQLAlchemy stores a datetime on SQLite (text); PostgreSQL parses the same text.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def stamp(moment: datetime) -> str:
    """A datetime as the store's text, as SQLAlchemy writes it on SQLite."""
    return moment.strftime(STAMP_FORMAT)


def moment_value(connection: Connection, moment: datetime) -> datetime | str:
    """A datetime for a bound parameter of a raw statement: SQLite's driver would otherwise
    write it in its own format, not the one SQLAlchemy reads back."""
    return moment if is_postgres(connection) else stamp(moment)


def typed(connection: Connection, name: str, pg_type: str) -> str:
    """A bound parameter; typed on PostgreSQL, where `INSERT … SELECT :p` cannot infer it."""
    return f"CAST(:{name} AS {pg_type})" if is_postgres(connection) else f":{name}"


def insert_query(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    query: str,
    table: str,
    columns: Sequence[str],
) -> None:
    """Insert the DuckDB query's rows (in `columns` order) into the table, in query order.

    Timestamps must come as text in STAMP_FORMAT: SQLite stores what it is given.
    """
    names = ", ".join(columns)
    if is_postgres(connection):
        copy_query(connection, con, query, f"{table} ({names})")
        return
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    result = con.execute(query)
    while chunk := result.fetchmany(CHUNK_ROWS):
        connection.exec_driver_sql(statement, chunk)


def temp_table(connection: Connection, name: str, columns: Sequence[tuple[str, str]]) -> None:
    """(Re)create a temporary table of (name, type) columns; on PostgreSQL it ends with the
    transaction, on SQLite `drop_temp` removes it."""
    drop_temp(connection, name)
    body = ", ".join(f"{column} {kind}" for column, kind in columns)
    suffix = " ON COMMIT DROP" if is_postgres(connection) else ""
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({body}){suffix}")


def drop_temp(connection: Connection, name: str) -> None:
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def analyze(connection: Connection, name: str) -> None:
    """Statistics for a freshly loaded temporary table (autovacuum never sees one)."""
    connection.exec_driver_sql(f"ANALYZE {name}")


def fetch_into_duckdb(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    query: Any,
    params: dict[str, Any],
    name: str,
    schema: Sequence[tuple[str, pa.DataType]],
) -> None:
    """Store rows (a few columns, at most about one per customer) as a DuckDB table."""
    rows = connection.execute(query if not isinstance(query, str) else text(query), params)
    found = rows.all()
    columns = list(zip(*found, strict=True)) if found else [() for _ in schema]
    table = pa.table(
        {
            column: pa.array(values, type=kind)
            for (column, kind), values in zip(schema, columns, strict=True)
        }
    )
    con.register(f"{name}_rows", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
    con.unregister(f"{name}_rows")
