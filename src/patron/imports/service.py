"""`patron import`: read a file in batches, refuse bad rows, store the batches in transactions.

A batch is parsed, given its identities, checked against the database with one lookup, and
written with one bulk insert and one bulk update. Each batch commits on its own, or on SQLite
in the command line's bulk mode together with the next ones (`commits`), so a killed import
leaves only whole batches, and running it again finds those rows unchanged. A first load of
orders into SQLite is one transaction with the order indexes built at its end
(`commits.DeferredIndexes`): killed, it leaves nothing.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Table, select

from patron import background, collector
from patron.config import Settings, get_settings
from patron.customers.schemas import Action
from patron.db import end_transaction, now, rollback_journal
from patron.errors import FileUnreadable, InvalidInput
from patron.imports.columns import Plan, Record, RowError, content_hash, plan_columns
from patron.imports.commits import Commits, DeferredIndexes
from patron.imports.duplicates import DuplicatesFile, import_action
from patron.imports.duplicates import default_path as duplicates_default
from patron.imports.kinds import Kind, Options, kind_named
from patron.imports.kinds.base import Batch, Rejected, column_of, drop, parse_records
from patron.imports.occurrences import Identities, key_of
from patron.imports.order_columns import (
    OrderColumns,
    hash_orders,
    identify_orders,
    parse_orders,
)
from patron.imports.order_store import store_orders
from patron.imports.readers import CsvSource, Numbered, Source, open_source
from patron.imports.references import (
    CustomerIds,
    CustomerNumbers,
    NewCustomers,
    customers_table,
    scores_table,
    user_ids,
)
from patron.imports.rejects import RejectsFile, default_path
from patron.imports.values import Cell
from patron.imports.writer import Counts, Upsert, upsert
from patron.notify import webhooks

Progress = Callable[[int, int, int], None]
T = TypeVar("T")
_MASK64 = (1 << 64) - 1
# No per-row foreign key checks: every id written was looked up in the same transaction.
_SQLITE_FAST = ("PRAGMA foreign_keys=OFF",)
_SQLITE_RESTORE = ("PRAGMA cache_size=-2000", "PRAGMA foreign_keys=ON")
_COLLECT_EVERY = 60.0


@dataclass
class ImportResult:
    """What an import did, and where its rejected rows are."""

    counts: Counts
    rejects: Path | None
    dry_run: bool
    duplicates: Path | None = None
    duplicate_count: int = 0


@dataclass
class _Outputs:
    """The files an import writes besides the database."""

    rejects: RejectsFile
    duplicates: DuplicatesFile


@dataclass
class _ParsedOrders:
    """A batch of orders made ready to store: parsed, hashed and given their ids."""

    orders: OrderColumns
    rejected: Rejected
    customers: NewCustomers


_Rows = list[tuple[int, list[Cell]]]
_Prepared = _ParsedOrders | _Rows


def import_file(
    *,
    engine: Engine,
    kind: str,
    path: Path,
    rejects_path: Path | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
    duplicates_path: Path | None = None,
    dedupe: Action | None = None,
    bulk: bool = False,
) -> ImportResult:
    """Import one file of `kind`; unreadable files fail before anything is written.

    `dedupe` (default: PATRON_DEDUPE_IMPORT) says what a new customer that duplicates another
    does: block (rejected) or warn (imported, and listed in the duplicates report).
    `bulk` is the command line's mode: orders are parsed in a forked second process while
    this one stores them (for a process with no threads of its own that would be copied
    mid-work, not for the server), and on SQLite batches are committed together (`Commits`).
    """
    settings = settings or get_settings()
    if settings.import_batch_size < 1:
        raise InvalidInput("PATRON_IMPORT_BATCH_SIZE must be at least 1")
    if settings.import_cache_mib < 2:
        raise InvalidInput("PATRON_IMPORT_CACHE_MIB must be at least 2")
    if settings.import_commit_rows < 1:
        raise InvalidInput("PATRON_IMPORT_COMMIT_ROWS must be at least 1")
    action = import_action(None if dedupe is None else str(dedupe))
    options = Options(settings.default_region, ZoneInfo(settings.timezone), action)
    spec = kind_named(kind, options)
    # The collector off for the import, reading the first batch included: a batch makes
    # millions of short-lived objects in no cycle, which it would walk again and again (a
    # third of an orders import's CPU). A parsing process (`background`) is forked with it off.
    with collector.paused():
        source = open_source(path)
        try:
            plan = plan_columns(spec.fields, source.headers, kind=spec.name)
            batches = _data_batches(source, path, settings.import_batch_size)
            rejects = RejectsFile(
                rejects_path or default_path(path), source.headers, always=rejects_path is not None
            )
            report = DuplicatesFile(
                duplicates_path or duplicates_default(path), always=duplicates_path is not None
            )
            try:
                counts = _run(
                    engine,
                    spec,
                    plan,
                    source,
                    batches,
                    _Outputs(rejects, report),
                    write=not dry_run,
                    progress=progress,
                    cache_mib=settings.import_cache_mib,
                    commit_rows=settings.import_commit_rows,
                    bulk=bulk,
                )
            finally:
                rejects.close()
                report.close()
        finally:
            source.close()
    return ImportResult(
        counts,
        rejects.path if rejects.written else None,
        dry_run,
        report.path if report.written else None,
        report.count,
    )


def _data_batches(source: Source, path: Path, size: int) -> Iterator[Numbered]:
    """The file's batches, read as they are taken (in the parsing process, in bulk mode); a
    file with a header but no data rows is refused before anything is stored."""
    batches = source.batches(size)
    first = next(batches, None)
    if first is None:
        raise FileUnreadable(f"{path.name} has a header but no data rows")
    yield first
    del first  # taken: let it go with the batch
    yield from batches


def _run(
    engine: Engine,
    spec: Kind,
    plan: Plan,
    source: Source,
    batches: Iterator[Numbered],
    outputs: _Outputs,
    *,
    write: bool,
    progress: Progress | None,
    cache_mib: int,
    commit_rows: int,
    bulk: bool,
) -> Counts:
    total = Counts()
    identities = Identities()
    customers = CustomerIds()
    orders = spec.name == "orders"
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        for pragma in _sqlite_fast(cache_mib) if sqlite else ():
            conn.exec_driver_sql(pragma)
        try:
            users = user_ids(conn)
            subscriptions = webhooks.subscribers_on(conn)
            grouped = bulk and sqlite
            deferred = _first_load(conn, spec) if grouped and write and orders else None
            conn.commit()
            prepared = _prepared(spec, plan, source, batches, identities)
            with (
                background.items(prepared, separate=bulk and orders) as steps,
                rollback_journal(conn) if deferred is not None else nullcontext(),
            ):
                commits = Commits(
                    conn,
                    write=write,
                    group_rows=commit_rows if grouped else 0,
                    deferred=deferred,
                )
                try:
                    for position, step in _collected_between(steps):
                        batch = Batch(
                            conn=conn, plan=plan, at=now(), write=write, customers=customers,
                            users=users, subscriptions=subscriptions,
                        )  # fmt: skip
                        if isinstance(step, _ParsedOrders):
                            counts, rejected = _order_batch(spec, batch, step, commits)
                        else:
                            counts, rejected = _one_batch(spec, batch, step, identities, commits)
                        outputs.rejects.write(rejected)
                        outputs.duplicates.write(batch.duplicates)
                        total.add(counts)
                        if progress is not None:
                            progress(total.rows, position, source.total)
                finally:
                    commits.finish()
        finally:
            # The connection goes back to the pool: leave it as every other user expects.
            if sqlite:
                end_transaction(conn)
            for pragma in _SQLITE_RESTORE if sqlite else ():
                conn.exec_driver_sql(pragma)
    return total


def _first_load(conn: Connection, spec: Kind) -> DeferredIndexes | None:
    """The indexes a bulk orders import builds at its end: the orders table's when it holds
    no order (a first load), and the customers' (with their score rows') too when it holds
    no customer."""
    if not _holds_none(conn, spec.table):
        return None
    tables = [spec.table]
    if _holds_none(conn, customers_table):
        tables += [customers_table, scores_table]
    return DeferredIndexes([table.name for table in tables])


def _holds_none(conn: Connection, table: Table) -> bool:
    return conn.execute(select(table.c.id).limit(1)).first() is None


def _sqlite_fast(cache_mib: int) -> tuple[str, ...]:
    """The import connection's settings: a page cache that holds the index pages a batch
    writes into (`PATRON_IMPORT_CACHE_MIB`). Each 100,000 orders land all over the
    (customer, date) and date indexes, so a batch dirties most of their pages: at 10 million
    orders they take 880 MiB, and a smaller cache spills pages to the WAL mid-batch and reads
    them back again and again. SQLite allocates the cache as pages are used (a small database
    takes little) and the import gives it back when it ends."""
    return (f"PRAGMA cache_size=-{cache_mib * 1024}", *_SQLITE_FAST)


def _collected_between(batches: Iterator[T]) -> Iterator[T]:
    """The batches, with a full collection (about 0.1 s) between two of them once every
    `_COLLECT_EVERY` seconds: it keeps what other threads of a server leave in cycles from
    piling up during a long import."""
    collected = time.monotonic()
    for batch in batches:
        yield batch
        if time.monotonic() - collected >= _COLLECT_EVERY:
            gc.collect()
            collected = time.monotonic()


def _one_batch(
    spec: Kind, batch: Batch, chunk: _Rows, identities: Identities, commits: Commits
) -> tuple[Counts, Rejected]:
    records, rejected = parse_records(spec, batch.plan, chunk)
    rejected += _identify(spec, batch.plan, records, identities)
    records = drop(records, rejected)
    with commits.batch(batch, len(chunk)):
        refused = spec.resolve(batch, records)
        records = drop(records, refused)
        store = Upsert(
            spec.table, lambda record: spec.row(batch, record), spec.update_columns(batch.plan)
        )
        counts, written = upsert(batch.conn, store, records, write=batch.write)
        if batch.write:
            spec.after_write(batch, written)
    rejected += refused
    counts.rejected = len(rejected)
    return counts, rejected


def _prepared(
    spec: Kind, plan: Plan, source: Source, batches: Iterator[Numbered], identities: Identities
) -> Iterator[tuple[int, _Prepared]]:
    """The batches made ready to store, each with how far into the file the import is after it."""
    if spec.name == "orders":
        textual = isinstance(source, CsvSource)
        return _prepared_orders(spec, plan, source, batches, identities, textual)
    return _prepared_rows(source, batches)


def _prepared_rows(source: Source, batches: Iterator[Numbered]) -> Iterator[tuple[int, _Rows]]:
    """Each batch's numbered rows: other kinds parse and identify them in their transaction."""
    for numbers, cells in batches:
        yield source.position(), list(zip(numbers, cells, strict=True))


def _prepared_orders(
    spec: Kind,
    plan: Plan,
    source: Source,
    batches: Iterator[Numbered],
    identities: Identities,
    textual: bool,
) -> Iterator[tuple[int, _ParsedOrders]]:
    """Each batch of orders parsed column by column, hashed, given its ids and its customers'
    numbers (`CustomerNumbers`).

    None of this reads the database, so the command line runs it in a second process
    (`background`) while this one stores the batch before. The rows' cells stay behind: only
    rejected rows need them, and they carry their own.
    """
    customer_numbers = CustomerNumbers()
    for numbers, cells in batches:
        orders, rejected = parse_orders(spec, plan, numbers, cells, textual=textual)
        del numbers, cells  # not held while the next batch is read
        hash_orders(plan, orders)
        orders, repeated = identify_orders(plan, orders, identities)
        orders.customer_number, customers = customer_numbers.number(orders.customer_id)
        orders.cells, orders.customer_id = [], []
        yield source.position(), _ParsedOrders(orders, rejected + repeated, customers)


def _order_batch(
    spec: Kind, batch: Batch, parsed: _ParsedOrders, commits: Commits
) -> tuple[Counts, Rejected]:
    """Orders, column by column: the same result as `_one_batch`, several times faster."""
    with commits.batch(batch, len(parsed.orders) + len(parsed.rejected)):
        counts = (
            store_orders(spec, batch, parsed.orders, parsed.customers)
            if len(parsed.orders)
            else Counts()
        )
    counts.rejected = len(parsed.rejected)
    return counts, parsed.rejected


def _identify(spec: Kind, plan: Plan, records: list[Record], identities: Identities) -> Rejected:
    """Hash every record; give it its explicit id or one derived from content and occurrence."""
    derived: list[Record] = []
    explicit: list[Record] = []
    for record in records:
        record.import_hash = content_hash(record.values, record.custom)
        given = record.values.get(spec.id_field)
        if given:
            record.external_id = given
            explicit.append(record)
        else:
            derived.append(record)
    numbers = identities.derived.occurrences([key_of(r.import_hash) for r in derived])
    for record, number in zip(derived, numbers, strict=True):
        record.external_id = f"{record.import_hash[:24]}-{number}"
    repeats = identities.explicit.occurrences([hash(r.external_id) & _MASK64 for r in explicit])
    column = column_of(plan, spec.id_field)
    return [
        (record, RowError(column, f"'{record.external_id}' appears in an earlier row"))
        for record, number in zip(explicit, repeats, strict=True)
        if number > 1
    ]
