"""Bulk INSERT and UPDATE built from the table metadata and run as one driver executemany.

SQLAlchemy's own executemany converts every parameter of every row through its type
processors, which costs more than the database's work on a big batch. Here the statement is
built once per batch from the Table, each column's conversion is chosen once, and the rows go
to the driver as plain tuples: SQLite's `executemany`, psycopg 3's pipelined `executemany`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Boolean, ColumnDefault, Connection, Date, DateTime, Numeric, Table
from sqlalchemy.types import JSON, TypeEngine

from patron.customers.models import Customer, score_rows_per_statement

Convert = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, so its readers parse what is written here.
    if value is None:
        return None
    text = value.isoformat(" ")
    return text if value.microsecond else text + ".000000"


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _to_float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value) if value else "{}" if isinstance(value, dict) else "[]"


def _to_jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _to_int(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converter(kind: TypeEngine[Any], dialect: str) -> Convert | None:
    if dialect == "postgresql":
        return _to_jsonb if isinstance(kind, JSON) else None
    if isinstance(kind, DateTime):
        return _sqlite_datetime
    if isinstance(kind, Date):
        return _sqlite_date
    if isinstance(kind, Numeric):
        return _to_float
    if isinstance(kind, JSON):
        return _to_json
    if isinstance(kind, Boolean):
        return _to_int
    return None


class Shape:
    """The column order and per-column conversions for one table on one database."""

    def __init__(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        dialect = conn.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"bulk writes support SQLite and PostgreSQL, not {dialect}")
        self.table = table
        self.columns = list(columns)
        self.mark = "?" if dialect == "sqlite" else "%s"
        self.quote = conn.dialect.identifier_preparer.quote
        self.converters = [_converter(table.c[name].type, dialect) for name in self.columns]

    def tuples(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Rows as tuples in column order, each value converted for the driver."""
        # Column by column: one comprehension per column is far cheaper than one per cell.
        columns = []
        for name, convert in zip(self.columns, self.converters, strict=True):
            cells = [row[name] for row in rows]
            columns.append(cells if convert is None else list(map(convert, cells)))
        return list(zip(*columns, strict=True))


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows have the same keys) in one executemany."""
    if not rows:
        return
    rows = _with_defaults(table, rows)
    shape = Shape(conn, table, list(rows[0]))
    names = ", ".join(shape.quote(name) for name in shape.columns)
    marks = ", ".join([shape.mark] * len(shape.columns))
    sql = f"INSERT INTO {shape.quote(table.name)} ({names}) VALUES ({marks})"
    if table.name != Customer.__tablename__:
        conn.exec_driver_sql(sql, shape.tuples(rows))
        return
    with score_rows_per_statement(conn):
        conn.exec_driver_sql(sql, shape.tuples(rows))


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """Rows with the model's plain defaults for the columns they leave out (counters, flags)."""
    given = rows[0].keys()
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.name not in given
        and isinstance(column.default, ColumnDefault)
        and column.default.is_scalar
    }
    return [{**defaults, **row} for row in rows] if defaults else rows


def update_many(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> None:
    """UPDATE `columns` of each row found by its external_id, in one executemany."""
    if not rows:
        return
    shape = Shape(conn, table, [*columns, "external_id"])
    sets = ", ".join(f"{shape.quote(name)} = {shape.mark}" for name in columns)
    # Names come from the table metadata and every value is bound.
    sql = f"UPDATE {shape.quote(table.name)} SET {sets} WHERE external_id = {shape.mark}"
    conn.exec_driver_sql(sql, shape.tuples(rows))
