"""Writing one batch with SQLAlchemy Core: one lookup, one bulk insert, one bulk update.

The ORM stays off this path: it would cost more per row than everything else together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from patron.imports.bulk import insert_many, update_many
from patron.imports.columns import Record

# Well under SQLite's and PostgreSQL's limits on bound parameters per statement.
LOOKUP_CHUNK = 5_000
T = TypeVar("T")


@dataclass
class Counts:
    """What happened to the rows of a batch or a whole file."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        """Add another batch's counts to these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected

    @property
    def rows(self) -> int:
        """Every data row counted."""
        return self.inserted + self.updated + self.unchanged + self.rejected

    def as_dict(self) -> dict[str, int]:
        """The summary `patron import --json` prints."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


def chunks(items: Sequence[T], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lookup(
    conn: Connection, table: Table, keys: Sequence[str], *columns: str
) -> dict[str, tuple[Any, ...]]:
    """external_id -> the named columns, for those of `keys` already stored."""
    found: dict[str, tuple[Any, ...]] = {}
    key = table.c.external_id
    wanted = [table.c[name] for name in columns]
    for part in chunks(keys):
        for row in conn.execute(select(key, *wanted).where(key.in_(part))):
            found[row[0]] = tuple(row[1:])
    return found


@dataclass
class Written:
    """The records a batch inserted and those it updated (unchanged ones are neither)."""

    inserted: list[Record] = field(default_factory=list)
    updated: list[Record] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        """Every record written."""
        return self.inserted + self.updated


@dataclass
class Upsert:
    """How to store one kind's records in its table."""

    table: Table
    row: Callable[[Record], dict[str, Any]]
    update_columns: list[str]


def upsert(
    conn: Connection, plan: Upsert, records: list[Record], *, write: bool
) -> tuple[Counts, Written]:
    """Insert new records, update changed ones (by external id), leave equal ones alone.

    Returns the counts and the records that were inserted or updated.
    """
    stored = lookup(conn, plan.table, [record.external_id for record in records], "import_hash")
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    written = Written()
    counts = Counts()
    for record in records:
        previous = stored.get(record.external_id)
        if previous is None:
            counts.inserted += 1
            if write:
                fresh.append(plan.row(record))
                written.inserted.append(record)
        elif previous[0] == record.import_hash:
            counts.unchanged += 1
        else:
            counts.updated += 1
            if write:
                changed.append(plan.row(record))
                written.updated.append(record)
    insert_many(conn, plan.table, fresh)
    update_many(conn, plan.table, changed, plan.update_columns)
    return counts, written


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, skipping any whose key already exists (SQLite and PostgreSQL alike)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
