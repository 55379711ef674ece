"""Writing generated columns straight into the database, in the caller's transaction.

Turning every row into a dictionary for SQLAlchemy Core costs far more than generating it:
a million demo customers (ten million orders, as many points entries) did not load in 40
minutes that way. Here the columns stay NumPy arrays until the driver: PostgreSQL gets them
as CSV written by Arrow through `COPY … FROM STDIN`, SQLite gets plain tuples through one
`executemany` per table and chunk, and formats the datetimes itself. Rows get explicit ids
(the next free ones), so the caller knows them without a RETURNING per row.

Secondary indexes (and on PostgreSQL foreign keys) are dropped before a bulk load and built
again after it: one sort, or one checking join, instead of millions of single-row inserts or
checks. All of it happens inside the transaction, so a failure leaves the database as it was.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Table,
    inspect,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import AddConstraint, DropConstraint

from patron.models import Base

Columns = dict[str, Any]
# SQLAlchemy stores SQLite datetimes as text with microseconds; generated moments are whole
# seconds, so SQLite formats them from epoch seconds.
SQLITE_DATETIME = "strftime('%Y-%m-%d %H:%M:%S.000000', ?, 'unixepoch')"
SQLITE_DATE = "date(?, 'unixepoch')"
SQLITE_CACHE_KIB = 256 * 1024


def table(name: str) -> Table:
    """A table of Patron's schema by name."""
    return Base.metadata.tables[name]


def new_ids(connection: Connection, name: str, count: int) -> np.ndarray:
    """The next `count` free ids of a table (the caller's transaction holds the table)."""
    last = connection.scalar(text(f"SELECT coalesce(max(id), 0) FROM {name}"))
    return np.arange(int(last) + 1, int(last) + 1 + count, dtype=np.int64)


def _defaults(target: Table, given: set[str]) -> Columns:
    """The Python-side defaults of the columns left out (Core would have filled these in)."""
    found: Columns = {}
    for column in target.columns:
        if column.name in given or column.primary_key or column.default is None:
            continue
        default: Any = column.default
        value = default.arg(None) if callable(default.arg) else default.arg
        found[column.name] = json.dumps(value) if isinstance(column.type, JSON) else value
    return found


def _full(value: Any, size: int) -> np.ndarray:
    """A column as an array of `size` values (a constant is repeated)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, datetime):
        value = np.datetime64(value, "s")
    return np.broadcast_to(np.asarray(value), (size,))


def write(connection: Connection, name: str, columns: Columns) -> None:
    """Insert rows given as columns: arrays of equal length, or constants.

    Datetimes are `datetime64` arrays (NaT for NULL), other NULLs are None in object arrays,
    JSON columns hold JSON text.
    """
    size = next(len(c) for c in columns.values() if isinstance(c, np.ndarray))
    if size == 0:
        return
    target = table(name)
    given = {**_defaults(target, set(columns)), **columns}
    arrays = {column: _full(value, size) for column, value in given.items()}
    if connection.dialect.name == "postgresql":
        _copy(connection, name, arrays)
    else:
        _executemany(connection, target, arrays)


def _copy(connection: Connection, name: str, arrays: dict[str, np.ndarray]) -> None:
    """PostgreSQL: Arrow writes the rows as CSV, `COPY … FROM STDIN` reads them."""
    batch = pa.table(
        {column: pa.array(values, from_pandas=True) for column, values in arrays.items()}
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
    raw: Any = connection.connection.driver_connection
    statement = f"COPY {name} ({', '.join(arrays)}) FROM STDIN (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def _sqlite_values(values: np.ndarray) -> list[Any]:
    """A column as Python values for sqlite3; datetimes as epoch seconds, NaT as None."""
    if values.dtype.kind != "M":
        return list(values.tolist())
    seconds = values.astype("datetime64[s]").astype(np.int64)
    missing = np.isnat(values)
    if not missing.any():
        return list(seconds.tolist())
    stamped = seconds.astype(object)
    stamped[missing] = None
    return list(stamped.tolist())


def _executemany(connection: Connection, target: Table, arrays: dict[str, np.ndarray]) -> None:
    """SQLite: one executemany of plain tuples, datetimes formatted by SQLite."""
    marks = []
    for column in arrays:
        kind = target.c[column].type
        is_date = isinstance(kind, Date) and not isinstance(kind, DateTime)
        marks.append(
            SQLITE_DATE if is_date else SQLITE_DATETIME if isinstance(kind, DateTime) else "?"
        )
    statement = f"INSERT INTO {target.name} ({', '.join(arrays)}) VALUES ({', '.join(marks)})"
    rows = zip(*(_sqlite_values(values) for values in arrays.values()), strict=True)
    raw: Any = connection.connection.driver_connection
    raw.executemany(statement, rows)


def reset_sequences(connection: Connection, names: list[str]) -> None:
    """PostgreSQL: move each table's id sequence past the ids given explicitly."""
    if connection.dialect.name != "postgresql":
        return
    for name in names:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
            )
        )


def _secondary_indexes(connection: Connection, names: list[str]) -> list[Index]:
    """The non-unique indexes of these tables that exist in this database."""
    inspector = inspect(connection)
    found = []
    for name in names:
        present = {index["name"] for index in inspector.get_indexes(name)}
        found += [i for i in table(name).indexes if not i.unique and i.name in present]
    return found


def _foreign_keys(connection: Connection, names: list[str]) -> list[ForeignKeyConstraint]:
    """PostgreSQL: the foreign keys of these tables (each row would fire a check trigger)."""
    if connection.dialect.name != "postgresql":
        return []
    inspector = inspect(connection)
    found = []
    for name in names:
        present = {key["name"] for key in inspector.get_foreign_keys(name)}
        found += [k for k in table(name).foreign_key_constraints if k.name in present]
    return found


@contextmanager
def bulk_load(connection: Connection, names: list[str]) -> Iterator[None]:
    """Drop these tables' secondary indexes, let the caller load, then build them again.

    On PostgreSQL their foreign keys go too and come back checked in one pass each (a check
    trigger per row costs more than the COPY itself). On SQLite the page cache is raised for
    the load (index builds sort in it) and restored.
    """
    indexes = _secondary_indexes(connection, names)
    keys = _foreign_keys(connection, names)
    for key in keys:
        connection.execute(DropConstraint(key))
    for index in indexes:
        index.drop(connection)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
        for index in indexes:
            index.create(connection)
        for key in keys:
            connection.execute(AddConstraint(key))
    finally:
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA cache_size={cache}")


@contextmanager
def rollback_journal(connection: Connection) -> Iterator[None]:
    """SQLite: keep a rollback journal instead of the write-ahead log while loading in bulk.

    With the log every page of a multi-gigabyte load is written twice (into the log, then
    back into the database file at the checkpoint). A rollback journal keeps only the pages
    that existed before, few when the rows are new, so each page is written once and the load
    stays atomic. Call it outside a transaction; when another connection has the file open the
    switch is refused and the log stays.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    with suppress(OperationalError):  # another connection holds the file: keep the log
        connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.commit()
