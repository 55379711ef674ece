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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import (
    JSON,
    Connection,
    Constraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.schema import AddConstraint, DropConstraint

from patron.models import Base

Columns = dict[str, Any]
SQLITE_CACHE_KIB = 256 * 1024
# Rows go into SQLite several per INSERT, up to this many parameters (SQLite's oldest limit).
SQLITE_MAX_PARAMETERS = 999
# Helper threads SQLite may use to sort while it builds an index.
SQLITE_SORT_THREADS = 2
# PostgreSQL: memory for the index builds and foreign-key checks after a load (this transaction).
POSTGRES_SORT_MEMORY = "1GB"


def table(name: str) -> Table:
    """A table of Patron's schema by name."""
    return Base.metadata.tables[name]


def last_id(connection: Connection, name: str) -> int:
    """A table's highest id, 0 when empty: the rows loaded next take the ids after it."""
    return int(connection.scalar(text(f"SELECT coalesce(max(id), 0) FROM {name}")) or 0)


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


@dataclass(frozen=True)
class Batch:
    """One table's rows encoded for one database, ready to send: what a producer hands over.

    PostgreSQL gets CSV text for `COPY`; SQLite gets an `INSERT` whose constants are literals
    and one array per bound parameter (datetimes already formatted, NULLs given by a mask),
    so the writer only turns arrays into Python values.
    """

    table: str
    size: int
    statement: str
    csv: bytes = b""
    many: str = ""  # SQLite: the statement for `rows_per_statement` rows at once
    rows_per_statement: int = 1
    values: tuple[np.ndarray, ...] = ()
    nulls: tuple[np.ndarray | None, ...] = ()


def write(connection: Connection, name: str, columns: Columns) -> None:
    """Insert rows given as columns: arrays of equal length, or constants.

    Datetimes are `datetime64` arrays (NaT for NULL), other NULLs are None in object arrays,
    JSON columns hold JSON text.
    """
    write_batch(connection, encode(connection.dialect.name, name, columns))


def encode(dialect: str, name: str, columns: Columns) -> Batch:
    """Encode rows given as columns (see `write`) for `write_batch` on this kind of database."""
    size = next(len(c) for c in columns.values() if isinstance(c, np.ndarray))
    target = table(name)
    given = {**_defaults(target, set(columns)), **columns}
    if dialect == "postgresql":
        return _csv(name, size, {column: _full(value, size) for column, value in given.items()})
    return _sqlite_batch(target, size, given)


def write_batch(connection: Connection, batch: Batch) -> None:
    """Send encoded rows in the caller's transaction."""
    if batch.size == 0:
        return
    raw: Any = connection.connection.driver_connection
    if batch.csv:
        with raw.cursor() as cursor, cursor.copy(batch.statement) as copy:
            copy.write(batch.csv)
        return
    # One row of parameters per table row; several rows go in per statement (fewer steps).
    rows = np.empty((batch.size, len(batch.values)), dtype=object)
    for place, (values, nulls) in enumerate(zip(batch.values, batch.nulls, strict=True)):
        rows[:, place] = _wide(values)
        if nulls is not None:
            rows[nulls, place] = None
    whole = batch.size - batch.size % batch.rows_per_statement
    if whole:
        grouped = rows[:whole].reshape(-1, batch.rows_per_statement * len(batch.values))
        raw.executemany(batch.many, grouped.tolist())
    if whole < batch.size:
        raw.executemany(batch.statement, rows[whole:].tolist())


def _csv(name: str, size: int, arrays: dict[str, np.ndarray]) -> Batch:
    """PostgreSQL: Arrow writes the rows as CSV for `COPY … FROM STDIN`."""
    batch = pa.table(
        {column: pa.array(values, from_pandas=True) for column, values in arrays.items()}
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
    statement = f"COPY {name} ({', '.join(arrays)}) FROM STDIN (FORMAT csv)"
    return Batch(name, size, statement, csv=buffer.getvalue())


def _sqlite_batch(target: Table, size: int, given: Columns) -> Batch:
    """SQLite: constants written into the statement, each distinct array bound once."""
    marks: list[str | int] = []  # a literal, or the place of a bound array
    bound: list[Any] = []
    values: list[np.ndarray] = []
    nulls: list[np.ndarray | None] = []
    for column, value in given.items():
        kind = target.c[column].type
        is_date = isinstance(kind, Date) and not isinstance(kind, DateTime)
        if not isinstance(value, np.ndarray):
            marks.append(_literal(value, is_date))
            continue
        # A column that repeats another (created_at = ordered_at) reuses its parameter.
        found = next((i for i, b in enumerate(bound) if b is value), None)
        if found is None:
            found = len(bound)
            bound.append(value)
            encoded, missing = _sqlite_column(value, is_date)
            values.append(encoded)
            nulls.append(missing)
        marks.append(found)
    per = max(1, SQLITE_MAX_PARAMETERS // max(len(values), 1))

    def row(first: int) -> str:
        parts = (m if isinstance(m, str) else f"?{first + m + 1}" for m in marks)
        return f"({', '.join(parts)})"

    head = f"INSERT INTO {target.name} ({', '.join(given)}) VALUES "
    many = head + ", ".join(row(r * len(values)) for r in range(per))
    return Batch(
        target.name,
        size,
        head + row(0),
        many=many,
        rows_per_statement=per,
        values=tuple(values),
        nulls=tuple(nulls),
    )


def _literal(value: Any, is_date: bool) -> str:
    """A constant as an SQL literal stored exactly as the bound value would have been."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime | np.datetime64):
        text = str(_datetime_texts(np.array([value], dtype="datetime64[s]"), is_date)[0])
        return f"'{text}'"
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(value.item() if isinstance(value, np.generic) else value)
    text = str(value).replace("'", "''")
    return f"'{text}'"


def _datetime_texts(values: np.ndarray, is_date: bool) -> np.ndarray:
    """Datetimes as SQLAlchemy writes them to SQLite (`2026-06-30 09:00:00.000000`)."""
    if is_date:
        return np.datetime_as_string(values.astype("datetime64[D]"), unit="D")
    texts = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
    characters = texts.view("<U1").reshape(-1, texts.dtype.itemsize // 4)
    characters[:, 10] = " "  # the ISO "T"
    return np.strings.add(texts, ".000000")


def _sqlite_column(values: np.ndarray, is_date: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A column as a typed array (no Python objects) and where it is NULL (None: nowhere)."""
    if values.dtype.kind == "M":
        missing = np.isnat(values)
        texts = _datetime_texts(np.where(missing, np.datetime64(0, "s"), values), is_date)
        return _narrow(texts), missing if missing.any() else None
    if values.dtype.kind == "U":
        return _narrow(values), None
    if values.dtype.kind != "O":
        return values, None
    missing = np.array([value is None for value in values.tolist()], dtype=bool)
    present = values[~missing]
    if not present.size:
        return np.zeros(values.size, dtype=np.int64), missing
    filled = values.copy()
    filled[missing] = present[0]
    return _narrow(np.asarray(filled.tolist())), missing if missing.any() else None


def _narrow(values: np.ndarray) -> np.ndarray:
    """ASCII text as one byte a character (a quarter of the pipe); `_wide` turns it back."""
    if values.dtype.kind != "U":
        return values
    try:
        return values.astype(f"S{max(values.dtype.itemsize // 4, 1)}")
    except UnicodeEncodeError:
        return values


def _wide(values: np.ndarray) -> np.ndarray:
    """Text sent narrow as str again, so sqlite3 stores TEXT and not BLOB."""
    return values.astype(f"U{values.dtype.itemsize}") if values.dtype.kind == "S" else values


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


def _constraints(
    connection: Connection, names: list[str]
) -> tuple[list[Constraint], list[ForeignKeyConstraint]]:
    """PostgreSQL: these tables' primary keys and unique constraints, and every foreign key
    from or to them, as far as they exist in this database.

    Each row COPY adds would otherwise go into every unique index one by one (and fire a check
    trigger per foreign key); sorting once afterwards costs far less. The keys pointing at
    these tables have to go with the primary keys they depend on.
    """
    if connection.dialect.name != "postgresql":
        return [], []
    present = set(
        connection.scalars(
            text(
                "SELECT conname FROM pg_constraint JOIN pg_namespace n ON n.oid = connamespace "
                "WHERE nspname = current_schema()"
            )
        )
    )
    unique: list[Constraint] = []
    for name in names:
        unique += [
            c
            for c in table(name).constraints
            if isinstance(c, PrimaryKeyConstraint | UniqueConstraint) and c.name in present
        ]
    loaded = set(names)
    keys = [
        key
        for target in Base.metadata.sorted_tables
        for key in target.foreign_key_constraints
        if key.name in present and (target.name in loaded or key.referred_table.name in loaded)
    ]
    return unique, keys


@contextmanager
def bulk_load(connection: Connection, names: list[str]) -> Iterator[None]:
    """Drop these tables' secondary indexes, let the caller load, then build them again.

    On PostgreSQL their primary keys, unique constraints and foreign keys (also those of other
    tables that point at them) go too and come back in one sort or one checking join each, with
    memory for the sorts raised for this transaction. On SQLite the page cache is raised for the
    load and index builds sort with helper threads; both are restored.
    """
    indexes = _secondary_indexes(connection, names)
    unique, keys = _constraints(connection, names)
    # isolate_from_table=False: by default SQLAlchemy marks a constraint added or dropped by
    # ALTER as no longer part of its table, and every later CREATE TABLE of this process
    # (another database's schema) would then leave the primary key out.
    for key in keys:
        connection.execute(DropConstraint(key, isolate_from_table=False))
    for constraint in unique:
        connection.execute(DropConstraint(constraint, isolate_from_table=False))
    for index in indexes:
        index.drop(connection)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        threads = connection.exec_driver_sql("PRAGMA threads").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        connection.exec_driver_sql(f"PRAGMA threads={SQLITE_SORT_THREADS}")
    else:
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{POSTGRES_SORT_MEMORY}'")
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_SORT_MEMORY}'")
    try:
        yield
        for constraint in unique:
            connection.execute(AddConstraint(constraint, isolate_from_table=False))
        for index in indexes:
            index.create(connection)
        for key in keys:
            connection.execute(AddConstraint(key, isolate_from_table=False))
    finally:
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA cache_size={cache}")
            connection.exec_driver_sql(f"PRAGMA threads={threads}")
