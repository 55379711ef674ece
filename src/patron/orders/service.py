"""Storing orders: one posted order, or a batch of up to ten thousand in one transaction.

A batch never fails as a whole for a bad order: each order is checked on its own and a bad one
is reported with its position and reasons while the good ones are stored. An order whose
external id is already stored is left alone, so a retried batch stores nothing twice.
Runs inside the caller's unit of work and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from patron import collector
from patron.loyalty.service import earn_for_new_orders
from patron.notify import webhooks
from patron.orders import repository
from patron.orders.schemas import BulkResult, OrderIn, RowProblem


@dataclass
class Checked:
    """A batch split into the orders that passed their checks and the reasons for the rest."""

    good: list[tuple[int, OrderIn]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def refuse(self, row: int, order: OrderIn, problem: str) -> None:
        self.problems.append(RowProblem(row=row, external_id=order.external_id, problems=[problem]))


def _problems(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in item['loc']) or 'order'}: {item['msg']}"
        for item in error.errors(include_url=False)
    ]


def check(rows: Sequence[Any]) -> Checked:
    """Validate each order on its own; a repeated external id is refused after its first use."""
    checked = Checked()
    seen: dict[str, int] = {}
    for row, raw in enumerate(rows):
        try:
            order = OrderIn.model_validate(raw)
        except ValidationError as exc:
            external_id = raw.get("external_id") if isinstance(raw, dict) else None
            checked.problems.append(
                RowProblem(
                    row=row,
                    external_id=external_id if isinstance(external_id, str) else None,
                    problems=_problems(exc),
                )
            )
            continue
        first = seen.setdefault(order.external_id, row)
        if first != row:
            checked.refuse(row, order, f"repeats the order id of row {first}")
            continue
        checked.good.append((row, order))
    return checked


def _customer_ids(
    conn: Connection, checked: Checked, moment: datetime
) -> tuple[dict[int, int], list[str]]:
    """Row -> customer id for each good order; unknown external ids become bare customers
    (their external ids are the second result)."""
    external = {o.customer_external_id for _, o in checked.good if o.customer_external_id}
    found, created = repository.customer_ids(conn, external, at=moment)
    live = repository.live_customers(
        conn, (o.customer_id for _, o in checked.good if o.customer_id)
    )
    by_row: dict[int, int] = {}
    kept = []
    for row, order in checked.good:
        pk = (
            order.customer_id
            if order.customer_id is not None
            else found.get(order.customer_external_id or "")
        )
        if pk is None or (order.customer_id is not None and pk not in live):
            checked.refuse(row, order, f"customer_id: there is no live customer with id {pk}")
            continue
        by_row[row] = pk
        kept.append((row, order))
    checked.good = kept
    return by_row, created


def _products(conn: Connection, orders: list[OrderIn], moment: datetime) -> dict[str, int]:
    names: dict[str, str | None] = {}
    for order in orders:
        key = order.product_id or order.product_name
        if key:
            names[key[:64]] = order.product_name or names.get(key[:64])
        for line in order.lines:
            names[line.product_id] = line.product_name or names.get(line.product_id)
    return repository.product_ids(conn, names, at=moment) if names else {}


def _order_row(
    order: OrderIn, customer_id: int, products: dict[str, int], moment: datetime
) -> dict[str, Any]:
    key = (order.product_id or order.product_name or "")[:64]
    return {
        "external_id": order.external_id, "customer_id": customer_id,
        "ordered_at": order.ordered_at, "amount": order.amount, "status": order.status,
        "channel": order.channel, "currency": order.currency, "quantity": order.quantity,
        "product_id": products.get(key) if key else None, "custom_fields": order.custom_fields,
        "import_hash": None, "created_at": moment,
    }  # fmt: skip


def _line_rows(
    orders: list[OrderIn], inserted: dict[str, int], products: dict[str, int]
) -> list[dict[str, Any]]:
    return [
        {
            "order_id": inserted[order.external_id],
            "product_id": products[line.product_id],
            "quantity": line.quantity,
            "amount": line.amount,
        }
        for order in orders
        if order.external_id in inserted
        for line in order.lines
    ]


@dataclass(frozen=True)
class Stored:
    """What storing checked orders did: external id -> id of the new and the existing ones."""

    inserted: dict[str, int]
    existing: dict[str, int]


def store(
    session: Session,
    orders: list[tuple[OrderIn, int]],
    *,
    moment: datetime,
    wanted: Sequence[webhooks.Subscription] | None = None,
) -> Stored:
    """Insert the orders (each with its customer id) whose external ids are new, their lines,
    and their `order.created` webhook events (for `wanted`, the subscriptions the caller
    looked up, else those active now); leave the others as they are."""
    conn = session.connection()
    if any(order.lines or order.product_id or order.product_name for order, _ in orders):
        # Products are made only for the orders not stored yet: look those up first.
        existing = repository.stored_orders(conn, [order.external_id for order, _ in orders])
        new = [(order, customer) for order, customer in orders if order.external_id not in existing]
    else:
        # Nothing to make first: the insert itself skips the stored ones (found below).
        existing, new = {}, orders
    products = _products(conn, [order for order, _ in new], moment)
    rows = [_order_row(order, customer, products, moment) for order, customer in new]
    inserted = repository.insert_orders(conn, rows)
    raced = [row["external_id"] for row in rows if row["external_id"] not in inserted]
    if raced:
        # Another request stored these between our look and our insert: they exist now.
        existing |= repository.stored_orders(conn, raced)
    repository.insert_lines(conn, _line_rows([order for order, _ in new], inserted, products))
    if wanted is None:
        wanted = webhooks.subscribers(session)
    if webhooks.wants(wanted, webhooks.EventType.order_created):
        # The events' rows are built only when someone listens (a batch has thousands).
        webhooks.orders_created(
            session,
            [
                row | {"id": inserted[row["external_id"]]}
                for row in rows
                if row["external_id"] in inserted
            ],
            wanted,
        )
    return Stored(inserted=inserted, existing=existing)


def ingest(*, session: Session, rows: Sequence[Any], moment: datetime) -> BulkResult:
    """Check and store a batch of orders in the caller's transaction; never fails for a bad
    order, only reports it. The customers it creates and the orders it inserts raise their
    webhook events, the subscriptions looked up once for the batch. The new paid orders earn
    their points set-based; tiers and warnings wait for the `tier_review` job and the next
    scoring run."""
    with collector.paused():
        wanted = webhooks.subscribers(session)
        checked = check(rows)
        customers, created = _customer_ids(session.connection(), checked, moment)
        webhooks.records_written(session.connection(), wanted, "customer", created=created)
        good = [(order, customers[row]) for row, order in checked.good]
        stored = store(session, good, moment=moment, wanted=wanted)
        earn_for_new_orders(session.connection(), order_ids=stored.inserted.values(), moment=moment)
    return BulkResult(
        received=len(rows),
        inserted=len(stored.inserted),
        existing=len(stored.existing),
        rejected=len(checked.problems),
        customers_created=len(created),
        errors=sorted(checked.problems, key=lambda problem: problem.row),
    )
