"""Every query on orders and their lines: filtered lists under the record rules, and the bulk
statements of ingestion (one statement per thousand rows, conflicts on the order id ignored)."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Select, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from patron.api.access import Actor, visible_customers
from patron.api.pagination import SortKey, as_datetime
from patron.customers.models import Customer, CustomerKind
from patron.imports.references import id_initials
from patron.orders.models import Order, OrderLine, OrderStatus, Product

CHUNK = 1_000
SORT_KEYS = {
    "ordered_at": SortKey(Order.ordered_at, as_datetime),
    "created_at": SortKey(Order.created_at, as_datetime),
    "id": SortKey(Order.id, int),
}


@dataclass(frozen=True)
class OrderFilters:
    """What a list of orders may be narrowed to."""

    customer_id: int | None = None
    status: Sequence[OrderStatus] = ()
    ordered_from: datetime | None = None
    ordered_before: datetime | None = None


def visible_orders(actor: Actor, filters: OrderFilters) -> Select[Order]:
    """The orders of the customers the actor may see, narrowed by the filters."""
    query = (
        select(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(visible_customers(actor))
    )
    if filters.customer_id is not None:
        query = query.where(Order.customer_id == filters.customer_id)
    if filters.status:
        query = query.where(Order.status.in_(list(filters.status)))
    if filters.ordered_from is not None:
        query = query.where(Order.ordered_at >= filters.ordered_from)
    if filters.ordered_before is not None:
        query = query.where(Order.ordered_at < filters.ordered_before)
    return query


def visible_order(session: Session, actor: Actor, order_id: int) -> Order | None:
    """The order if its customer is one the actor may see."""
    return session.scalars(
        visible_orders(actor, OrderFilters()).where(Order.id == order_id)
    ).one_or_none()


def lines_of(session: Session, order_id: int) -> list[dict[str, Any]]:
    """An order's lines with their product's code and name."""
    rows = session.execute(
        select(
            OrderLine.id, OrderLine.product_id, Product.external_id, Product.name,
            OrderLine.quantity, OrderLine.amount,
        )
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id == order_id)
        .order_by(OrderLine.id)
    )  # fmt: skip
    names = ("id", "product_id", "product_code", "product_name", "quantity", "amount")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def stored_orders(conn: Connection, external_ids: Sequence[str]) -> dict[str, int]:
    """external id -> id of the orders already stored."""
    return _ids(conn, Order, external_ids)


def live_customers(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Those of `ids` that are customers neither merged away nor deleted."""
    wanted = sorted(set(ids))
    live: set[int] = set()
    for part in _chunks(wanted):
        query = select(Customer.id).where(
            Customer.id.in_(part), Customer.merged_into_id.is_(None), Customer.deleted_at.is_(None)
        )
        live.update(conn.execute(query).scalars())
    return live


def driver_of(conn: Connection) -> psycopg.Connection[Any] | None:
    """The psycopg connection under `conn` on PostgreSQL (same transaction), else None.

    On PostgreSQL the hot statements go to psycopg directly (COPY and one query per table),
    where SQLAlchemy's multi-row VALUES makes psycopg parse a new query text of thousands of
    placeholders for every thousand rows (most of the time, profiled).
    """
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, psycopg.Connection) else None


def _pg_column(cells: list[Any]) -> list[Any]:
    """One column's values as psycopg takes them: JSON as text (the column's type casts it;
    cheaper than a Jsonb wrapper per cell), enums as their values."""
    if isinstance(cells[0], dict):
        return [json.dumps(cell) if cell else "{}" for cell in cells]
    if isinstance(cells[0], enum.Enum):
        return [cell.value for cell in cells]
    return cells


def _pg_tuples(rows: list[dict[str, Any]], names: list[str]) -> list[tuple[Any, ...]]:
    # Column by column: one comprehension per column is far cheaper than one per cell.
    return list(zip(*(_pg_column([row[name] for row in rows]) for name in names), strict=True))


def _pg_stage(cursor: psycopg.Cursor[Any], table: str, rows: list[dict[str, Any]]) -> str:
    """COPY the rows into this connection's staging table for `table`; its column list.

    COPY costs the server a fraction of one INSERT per row; the staging table (no keys, no
    constraints) lives as long as the connection and is emptied at each commit.
    """
    names = list(rows[0])
    columns = ", ".join(names)
    staging = f"staging_{table}"
    # Two statements in one round trip (possible without parameters).
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
        f"SELECT {columns} FROM {table} WITH NO DATA; TRUNCATE {staging}"
    )
    with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
        for values in _pg_tuples(rows, names):
            copy.write_row(values)
    return columns


def _pg_insert(
    driver: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]], returning: bool
) -> dict[str, int]:
    with driver.cursor() as cursor:
        columns = _pg_stage(cursor, table, rows)
        # RETURNING gives the rows this statement wrote, not those another batch stored
        # meanwhile (skipped), without looking the batch's keys up again.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staging_{table} "
            "ORDER BY external_id ON CONFLICT (external_id) DO NOTHING"
            + (" RETURNING external_id, id" if returning else "")
        )
        return dict(cursor.fetchall()) if returning else {}


def _insert_new(
    conn: Connection, model: type[Any], rows: list[dict[str, Any]], *, returning: bool = False
) -> dict[str, int]:
    """INSERT rows, skipping any whose external id is stored (or being stored) already;
    with `returning`, external id -> id of the rows this call inserted.

    Rows go in external id order: concurrent batches then wait on each other's keys in one
    order and cannot deadlock; a key another batch adds meanwhile is skipped, not an error.
    """
    if not rows:
        return {}
    ordered = sorted(rows, key=lambda row: row["external_id"])
    driver = driver_of(conn)
    if driver is not None:
        return _pg_insert(driver, model.__tablename__, ordered, returning)
    statement = sqlite.insert(model).on_conflict_do_nothing(index_elements=["external_id"])
    inserted: dict[str, int] = {}
    for part in _chunks(ordered):
        if returning:
            result = conn.execute(statement.returning(model.external_id, model.id), list(part))
            inserted.update((key, pk) for key, pk in result.all())
        else:
            conn.execute(statement, list(part))
    return inserted


def _ids(conn: Connection, model: type[Any], keys: Sequence[str]) -> dict[str, int]:
    """external id -> id of those of `keys` that are stored."""
    if not keys:
        return {}
    driver = driver_of(conn)
    if driver is not None:
        # The keys as one JSON text: psycopg dumps a list element by element in Python, two
        # to three times the CPU of json.dumps for a batch's thousands of keys.
        sql = (
            f"SELECT external_id, id FROM {model.__tablename__} "
            "WHERE external_id = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))"
        )
        with driver.cursor() as cursor:
            return dict(cursor.execute(sql, (json.dumps(list(keys)),)).fetchall())
    found: dict[str, int] = {}
    for part in _chunks(sorted(keys)):
        query = select(model.external_id, model.id).where(model.external_id.in_(part))
        found.update((key, pk) for key, pk in conn.execute(query))
    return found


def customer_ids(
    conn: Connection, external_ids: set[str], *, at: datetime
) -> tuple[dict[str, int], list[str]]:
    """external id -> id of each customer, creating those not yet stored (named by their id,
    in the public pool, as an orders import does); and the external ids this call created."""
    found = _ids(conn, Customer, list(external_ids))
    missing = external_ids - found.keys()
    if not missing:
        return found, []
    created = _insert_new(conn, Customer, [_bare_customer(k, at) for k in missing], returning=True)
    # Those another batch created meanwhile are found, not created, by this one.
    return found | _ids(conn, Customer, list(missing)), sorted(created)


def _bare_customer(external_id: str, at: datetime) -> dict[str, Any]:
    return {
        "external_id": external_id, "name": external_id, "name_initials": id_initials(external_id),
        "kind": CustomerKind.person, "locked": False, "consent": {}, "custom_fields": {},
        "created_at": at, "updated_at": at,
    }  # fmt: skip


def product_ids(conn: Connection, names: dict[str, str | None], *, at: datetime) -> dict[str, int]:
    """code -> id of each product, creating new ones (named as given, else by their code)."""
    found = _ids(conn, Product, list(names))
    missing = names.keys() - found.keys()
    if missing:
        rows = [
            {"external_id": key, "name": names[key] or key, "created_at": at, "updated_at": at}
            for key in missing
        ]
        _insert_new(conn, Product, rows)
        found |= _ids(conn, Product, list(missing))
    return found


def insert_orders(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """INSERT the orders, skipping any whose external id another request stored meanwhile;
    external id -> id of those this call inserted."""
    return _insert_new(conn, Order, rows, returning=True)


def copy_rows(conn: Connection, table: str, rows: list[dict[str, Any]]) -> bool:
    """On PostgreSQL, INSERT the rows (each with the same keys) through one COPY and return
    True; elsewhere return False and leave them to the caller. A batch's thousands of rows
    cost the server one statement, not one execution each."""
    driver = driver_of(conn)
    if driver is None:
        return False
    if rows:
        with driver.cursor() as cursor:
            columns = _pg_stage(cursor, table, rows)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staging_{table}")
    return True


def insert_lines(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """INSERT order lines (one COPY on PostgreSQL, a thousand per statement on SQLite)."""
    if not rows or copy_rows(conn, OrderLine.__tablename__, rows):
        return
    for part in _chunks(rows):
        conn.execute(insert(OrderLine), list(part))
