"""What the KPI queries keep between requests, kept in step with orders by database triggers.

Two derived tables, both rebuilt from `orders` and `customers` at any time:

- `kpi_first_purchases`: each buyer's first-ever paid order. "New customers" of a period
  are those whose first purchase falls in it, and a cohort is the month of it; reading them
  here replaces a look-up per buyer into every order before the period.
- `kpi_run_clv`: the CLV total of a scoring run's snapshots, for the average CLV card.
- `kpi_run_clv_by`: the same per owner and grade, segment or value class, for breakdowns.
- `kpi_period_figures`: the purchase counts (active, new, orders, revenue, repeaters,
  retention) of a calendar period that has ended, per owner (owner key 0: the pool), so a
  report adds up a few rows per month over the owners the user may see.

Why triggers: orders arrive by import (COPY on PostgreSQL), ingestion, edits, merges and
restores, and every one of them must leave the figures exact. A trigger sees each of them,
so no writer has to remember to. On an order change the trigger recomputes the first
purchase of the customers involved and drops every stored period ending after the earliest
moment touched (their "new" and retention counts may depend on it); an owner change drops
the stored periods of the old and the new owner. Dropped periods are counted again by the
next report that needs them. Orders of the running period drop nothing, since only ended
periods are stored, so the day's ingestion costs one primary-key look-up per customer.

One writer stands in for the triggers: a file import on SQLite, where they run once per row
(10 s per million orders, a third of the import), writes each batch inside `bulk_orders`,
which takes the insert and update triggers out in the batch's own transaction and applies
the batch's effect with a few set-based statements before putting them back. PostgreSQL's
triggers run once per statement already (a COPY's rows at once) and stay.

The tables and triggers are created at first use (as the knowledge search index is), not by
the migration: they are derived data, left out of backups and of `patron.models`, and a
database restored or migrated without them simply fills them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError

from patron.db import hold_write_lock

store = MetaData()
first_purchases = Table(
    "kpi_first_purchases",
    store,
    Column("customer_id", BigInteger, primary_key=True),
    Column("first_paid_at", DateTime, nullable=False, index=True),
)
period_figures = Table(
    "kpi_period_figures",
    store,
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False, index=True),
    # The owner's user id, 0 for the pool (so the key is never NULL and stays unique).
    Column("owner_key", BigInteger, nullable=False),
    Column("active", Integer, nullable=False),
    Column("new", Integer, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("revenue", Numeric(18, 2), nullable=False),
    Column("repeaters", Integer, nullable=False),
    Column("previous_active", Integer, nullable=False),
    Column("retained", Integer, nullable=False),
    UniqueConstraint("period_start", "period_end", "owner_key"),
)
run_clv = Table(
    "kpi_run_clv",
    store,
    Column("run_id", BigInteger, primary_key=True),
    Column("total", Float, nullable=True),
    Column("customers", Integer, nullable=False),
)
run_clv_by = Table(
    "kpi_run_clv_by",
    store,
    Column("run_id", BigInteger, nullable=False),
    # grade, segment, value_class or owner; the value as text ('' with known false: none).
    Column("dimension", String(16), nullable=False),
    Column("owner_key", BigInteger, nullable=False),
    Column("known", Boolean, nullable=False),
    Column("value", String(64), nullable=False),
    Column("total", Float, nullable=False),
    Column("customers", Integer, nullable=False),
    UniqueConstraint("run_id", "dimension", "owner_key", "known", "value"),
)
# The store's own objects, all named so: schema comparisons leave them out.
PREFIXES = ("kpi_", "ix_kpi_")
# Paid orders by moment with what the counts read (an index-only scan of a period) and by
# customer (first purchases, cohorts); a customer's owner by id, for the record rules' look-up
# per buyer. PostgreSQL carries columns in INCLUDE. SQLite, the embedded store of smaller
# businesses, reads the orders' own (ordered_at) and (customer_id, ordered_at) indexes
# instead: two more indexes on every order would cost an import of a million orders about 45%
# more time (benchmarks/import_orders.py --kpi-store).
_PAID_INDEXES = {
    "postgresql": (
        "CREATE INDEX IF NOT EXISTS ix_kpi_paid_orders ON orders (ordered_at) "
        "INCLUDE (customer_id, amount, channel) WHERE status = 'paid'",
        "CREATE INDEX IF NOT EXISTS ix_kpi_paid_by_customer ON orders (customer_id, ordered_at) "
        "WHERE status = 'paid'",
        "CREATE INDEX IF NOT EXISTS ix_kpi_customer_owner ON customers (id) INCLUDE (owner_id)",
    ),
    "sqlite": (),
}
POOL_KEY = 0
# Held shared while a report stores figures and exclusively by a trigger dropping them, so a
# figure counted before an order arrived is never stored after the trigger ran (PostgreSQL;
# SQLite has one writer at a time).
LOCK_KEY = 7_316_001
# The last trigger created, named for the store's version: when it exists, so does the rest.
_LAST_TRIGGER = "kpi_customers_owner_v7"

_REFILL = (
    "DELETE FROM kpi_first_purchases",
    "DELETE FROM kpi_period_figures",
    "DELETE FROM kpi_run_clv",
    "DELETE FROM kpi_run_clv_by",
    "INSERT INTO kpi_first_purchases (customer_id, first_paid_at) "
    "SELECT customer_id, min(ordered_at) FROM orders WHERE status = 'paid' GROUP BY customer_id",
)

_SQLITE_RECOUNT = (
    "DELETE FROM kpi_first_purchases WHERE customer_id = {row}.customer_id; "
    "INSERT INTO kpi_first_purchases (customer_id, first_paid_at) "
    "SELECT customer_id, min(ordered_at) FROM orders "
    "WHERE status = 'paid' AND customer_id = {row}.customer_id GROUP BY customer_id; "
    "DELETE FROM kpi_period_figures WHERE period_end > {row}.ordered_at; "
)
_SQLITE_TRIGGERS = (
    # A new paid order can only move a first purchase earlier: no recount needed.
    "CREATE TRIGGER kpi_orders_ai AFTER INSERT ON orders WHEN NEW.status = 'paid' BEGIN "
    "INSERT INTO kpi_first_purchases (customer_id, first_paid_at) "
    "VALUES (NEW.customer_id, NEW.ordered_at) ON CONFLICT (customer_id) "
    # Only an earlier purchase rewrites the row: most new orders leave it untouched.
    "DO UPDATE SET first_paid_at = excluded.first_paid_at "
    "WHERE excluded.first_paid_at < kpi_first_purchases.first_paid_at; "
    "DELETE FROM kpi_period_figures WHERE period_end > NEW.ordered_at; END",
    "CREATE TRIGGER kpi_orders_ad AFTER DELETE ON orders BEGIN "
    + _SQLITE_RECOUNT.format(row="OLD")
    + "END",
    "CREATE TRIGGER kpi_orders_au AFTER UPDATE ON orders BEGIN "
    + _SQLITE_RECOUNT.format(row="OLD")
    + _SQLITE_RECOUNT.format(row="NEW")
    + "END",
    *(
        f"CREATE TRIGGER kpi_snapshots_{name} AFTER {event} ON score_snapshots BEGIN "
        f"DELETE FROM kpi_run_clv WHERE run_id = {row}.run_id; "
        f"DELETE FROM kpi_run_clv_by WHERE run_id = {row}.run_id; END"
        for name, event, row in (
            ("ai", "INSERT", "NEW"),
            ("ad", "DELETE", "OLD"),
            ("au", "UPDATE", "OLD"),
        )
    ),
    "CREATE TRIGGER kpi_customer_scores_keys AFTER UPDATE OF grade, rfm_segment, value_class "
    "ON customer_scores WHEN OLD.grade IS NOT NEW.grade "
    "OR OLD.rfm_segment IS NOT NEW.rfm_segment OR OLD.value_class IS NOT NEW.value_class BEGIN "
    "DELETE FROM kpi_run_clv_by WHERE dimension <> 'owner'; END",
    f"CREATE TRIGGER {_LAST_TRIGGER} AFTER UPDATE OF owner_id ON customers "
    "WHEN OLD.owner_id IS NOT NEW.owner_id BEGIN "
    "DELETE FROM kpi_period_figures "
    "WHERE owner_key IN (coalesce(OLD.owner_id, 0), coalesce(NEW.owner_id, 0)); "
    "DELETE FROM kpi_run_clv_by "
    "WHERE owner_key IN (coalesce(OLD.owner_id, 0), coalesce(NEW.owner_id, 0)); END",
)

_PG_FUNCTIONS = (
    f"""
CREATE OR REPLACE FUNCTION kpi_drop_periods(earliest timestamp) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF earliest < (SELECT max(period_end) FROM kpi_period_figures) THEN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    DELETE FROM kpi_period_figures WHERE period_end > earliest;
  END IF;
END $$""",
    """
CREATE OR REPLACE FUNCTION kpi_recount(ids bigint[], earliest timestamp) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM kpi_first_purchases WHERE customer_id = ANY(ids);
  INSERT INTO kpi_first_purchases (customer_id, first_paid_at)
    SELECT customer_id, min(ordered_at) FROM orders
    WHERE status = 'paid' AND customer_id = ANY(ids) GROUP BY customer_id;
  PERFORM kpi_drop_periods(earliest);
END $$""",
    """
CREATE OR REPLACE FUNCTION kpi_orders_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- New paid orders can only move first purchases earlier: no recount from the orders.
    -- Most buyers have an earlier one stored: their rows are not written, only key-share
    -- locked, so a recount's delete waits for this commit (and then sees these orders)
    -- while other ingesting batches of the same buyers do not queue behind it.
    WITH batch AS (
      SELECT customer_id, min(ordered_at) AS first_paid_at FROM new_rows
      WHERE status = 'paid' GROUP BY customer_id
    ), kept AS MATERIALIZED (
      SELECT k.customer_id FROM kpi_first_purchases k JOIN batch b USING (customer_id)
      WHERE k.first_paid_at <= b.first_paid_at FOR KEY SHARE OF k
    )
    INSERT INTO kpi_first_purchases (customer_id, first_paid_at)
      SELECT customer_id, first_paid_at FROM batch
      WHERE customer_id NOT IN (SELECT customer_id FROM kept)
    ON CONFLICT (customer_id) DO UPDATE SET first_paid_at = excluded.first_paid_at
      WHERE excluded.first_paid_at < kpi_first_purchases.first_paid_at;
    PERFORM kpi_drop_periods((SELECT min(ordered_at) FROM new_rows WHERE status = 'paid'));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM kpi_recount(ARRAY(SELECT DISTINCT customer_id FROM old_rows),
                        (SELECT min(ordered_at) FROM old_rows));
  ELSE
    PERFORM kpi_recount(
      ARRAY(SELECT customer_id FROM old_rows UNION SELECT customer_id FROM new_rows),
      least((SELECT min(ordered_at) FROM old_rows), (SELECT min(ordered_at) FROM new_rows)));
  END IF;
  RETURN NULL;
END $$""",
    f"""
CREATE OR REPLACE FUNCTION kpi_orders_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({LOCK_KEY});
  DELETE FROM kpi_first_purchases;
  DELETE FROM kpi_period_figures;
  RETURN NULL;
END $$""",
    f"""
CREATE OR REPLACE FUNCTION kpi_snapshots_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({LOCK_KEY});
  IF TG_OP = 'INSERT' THEN
    DELETE FROM kpi_run_clv WHERE run_id IN (SELECT run_id FROM new_rows);
    DELETE FROM kpi_run_clv_by WHERE run_id IN (SELECT run_id FROM new_rows);
  ELSIF TG_OP = 'TRUNCATE' THEN
    DELETE FROM kpi_run_clv;
    DELETE FROM kpi_run_clv_by;
  ELSE
    DELETE FROM kpi_run_clv WHERE run_id IN (SELECT run_id FROM old_rows);
    DELETE FROM kpi_run_clv_by WHERE run_id IN (SELECT run_id FROM old_rows);
  END IF;
  RETURN NULL;
END $$""",
    f"""
CREATE OR REPLACE FUNCTION kpi_owner_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({LOCK_KEY});
  DELETE FROM kpi_period_figures
  WHERE owner_key IN (coalesce(OLD.owner_id, 0), coalesce(NEW.owner_id, 0));
  DELETE FROM kpi_run_clv_by
  WHERE owner_key IN (coalesce(OLD.owner_id, 0), coalesce(NEW.owner_id, 0));
  RETURN NULL;
END $$""",
    f"""
CREATE OR REPLACE FUNCTION kpi_customer_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({LOCK_KEY});
  DELETE FROM kpi_run_clv_by WHERE dimension <> 'owner';
  RETURN NULL;
END $$""",
)
_PG_TRIGGERS = (
    "CREATE TRIGGER kpi_orders_ai AFTER INSERT ON orders REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION kpi_orders_changed()",
    "CREATE TRIGGER kpi_orders_ad AFTER DELETE ON orders REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION kpi_orders_changed()",
    "CREATE TRIGGER kpi_orders_au AFTER UPDATE ON orders "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION kpi_orders_changed()",
    "CREATE TRIGGER kpi_orders_at AFTER TRUNCATE ON orders "
    "FOR EACH STATEMENT EXECUTE FUNCTION kpi_orders_truncated()",
    *(
        f"CREATE TRIGGER kpi_snapshots_{name} AFTER {event} ON score_snapshots "
        f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION kpi_snapshots_changed()"
        for name, event, rows in (
            ("ai", "INSERT", "NEW"),
            ("ad", "DELETE", "OLD"),
            ("au", "UPDATE", "OLD"),
        )
    ),
    "CREATE TRIGGER kpi_snapshots_at AFTER TRUNCATE ON score_snapshots "
    "FOR EACH STATEMENT EXECUTE FUNCTION kpi_snapshots_changed()",
    # A scoring run on PostgreSQL replaces the table instead (`analytics.snapshots`), which
    # carries this trigger over and calls `scores_replaced`.
    "CREATE TRIGGER kpi_customer_scores_keys AFTER UPDATE OF grade, rfm_segment, value_class "
    "ON customer_scores FOR EACH STATEMENT EXECUTE FUNCTION kpi_customer_keys_changed()",
    f"CREATE TRIGGER {_LAST_TRIGGER} AFTER UPDATE OF owner_id ON customers FOR EACH ROW "
    "WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id) EXECUTE FUNCTION kpi_owner_moved()",
)
# Every trigger the store has had, so an older store is replaced whole.
_TRIGGERS = {
    **{f"kpi_orders_{op}": "orders" for op in ("ai", "ad", "au", "at")},
    **{f"kpi_snapshots_{op}": "score_snapshots" for op in ("ai", "ad", "au", "at")},
    **dict.fromkeys(("kpi_customers_keys", "kpi_customers_owner", "kpi_customers_owner_v2",
                     "kpi_customers_owner_v3", "kpi_customers_owner_v4", "kpi_customers_owner_v5",
                     "kpi_customers_owner_v6", _LAST_TRIGGER), "customers"),
    "kpi_customer_scores_keys": "customer_scores",
}  # fmt: skip


def _ready(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        found = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = :name"
    else:
        found = "SELECT 1 FROM pg_trigger WHERE tgname = :name"
    return connection.scalar(text(found), {"name": _LAST_TRIGGER}) is not None


def _create(connection: Connection) -> None:
    """The tables, filled from the orders, and the triggers keeping them in step (those of an
    older version dropped first)."""
    postgres = connection.dialect.name == "postgresql"
    for name, table in _TRIGGERS.items():
        connection.exec_driver_sql(
            f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else "")
        )
    store.drop_all(connection)
    store.create_all(connection)
    if not postgres:  # built by earlier versions of the store; SQLite now does without them
        for retired in ("ix_kpi_paid_orders", "ix_kpi_paid_by_customer"):
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {retired}")
    for statement in _PAID_INDEXES[connection.dialect.name]:
        connection.exec_driver_sql(statement)
    for statement in _REFILL:
        connection.execute(text(statement))
    for statement in (*_PG_FUNCTIONS, *_PG_TRIGGERS) if postgres else _SQLITE_TRIGGERS:
        connection.exec_driver_sql(statement)


def rebuild(connection: Connection) -> None:
    """Drop the store and build it again from the orders, in the caller's transaction: what a
    new version of the store does, and what the tests compare a kept store with."""
    _create(connection)


def scores_replaced(connection: Connection) -> None:
    """Forget the CLV totals kept per grade, segment and value class after a scoring run
    replaced the customers' scores table wholesale (PostgreSQL), as the keys trigger does
    when scores are updated in place. Owner totals stay: no owner changed."""
    if not _ready(connection):
        return
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    connection.execute(delete(run_clv_by).where(run_clv_by.c.dimension != "owner"))


def ensure_store(connection: Connection) -> None:
    """Create and fill the KPI tables and their triggers unless they exist.

    SQLite: in the caller's transaction (one writer at a time). PostgreSQL: in a transaction
    of its own, committed at once, so a read-only caller (`patron kpi`) keeps them too; the
    orders table is locked meanwhile, so no order slips between the fill and the triggers.
    """
    if _ready(connection):
        return
    if connection.dialect.name == "sqlite":
        _create(connection)
        return
    try:
        with connection.engine.begin() as own:
            own.exec_driver_sql("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
            if not _ready(own):
                _create(own)
    except DBAPIError:
        # Another session created them at the same moment: theirs serve as well as ours.
        if not _ready(connection):
            raise


def prepare(engine: Engine) -> None:
    """Build the store when a server starts on SQLite, before any request can race for it.

    A page's first KPI query would build it in the request's transaction; on SQLite two
    requests at once (a report's tables load side by side) would both try, and the second,
    reading a snapshot taken before the first committed, fails. PostgreSQL builds it safely on
    first use (`ensure_store`), so only SQLite is prepared here, and only a migrated database.
    """
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.begin() as connection:
            if inspect(connection).has_table("orders"):
                ensure_store(connection)
    except DBAPIError:
        # Another server process (`patron serve --workers`) built it at the same moment.
        with engine.connect() as connection:
            if not _ready(connection):
                raise


def may_store(connection: Connection) -> bool:
    """Whether figures counted from now on may be stored: on PostgreSQL, unless a transaction
    is dropping stored figures right now (an import, a scoring run), in which case they are
    counted and shown but not kept. Held until the caller's transaction ends, it keeps such
    triggers waiting until the stored figures are visible to them."""
    if connection.dialect.name != "postgresql":
        return True
    taken = text("SELECT pg_try_advisory_xact_lock_shared(:key)")
    return bool(connection.scalar(taken, {"key": LOCK_KEY}))


# The row triggers on orders a bulk writer on SQLite stands in for: inserts and updates.
_BULK_TRIGGERS = ("kpi_orders_ai", "kpi_orders_au")
_BULK_SQL = tuple(
    statement
    for statement in _SQLITE_TRIGGERS
    if statement.split()[2] in _BULK_TRIGGERS  # CREATE TRIGGER <name> ...
)
# The new orders' paid ones, as kpi_orders_ai takes them one by one: first purchases only
# move earlier (each row upserted in turn, the earliest stays: a fifth cheaper than grouping
# by customer first), and every stored period ending after the earliest of them is dropped.
# NOT INDEXED keeps SQLite on the id range, the batch's rows alone: left to itself it walks
# the whole (customer_id, ordered_at) index for a GROUP BY and the (ordered_at) one for
# min(), a cost growing with every order stored (four times the range's at a million).
_NEW_PAID = (
    "INSERT INTO kpi_first_purchases (customer_id, first_paid_at) "
    "SELECT customer_id, ordered_at FROM orders NOT INDEXED "
    # WHERE before ON CONFLICT: SQLite's upsert from a SELECT needs one to parse.
    "WHERE id > :after AND status = 'paid' ON CONFLICT (customer_id) "
    "DO UPDATE SET first_paid_at = excluded.first_paid_at "
    "WHERE excluded.first_paid_at < kpi_first_purchases.first_paid_at",
    "DELETE FROM kpi_period_figures WHERE period_end > (SELECT min(ordered_at) "
    "FROM orders NOT INDEXED WHERE id > :after AND status = 'paid')",
)
# The customers of changed orders, counted again from all their orders, as kpi_orders_au does.
_RECOUNT = (
    text("DELETE FROM kpi_first_purchases WHERE customer_id IN :ids"),
    text(
        "INSERT INTO kpi_first_purchases (customer_id, first_paid_at) "
        "SELECT customer_id, min(ordered_at) FROM orders "
        "WHERE status = 'paid' AND customer_id IN :ids GROUP BY customer_id"
    ),
)
_RECOUNT_CHUNK = 5_000


class OrderUpkeep:
    """What a batch's order writes owe the store, settled set-based when the batch ends.

    New orders need no notes: SQLite has one writer at a time and gives a new row the highest
    id plus one, so the batch's new orders are those above the highest id it started with.
    A changed order is noted, before or after its update, with its old and its new customer
    and moment (`changed`): a refund, a new moment or a new customer moves the first purchase
    and the stored periods of both.
    """

    def __init__(self, after: int | None) -> None:
        # None: nothing to settle (no store, or PostgreSQL, whose triggers stay on).
        self.after = after
        self.customers: set[int] = set()
        self.earliest: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the triggers are out and the writer must note its changed orders."""
        return self.after is not None

    def changed(self, orders: Iterable[tuple[int | None, datetime]]) -> None:
        """Note changed orders' customers and moments, their old values and their new ones."""
        for customer, moment in orders:
            if customer is not None:
                self.customers.add(customer)
            if self.earliest is None or moment < self.earliest:
                self.earliest = moment

    def settle(self, connection: Connection) -> None:
        """Apply the batch's orders to the store, as the row triggers would have one by one."""
        assert self.after is not None
        for statement in _NEW_PAID:
            connection.execute(text(statement), {"after": self.after})
        ordered = sorted(self.customers)
        for start in range(0, len(ordered), _RECOUNT_CHUNK):
            ids = {"ids": ordered[start : start + _RECOUNT_CHUNK]}
            for recount in _RECOUNT:
                connection.execute(recount.bindparams(bindparam("ids", expanding=True)), ids)
        if self.earliest is not None:
            connection.execute(
                delete(period_figures).where(period_figures.c.period_end > self.earliest)
            )


@contextmanager
def bulk_orders(connection: Connection) -> Iterator[OrderUpkeep]:
    """Write a batch of orders with the store kept exact once per batch, not once per row.

    SQLite, store built: in the caller's transaction (begun here if the driver has not begun
    it yet, since pysqlite opens one only at the first INSERT and DDL outside one would
    commit at once), the insert and update triggers on orders are dropped, the batch is
    written, its effect applied set-based (`OrderUpkeep.settle`), and the triggers created
    again before the caller commits. SQLite's DDL is transactional and other connections see
    only committed schema, and SQLite has one writer at a time: no other order is written
    while the triggers are out, a reader never sees them missing, and a batch killed midway
    rolls back with its drop. The caller's transaction must roll back if the body fails.

    Elsewhere the triggers stay (PostgreSQL's run once per statement already, and a
    concurrent API order must find them in place), and the upkeep is inactive.
    """
    if connection.dialect.name != "sqlite" or not _ready(connection):
        # A store built after this look has its triggers in place: they do the work.
        yield OrderUpkeep(None)
        return
    hold_write_lock(connection)  # so the ids read next stay the highest until commit
    after = connection.scalar(text("SELECT coalesce(max(id), 0) FROM orders"))
    for name in _BULK_TRIGGERS:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    upkeep = OrderUpkeep(int(after or 0))
    try:
        yield upkeep
    except BaseException:
        # The rollback brings them back; a caller committing what it has anyway keeps them.
        with suppress(DBAPIError):
            _put_back(connection)
        raise
    upkeep.settle(connection)
    _put_back(connection)


def _put_back(connection: Connection) -> None:
    for statement in _BULK_SQL:
        connection.exec_driver_sql(statement)
