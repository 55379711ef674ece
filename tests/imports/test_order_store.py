"""Stored orders are found by a range scan or by key, whichever is cheaper: the same counts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from patron.config import Settings
from patron.imports.service import import_file
from tests.imports.files import ORDER_HEADER, orders, write_csv


def _counts(engine: Engine, path: Path, batch: int) -> dict[str, int]:
    result = import_file(
        engine=engine, kind="orders", path=path, settings=Settings(import_batch_size=batch)
    )
    return result.counts.as_dict()


def test_a_few_rows_spread_over_many_stored_orders(db: Engine, tmp_path: Path) -> None:
    rows = orders(200)
    _counts(db, write_csv(tmp_path / "all.csv", ORDER_HEADER, rows), 50)
    # Two rows at both ends of the stored ids: their range holds 200 orders, so by key.
    first, last = list(rows[0]), list(rows[-1])
    last[3] = "1.00"
    fresh = ["O999999", "C001", "2024-03-01 10:00", "2.00", "paid", "web"]
    path = write_csv(tmp_path / "few.csv", ORDER_HEADER, [first, fresh, last])
    assert _counts(db, path, 3) == {"inserted": 1, "updated": 1, "unchanged": 1, "rejected": 0}
    assert _counts(db, path, 3) == {"inserted": 0, "updated": 0, "unchanged": 3, "rejected": 0}
