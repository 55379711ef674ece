"""`kill -9` in the middle of an import leaves whole batches, and a re-run completes it; the
KPI store, built before, is exact after the kill and after the re-run."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from patron.analytics.kpi_store import ensure_store
from patron.db import create_db_engine
from patron.imports.service import import_file
from patron.orders.models import Order
from patron.schema import migrate
from tests.imports.files import write_csv
from tests.imports.kpi_rebuild import assert_store_exact

ROWS = 100_000
BATCH = 2_000
BAD_EVERY = 997


def _rows() -> tuple[list[list[str]], list[bool]]:
    """Half the rows with an order id, half without; every 997th row is bad."""
    rows, good = [], []
    for n in range(ROWS):
        bad = n % BAD_EVERY == 5
        order_id = f"K{n:07d}" if n % 2 else ""
        amount = "oops" if bad else f"{n % 300 + 1}.25"
        rows.append(
            [order_id, f"C{n % 3000:05d}", f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d}", amount]
        )
        good.append(not bad)
    return rows, good


# An order stored before the file: its import is not a first load (`commits.DeferredIndexes`),
# so it commits as it goes.
SEED = "SEED-1"


def _count(engine: Engine) -> int:
    """The file's orders stored."""
    query = select(func.count()).select_from(Order).where(Order.external_id != SEED)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _seed(engine: Engine, tmp_path: Path) -> None:
    seed = write_csv(
        tmp_path / "seed.csv",
        ["order_id", "customer_id", "ordered_at", "amount"],
        [[SEED, "SEED", "2022-12-31", "1.00"]],
    )
    import_file(engine=engine, kind="orders", path=seed)


def _import(db_url: str, path: Path) -> subprocess.Popen[str]:
    # Commits of five batches at a time on SQLite, so the kill finds some committed.
    env = {
        **os.environ,
        "PATRON_IMPORT_BATCH_SIZE": str(BATCH),
        "PATRON_IMPORT_COMMIT_ROWS": str(5 * BATCH),
    }
    command = [
        sys.executable,
        "-m",
        "patron",
        "--db",
        db_url,
        "import",
        "orders",
        str(path),
        "--json",
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_killed_import_resumes_without_duplicates(db: Engine, db_url: str, tmp_path: Path) -> None:
    rows, good = _rows()
    path = write_csv(
        tmp_path / "orders.csv", ["order_id", "customer_id", "ordered_at", "amount"], rows
    )
    # The order counts a database can hold after whole batches: the good rows of each prefix.
    committed = set(itertools.accumulate(sum(good[i : i + BATCH]) for i in range(0, ROWS, BATCH)))
    with db.begin() as conn:
        ensure_store(conn)
    _seed(db, tmp_path)
    child = _import(db_url, path)
    seen = 0
    deadline = time.monotonic() + 300
    while seen == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = _count(db)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL, "the import ended before it could be killed"
    stored = _count(db)
    total_good = sum(good)
    assert 0 < stored < total_good
    assert stored in committed
    assert assert_store_exact(db).first_purchases > 0
    rerun = _import(db_url, path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert json.loads(out) == {
        "inserted": total_good - stored,
        "updated": 0,
        "unchanged": stored,
        "rejected": ROWS - total_good,
    }
    with db.connect() as conn:
        ids = conn.execute(select(func.count(func.distinct(Order.external_id)))).scalar_one()
    assert _count(db) + 1 == total_good + 1 == ids
    assert assert_store_exact(db).first_purchases == 3000 + 1


def _order_indexes(engine: Engine) -> list[tuple[str, str | None]]:
    query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
    with engine.connect() as conn:
        return [(row.name, row.sql) for row in conn.exec_driver_sql(query)]


@pytest.mark.slow
def test_a_killed_first_load_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """A first load on SQLite is one transaction with its order indexes dropped inside it:
    killed midway, it leaves no order, every index and the KPI store as they were."""
    rows, good = _rows()
    path = write_csv(
        tmp_path / "orders.csv", ["order_id", "customer_id", "ordered_at", "amount"], rows
    )
    # How long a whole first load takes here, so the kill comes halfway through the next.
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    subprocess.run([sys.executable, "-m", "patron", "--db", scratch, "init"], check=True)
    started = time.monotonic()
    whole = _import(scratch, path)
    assert whole.wait(timeout=600) == 0
    duration = time.monotonic() - started
    url = f"sqlite:///{tmp_path / 'patron.db'}"
    engine = create_db_engine(url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            ensure_store(conn)
        before = _order_indexes(engine)
        assert "ix_orders_customer_ordered_at" in dict(before)
        child = _import(url, path)
        time.sleep(duration / 2)
        child.send_signal(signal.SIGKILL)
        child.communicate()
        assert child.returncode == -signal.SIGKILL, "the import ended before it could be killed"
        assert _count(engine) == 0
        assert _order_indexes(engine) == before
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        assert assert_store_exact(engine).first_purchases == 0
        rerun = _import(url, path)
        out, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, err
        total_good = sum(good)
        assert json.loads(out) == {
            "inserted": total_good,
            "updated": 0,
            "unchanged": 0,
            "rejected": ROWS - total_good,
        }
        assert _count(engine) == total_good
        assert _order_indexes(engine) == before
        assert assert_store_exact(engine).first_purchases == 3000
    finally:
        engine.dispose()
