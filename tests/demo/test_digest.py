"""The demo's rows pinned by digest: a faster loader must write exactly the same data.

The digests were taken from the loader before it was tuned for speed (commit be43439). A
change that alters a single value of a fixed seed's rows, on either database, fails here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select

from patron.demo import generator
from patron.demo.bulk import table
from patron.demo.generator import generate
from patron.demo.loader import LOADED, load
from tests.demo.conftest import make_spec

# Three chunks of 150 customers, so ids and numbers carry over between chunks.
SPEC = make_spec(customers=450, seed=2024)
CHUNK = 150
GENERATED_DIGEST = "e8c25b7e51bb81af1bbfc6ed48083d541a109dbcaa4d340a085f0d9ae6a83bdd"
# The rows as read back through SQLAlchemy: the same on SQLite and PostgreSQL.
LOADED_DIGESTS = {
    "customers": "1cea85467e71445bbe9918cda5e668403923d9eaf2d18f901adc564439927cb5",
    "customer_tags": "28bf37c7a699857b00b224832b272ab77db2f4e261456a07b223f3ae9a6fca37",
    "orders": "2fa3effc6ab36c86065e7e3ea3346ee57e523ee5c67399c9453dc34a90f57d9b",
    "points_ledger": "edb8ca0d4745b3a4984f53ea100682b0d3dca8dbc91f9a0ecce614e97a7950e4",
    "loyalty_accounts": "e4975de46c1f28c97254e3ce9d1fb21cf1a435db69c4b3050efec56373146d48",
    "interactions": "0f9c7714fb2c66ec383ab9e2c6021993d5d815799994731492f8e2a76ff5b311",
    "tickets": "a6f77ce9aa02efed5e1f0da672ffc854c8ff3e2090678eef1dfe89dfe807a73d",
    "survey_responses": "332ad925f93462fc38ba0c28ba6e2b02ffa9c3d1ed9ed52dfb2312a0c630ce87",
}
# SQLite: the rows as stored (value types and the text of datetimes included).
STORED_DIGESTS = {
    "customers": "2c062a1da33d7bd832586e8a8559abafe300929a0652e88a0a0e3c7b8feff30b",
    "customer_tags": "a0953d7efdc6897bebf8a1ae8c0c73f945ee260fb2512fe5f6b25604c5be0004",
    "orders": "0afeacaf8228a2a7b5b9c2c226f644c0020ba9519152d32796d08eb071596e81",
    "points_ledger": "79de171a272fe306df45f8d91af5f740321f386dfbd01228e1772bc9fec63a6b",
    "loyalty_accounts": "839a78e44094edecf2489f2b34c4f9bfa782bb55ea4d5279017937f80c969454",
    "interactions": "773864ef3b90f01c3d0c81db92d80c4eccb67c436c23a0a03fd7d0a6fb250018",
    "tickets": "6977624512349b211247f5eb5cbe4ade6248eaafedebe319a00f51f283afa7fe",
    "survey_responses": "bfde01aadcd738a64617c7d4e4323f210aafe9f26fb286392d437ea158fc892d",
}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "CHUNK_CUSTOMERS", CHUNK)


def _canonical(value: Any) -> str:
    """One stored value as the same text whichever database and driver returned it."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return repr(value)


def _customer_columns() -> list[Any]:
    """The customers' columns as they were when the digests were taken: the score columns,
    since moved to `customer_scores`, stood before the creation and update times."""
    customers, scores = table("customers"), table("customer_scores")
    own = [
        column for column in customers.columns if column.name not in ("created_at", "updated_at")
    ]
    moved = [column for column in scores.columns if column.name != "customer_id"]
    return [*own, *moved, customers.c.created_at, customers.c.updated_at]


def _rows(name: str) -> Any:
    target = table(name)
    if name != "customers":
        return select(target).order_by(*target.primary_key.columns)
    scores = table("customer_scores")
    return (
        select(*_customer_columns())
        .join_from(target, scores, scores.c.customer_id == target.c.id)
        .order_by(target.c.id)
    )


def _table_digests(db: Engine) -> dict[str, str]:
    """A digest of every loaded table's rows in key order."""
    digests = {}
    with db.connect() as connection:
        for name in LOADED:
            rows = connection.execute(_rows(name))
            text = "\n".join("|".join(_canonical(v) for v in row) for row in rows)
            digests[name] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def _stored_digests(db: Engine) -> dict[str, str]:
    """SQLite: a digest of every loaded table's rows as stored, the text of datetimes included."""
    digests = {}
    with db.connect() as connection:
        for name in LOADED:
            keys = ", ".join(c.name for c in table(name).primary_key.columns)
            query = f"SELECT * FROM {name} ORDER BY {keys}"
            if name == "customers":
                columns = ", ".join(f"{c.table.name}.{c.name}" for c in _customer_columns())
                query = (
                    f"SELECT {columns} FROM customers JOIN customer_scores "
                    "ON customer_scores.customer_id = customers.id ORDER BY customers.id"
                )
            rows = connection.exec_driver_sql(query)
            text = "\n".join(repr(tuple(row)) for row in rows)
            digests[name] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def test_generated_columns_have_the_pinned_digest() -> None:
    digest = hashlib.sha256()
    for chunk in generate(SPEC):
        for part in (
            chunk.customers,
            chunk.orders,
            chunk.interactions,
            chunk.tickets,
            chunk.responses,
            chunk.tags,
        ):
            for name in sorted(part):
                column = np.ascontiguousarray(part[name])
                digest.update(f"{name}:{column.dtype.str}".encode())
                digest.update(column.tobytes())
    assert digest.hexdigest() == GENERATED_DIGEST


def test_loaded_rows_have_the_pinned_digests(db: Engine) -> None:
    load(db, SPEC)
    assert _table_digests(db) == LOADED_DIGESTS
    if db.dialect.name == "sqlite":
        assert _stored_digests(db) == STORED_DIGESTS
