"""Moving rows between a run's DuckDB tables and the store in bulk, on SQLite and PostgreSQL.

A scoring run writes millions of rows (actions, their keys, history). One statement per row,
or a Python dict per row, takes minutes at a million customers, so rows are made by a DuckDB
query and reach the store as one COPY on PostgreSQL and as chunked executemany on SQLite.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import duckdb
import pyarrow as pa
from pyarrow import csv
from sqlalchemy import BindParameter, Connection, Executable, bindparam, literal, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.types import NullType

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


def fetch_table(
    connection: Connection,
    query: str | Executable,
    params: Mapping[str, Any],
    schema: Sequence[tuple[str, pa.DataType]],
) -> pa.Table:
    """The query's rows as an Arrow table of these (name, type) columns: on PostgreSQL by one
    COPY of CSV parsed by Arrow (a million rows in well under a second, no Python object per
    row), elsewhere row by row."""
    statement = text(query) if isinstance(query, str) else query
    if not is_postgres(connection):
        found = connection.execute(statement, dict(params)).all()
        columns = list(zip(*found, strict=True)) if found else [() for _ in schema]
        return pa.table(
            {
                column: pa.array(values, type=kind)
                for (column, kind), values in zip(schema, columns, strict=True)
            }
        )
    data = io.BytesIO()
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor:
        copy_sql = (
            f"COPY ({with_literal_params(connection, statement, params)}) TO STDOUT (FORMAT csv)"
        )
        with cursor.copy(copy_sql) as copy:
            for block in copy:
                data.write(block)
    arrow_schema = pa.schema(list(schema))
    if not data.tell():
        return arrow_schema.empty_table()
    data.seek(0)
    return csv.read_csv(
        data,
        read_options=csv.ReadOptions(column_names=arrow_schema.names, use_threads=False),
        # An unquoted empty field is NULL, a quoted one the empty string, as COPY writes them;
        # nothing else is NULL (a grade may be called "NA").
        convert_options=csv.ConvertOptions(
            column_types=arrow_schema,
            null_values=[""],
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _check_writable(key: str, value: Any) -> None:
    """Refuse a value whose literal could select other rows than the bound value: a float
    (a literal is `numeric`, the bound value `float8`; NaN has no literal), a time with a
    zone (a literal drops it) and a list mixing types (its literals take the first's type)."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if len({type(one) for one in values}) > 1:
        kinds = ", ".join(sorted({type(one).__name__ for one in values}))
        raise ValueError(f"parameter {key!r} mixes values of types {kinds}; give one type")
    for one in values:
        if isinstance(one, float):
            raise ValueError(f"parameter {key!r} is a float; give it as a whole number or text")
        if isinstance(one, datetime) and one.tzinfo is not None:
            raise ValueError(f"parameter {key!r} is a time with a zone; give the local time")


def with_literal_params(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> str:
    """The PostgreSQL statement with its parameters written in as literals (COPY takes none).

    A parameter the statement declares without a type (a `text` one) takes the type of its
    value, or of an expanding list's first value. The named paramstyle leaves `%` single, and
    backslashes are escaped only if the server still wants them escaped."""

    def with_value(element: Any, **_: Any) -> Any:
        if not isinstance(element, BindParameter) or element.key not in params:
            return None
        value = params[element.key]
        _check_writable(element.key, value)
        kind = element.type
        if isinstance(kind, NullType):
            kind = literal((value[0] if value else None) if element.expanding else value).type
        return bindparam(element.key, value, type_=kind, expanding=element.expanding)

    dialect = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    dialect._backslash_escapes = getattr(connection.dialect, "_backslash_escapes", False)
    bound: Any = replacement_traverse(cast(Any, statement), {}, with_value)
    return str(bound.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def fetch_into_duckdb(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    query: str | Executable,
    params: dict[str, Any],
    name: str,
    schema: Sequence[tuple[str, pa.DataType]],
) -> None:
    """Store rows (a few columns, at most about one per customer) as a DuckDB table."""
    con.register(f"{name}_rows", fetch_table(connection, query, params, schema))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
    con.unregister(f"{name}_rows")
