"""The command line's bulk mode: orders parsed in a second process give exactly what parsing in
the importing process gives (counts, ids, hashes, rejects, errors), and on SQLite batches are
committed together, whole."""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError

from patron.config import Settings
from patron.customers.models import Customer
from patron.db import create_db_engine
from patron.errors import FileUnreadable, InvalidInput
from patron.imports import commits, service
from patron.imports.order_columns import parse_orders
from patron.imports.order_store import store_orders
from patron.imports.readers import SAMPLE_BYTES
from patron.imports.service import import_file
from patron.imports.writer import Counts
from patron.orders.models import Order
from patron.schema import migrate
from tests.imports.files import ORDER_HEADER, orders, write_csv

SMALL_BATCHES = Settings(import_batch_size=50)
LARGER = Settings(import_batch_size=1000)


def _rows() -> list[list[str]]:
    """Orders with and without ids, a repeated id, and bad cells in several batches."""
    rows = orders(400, customers=40)
    for n in range(0, 400, 3):
        rows[n][0] = ""  # an id derived from content and occurrence
    rows[120] = list(rows[9])  # the same order again, without an id: a second occurrence
    rows[250][0] = rows[251][0] = "O999999"  # the second is refused
    rows[77][3] = "twelve"
    rows[333][2] = "31/31/2024"
    return rows


def _import(engine: Engine, path: Path, *, bulk: bool) -> dict[str, int]:
    result = import_file(engine=engine, kind="orders", path=path, settings=SMALL_BATCHES, bulk=bulk)
    return result.counts.as_dict()


def _stored(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            (row.external_id, row.import_hash)
            for row in conn.execute(select(Order.external_id, Order.import_hash).order_by("id"))
        ]


def test_bulk_and_serial_imports_store_and_refuse_the_same(db: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, _rows())
    rejects = tmp_path / "orders.rejects.csv"
    assert _import(db, path, bulk=True) == {
        "inserted": 397,
        "updated": 0,
        "unchanged": 0,
        "rejected": 3,
    }
    stored = _stored(db)
    refused = rejects.read_bytes()
    # The serial path finds every row the bulk one stored, by the same id and hash.
    assert _import(db, path, bulk=False) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 397,
        "rejected": 3,
    }
    assert _stored(db) == stored
    assert rejects.read_bytes() == refused
    assert b"'O999999' appears in an earlier row" in refused
    assert len({external_id for external_id, _ in stored}) == 397


@pytest.mark.parametrize("bulk", [True, False])
def test_a_file_unreadable_past_its_first_batches_fails_the_same_way(
    db: Engine, tmp_path: Path, bulk: bool
) -> None:
    # Past the sample the encoding is judged by, so the file starts out as good UTF-8.
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(8000))
    lines = path.read_bytes().splitlines(keepends=True)
    assert sum(map(len, lines[:7000])) > SAMPLE_BYTES
    lines[7000] = lines[7000].replace(b"paid", b"pa\xffid")
    path.write_bytes(b"".join(lines))
    with pytest.raises(FileUnreadable, match=r"^orders\.csv is not valid utf-8 text"):
        import_file(engine=db, kind="orders", path=path, settings=LARGER, bulk=bulk)
    # The whole batches before the bad line are stored; the import can be run again once the
    # file is fixed.
    assert 0 < len(_stored(db)) < 7000


@pytest.mark.parametrize("bulk", [True, False])
def test_the_garbage_collector_is_left_as_it_was_found(
    db: Engine, tmp_path: Path, bulk: bool
) -> None:
    """Paused for the import, on again after it, whether it ends well or not."""
    good = write_csv(tmp_path / "good.csv", ORDER_HEADER, orders(20))
    assert gc.isenabled()
    _import(db, good, bulk=bulk)
    assert gc.isenabled()
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,amount\nC1,10\n", encoding="utf-8")
    with pytest.raises(FileUnreadable):
        _import(db, bad, bulk=bulk)
    assert gc.isenabled()
    gc.disable()
    try:
        _import(db, good, bulk=bulk)
        assert not gc.isenabled()
    finally:
        gc.enable()


GROUPED = Settings(import_batch_size=50, import_commit_rows=200)


def _commits(engine: Engine, path: Path, *, bulk: bool) -> int:
    seen: list[object] = []

    def count(connection: object) -> None:
        seen.append(connection)

    event.listen(engine, "commit", count)
    try:
        import_file(engine=engine, kind="orders", path=path, settings=GROUPED, bulk=bulk)
    finally:
        event.remove(engine, "commit", count)
    return len(seen)


def test_bulk_mode_on_sqlite_commits_batches_together(db: Engine, tmp_path: Path) -> None:
    """Eight batches of 50: on SQLite two commits of 200 rows, elsewhere one per batch (each
    import also commits once after reading its reference data)."""
    first = write_csv(tmp_path / "first.csv", ORDER_HEADER, orders(400))
    second = write_csv(tmp_path / "second.csv", ORDER_HEADER, orders(400, start=1000))
    assert _commits(db, first, bulk=False) == 1 + 8
    grouped = db.dialect.name == "sqlite"
    assert _commits(db, second, bulk=True) == 1 + (2 if grouped else 8)
    assert len(_stored(db)) == 800


def _one_order_stored(engine: Engine, tmp_path: Path) -> None:
    """An order outside the test's files: later imports are not a first load."""
    seed = write_csv(tmp_path / "seed.csv", ORDER_HEADER, orders(1, start=9000))
    import_file(engine=engine, kind="orders", path=seed, settings=GROUPED)


def _import_failing_at_batch(
    failing: int, engine: Engine, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grouped bulk import whose batch number `failing` raises as it is stored."""
    calls = itertools.count(1)

    def fails(*args: object) -> Counts:
        if next(calls) == failing:
            raise ConnectionError("the disk went away")
        return store_orders(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "store_orders", fails)
    with pytest.raises(ConnectionError):
        import_file(engine=engine, kind="orders", path=path, settings=GROUPED, bulk=True)


def test_a_failing_batch_rolls_back_its_group_only(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_order_stored(db, tmp_path)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    _import_failing_at_batch(6, db, path, monkeypatch)
    # SQLite: batches 1-4 were committed together, 5 and 6 rolled back; elsewhere 1-5 stand.
    kept = 200 if db.dialect.name == "sqlite" else 250
    assert len(_stored(db)) == 1 + kept
    monkeypatch.undo()
    rerun = import_file(engine=db, kind="orders", path=path, settings=GROUPED, bulk=True)
    assert rerun.counts.as_dict() == {
        "inserted": 400 - kept,
        "updated": 0,
        "unchanged": kept,
        "rejected": 0,
    }


def test_a_commit_group_below_one_row_is_refused_before_writing(db: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(5))
    with pytest.raises(InvalidInput, match="PATRON_IMPORT_COMMIT_ROWS must be at least 1"):
        import_file(engine=db, kind="orders", path=path, settings=Settings(import_commit_rows=0))
    assert _stored(db) == []


def test_bulk_mode_parses_in_another_process_with_the_collector_off(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "parsed.txt"

    def recording(*args: Any, **kwargs: Any) -> Any:
        with seen.open("a") as out:
            out.write(f"{os.getpid()} {gc.isenabled()}\n")
        return parse_orders(*args, **kwargs)

    monkeypatch.setattr(service, "parse_orders", recording)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    for bulk in (True, False):
        seen.unlink(missing_ok=True)
        _import(db, path, bulk=bulk)
        parsed = [line.split() for line in seen.read_text().splitlines()]
        assert len(parsed) == 8
        assert {enabled for _, enabled in parsed} == {"False"}
        here = {pid for pid, _ in parsed} == {str(os.getpid())}
        assert here is not bulk


def test_a_group_is_committed_after_its_time_whatever_its_rows(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits, "GROUP_SECONDS", 0.0)
    _one_order_stored(db, tmp_path)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    assert _commits(db, path, bulk=True) == 1 + 8


def _indexes(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        return [(row.name, row.sql) for row in conn.exec_driver_sql(query)]


def test_a_first_load_on_sqlite_is_one_commit_with_its_indexes_built_at_the_end(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _indexes(sqlite_db)
    dropped: list[list[str]] = []
    drop = commits.DeferredIndexes.drop

    def recording(self: commits.DeferredIndexes, conn: Any) -> None:
        drop(self, conn)
        dropped.append(list(self.dropped))

    monkeypatch.setattr(commits.DeferredIndexes, "drop", recording)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400, customers=40))
    # Eight batches, GROUPED would commit every four: a first load commits once, between the
    # commits that switch to a rollback journal and back (and the one after the look-ups).
    assert _commits(sqlite_db, path, bulk=True) == 1 + 1 + 1 + 1
    # The secondary indexes of orders and (no customer either) customers and their score
    # rows went and came back as they were; the unique ones on the ids stayed, so a repeated
    # id is still refused as it goes in, and the import finds rows by them.
    names = [sql.split(" ON ")[0].removeprefix("CREATE INDEX ") for sql in dropped[0]]
    assert names[:3] == [
        "ix_orders_customer_ordered_at",
        "ix_orders_ordered_at",
        "ix_orders_product_id",
    ]
    assert {"ix_customers_phone", "ix_customer_scores_clv_rank"} <= set(names[3:])
    assert all(name.startswith(("ix_customers_", "ix_customer_scores_")) for name in names[3:])
    assert not any(sql.startswith("CREATE UNIQUE") for sql in dropped[0])
    assert _indexes(sqlite_db) == before
    assert ("sqlite_autoindex_orders_1", None) in before
    with sqlite_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM orders WHERE customer_id = 1 ORDER BY ordered_at"
        ).all()
    assert "ix_orders_customer_ordered_at" in " ".join(str(row) for row in plan)
    assert len(_stored(sqlite_db)) == 400
    # The next import finds orders stored: commit groups again, no indexes dropped.
    more = write_csv(tmp_path / "more.csv", ORDER_HEADER, orders(400, start=1000))
    assert _commits(sqlite_db, more, bulk=True) == 1 + 2
    assert len(dropped) == 1


def test_a_first_load_builds_the_customers_indexes_at_the_end_only_when_none_is_stored(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = write_csv(tmp_path / "customers.csv", ["customer_id", "name"], [["C001", "Li"]])
    import_file(engine=sqlite_db, kind="customers", path=customers)
    dropped: list[str] = []
    drop = commits.DeferredIndexes.drop

    def recording(self: commits.DeferredIndexes, conn: Any) -> None:
        drop(self, conn)
        dropped.extend(self.dropped)

    monkeypatch.setattr(commits.DeferredIndexes, "drop", recording)
    before = _indexes(sqlite_db)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400, customers=40))
    assert _import(sqlite_db, path, bulk=True)["inserted"] == 400
    assert len(dropped) == 3
    assert all(" ON orders " in sql for sql in dropped)
    assert _indexes(sqlite_db) == before


def test_a_failing_first_load_leaves_the_database_as_it_was(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _indexes(sqlite_db)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    _import_failing_at_batch(7, sqlite_db, path, monkeypatch)
    monkeypatch.undo()
    assert _stored(sqlite_db) == []
    assert _indexes(sqlite_db) == before
    with sqlite_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.execute(select(Customer.id)).first() is None
    assert _import(sqlite_db, path, bulk=True)["inserted"] == 400
    assert _indexes(sqlite_db) == before


def test_a_file_unreadable_midway_commits_a_first_loads_whole_batches_with_indexes(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(8000))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[7000] = lines[7000].replace(b"paid", b"pa\xffid")
    path.write_bytes(b"".join(lines))
    before = _indexes(sqlite_db)
    with pytest.raises(FileUnreadable):
        import_file(engine=sqlite_db, kind="orders", path=path, settings=LARGER, bulk=True)
    assert 0 < len(_stored(sqlite_db)) < 7000
    assert _indexes(sqlite_db) == before
    with sqlite_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"


def test_a_failed_commit_reaches_the_user_and_leaves_the_connection_as_it_was(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second commit (the first of the batches') fails, as a full disk makes it: that
    error is the one raised, nothing of the batches stays, and the pooled connection has
    its foreign key checks back."""
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    calls = itertools.count(1)
    commit = db.dialect.do_commit

    def second_fails(dbapi_connection: Any) -> None:
        if next(calls) == 2:
            raise db.dialect.loaded_dbapi.OperationalError("database or disk is full")
        commit(dbapi_connection)

    monkeypatch.setattr(db.dialect, "do_commit", second_fails)
    with pytest.raises(OperationalError, match="database or disk is full"):
        import_file(engine=db, kind="orders", path=path, settings=GROUPED, bulk=True)
    monkeypatch.undo()
    assert _stored(db) == []
    if db.dialect.name == "sqlite":
        with db.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    assert _import(db, path, bulk=True)["inserted"] == 400


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database of the test's own: its file is read without its log."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'patron.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_first_load_writes_pages_once_with_a_rollback_journal(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-ahead log would hold every page of the load and copy it again at the
    checkpoint: a first load runs with a rollback journal, and the log is back after it."""
    modes: list[str] = []
    build = commits.DeferredIndexes.build

    def recording(self: commits.DeferredIndexes, conn: Any) -> None:
        modes.append(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one())
        build(self, conn)

    monkeypatch.setattr(commits.DeferredIndexes, "build", recording)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(400))
    assert _import(sqlite_db, path, bulk=True)["inserted"] == 400
    assert modes == ["delete"]
    with sqlite_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        conn.execute(Order.__table__.delete())
        conn.commit()
    # Another connection holding the file open: the log stays, the load is the same.
    with sqlite_db.connect() as other:
        other.exec_driver_sql("SELECT 1 FROM customers").all()
        assert _import(sqlite_db, path, bulk=True)["inserted"] == 400
    assert modes == ["delete", "wal"]
    assert len(_stored(sqlite_db)) == 400
