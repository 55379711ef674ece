"""Orders parsed in a second process (`parallel`, as the command line imports them) give
exactly what parsing in the importing process gives: counts, ids, hashes, rejects, errors."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from patron.config import Settings
from patron.errors import FileUnreadable
from patron.imports.readers import SAMPLE_BYTES
from patron.imports.service import import_file
from patron.orders.models import Order
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


def _import(engine: Engine, path: Path, *, parallel: bool) -> dict[str, int]:
    result = import_file(
        engine=engine, kind="orders", path=path, settings=SMALL_BATCHES, parallel=parallel
    )
    return result.counts.as_dict()


def _stored(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            (row.external_id, row.import_hash)
            for row in conn.execute(select(Order.external_id, Order.import_hash).order_by("id"))
        ]


def test_parallel_and_serial_imports_store_and_refuse_the_same(db: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, _rows())
    rejects = tmp_path / "orders.rejects.csv"
    assert _import(db, path, parallel=True) == {
        "inserted": 397,
        "updated": 0,
        "unchanged": 0,
        "rejected": 3,
    }
    stored = _stored(db)
    refused = rejects.read_bytes()
    # The serial path finds every row the parallel one stored, by the same id and hash.
    assert _import(db, path, parallel=False) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 397,
        "rejected": 3,
    }
    assert _stored(db) == stored
    assert rejects.read_bytes() == refused
    assert b"'O999999' appears in an earlier row" in refused
    assert len({external_id for external_id, _ in stored}) == 397


@pytest.mark.parametrize("parallel", [True, False])
def test_a_file_unreadable_past_its_first_batches_fails_the_same_way(
    db: Engine, tmp_path: Path, parallel: bool
) -> None:
    # Past the sample the encoding is judged by, so the file starts out as good UTF-8.
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(8000))
    lines = path.read_bytes().splitlines(keepends=True)
    assert sum(map(len, lines[:7000])) > SAMPLE_BYTES
    lines[7000] = lines[7000].replace(b"paid", b"pa\xffid")
    path.write_bytes(b"".join(lines))
    with pytest.raises(FileUnreadable, match=r"^orders\.csv is not valid utf-8 text"):
        import_file(engine=db, kind="orders", path=path, settings=LARGER, parallel=parallel)
    # The whole batches before the bad line are stored; the import can be run again once the
    # file is fixed.
    assert 0 < len(_stored(db)) < 7000


@pytest.mark.parametrize("parallel", [True, False])
def test_the_garbage_collector_is_left_as_it_was_found(
    db: Engine, tmp_path: Path, parallel: bool
) -> None:
    """Paused for the import, on again after it, whether it ends well or not."""
    good = write_csv(tmp_path / "good.csv", ORDER_HEADER, orders(20))
    assert gc.isenabled()
    _import(db, good, parallel=parallel)
    assert gc.isenabled()
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,amount\nC1,10\n", encoding="utf-8")
    with pytest.raises(FileUnreadable):
        _import(db, bad, parallel=parallel)
    assert gc.isenabled()
    gc.disable()
    try:
        _import(db, good, parallel=parallel)
        assert not gc.isenabled()
    finally:
        gc.enable()
