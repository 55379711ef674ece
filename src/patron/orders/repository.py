"""Every query on orders and their lines: filtered lists under the record rules, and the bulk
statements of ingestion (one statement per thousand rows, conflicts on the order id ignored)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.api.access import Actor, visible_customers
from patron.api.pagination import SortKey, as_datetime
from patron.customers.models import Customer
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
    found: dict[str, int] = {}
    for part in _chunks(external_ids):
        rows = conn.execute(select(Order.external_id, Order.id).where(Order.external_id.in_(part)))
        found.update((key, pk) for key, pk in rows)
    return found


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


def insert_orders(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """INSERT the orders, skipping any whose external id another request stored meanwhile;
    external id -> id of those this call inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Order)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(Order.external_id, Order.id)
    )
    inserted: dict[str, int] = {}
    for part in _chunks(rows):
        inserted.update((key, pk) for key, pk in conn.execute(statement, list(part)).all())
    return inserted


def insert_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT order lines, a thousand per statement."""
    for part in _chunks(rows):
        conn.execute(insert(OrderLine), list(part))
