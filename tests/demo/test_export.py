from __future__ import annotations

import csv
from pathlib import Path

import pytest

from patron.demo.export import FILES, export_csv
from patron.demo.generator import generate
from tests.demo.conftest import make_spec


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_the_import_files(tmp_path: Path) -> None:
    spec = make_spec(customers=400)
    counts = export_csv(spec, tmp_path)
    chunk = next(generate(spec))
    assert counts["customers"] == 400
    assert counts["orders"] == chunk.orders["customer"].size
    rows = {name: _read(tmp_path / f"{name}.csv") for name in FILES}
    assert {name: len(r) for name, r in rows.items()} == counts
    customers = rows["customers"]
    assert list(customers[0])[:2] == ["customer_id", "name"]
    assert customers[0]["customer_id"] == "DEMO-C00000001"
    ids = {row["customer_id"] for row in customers}
    for name in ("orders", "interactions", "tickets", "responses"):
        assert {row["customer_id"] for row in rows[name]} <= ids
    orders = rows["orders"]
    assert set(orders[0]) >= {"order_id", "customer_id", "ordered_at", "amount", "status"}
    assert {row["status"] for row in orders} == {"paid", "refunded", "cancelled"}
    assert all(
        row["amount"].count(".") == 1 and len(row["amount"].split(".")[1]) == 2 for row in orders
    )
    ticket_ids = {row["ticket_id"] for row in rows["tickets"]}
    linked = {row["ticket_id"] for row in rows["responses"] if row["ticket_id"]}
    assert linked and linked <= ticket_ids
    assert any(";" in row["tags"] for row in customers)


def test_export_is_deterministic_and_spans_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patron.demo.generator as generator

    monkeypatch.setattr(generator, "CHUNK_CUSTOMERS", 150)
    spec = make_spec(customers=400)
    export_csv(spec, tmp_path / "one")
    export_csv(spec, tmp_path / "two")
    for name in FILES:
        first = (tmp_path / "one" / f"{name}.csv").read_bytes()
        assert first == (tmp_path / "two" / f"{name}.csv").read_bytes()
    customers = _read(tmp_path / "one" / "customers.csv")
    assert [row["customer_id"] for row in customers] == [f"DEMO-C{n:08d}" for n in range(1, 401)]
    orders = _read(tmp_path / "one" / "orders.csv")
    assert len({row["order_id"] for row in orders}) == len(orders)
    header_lines = (tmp_path / "one" / "orders.csv").read_text(encoding="utf-8").count("order_id")
    assert header_lines == 1
