"""An orders import's customers travel from the parsing step to the storing step as numbers
(`CustomerNumbers`, `CustomerIds.numbered`): every order still lands on its own customer,
when the numbering starts afresh mid-file, after a rolled-back group and in a dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from patron.config import Settings
from patron.customers.models import Customer
from patron.imports import references
from patron.imports.references import (
    CustomerIds,
    CustomerNumbers,
    NewCustomers,
    customers_table,
)
from patron.imports.service import import_file
from patron.orders.models import Order
from tests.imports.files import ORDER_HEADER, orders, write_csv

SMALL_BATCHES = Settings(import_batch_size=50)


def test_numbers_follow_first_appearance_and_each_id_is_sent_once() -> None:
    numbering = CustomerNumbers()
    assert numbering.number(["C2", "C1", "C2", "C3"]) == (
        [0, 1, 0, 2],
        NewCustomers(0, ["C2", "C1", "C3"]),
    )
    assert numbering.number(["C3", "C4", "C1", "C4"]) == ([2, 3, 1, 3], NewCustomers(3, ["C4"]))
    assert numbering.number(["C1"]) == ([1], NewCustomers(4, []))


def test_past_the_limit_the_numbering_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(references, "_CACHE_LIMIT", 3)
    numbering = CustomerNumbers()
    assert numbering.number(["A", "B", "A"]) == ([0, 1, 0], NewCustomers(0, ["A", "B"]))
    # Two known and two more would make more than three: these two are numbered afresh.
    assert numbering.number(["B", "C"]) == ([0, 1], NewCustomers(0, ["B", "C"]))


def _owners(engine: Engine) -> dict[str, str]:
    """Each stored order's customer, by external ids."""
    query = select(Order.external_id, Customer.external_id).join(
        Customer, Customer.id == Order.customer_id
    )
    with engine.connect() as conn:
        return {str(order): str(customer) for order, customer in conn.execute(query)}


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "serial"])
def test_orders_land_on_their_customers_when_numbering_restarts(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    # 200 customers, batches of 50 orders, at most 120 numbers: the numbering goes on over
    # one batch and starts afresh at the next (50, 100, then 150 > 120: 50 again, ...), and
    # the storing step's ids must follow it. The fifth batch is all refused: it names nobody.
    monkeypatch.setattr(references, "_CACHE_LIMIT", 120)
    rows = orders(400, customers=200)
    for row in rows[200:250]:
        row[3] = "twelve"
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    result = import_file(engine=db, kind="orders", path=path, settings=SMALL_BATCHES, bulk=bulk)
    assert result.counts.as_dict() == {
        "inserted": 350,
        "updated": 0,
        "unchanged": 0,
        "rejected": 50,
    }
    good = rows[:200] + rows[250:]
    assert _owners(db) == {row[0]: row[1] for row in good}
    with db.connect() as conn:
        stored = conn.execute(select(Customer.external_id).order_by(Customer.external_id))
        assert stored.scalars().all() == sorted({row[1] for row in good})


def test_the_numbering_goes_on_and_restarts_as_the_storing_step_expects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(references, "_CACHE_LIMIT", 120)
    numbering = CustomerNumbers()
    firsts = [numbering.number([f"C{n}" for n in range(k * 50, k * 50 + 50)])[1].first
              for k in range(5)]  # fmt: skip
    assert firsts == [0, 50, 0, 50, 0]


def test_a_dry_run_creates_no_customer_and_counts_every_order(db: Engine, tmp_path: Path) -> None:
    rows = orders(400, customers=40)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    result = import_file(
        engine=db, kind="orders", path=path, settings=SMALL_BATCHES, dry_run=True, bulk=True
    )
    assert result.counts.as_dict() == {"inserted": 400, "updated": 0, "unchanged": 0, "rejected": 0}
    with db.connect() as conn:
        assert conn.execute(select(Customer.id)).first() is None
        assert conn.execute(select(Order.id)).first() is None


def test_after_forget_the_numbered_ids_are_looked_up_again(db: Engine) -> None:
    with db.connect() as conn:
        conn.execute(
            customers_table.insert(),
            [{"external_id": key, "name": key, "name_initials": key.lower(), "kind": "person",
              "locked": False, "consent": {}, "custom_fields": {}} for key in ("A", "B")],
        )  # fmt: skip
        stored = dict(conn.execute(select(Customer.external_id, Customer.id)).all())
        ids = CustomerIds()
        created: list[set[str]] = []
        assert ids.numbered(conn, NewCustomers(0, ["A", "C"]), create=None) == [stored["A"], None]
        # A group rolled back: whatever was looked up may be gone; the next batch looks again.
        ids.forget()
        found = ids.numbered(conn, NewCustomers(2, ["B"]), create=created.append)
        assert found == [stored["A"], None, stored["B"]]
        assert created == [{"C"}]
