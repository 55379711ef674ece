"""/api/v1/orders: list, one order with its lines, create one, and bulk ingestion.

Record rules: an order is visible exactly when its customer is (`visible_customers`), and
created only for a customer the caller may change. Bulk ingestion feeds orders from selling
systems for any customer, so it needs `orders.ingest` (admins; tokens with `orders:write`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import WithJsonSchema
from sqlalchemy import select

from patron.api.access import Actor, Permission, require_writable, visible_customer
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from patron.customers.models import Customer
from patron.db import now
from patron.errors import Conflict, NotFound
from patron.loyalty.service import on_new_order
from patron.orders import repository, service
from patron.orders.models import Order, OrderStatus
from patron.orders.schemas import MAX_BULK, BulkResult, OrderIn, OrderLineView, OrderView
from patron.rules.refresh import request_refresh

router = APIRouter(prefix="/orders", tags=["orders"], responses=responses(401, 403, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
Ingester = Annotated[Actor, requires(Permission.orders_ingest)]
# Rows are checked one by one in the service, so one bad order is reported, not fatal to all.
LooseOrder = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/OrderIn"})]


def _start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min)


def _with_lines(session: SessionDep, order: Order) -> OrderView:
    view = OrderView.model_validate(order)
    view.lines = [
        OrderLineView.model_validate(line) for line in repository.lines_of(session, order.id)
    ]
    return view


@router.get("", summary="List orders")
def list_orders(
    session: SessionDep,
    actor: Reader,
    customer_id: int | None = None,
    status: Annotated[list[OrderStatus], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    ordered_from: Annotated[date | None, Query(description="From this day on")] = None,
    ordered_to: Annotated[date | None, Query(description="Up to and including this day")] = None,
    sort: Annotated[str, Query(description="ordered_at, created_at or id; '-' descends")] = (
        "-ordered_at"
    ),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[OrderView]:
    """Orders of the customers the caller may see, newest first by default."""
    filters = repository.OrderFilters(
        customer_id=customer_id,
        status=status,
        ordered_from=_start(ordered_from),
        ordered_before=_start(ordered_to + timedelta(days=1)) if ordered_to else None,
    )
    rows, next_cursor = paginate(
        session, repository.visible_orders(actor, filters), sort=sort,
        keys=repository.SORT_KEYS, id_column=Order.id, cursor=cursor, limit=limit,
    )  # fmt: skip
    return Page(
        items=[OrderView.model_validate(row) for row in rows], next_cursor=next_cursor, limit=limit
    )


@router.get("/{order_id}", summary="One order with its lines", responses=responses(404))
def get_order(session: SessionDep, actor: Reader, order_id: int) -> OrderView:
    """An order of a customer the caller may see (404 otherwise)."""
    order = repository.visible_order(session, actor, order_id)
    if order is None:
        raise NotFound(f"no order with id {order_id}")
    return _with_lines(session, order)


def _customer_of(session: SessionDep, actor: Actor, data: OrderIn) -> int:
    if data.customer_id is not None:
        customer = visible_customer(session, actor, data.customer_id)
    else:
        found = session.scalar(
            select(Customer.id).where(Customer.external_id == data.customer_external_id)
        )
        if found is None:
            raise NotFound(f"no customer with id '{data.customer_external_id}'")
        customer = visible_customer(session, actor, found)
    require_writable(session, actor, customer)
    if customer.merged_into_id is not None or customer.deleted_at is not None:
        raise Conflict(f"customer '{customer.external_id}' was merged or deleted")
    return customer.id


@router.post("", status_code=201, summary="Create an order", responses=responses(404, 409))
def create_order(session: SessionDep, actor: Writer, data: OrderIn) -> OrderView:
    """Record an order of a customer the caller may change; 409 if its external_id is taken.
    A paid order earns its points and upgrades the tier in the same transaction; the
    customer's warnings are re-evaluated by the worker after the commit."""
    customer_id = _customer_of(session, actor, data)
    stored = service.store(session, [(data, customer_id)], moment=now())
    if data.external_id in stored.existing:
        raise Conflict(f"an order with id '{data.external_id}' is already stored")
    order = session.get(Order, stored.inserted[data.external_id])
    assert order is not None
    on_new_order(session=session, order_id=order.id, by_user_id=actor.user_id)
    request_refresh(session, customer_id)
    return _with_lines(session, order)


@router.post("/bulk", summary="Ingest a batch of orders")
def ingest_orders(
    session: SessionDep,
    actor: Ingester,
    orders: Annotated[
        list[LooseOrder],
        Body(max_length=MAX_BULK, description=f"Up to {MAX_BULK:,} orders like OrderIn"),
    ],
) -> BulkResult:
    """Store up to 10,000 orders in one transaction. Each order is checked on its own: the
    answer lists the refused ones with their row and reasons while the rest are stored. An
    order whose external_id is already stored counts as `existing` and is left as it is, so
    resending a batch is safe. Unknown `customer_external_id`s become new customers."""
    return service.ingest(session=session, rows=orders, moment=now())
