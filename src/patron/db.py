"""The engine, sessions and the unit of work: one place commits or rolls back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidatePoolError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from patron.errors import DatabaseUnavailable, InvalidInput

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, so ids are BIGINT on PostgreSQL alone.
Id = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
JsonDict = sqlite.JSON().with_variant(postgresql.JSONB(), "postgresql")


class JsonAsText(TypeDecorator[Any]):
    """A JSON document stored as PostgreSQL `text`: written as `json.dumps` writes it and read
    back with `json.loads`, like SQLAlchemy's JSON type, but the server does not parse it."""

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type:
        return dict

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        # None is JSON's null, as SQLAlchemy's JSON type writes it: the columns are NOT NULL.
        return json.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


# JSON kept as written, for large write-once documents that SQL does not look inside (the
# score snapshots' features and explanations). On PostgreSQL the column is `text`: neither
# `jsonb` nor `json`, whose input check alone is a fifth of the server's work when a run COPYs
# a million snapshots; Patron writes them from JSON it made itself. Readers get the same
# dicts, keys in the written order; SQL reads one with a cast (`features::json ->> 'clv'`).
JsonText = sqlite.JSON().with_variant(JsonAsText(), "postgresql")


def now() -> datetime:
    """Now as the business's wall-clock time: every stored datetime is naive local time."""
    from patron.config import get_settings

    return datetime.now(ZoneInfo(get_settings().timezone)).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(),
        dict[str, Any]: JsonDict,
        list[str]: JsonDict,
        list[dict[str, Any]]: JsonDict,
    }


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def normalise_url(url: str) -> str:
    """Accept the URLs users write and name the driver Patron uses."""
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"'{url}' is not a database URL (try sqlite:///patron.db).") from exc
    return url


# Many short queries from many requests at once: PostgreSQL's parallel workers (two more
# processes for one query) only add CPU the other requests wait for (docs/benchmarks.md,
# "Load test"). Batch work (scoring, the CLI) keeps them.
SERVING_OPTIONS = "-c max_parallel_workers_per_gather=0"
# The web server takes a pooled connection for every request, and one returned moments ago was
# alive then: the `SELECT 1` round trip pool_pre_ping spends on each checkout tells nothing
# new about it (5.7% of the task requests' server time in the load test). Its engine tests
# only a connection that sat unused this long, the kind a restarted server, a pooler or a
# firewall may have closed in the meantime (docs/scale.md, "Connection pooling").
PING_AFTER_IDLE_SECONDS = 10.0


def create_db_engine(url: str, *, serving: bool = False) -> Engine:
    """An engine for SQLite (WAL, foreign keys on) or PostgreSQL (psycopg 3); `serving`:
    for the web server's requests, its PostgreSQL sessions planning without parallel workers
    and its pooled connections tested before use only after sitting idle."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"options": SERVING_OPTIONS} if serving else {}
    engine = create_engine(
        url, pool_pre_ping=not serving, pool_size=10, max_overflow=20, connect_args=connect_args
    )
    if serving:
        ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before handing it out, as pool_pre_ping does, but only if it
    sat unused for `idle_seconds`. A dead one makes the pool replace every connection it held
    (a server restart closed them all) and retry the checkout on a new one.

    A connection closed while in steady use (a restart under load) still fails the one
    request that meets it first; SQLAlchemy then invalidates the pool the same way, so the
    others reconnect."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A new connection (the pool clears `info` when it connects) needs no test.
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            raise InvalidatePoolError(f"a pooled connection was closed: {exc}") from exc


def check_connection(engine: Engine) -> None:
    """Fail with a plain message when the database cannot be reached."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot reach the database {engine.url.render_as_string()}: {reason}"
        ) from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One use case: commit on success, roll back everything on any error."""
    session = factory()
    try:
        yield session
    except BaseException:
        end_unit_of_work(session, commit=False)
        raise
    end_unit_of_work(session, commit=True)


def end_unit_of_work(session: Session, *, commit: bool) -> None:
    """End a use case's session: commit (or roll back) and close; a failed commit rolls back."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def rollback_journal(connection: Connection) -> Iterator[None]:
    """SQLite: keep a rollback journal instead of the write-ahead log while loading in bulk.

    With the log every page of a multi-gigabyte load is written twice (into the log, then
    back into the database file at the checkpoint). A rollback journal keeps only the pages
    that existed before, few when the rows are new, so each page is written once and the load
    stays atomic. Call it outside a transaction; when another connection has the file open the
    switch is refused and the log stays. What is still uncommitted when the block ends is
    rolled back.
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
        end_transaction(connection)  # the mode cannot change inside one
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.commit()


def hold_write_lock(connection: Connection) -> None:
    """SQLite: open the connection's transaction with the write lock now, if none is open.

    Python's sqlite3 begins a transaction only before a row is written, so a schema change
    made earlier (a dropped trigger or index) would be committed on its own at once: seen by
    every other connection meanwhile, and kept if the caller's transaction then rolls back.
    """
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def end_transaction(connection: Connection) -> None:
    """Roll back what is left open, SQLite's own transaction included: after a failed commit
    SQLAlchemy lets go of its transaction while SQLite keeps it, and the connection's settings
    cannot be changed inside one."""
    connection.rollback()
    driver = connection.connection.driver_connection
    if driver is not None:
        driver.rollback()
