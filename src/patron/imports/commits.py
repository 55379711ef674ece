"""When an import's batches are committed: each on its own, several together, or (a first
load) all at once with their indexes built at the end."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, RootTransaction

from patron.db import hold_write_lock
from patron.imports.kinds.base import Batch

# On SQLite, the command line's bulk import commits its batches together (`Commits`) for up
# to PATRON_IMPORT_COMMIT_ROWS rows or this many seconds.
GROUP_SECONDS = 10.0
# Threads SQLite may sort with while it builds a first load's indexes.
SORT_THREADS = 2
_UNIQUE = re.compile(r"\s*CREATE\s+UNIQUE\b", re.IGNORECASE)


class DeferredIndexes:
    """A first load's secondary indexes on SQLite tables: dropped when its one transaction
    begins, built again, sorted, before it commits.

    A first load is the command line's import of orders into a database that holds none (and
    the customers table's too when it is empty, as when the orders create their customers).
    Its rows land all over the (customer, date), date and product indexes: at 10 million
    orders each row cost SQLite several random B-tree descents, the most of the import's
    time, and each commit rewrote most of those pages. Built at the end from the sorted rows
    they cost a fraction of that. Unique indexes stay: they refuse a duplicate as the row
    goes in, and they are what the import looks rows up by. The drop is inside the load's
    transaction (SQLite's schema changes are transactional, and other connections see only
    committed schema), so a failed or killed load rolls back with its indexes in place, and
    a reader never finds them missing.
    """

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = tables
        self.dropped: list[str] = []

    def drop(self, conn: Connection) -> None:
        """Drop the tables' secondary indexes (in the open transaction, which holds the write
        lock), keeping their SQL. A table that took rows since the import looked keeps its
        indexes: still right, only slower."""
        for table in self.tables:
            if conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None:
                continue
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
                (table,),
            ).all()
            for name, sql in rows:
                if not _UNIQUE.match(sql):
                    conn.exec_driver_sql(f'DROP INDEX "{name}"')
                    self.dropped.append(sql)

    def build(self, conn: Connection) -> None:
        """Create the dropped indexes again, each from one sort of its table's rows."""
        threads = conn.exec_driver_sql("PRAGMA threads").scalar_one()
        conn.exec_driver_sql(f"PRAGMA threads={SORT_THREADS}")
        try:
            for sql in self.dropped:
                conn.exec_driver_sql(sql)
        finally:
            conn.exec_driver_sql(f"PRAGMA threads={threads}")
        self.dropped = []


class Commits:
    """When the batches' writes are committed: each batch on its own, or on SQLite, in the
    command line's bulk mode, several together.

    A commit writes every page its batches changed to the write-ahead log, and 100,000 orders
    land all over the (customer, date) and date indexes: in a large database each commit of
    one batch rewrote most of those indexes (10 GB of writes for 3 million orders, 3.3 GB
    with 500,000 rows a commit). Grouped, a commit comes once `group_rows` rows
    (PATRON_IMPORT_COMMIT_ROWS) or `GROUP_SECONDS` seconds have gone in, so other writers
    wait at most about that plus one batch. A batch that fails rolls back the group it is
    in; the whole batches waiting when something outside them fails (the file unreadable
    further on) are committed. Either way the database holds whole batches only, as a
    `kill -9` leaves it.

    A first load (`DeferredIndexes`) is one transaction instead: other writers wait for it,
    and a `kill -9` leaves the database as it was before.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        write: bool,
        group_rows: int,
        deferred: DeferredIndexes | None = None,
    ) -> None:
        self.conn = conn
        self.write = write
        self.group_rows = group_rows
        # A first load: one transaction, its indexes built before it commits.
        self.deferred = deferred
        self.pending = 0
        self.opened = 0.0

    @contextmanager
    def batch(self, batch: Batch, rows: int) -> Iterator[None]:
        """The batch's writes and its webhook events, in the open transaction; a dry run's
        rolled back."""
        transaction = self.conn.get_transaction() or self._begin()
        try:
            yield
            batch.publish()
        except BaseException:
            self._abandon(transaction, batch)
            raise
        self.pending += rows
        if not self.write:
            transaction.rollback()
            self.pending = 0
        elif self._due():
            try:
                transaction.commit()
            except BaseException:
                self._abandon(transaction, batch)
                raise
            self.pending = 0

    def _begin(self) -> RootTransaction:
        self.opened = time.monotonic()
        transaction = self.conn.begin()
        if self.deferred is not None:
            hold_write_lock(self.conn)  # the DROP INDEX inside the load's transaction
            self.deferred.drop(self.conn)
        return transaction

    def _abandon(self, transaction: RootTransaction, batch: Batch) -> None:
        """Roll back what has not been committed: the failing batch and its group. (After a
        failed commit SQLAlchemy has already let go of the transaction; the import ends the
        database's own before the connection goes back to the pool.)"""
        transaction.rollback()
        self.pending = 0
        # Customers created since the last commit are gone again: forget their cached ids.
        batch.customers.forget()

    def _due(self) -> bool:
        if self.deferred is not None:
            return False
        waited = time.monotonic() - self.opened
        return self.pending >= self.group_rows or waited >= GROUP_SECONDS

    def finish(self) -> None:
        """Commit the whole batches still waiting."""
        transaction = self.conn.get_transaction()
        if transaction is None:
            return
        waiting, self.pending = self.pending, 0
        if self.write and waiting and transaction.is_active:
            try:
                if self.deferred is not None:
                    self.deferred.build(self.conn)
                transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
        else:
            transaction.rollback()
