"""When an import's batches are committed: each on its own, or several together."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, RootTransaction

from patron.imports.kinds.base import Batch

# On SQLite, the command line's bulk import commits its batches together (`Commits`) for up
# to PATRON_IMPORT_COMMIT_ROWS rows or this many seconds.
GROUP_SECONDS = 10.0


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
    """

    def __init__(self, conn: Connection, *, write: bool, group_rows: int) -> None:
        self.conn = conn
        self.write = write
        self.group_rows = group_rows
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
        return self.conn.begin()

    def _abandon(self, transaction: RootTransaction, batch: Batch) -> None:
        """Roll back what has not been committed: the failing batch and its group. (After a
        failed commit SQLAlchemy has already let go of the transaction; the import ends the
        database's own before the connection goes back to the pool.)"""
        transaction.rollback()
        self.pending = 0
        # Customers created since the last commit are gone again: forget their cached ids.
        batch.customers.forget()

    def _due(self) -> bool:
        waited = time.monotonic() - self.opened
        return self.pending >= self.group_rows or waited >= GROUP_SECONDS

    def finish(self) -> None:
        """Commit the whole batches still waiting."""
        transaction = self.conn.get_transaction()
        if transaction is None:
            return
        waiting, self.pending = self.pending, 0
        if self.write and waiting and transaction.is_active:
            transaction.commit()
        else:
            transaction.rollback()
