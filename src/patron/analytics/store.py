"""Reading what the store knew as of a moment into Arrow tables for DuckDB.

Times come out as epoch seconds of the stored wall-clock time, so day arithmetic is exact and
the same on SQLite and PostgreSQL. Only rows dated on or before `as_of` are read.

On PostgreSQL a whole-store read goes through ADBC, whose driver fills Arrow columns from a
binary COPY in C, so ten million orders never become Python objects; two connections sharing
one snapshot read at once, the orders over one and the other tables over the other. SQLite is
read through the engine's own driver, a chunk of tuples at a time turned into Arrow columns:
the ADBC SQLite driver links its own SQLite library, which here did not see rows committed to
the write-ahead log by Patron's. One customer's read (an event) always takes the engine's
pooled connection, where opening an ADBC connection would cost more than the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

DUCKDB_TYPES = {"int": "BIGINT", "float": "DOUBLE", "money": "DOUBLE", "text": "VARCHAR"}
_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "money": pa.float64(),
    "text": pa.string(),
}
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class StoreTable:
    """One table read from the store: its rows as Arrow and the DuckDB type of each column."""

    data: pa.Table
    types: dict[str, str]


@dataclass(frozen=True)
class _Query:
    sql: str
    spec: str
    customer: str = "customer_id"

    def columns(self) -> list[tuple[str, str]]:
        return [(column.split(":")[0], column.split(":")[1]) for column in self.spec.split()]


class _Dialect:
    """How one database spells epoch seconds, an amount of money as a float and the as-of cut.

    `arrow`: the Arrow read, which converts on arrival what the server would convert slowly:
    times and dates are read as they are stored and made epoch seconds (`_epoch_seconds`),
    which spares the server a numeric per value, and money as whole cents made a float
    (`_from_cents`), which spares it a decimal text per amount (PostgreSQL turns a numeric
    into a float through its text)."""

    def __init__(self, name: str, as_of: datetime, *, arrow: bool = False) -> None:
        self.name = name
        self.arrow = arrow
        stamp = as_of.strftime("%Y-%m-%d %H:%M:%S.%f")
        # SQLite keeps datetimes as text with microseconds; compare in that exact format.
        self.cut = f"'{stamp}'" if name == "sqlite" else f"TIMESTAMP '{stamp}'"

    def ts(self, column: str) -> str:
        if self.arrow:
            return column
        if self.name == "sqlite":
            return f"CAST(strftime('%s', {column}) AS INTEGER)"
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"

    def money(self, column: str) -> str:
        """An amount (two decimals) as a float, or in the Arrow read as whole cents."""
        if self.arrow:
            return f"CAST({column} * 100 AS BIGINT)"
        kind = "REAL" if self.name == "sqlite" else "DOUBLE PRECISION"
        return f"CAST({column} AS {kind})"

    def until(self, column: str) -> str:
        # The unary plus keeps SQLite from walking the time index row by row for a whole-store
        # read, which is many times slower than a scan; PostgreSQL's planner chooses itself.
        return f"{'+' if self.name == 'sqlite' else ''}{column} <= {self.cut}"


def _queries(d: _Dialect, *, points_summed: bool) -> dict[str, _Query]:
    return {
        "customers": _Query(
            f"SELECT c.id, c.external_id, c.name, {d.ts('c.created_at')}, c.kind, c.gender,"
            f" c.province, c.city, c.owner_id, u.username, {d.ts('c.owned_since')},"
            f" CASE WHEN c.locked THEN 1 ELSE 0 END, {d.ts('c.birthday')}, c.lunar_birthday,"
            " s.grade, s.stage"
            " FROM customers c LEFT JOIN users u ON u.id = c.owner_id"
            " LEFT JOIN customer_scores s ON s.customer_id = c.id"
            " WHERE c.deleted_at IS NULL AND c.merged_into_id IS NULL",
            "customer_id:int external_id:text name:text created_ts:int kind:text gender:text"
            " province:text city:text owner_id:int owner:text owned_since_ts:int locked:int"
            " birthday_ts:int lunar_birthday:text current_grade:text current_stage:text",
            customer="c.id",
        ),
        "tags": _Query(
            "SELECT customer_id, tag, source FROM customer_tags WHERE TRUE",
            "customer_id:int tag:text source:text",
        ),
        "orders": _Query(
            f"SELECT customer_id, {d.ts('ordered_at')}, {d.money('amount')}, status, channel,"
            f" product_id FROM orders WHERE {d.until('ordered_at')}",
            "customer_id:int ts:int amount:money status:text channel:text product_id:int",
        ),
        "products": _Query(
            "SELECT id, external_id, name FROM products WHERE TRUE",
            "product_id:int product_code:text product_name:text",
            customer="",
        ),
        "interactions": _Query(
            f"SELECT customer_id, {d.ts('occurred_at')},"
            " CASE WHEN is_follow_up THEN 1 ELSE 0 END"
            f" FROM interactions WHERE {d.until('occurred_at')}",
            "customer_id:int ts:int is_follow_up:int",
        ),
        "tickets": _Query(
            f"SELECT customer_id, {d.ts('opened_at')}, kind, {d.ts('resolved_at')},"
            f" {d.ts('closed_at')} FROM tickets WHERE {d.until('opened_at')}",
            "customer_id:int ts:int kind:text resolved_ts:int closed_ts:int",
        ),
        "responses": _Query(
            f"SELECT customer_id, {d.ts('answered_at')}, kind, score FROM survey_responses"
            f" WHERE {d.until('answered_at')} AND score IS NOT NULL",
            "customer_id:int ts:int kind:text score:int",
        ),
        "points": _summed_points(d)
        if points_summed
        else _Query(
            f"SELECT customer_id, {d.ts('occurred_at')}, points FROM points_ledger"
            f" WHERE {d.until('occurred_at')}",
            "customer_id:int ts:int points:int",
        ),
        "tier_changes": _Query(
            f"SELECT customer_id, {d.ts('changed_at')}, to_tier FROM tier_changes"
            f" WHERE {d.until('changed_at')}",
            "customer_id:int ts:int tier:text",
        ),
    }


def _summed_points(d: _Dialect) -> _Query:
    """The ledger summed per customer: the first change's time and the balance."""
    return _Query(
        f"SELECT customer_id, {d.ts('min(occurred_at)')}, sum(points) FROM points_ledger"
        f" WHERE {d.until('occurred_at')} GROUP BY customer_id",
        "customer_id:int ts:int points:int",
    )


def _adbc_connection(engine: Engine) -> Any:
    """An ADBC connection to the engine's PostgreSQL database, in autocommit: the reader
    opens its own transaction."""
    import adbc_driver_postgresql.dbapi

    libpq = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return adbc_driver_postgresql.dbapi.connect(libpq, autocommit=True)


_MICROS = 1_000_000


def _epoch_seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch seconds of a timestamp or date column, as PostgreSQL's
    `CAST(EXTRACT(EPOCH FROM column) AS BIGINT)` gives them: the exact microseconds rounded
    to the nearest second, a half second away from zero (numeric to bigint); other columns
    as they are."""
    if pa.types.is_date32(column.type):
        return pc.multiply(pc.cast(pc.cast(column, pa.int32()), pa.int64()), 86_400)
    if not pa.types.is_timestamp(column.type):
        return column
    micros = pc.cast(column, pa.int64())
    # Integer division truncates: both quotients are of non-negative numbers.
    up = pc.divide(pc.add(micros, _MICROS // 2), _MICROS)
    earliest = pc.min(micros).as_py()
    if earliest is not None and earliest >= 0:
        # No time before 1970 in the column (dates are the other branch, so birthdays do not
        # count): every value takes the first rounding, and the column is made in two passes
        # instead of seven.
        return up
    down = pc.negate(pc.divide(pc.subtract(_MICROS // 2, micros), _MICROS))
    return pc.if_else(pc.greater_equal(micros, 0), up, down)


def _from_cents(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Amounts read as whole cents, as floats: the same doubles as PostgreSQL's
    `CAST(amount AS DOUBLE PRECISION)`, which parses the amount's decimal text to the nearest
    double. Cents and 100 are exact doubles (below 2^53), and a division rounds its exact
    quotient, cents / 100, to the nearest double too."""
    return pc.divide(pc.cast(column, pa.float64()), 100.0)


def _renamed(data: pa.Table, query: _Query) -> StoreTable:
    names = [name for name, _ in query.columns()]
    types = {name: DUCKDB_TYPES[kind] for name, kind in query.columns()}
    columns = [
        _from_cents(column)
        if kind == "money" and pa.types.is_integer(column.type)
        else _epoch_seconds(column)
        for column, (_, kind) in zip(data.columns, query.columns(), strict=True)
    ]
    return StoreTable(pa.Table.from_arrays(columns, names=names), types)


def _read_arrow(cursor: Any, queries: dict[str, _Query]) -> dict[str, StoreTable]:
    tables: dict[str, StoreTable] = {}
    for name, query in queries.items():
        cursor.execute(query.sql)
        tables[name] = _renamed(cursor.fetch_arrow_table(), query)
    return tables


@contextmanager
def one_snapshot(engine: Engine) -> Iterator[tuple[Any, Any]]:
    """Two ADBC cursors on two connections to the engine's PostgreSQL database, both in a
    read-only repeatable-read transaction on one snapshot of the store (the first exports
    its snapshot and the second takes it), committed at the end."""
    lead, second = _adbc_connection(engine), _adbc_connection(engine)
    with lead, second, lead.cursor() as first, second.cursor() as other:
        for cursor in (first, other):
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # The two readers already keep both ends busy: a parallel plan (the ledger's sums
            # per customer get one) took more than twice the CPU for a slower read.
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        first.execute("SELECT pg_export_snapshot()")
        (snapshot,) = first.fetchone()
        other.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        yield first, other
        for cursor in (first, other):
            cursor.execute("COMMIT")


def _read_postgres(engine: Engine, queries: dict[str, _Query]) -> dict[str, StoreTable]:
    """The tables over two connections at once, both reading one snapshot of the store.

    The orders, about half of the rows, come over one connection and the other tables over
    the second, so two server processes produce the COPY and the driver parses both streams
    on two threads (it holds no interpreter lock while it does). Sharing the snapshot keeps
    the tables in agreement with each other while orders and customers are being written."""
    rest = {name: query for name, query in queries.items() if name != "orders"}
    with one_snapshot(engine) as (first, other), ThreadPoolExecutor(max_workers=1) as pool:
        orders = pool.submit(_read_arrow, first, {"orders": queries["orders"]})
        tables = _read_arrow(other, rest)
        tables.update(orders.result())
    return {name: tables[name] for name in queries}


def _batch(rows: list[tuple[Any, ...]], query: _Query) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(query.columns())
    arrays = [
        pa.array(values, type=_ARROW_TYPES[kind])
        for values, (_, kind) in zip(columns, query.columns(), strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[name for name, _ in query.columns()])


def _read_rows(engine: Engine, queries: dict[str, _Query]) -> dict[str, StoreTable]:
    """The tables through the engine's own driver, a chunk of plain tuples at a time."""
    tables: dict[str, StoreTable] = {}
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for name, query in queries.items():
                cursor.execute(query.sql)
                batches = [_batch([], query)]
                while rows := cursor.fetchmany(CHUNK_ROWS):
                    batches.append(_batch(rows, query))
                tables[name] = _renamed(pa.Table.from_batches(batches), query)
        finally:
            cursor.close()
    return tables


def read_store(
    engine: Engine, as_of: datetime, *, only: int | None = None, points_summed: bool = False
) -> dict[str, StoreTable]:
    """Every table the features need, cut at `as_of` (inclusive); `only` reads one customer.

    `points_summed` reads the points ledger as one row per customer, dated at its first
    change and holding its balance, in place of every change: all the features and the
    churn model's history take from the ledger is the balance as of `as_of` and whether a
    customer had any change by an earlier cut, which that row gives for a tenth of the rows
    read. Features as of an earlier cut than `as_of` need the ledger itself (and one
    customer's read takes it: its rows are few)."""
    whole_postgres = only is None and engine.url.get_backend_name() == "postgresql"
    dialect = _Dialect(engine.dialect.name, as_of, arrow=whole_postgres)
    queries = _queries(dialect, points_summed=points_summed and only is None)
    if only is not None:
        for name, query in queries.items():
            if query.customer:
                sql = f"{query.sql} AND {query.customer} = {int(only)}"
                queries[name] = _Query(sql, query.spec, query.customer)
        return _read_rows(engine, queries)
    if whole_postgres:
        return _read_postgres(engine, queries)
    return _read_rows(engine, queries)
