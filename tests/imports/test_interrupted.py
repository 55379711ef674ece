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
from patron.orders.models import Order
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


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Order)).scalar_one()


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
    assert _count(db) == total_good == ids
    assert assert_store_exact(db).first_purchases == 3000
