"""The bulk demo load: deterministic, complete, referentially whole, indexes and ids intact."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from patron.demo import generator
from patron.demo.bulk import table
from patron.demo.generator import generate
from patron.demo.loader import LOADED, load
from patron.demo.profiles import PROFILES
from tests.demo.conftest import make_spec

# Three chunks of 120 customers, so ids and numbers have to carry over between chunks.
SPEC = make_spec(customers=360, seed=11)
CHUNK = 120
# Every link from a loaded table to another loaded row.
LINKS = [
    ("orders", "customer_id", "customers"),
    ("points_ledger", "customer_id", "customers"),
    ("points_ledger", "order_id", "orders"),
    ("loyalty_accounts", "customer_id", "customers"),
    ("interactions", "customer_id", "customers"),
    ("tickets", "customer_id", "customers"),
    ("survey_responses", "customer_id", "customers"),
    ("survey_responses", "ticket_id", "tickets"),
    ("customer_tags", "customer_id", "customers"),
]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "CHUNK_CUSTOMERS", CHUNK)


def _dump(db: Engine) -> dict[str, list[Any]]:
    """Every loaded table's rows in key order, timestamps of the load itself left out."""
    rows = {}
    with db.connect() as connection:
        for name in LOADED:
            target = table(name)
            keys = list(target.primary_key.columns)
            rows[name] = [tuple(r) for r in connection.execute(select(target).order_by(*keys))]
    return rows


def _indexes(db: Engine) -> set[str]:
    """The names of the loaded tables' indexes and foreign keys."""
    with db.connect() as connection:
        found = inspect(connection)
        return {
            str(i["name"])
            for name in LOADED
            for i in [*found.get_indexes(name), *found.get_foreign_keys(name)]
        }


def _definitions(db: Engine) -> set[str]:
    """Every index and constraint of the schema as the database spells it out."""
    with db.connect() as connection:
        if db.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master")
        else:
            rows = connection.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "UNION ALL SELECT conname || ' ' || conrelid::regclass::text, "
                "pg_get_constraintdef(oid) || ' ' || convalidated::text FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace"
            )
        return {f"{name}: {definition}" for name, definition in rows}


def test_the_schema_comes_back_exactly_as_it_was(db: Engine) -> None:
    before = _definitions(db)
    assert any(d.startswith("ix_orders_ordered_at") for d in before)
    load(db, SPEC)
    assert _definitions(db) == before


def test_the_same_seed_loads_the_same_rows_and_another_seed_does_not(db: Engine) -> None:
    load(db, SPEC)
    first = _dump(db)
    load(db, SPEC, replace=True)
    assert _dump(db) == first
    load(db, make_spec(customers=360, seed=12), replace=True)
    assert _dump(db)["orders"] != first["orders"]


def test_row_counts_match_the_generator_and_every_profile_is_there(db: Engine) -> None:
    report = load(db, SPEC)
    chunks = list(generate(SPEC))
    assert len(chunks) == 3
    expected = {
        "customers": sum(c.customers["number"].size for c in chunks),
        "orders": sum(c.orders["number"].size for c in chunks),
        "interactions": sum(c.interactions["number"].size for c in chunks),
        "tickets": sum(c.tickets["number"].size for c in chunks),
        "survey_responses": sum(c.responses["number"].size for c in chunks),
        "customer_tags": sum(c.tags["customer"].size for c in chunks),
    }
    assert {name: report.tables[name] for name in expected} == expected
    assert set(report.profiles) == {p.value for p in PROFILES}
    with db.connect() as connection:
        ids = connection.scalars(select(table("customers").c.external_id)).all()
    assert sorted(ids) == [f"DEMO-C{n:08d}" for n in range(1, 361)]


def test_every_link_points_at_a_loaded_row(db: Engine) -> None:
    load(db, SPEC)
    with db.connect() as connection:
        for child, column, parent in LINKS:
            linked = table(child).c[column]
            orphans = connection.scalar(
                select(func.count())
                .select_from(table(child))
                .where(linked.is_not(None), linked.not_in(select(table(parent).c.id)))
            )
            assert orphans == 0, f"{child}.{column}"
        paid = connection.scalar(
            select(func.count())
            .select_from(table("points_ledger"))
            .join(table("orders"))
            .where(table("points_ledger").c.kind == "earn", table("orders").c.status != "paid")
        )
    assert paid == 0


def test_indexes_and_keys_come_back_and_new_rows_get_fresh_ids(db: Engine) -> None:
    before = _indexes(db)
    load(db, SPEC)
    assert _indexes(db) == before
    orders = table("orders")
    with db.begin() as connection:
        customer = connection.scalar(select(func.min(table("customers").c.id)))
        new = connection.execute(
            insert(orders)
            .values(
                external_id="X-1",
                customer_id=customer,
                ordered_at=make_spec().end,
                amount=10,
                status="paid",
                currency="CNY",
                quantity=1,
                custom_fields={},
            )
            .returning(orders.c.id)
        ).scalar_one()
        highest = connection.scalar(text("SELECT max(id) FROM orders WHERE external_id <> 'X-1'"))
    assert new > highest


def test_stored_values_read_back_as_generated(db: Engine) -> None:
    load(db, SPEC)
    first = next(generate(SPEC))
    with db.connect() as connection:
        row = connection.execute(
            select(table("orders")).where(table("orders").c.external_id == "DEMO-O0000000001")
        ).one()
        customer = connection.execute(
            select(table("customers")).where(table("customers").c.id == row.customer_id)
        ).one()
    assert row.ordered_at == first.orders["ordered_at"][0].astype(object)
    assert float(row.amount) * 100 == pytest.approx(first.orders["amount_cents"][0])
    assert customer.custom_fields == {"demo_profile": str(first.customers["profile"][0])}
    assert customer.external_id == "DEMO-C00000001"
    assert np.datetime64(customer.created_at) == first.customers["created_at"][0]


def test_a_load_leaves_the_schema_objects_whole_for_later_databases(db: Engine) -> None:
    """Dropping and re-adding keys by ALTER must not strip them from the shared table objects:
    a database created later in the same process (a SQLite file) needs its primary keys inline."""
    load(db, SPEC)
    for name in ("customers", "orders"):
        ddl = str(CreateTable(table(name)).compile(dialect=sqlite.dialect()))
        assert "PRIMARY KEY (id)" in ddl, ddl
    assert "FOREIGN KEY(customer_id) REFERENCES customers (id)" in str(
        CreateTable(table("orders")).compile(dialect=sqlite.dialect())
    )
