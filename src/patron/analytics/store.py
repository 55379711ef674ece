"""Reading what the store knew as of a moment into columns (NumPy arrays) for DuckDB.

Times come out as epoch seconds of the stored wall-clock time, so day arithmetic is exact and
the same on SQLite and PostgreSQL. Only rows dated on or before `as_of` are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

Columns = dict[str, np.ndarray[Any, Any]]

DUCKDB_TYPES = {"int": "BIGINT", "float": "DOUBLE", "nullable_int": "BIGINT", "text": "VARCHAR"}


@dataclass(frozen=True)
class StoreTable:
    """One table read from the store: its columns and the DuckDB type of each."""

    columns: Columns
    types: dict[str, str]


_SQLITE_EPOCH = "CAST(strftime('%s', {col}) AS INTEGER)"
_POSTGRES_EPOCH = "CAST(EXTRACT(EPOCH FROM {col}) AS BIGINT)"


def _epoch(dialect: str, column: str) -> str:
    template = _SQLITE_EPOCH if dialect == "sqlite" else _POSTGRES_EPOCH
    return template.format(col=column)


def _as_float(dialect: str, column: str) -> str:
    return (
        f"CAST({column} AS REAL)" if dialect == "sqlite" else f"CAST({column} AS DOUBLE PRECISION)"
    )


def _fetch(
    connection: Connection, sql: str, names: Sequence[str], kinds: Sequence[str], **params: Any
) -> Columns:
    """Run one query and turn its rows into typed columns (object arrays for text)."""
    rows = connection.exec_driver_sql(sql, _positional(connection, params)).fetchall()
    columns: Columns = {}
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        values = [row[index] for row in rows]
        if kind == "int":
            columns[name] = np.array(values, dtype=np.int64)
        elif kind == "float":
            columns[name] = np.array(values, dtype=np.float64)
        elif kind == "nullable_int":
            columns[name] = np.array(
                [np.nan if value is None else value for value in values], dtype=np.float64
            )
        else:
            columns[name] = np.array(values, dtype=object)
    return columns


def _positional(connection: Connection, params: dict[str, Any]) -> Any:
    # Driver-level SQL uses the driver's own placeholder style: qmark or pyformat.
    if connection.dialect.paramstyle == "qmark":
        return tuple(params.values())
    return params


def _placeholder(dialect: str, name: str) -> str:
    return "?" if dialect == "sqlite" else f"%({name})s"


def _bind_time(dialect: str, moment: datetime) -> Any:
    # SQLite keeps datetimes as text with microseconds; compare in that exact format.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else moment


def read_store(
    engine: Engine, as_of: datetime, *, only: int | None = None
) -> dict[str, StoreTable]:
    """Every table the features need, cut at `as_of` (inclusive); `only` reads one customer."""
    dialect = engine.dialect.name
    cut = _placeholder(dialect, "as_of")
    who = _placeholder(dialect, "customer")

    def ts(column: str) -> str:
        return _epoch(dialect, column)

    queries: dict[str, tuple[str, str]] = {
        "customers": (
            f"SELECT c.id, c.external_id, c.name, {ts('c.created_at')}, c.kind, c.gender,"
            f" c.province, c.city, c.owner_id, u.username, {ts('c.owned_since')},"
            f" CASE WHEN c.locked THEN 1 ELSE 0 END, {ts('c.birthday')}, c.lunar_birthday,"
            " c.grade, c.stage"
            " FROM customers c LEFT JOIN users u ON u.id = c.owner_id"
            " WHERE c.deleted_at IS NULL AND c.merged_into_id IS NULL",
            "customer_id:int external_id:text name:text created_ts:int kind:text gender:text"
            " province:text city:text owner_id:nullable_int owner:text"
            " owned_since_ts:nullable_int locked:int birthday_ts:nullable_int"
            " lunar_birthday:text current_grade:text current_stage:text",
        ),
        "tags": (
            "SELECT customer_id, tag, source FROM customer_tags WHERE TRUE",
            "customer_id:int tag:text source:text",
        ),
        "orders": (
            f"SELECT customer_id, {ts('ordered_at')}, {_as_float(dialect, 'amount')}, status,"
            f" channel, product_id FROM orders WHERE ordered_at <= {cut}",
            "customer_id:int ts:int amount:float status:text channel:text product_id:nullable_int",
        ),
        "products": (
            "SELECT id, external_id, name FROM products WHERE TRUE",
            "product_id:int product_code:text product_name:text",
        ),
        "interactions": (
            f"SELECT customer_id, {ts('occurred_at')}, CASE WHEN is_follow_up THEN 1 ELSE 0 END"
            f" FROM interactions WHERE occurred_at <= {cut}",
            "customer_id:int ts:int is_follow_up:int",
        ),
        "tickets": (
            f"SELECT customer_id, {ts('opened_at')}, kind, {ts('resolved_at')},"
            f" {ts('closed_at')} FROM tickets WHERE opened_at <= {cut}",
            "customer_id:int ts:int kind:text resolved_ts:nullable_int closed_ts:nullable_int",
        ),
        "responses": (
            f"SELECT customer_id, {ts('answered_at')}, kind, score FROM survey_responses"
            f" WHERE answered_at <= {cut} AND score IS NOT NULL",
            "customer_id:int ts:int kind:text score:int",
        ),
        "points": (
            f"SELECT customer_id, {ts('occurred_at')}, points FROM points_ledger"
            f" WHERE occurred_at <= {cut}",
            "customer_id:int ts:int points:int",
        ),
        "tier_changes": (
            f"SELECT customer_id, {ts('changed_at')}, to_tier FROM tier_changes"
            f" WHERE changed_at <= {cut}",
            "customer_id:int ts:int tier:text",
        ),
    }
    tables: dict[str, StoreTable] = {}
    with engine.connect() as connection:
        for name, (sql, spec) in queries.items():
            names, kinds = zip(*(column.split(":") for column in spec.split()), strict=True)
            params: dict[str, Any] = {"as_of": _bind_time(dialect, as_of)} if cut in sql else {}
            if only is not None and name != "products":
                sql += f" AND {'c.id' if name == 'customers' else 'customer_id'} = {who}"
                params["customer"] = only
            columns = _fetch(connection, sql, names, kinds, **params)
            types = {column: DUCKDB_TYPES[kind] for column, kind in zip(names, kinds, strict=True)}
            tables[name] = StoreTable(columns, types)
    return tables
