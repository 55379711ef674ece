"""Storing one parsed batch of orders: its customers and products, then one bulk write.

New orders go in with one executemany on SQLite and one COPY on PostgreSQL; changed ones
are updated by external id; unchanged ones are counted and left alone. The KPI store follows
the batch once, set-based (`kpi_store.bulk_orders`), not once per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from typing import Any

from sqlalchemy import ARRAY, Connection, String, Table, bindparam, func, select

from patron.analytics.kpi_store import OrderUpkeep, bulk_orders
from patron.imports.bulk import update_many
from patron.imports.columns import Plan
from patron.imports.kinds.base import Batch, Kind
from patron.imports.order_columns import OrderColumns
from patron.imports.references import NewCustomers, product_ids
from patron.imports.writer import Counts, lookup

COLUMNS = (
    "external_id",
    "customer_id",
    "ordered_at",
    "amount",
    "status",
    "channel",
    "currency",
    "quantity",
    "product_id",
    "custom_fields",
    "import_hash",
    "created_at",
)
# Fetch a batch's stored rows by one range scan when the range holds no more than this many
# rows per batch row (a fresh or repeated import of ordered ids); else look them up by key.
_RANGE_FACTOR = 2


def store_orders(
    spec: Kind, batch: Batch, orders: OrderColumns, new_customers: NewCustomers
) -> Counts:
    """Insert new orders, update changed ones, count unchanged ones; the batch's counts."""
    customers = _customer_ids(batch, orders, new_customers)
    products = _product_ids(batch, orders)
    stored = stored_hashes(batch.conn, spec.table, orders.external_id)
    fresh, changed = _classify(orders, stored)
    counts = Counts(
        inserted=len(fresh), updated=len(changed), unchanged=len(orders) - len(fresh) - len(changed)
    )
    if batch.write:
        rows = _rows(batch, orders, customers, products)
        with bulk_orders(batch.conn) as upkeep:
            insert_rows(batch.conn, spec.table, _pick(rows, fresh, len(orders)))
            _update(batch, spec, rows, changed, upkeep)
        batch.announce(
            "order",
            created=[orders.external_id[i] for i in fresh],
            updated=[orders.external_id[i] for i in changed],
        )
    return counts


def _customer_ids(
    batch: Batch, orders: OrderColumns, new_customers: NewCustomers
) -> list[int | None]:
    """Database ids of the orders' customers; unknown customers are created from their id."""
    create = batch.create_customers if batch.write else None
    ids = batch.customers.numbered(batch.conn, new_customers, create=create)
    return list(map(ids.__getitem__, orders.customer_number))


def _product_ids(batch: Batch, orders: OrderColumns) -> list[int | None]:
    """Products by id, else by name, created or renamed as the row path does."""
    has_names = any(orders.product_name)
    if not has_names:
        if not any(orders.product_id):
            return [None] * len(orders)
        # Ids only (at most 64 characters, as parsed): no names to choose between.
        keys: list[str | None] = list(orders.product_id)
        names: dict[str, str | None] = dict.fromkeys(k for k in set(keys) if k is not None)
    else:
        keys = [
            _product_key(pid or name)
            for pid, name in zip(orders.product_id, orders.product_name, strict=True)
        ]
        # A product's name is the last one the batch gives it.
        named = {
            key: name
            for key, name in zip(keys, orders.product_name, strict=True)
            if key is not None and name
        }
        names = {key: named.get(key) for key in keys if key is not None}
    found = product_ids(batch.conn, names, at=batch.at, write=batch.write)
    # None is never a product's key, so it finds None.
    return list(map(found.get, keys))  # type: ignore[arg-type]


def _product_key(text: str | None) -> str | None:
    return text[:64] if text else None


def stored_hashes(conn: Connection, table: Table, keys: Sequence[str]) -> dict[str, str | None]:
    """external_id -> import_hash for those of `keys` already stored (maybe a few more)."""
    if not keys:
        return {}
    external = table.c.external_id
    if conn.dialect.name == "postgresql":
        wanted = bindparam("keys", list(keys), type_=ARRAY(String()))
        query = select(external, table.c.import_hash).where(external == func.any(wanted))
        return {str(key): digest for key, digest in conn.execute(query)}
    # SQLite compares text bytewise, as Python's min and max do.
    between = external.between(min(keys), max(keys))
    count = conn.execute(select(func.count()).where(between)).scalar_one()
    if count == 0:
        return {}
    if count <= _RANGE_FACTOR * len(keys):
        rows = conn.execute(select(external, table.c.import_hash).where(between))
        return {str(key): digest for key, digest in rows}
    return {key: found[0] for key, found in lookup(conn, table, keys, "import_hash").items()}


def _classify(orders: OrderColumns, stored: dict[str, str | None]) -> tuple[list[int], list[int]]:
    """Positions of new and of changed orders."""
    if not stored:
        return list(range(len(orders))), []
    previous = list(map(stored.get, orders.external_id))
    fresh = [i for i, digest in enumerate(previous) if digest is None]
    changed = [
        i
        for i, (digest, now) in enumerate(zip(previous, orders.import_hash, strict=True))
        if digest is not None and digest != now
    ]
    return fresh, changed


@dataclass
class _Rows:
    """A batch's orders typed for the driver: a tuple of the `names` columns per order, and
    on SQLite the values every order shares (`shared`), written once as literals, not bound
    for each row: a third fewer parameters to bind, the cheapest part of the insert to cut."""

    names: list[str]
    tuples: list[tuple[Any, ...]]
    shared: dict[str, str]

    def values(self, i: int) -> dict[str, Any]:
        """Order `i` as a dict of every column."""
        return dict(zip(self.names, self.tuples[i], strict=True)) | self.shared


def _rows(
    batch: Batch,
    orders: OrderColumns,
    customers: list[int | None],
    products: list[int | None],
) -> _Rows:
    """Every order, typed for the driver."""
    sqlite = batch.conn.dialect.name == "sqlite"
    count = len(orders)
    if sqlite:
        ordered_at: list[Any] = [f"{moment}.000000" for moment in orders.ordered_at]
        amounts: list[Any] = list(map(float, orders.amount))
        created: Any = batch.at.isoformat(" ") + ".000000"
    else:
        ordered_at, amounts, created = orders.ordered_at, orders.amount, batch.at
    status = orders.status if None not in orders.status else [s or "paid" for s in orders.status]
    columns: dict[str, Any] = {
        "external_id": orders.external_id, "customer_id": customers, "ordered_at": ordered_at,
        "amount": amounts, "status": status, "channel": orders.channel,
        "currency": orders.currency, "quantity": orders.quantity, "product_id": products,
        "import_hash": orders.import_hash,
    }  # fmt: skip
    shared = {"created_at": created}
    if any(orders.custom):
        columns["custom_fields"] = [json.dumps(extra) if extra else "{}" for extra in orders.custom]
    else:
        shared["custom_fields"] = "{}"
    if not sqlite:
        # COPY takes every column of every row.
        columns |= {name: repeat(value, count) for name, value in shared.items()}
        shared = {}
    names = [name for name in COLUMNS if name not in shared]
    return _Rows(names, list(zip(*(columns[name] for name in names), strict=True)), shared)


def _pick(rows: _Rows, positions: list[int], count: int) -> _Rows:
    if len(positions) == count:
        return rows
    return _Rows(rows.names, [rows.tuples[i] for i in positions], rows.shared)


def insert_rows(conn: Connection, table: Table, rows: _Rows) -> None:
    """INSERT the rows: executemany on SQLite, COPY on PostgreSQL."""
    if not rows.tuples:
        return
    names = ", ".join([*rows.names, *rows.shared])
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows.tuples:
                copy.write_row(row)
        return
    literals = [_literal(value) for value in rows.shared.values()]
    marks = ", ".join(["?"] * len(rows.names) + literals)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows.tuples)


def _literal(text: str) -> str:
    """An SQL string literal (of a value Patron made, a timestamp or `{}`, quoted all the same)."""
    return "'" + text.replace("'", "''") + "'"


def _update(
    batch: Batch, spec: Kind, rows: _Rows, positions: list[int], upkeep: OrderUpkeep
) -> None:
    """UPDATE changed orders (rare: a re-import of an edited file) through the bulk writer,
    telling the KPI store each order's customer and moment before and after."""
    if not positions:
        return
    plan: Plan = batch.plan
    changed = []
    for i in positions:
        values = rows.values(i)
        values["ordered_at"] = _moment(values["ordered_at"])
        values["amount"] = Decimal(str(values["amount"]))
        values["custom_fields"] = json.loads(values["custom_fields"])
        changed.append(values)
    if upkeep.active:
        keys = [values["external_id"] for values in changed]
        before = lookup(batch.conn, spec.table, keys, "customer_id", "ordered_at")
        upkeep.changed((customer, moment) for customer, moment in before.values())
        upkeep.changed((values["customer_id"], values["ordered_at"]) for values in changed)
    update_many(batch.conn, spec.table, changed, spec.update_columns(plan))


def _moment(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
