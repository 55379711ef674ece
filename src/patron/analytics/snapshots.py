"""Storing a scoring run: the run, one snapshot per customer, and the customers' latest scores.

Everything is written in one transaction, so a crash leaves either the whole run or nothing.
Rows go from DuckDB to the store without becoming dictionaries: PostgreSQL takes them by COPY
(DuckDB makes the lines of its text format), SQLite by executemany on plain tuples, a chunk at
a time.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa
from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import AddConstraint, CreateIndex

from patron.analytics import copy_binary, kpi_store
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.customers.models import CustomerScore

CHUNK_ROWS = 20_000
COPY_PARTS = 16
COPY_BATCH_ROWS = 100_000
SNAPSHOT_WORK_MEM = "256MB"

SNAPSHOT_COLUMNS = (
    "run_id",
    "customer_id",
    "grade",
    "stage",
    "rfm_segment",
    "value_class",
    "clv",
    "p_alive",
    "churn_risk",
    "warnings",
    "r_score",
    "f_score",
    "features",
    "explain",
)
# What the summary and the lists filter and join snapshots on (PostgreSQL's statistics).
ANALYZED_COLUMNS = ("run_id", "customer_id", "grade", "clv", "warnings")
ANALYZE_LOCK_WAIT = "2s"
CUSTOMER_COLUMNS = ("grade", "stage", "rfm_segment", "value_class", "clv", "churn_risk", "p_alive")


def plain(value: Any) -> Any:
    """A JSON-ready Python value from NumPy or DuckDB ones, deeply (NaN and infinity: None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def insert_run(connection: Connection, **values: Any) -> int:
    """Add the run row and return its id."""
    return int(
        connection.execute(
            insert(ScoringRun).values(**values).returning(ScoringRun.id)
        ).scalar_one()
    )


@contextmanager
def local_setting(connection: Connection, name: str, value: str) -> Iterator[None]:
    """Run the block with the PostgreSQL setting `name` at `value`, then put it back.

    The setting is local to the transaction, so if the block fails the rollback restores it;
    it is not put back in a `finally`, where the aborted transaction would refuse the
    statement and hide the block's error. On SQLite the block just runs."""
    if connection.dialect.name != "postgresql":
        yield
        return
    previous = connection.exec_driver_sql(
        "SELECT current_setting(%(name)s), set_config(%(name)s, %(value)s, true)",
        {"name": name, "value": value},
    ).scalar_one()
    yield
    connection.exec_driver_sql(
        "SELECT set_config(%(name)s, %(previous)s, true)", {"name": name, "previous": previous}
    )


def copy_query(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str, target: str
) -> None:
    """COPY the query's rows into `target` (a table and its column list) on PostgreSQL.

    The rows go over as Arrow, a batch at a time, and become COPY data with no file and no
    Python object per row: in the binary format where every column has an exact binary form
    (`copy_binary`), otherwise as lines of the text format that DuckDB makes (`_text_lines`).
    Either way each batch is one block whose bytes are sent as they are."""
    raw: Any = connection.connection.driver_connection
    kinds = _column_kinds(raw, target)
    _send(raw, _made(con, query, kinds, lambda blocks: blocks), target)


def _column_kinds(raw: Any, target: str) -> list[str] | None:
    with raw.cursor() as cursor:
        return copy_binary.column_kinds(cursor, target)


def _made(
    con: duckdb.DuckDBPyConnection,
    query: str,
    kinds: list[str] | None,
    keep: Callable[[Iterator[pa.Array]], Iterable[pa.Array]],
) -> _Made:
    """The query's COPY data for target columns of the types `kinds`, in blocks of rows;
    `keep` receives them as they are made (`list` makes the query's whole data at once)."""
    schema = con.sql(query).limit(0).to_arrow_table().schema
    encode = copy_binary.encoder(schema, kinds) if kinds is not None else None
    if encode is not None:
        batches = con.sql(query).to_arrow_reader(COPY_BATCH_ROWS)
        return _Made(True, keep(encode(batch) for batch in batches))
    lines = con.sql(_text_lines(con, query)).to_arrow_reader(COPY_BATCH_ROWS)
    return _Made(False, keep(batch.column(0) for batch in lines))


# Types whose text has no tab, newline, carriage return or backslash to escape.
_PLAIN_TYPES = re.compile(
    r"(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|BOOLEAN|DATE"
    r"|TIME|TIMESTAMP(_S|_MS|_NS| WITH TIME ZONE)?|TIME WITH TIME ZONE|INTERVAL|UUID)"
)
# Types whose text PostgreSQL would not read as the value: refused rather than mangled.
_REFUSED_TYPES = re.compile(r"(STRUCT|MAP|UNION)\(.*|.*\[\d*\]|BLOB|BIT")


def _text_lines(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The query's rows as lines of PostgreSQL's COPY text format, in one column `line`:
    fields separated by tabs, NULL as `\\N`, and in any text a backslash, tab, newline or
    carriage return written as its escape. Columns are taken by position, so two of one name
    stay two."""
    fields = []
    described = con.execute(f"DESCRIBE {query}").fetchall()
    for n, (name, kind, *_) in enumerate(described):
        if _REFUSED_TYPES.fullmatch(kind):
            raise ValueError(f"COPY cannot send the {kind} column {name!r} as text")
        value = f"CAST(c{n} AS VARCHAR)"
        if not _PLAIN_TYPES.fullmatch(kind):
            for char, escape in _TEXT_ESCAPES:
                value = f"replace({value}, {char}, '{escape}')"
        fields.append(f"coalesce({value}, '\\N')")
    names = ", ".join(f"c{n}" for n in range(len(described)))
    return (
        f"SELECT concat({', chr(9), '.join(fields)}, chr(10)) AS line FROM ({query}) AS q({names})"
    )


# COPY's text format: the backslash first, so the escapes' own backslashes stay single.
_TEXT_ESCAPES = (("'\\'", "\\\\"), ("chr(9)", "\\t"), ("chr(10)", "\\n"), ("chr(13)", "\\r"))


@dataclass(frozen=True)
class _Made:
    """A query's COPY data: in which format, and its blocks of rows."""

    binary: bool
    blocks: Iterable[pa.Array]


def _send(raw: Any, made: _Made, target: str) -> None:
    """COPY the blocks (Arrow binary or string arrays whose elements are rows of COPY data)
    into `target` over the psycopg connection `raw`: each block's value buffer goes as one."""
    form = " (FORMAT binary)" if made.binary else ""
    with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN{form}") as copy:
        if made.binary:
            copy.write(copy_binary.HEADER)
        for block in made.blocks:
            if not len(block):
                continue
            _, offsets, values = block.buffers()
            large = pa.types.is_large_string(block.type) or pa.types.is_large_binary(block.type)
            start, end = np.frombuffer(offsets, dtype=np.int64 if large else np.int32)[
                [block.offset, block.offset + len(block)]
            ]
            copy.write(memoryview(values)[start:end])
        if made.binary:
            copy.write(copy_binary.TRAILER)


def copy_query_in_parts(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    rows: Callable[[str], str],
    target: str,
    *,
    key: str,
    keys: str,
    parts: int = COPY_PARTS,
) -> None:
    """COPY a large query into `target` (PostgreSQL) in `parts` ranges of an integer `key`,
    in key order: DuckDB makes the next part's lines while PostgreSQL takes this one, so the
    two overlap instead of taking turns (the server's COPY uses one core).

    `rows(condition)` is the query for the rows whose key meets the SQL condition (put inside
    the query, where DuckDB filters before building the rows); `keys` is a query of the keys,
    which sets the ranges."""
    fractions = [n / parts for n in range(1, parts)]
    bounds = con.execute(
        f"SELECT list_sort(list_distinct(quantile_disc({key}, $fractions))) FROM ({keys})",
        {"fractions": fractions},
    ).fetchone()
    edges = [None, *(bounds[0] if bounds and bounds[0] else []), None]
    conditions = [_in_range(key, low, high) for low, high in itertools.pairwise(edges)]
    raw: Any = connection.connection.driver_connection
    kinds = _column_kinds(raw, target)
    with ThreadPoolExecutor(max_workers=1) as maker:
        cursor = con.cursor()  # a DuckDB connection of the making thread's own

        def make(n: int) -> _Made:
            return _made(cursor, rows(conditions[n]), kinds, list)

        try:
            made = maker.submit(make, 0)
            for n in range(len(conditions)):
                part = made.result()
                if n + 1 < len(conditions):
                    made = maker.submit(make, n + 1)
                _send(raw, part, target)
                del part
        except BaseException:
            # A failed COPY must not leave the maker running.
            cursor.interrupt()
            raise
        finally:
            maker.shutdown(wait=True, cancel_futures=True)
            cursor.close()


def _in_range(key: str, low: int | None, high: int | None) -> str:
    """SQL: `low < key <= high`, an absent bound left out."""
    limits = [f"{key} > {int(low)}"] if low is not None else []
    limits += [f"{key} <= {int(high)}"] if high is not None else []
    return " AND ".join(limits) or "TRUE"


def _execute_chunks(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str, statement: str
) -> None:
    """Run a qmark statement once per row of the query, a chunk of tuples at a time."""
    result = con.execute(query)
    while chunk := result.fetchmany(CHUNK_ROWS):
        connection.exec_driver_sql(statement, chunk)


def insert_snapshots(
    connection: Connection, con: duckdb.DuckDBPyConnection, rows: Callable[[str], str]
) -> None:
    """Bulk-insert the snapshot rows in SNAPSHOT_COLUMNS order: `rows(condition)` is the
    DuckDB query of those whose `customer_id` meets the condition, in customer order, and the
    customers are those of the table `features`."""
    table = ScoreSnapshot.__tablename__
    names = ", ".join(SNAPSHOT_COLUMNS)
    if connection.dialect.name == "postgresql":
        # LZ4 compresses the JSON columns about as well as the default (pglz) and several
        # times faster, reads included; only for this COPY (the column keeps its default).
        # The keys' triggers (analytics.snapshot_keys) see each part's rows as a table, which
        # is kept in memory up to `work_mem`: a part at 1M customers is about 125 MB, which
        # the default 4 MB would write out to a temporary file and read back.
        with (
            local_setting(connection, "default_toast_compression", "lz4"),
            local_setting(connection, "work_mem", SNAPSHOT_WORK_MEM),
        ):
            copy_query_in_parts(
                connection,
                con,
                rows,
                f"{table} ({names})",
                key="customer_id",
                keys="SELECT customer_id FROM features",
            )
        _analyze(connection)
        return
    marks = ", ".join("?" for _ in SNAPSHOT_COLUMNS)
    _execute_chunks(
        connection, con, rows("TRUE"), f"INSERT INTO {table} ({names}) VALUES ({marks})"
    )


def _analyze(connection: Connection) -> None:
    """Sample the snapshot table's statistics inside the run's transaction (PostgreSQL).

    The run's summary queries its own snapshots next: statistics that know nothing of the new
    run id make the planner expect a few rows and probe the customers' key once per snapshot
    (a million probes at 1M customers) where a hash join is several times faster. Only the
    columns those queries filter on are sampled. The lock this takes (held to the commit)
    conflicts with a vacuum of the table or another run's ANALYZE: the run waits for it at
    most `ANALYZE_LOCK_WAIT` and otherwise goes on without fresh statistics, only slower."""
    table = ScoreSnapshot.__tablename__
    with local_setting(connection, "lock_timeout", ANALYZE_LOCK_WAIT):
        savepoint = connection.begin_nested()
        try:
            connection.exec_driver_sql(f"ANALYZE {table} ({', '.join(ANALYZED_COLUMNS)})")
        except OperationalError as exc:
            savepoint.rollback()
            if not isinstance(exc.orig, LockNotAvailable):
                raise
        else:
            savepoint.commit()


def write_latest_scores(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    query: str,
    scored_at: datetime,
) -> None:
    """Make the query's rows (customer_id, then CUSTOMER_COLUMNS) the customers' latest
    scores in `customer_scores`, stamped `scored_at`; customers the query leaves out keep
    theirs.

    On PostgreSQL the table is built afresh and swapped in rather than updated: rewriting a
    million rows in place makes a new row version and an entry in every index for each, while
    a COPY into a table without indexes and building its few indexes after is a fraction of
    that. The swap is inside the run's transaction, so readers see the old scores or the new
    and a failed run leaves the old table. On SQLite the rows are upserted."""
    table = CustomerScore.__tablename__
    names = ", ".join(("customer_id", *CUSTOMER_COLUMNS, "scored_at"))
    if connection.dialect.name == "postgresql":
        _swap_in_scores(connection, con, query, scored_at)
        return
    stamp = scored_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    assignments = ", ".join(
        f"{name} = excluded.{name}" for name in (*CUSTOMER_COLUMNS, "scored_at")
    )
    marks = ", ".join("?" for _ in range(len(CUSTOMER_COLUMNS) + 2))
    _execute_chunks(
        connection,
        con,
        f"SELECT *, '{stamp}' FROM ({query})",
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT (customer_id) DO UPDATE SET {assignments}",
    )


def _swap_in_scores(
    connection: Connection, con: duckdb.DuckDBPyConnection, query: str, scored_at: datetime
) -> None:
    """Replace `customer_scores` by a table of the run's rows (PostgreSQL).

    The old table is locked against writes first (readers go on): no customer is inserted
    (its empty score row) and no score written between the copy of the rows the run leaves
    out and the swap. Dropping the old table takes its exclusive lock until the run commits,
    which is why the run swaps the scores in as its last write (`rules.runs.record`)."""
    table = cast(Table, CustomerScore.__table__)
    fresh = f"{table.name}_fresh"
    names = ", ".join(("customer_id", *CUSTOMER_COLUMNS, "scored_at"))
    connection.exec_driver_sql(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {fresh}")
    connection.exec_driver_sql(f"CREATE TABLE {fresh} (LIKE {table.name})")
    stamp = scored_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    copy_query(
        connection, con, f"SELECT *, TIMESTAMP '{stamp}' FROM ({query})", f"{fresh} ({names})"
    )
    # The primary key first: the rows the run did not score are added by an anti-join on it,
    # and the key is built once over a million rows instead of entry by entry.
    connection.exec_driver_sql(f"ALTER TABLE {fresh} ADD PRIMARY KEY (customer_id)")
    connection.exec_driver_sql(
        f"INSERT INTO {fresh} ({names}) SELECT {names} FROM {table.name} o "
        f"WHERE NOT EXISTS (SELECT 1 FROM {fresh} f WHERE f.customer_id = o.customer_id)"
    )
    # Triggers others put on the table (the KPI store's) go with it: made again on the new one.
    triggers = (
        connection.exec_driver_sql(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            f"WHERE tgrelid = '{table.name}'::regclass AND NOT tgisinternal ORDER BY tgname"
        )
        .scalars()
        .all()
    )
    connection.exec_driver_sql(f"DROP TABLE {table.name}")
    connection.exec_driver_sql(f"ALTER TABLE {fresh} RENAME TO {table.name}")
    connection.exec_driver_sql(f"ALTER INDEX {fresh}_pkey RENAME TO {table.primary_key.name}")
    # The indexes and the foreign key as the model declares them (names included), built over
    # the filled table; sorts in memory up to this much.
    with local_setting(connection, "maintenance_work_mem", "256MB"):
        for constraint in table.foreign_key_constraints:
            connection.execute(AddConstraint(constraint))
        for index in table.indexes:
            connection.execute(CreateIndex(index))
    for trigger in triggers:
        connection.exec_driver_sql(trigger)
    kpi_store.scores_replaced(connection)
    # A fresh table has no statistics until autovacuum gets to it; the lists' plans need them.
    connection.exec_driver_sql(f"ANALYZE {table.name}")
