"""Outgoing webhooks: business events become outbox messages, one per subscription, written
in the transaction of the change itself, so a rolled-back change sends nothing.

The worker delivers them on the `webhook` channel (`patron.notify.channels.deliver_webhook`):
a JSON POST with `X-Patron-Timestamp`, `X-Patron-Delivery` (the same on every retry of one
event) and `X-Patron-Signature: sha256=HEX`, the HMAC-SHA256 of "TIMESTAMP." + body under the
subscription's own secret. The body's `payload` holds `event`, `occurred_at` and `data`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.db import now
from patron.notify.channels import SENDERS, DeliveryFailed, Envelope, deliver_webhook
from patron.notify.outbox import Outgoing, enqueue_many
from patron.notify.settings import NotifySettings
from patron.notify.webhooks_models import WebhookSubscription
from patron.orders.models import Order

Sender = Callable[[Envelope, NotifySettings], None]
# (id, url, event types) of an active subscription.
Subscription = tuple[int, str, frozenset[str]]
PREFIX = "webhook"
# Stored rows are read back for their events this many external ids per query.
READ_CHUNK = 5_000


class EventType(enum.StrEnum):
    """The events a subscription may ask for."""

    customer_created = "customer.created"
    customer_updated = "customer.updated"
    customer_merged = "customer.merged"
    customer_grade_changed = "customer.grade_changed"
    order_created = "order.created"
    order_updated = "order.updated"
    ticket_created = "ticket.created"
    ticket_status_changed = "ticket.status_changed"


@dataclass(frozen=True)
class Event:
    """One thing that happened; `key` names it uniquely, so it is enqueued once per subscriber."""

    type: EventType
    key: str
    data: dict[str, Any]
    customer_id: int | None = None


# Values that go into JSON as they are: most fields, checked first (an import sends many).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _fields(source: Any, names: Iterable[str]) -> dict[str, Any]:
    get = source.get if isinstance(source, Mapping) else partial(getattr, source)
    return {name: _plain(get(name)) for name in names}


def subscribers(session: Session) -> list[Subscription]:
    """(id, url, event types) of every active subscription; there are few."""
    rows = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.events).where(
            WebhookSubscription.active.is_(True)
        )
    )
    return [(pk, url, frozenset(events or ())) for pk, url, events in rows]


def subscribers_on(connection: Connection) -> list[Subscription]:
    """`subscribers` for code that holds a Connection (an import, once for the whole file)."""
    with Session(bind=connection) as session:
        return subscribers(session)


def wants(subscriptions: Sequence[Subscription], event_type: EventType) -> bool:
    """Whether any of the subscriptions asked for `event_type`."""
    return any(event_type.value in types for _, _, types in subscriptions)


def publish(
    session: Session, events: Sequence[Event], wanted: Sequence[Subscription] | None = None
) -> int:
    """Enqueue each event for every active subscription that asked for its type, in the
    caller's transaction; the number of messages enqueued. `wanted`: the subscriptions
    already looked up (by an import or a bulk request), else they are looked up here."""
    if not events:
        return 0
    if wanted is None:
        wanted = subscribers(session)
    if not wanted:
        return 0
    occurred_at = now().isoformat()
    messages = [
        Outgoing(
            channel="webhook",
            recipient=url,
            subject=name,
            body=f"{name} {event.key}",
            dedupe_key=f"{PREFIX}:{subscription}:{event.key}",
            customer_id=event.customer_id,
            payload={
                "event": name,
                "subscription_id": subscription,
                "occurred_at": occurred_at,
                "data": event.data,
            },
        )
        for event, name in zip(events, [event.type.value for event in events], strict=True)
        for subscription, url, types in wanted
        if name in types
    ]
    return len(enqueue_many(session=session, messages=messages)) if messages else 0


def publish_on(
    connection: Connection, events: Sequence[Event], wanted: Sequence[Subscription] | None = None
) -> int:
    """`publish` for code that holds a Connection (the scoring run's actions, imports)."""
    if not events:
        return 0
    # The default join mode uses the caller's transaction and never commits or ends it.
    with Session(bind=connection) as session:
        return publish(session, events, wanted)


CUSTOMER_FIELDS = ("id", "external_id", "kind", "name", "owner_id", "grade", "stage", "city")
ORDER_FIELDS = (
    "id", "external_id", "customer_id", "ordered_at", "amount", "currency", "status", "channel",
)  # fmt: skip
TICKET_FIELDS = ("id", "customer_id", "kind", "priority", "status", "subject", "assignee_id")


def customer_event(event_type: EventType, customer: Any, **extra: Any) -> Event:
    """A customer's event (`extra` goes into the data); each change is sent on its own.
    Personal fields (phone, email, address, birthday) never leave in a webhook."""
    key = f"{event_type.value}:{customer.id}:{uuid.uuid4().hex}"
    data = _fields(customer, CUSTOMER_FIELDS) | {k: _plain(v) for k, v in extra.items()}
    return Event(event_type, key, data, customer.id)


def order_event(event_type: EventType, order: Any) -> Event:
    """An order's event: `order.created` once per order, `order.updated` once per change."""
    data = _fields(order, ORDER_FIELDS)
    key = f"{event_type.value}:{data['id']}"
    if event_type is not EventType.order_created:
        key += f":{uuid.uuid4().hex}"
    return Event(event_type, key, data, data["customer_id"])


def customer_changed(session: Session, kind: str, customer: Any, **extra: Any) -> int:
    """`customer.created`, `customer.updated` or `customer.merged` (`extra` goes into the data)."""
    return publish(session, [customer_event(EventType(f"customer.{kind}"), customer, **extra)])


def orders_created(
    session: Session,
    orders: Sequence[Mapping[str, Any]],
    wanted: Sequence[Subscription] | None = None,
) -> int:
    """`order.created` for each newly stored order (rows with their new `id`)."""
    if wanted is None:
        wanted = subscribers(session)
    if not wants(wanted, EventType.order_created):
        return 0  # nobody listens: spare a bulk ingestion building thousands of events
    events = [order_event(EventType.order_created, order) for order in orders]
    return publish(session, events, wanted)


def ticket_changed(session: Session, ticket: Any, *, previous: Any = None, to: Any = None) -> int:
    """`ticket.created` (no `previous` status), or `ticket.status_changed` from `previous` to
    `to`; called just before the status changes, in the change's transaction."""
    data = _fields(ticket, TICKET_FIELDS)
    if to is not None:
        data["status"] = _plain(to)
    if previous is None:
        event = Event(
            EventType.ticket_created, f"ticket.created:{ticket.id}", data, ticket.customer_id
        )
    else:
        data["previous_status"] = _plain(previous)
        key = f"ticket.status_changed:{ticket.id}:{uuid.uuid4().hex}"
        event = Event(EventType.ticket_status_changed, key, data, ticket.customer_id)
    return publish(session, [event])


# Each kind of record a bulk write stores: its model, the fields its events carry, and how
# one of its rows becomes an event.
RECORDS: dict[str, tuple[Any, tuple[str, ...], Callable[[EventType, Any], Event]]] = {
    "customer": (Customer, CUSTOMER_FIELDS, customer_event),
    "order": (Order, ORDER_FIELDS, order_event),
}


def records_written(
    connection: Connection,
    wanted: Sequence[Subscription],
    record: str,
    *,
    created: Sequence[str] = (),
    updated: Sequence[str] = (),
) -> int:
    """Enqueue `stored_events` in the caller's transaction; the number of messages."""
    events = stored_events(connection, wanted, record, created=created, updated=updated)
    return publish_on(connection, events, wanted)


def stored_events(
    connection: Connection,
    wanted: Sequence[Subscription],
    record: str,
    *,
    created: Sequence[str] = (),
    updated: Sequence[str] = (),
) -> list[Event]:
    """`{record}.created` and `{record}.updated` ("customer" or "order") for rows a bulk write
    stored, by external id, in the transaction `connection` is in.

    The rows are read back after the write, so each event carries what a single change sends.
    Only event types some subscription wants are read: with none, this costs nothing.
    """
    *_, event = RECORDS[record]
    events: list[Event] = []
    for change, keys in (("created", created), ("updated", updated)):
        event_type = EventType(f"{record}.{change}")
        if keys and wants(wanted, event_type):
            events += [event(event_type, row) for row in _stored(connection, record, keys)]
    return events


def _stored(connection: Connection, record: str, keys: Sequence[str]) -> Iterator[Any]:
    model, names, _ = RECORDS[record]
    for start in range(0, len(keys), READ_CHUNK):
        part = keys[start : start + READ_CHUNK]
        query = select(*(getattr(model, name) for name in names))
        yield from connection.execute(query.where(model.external_id.in_(part)).order_by(model.id))


def grades_changed(
    connection: Connection, changes: Iterable[Sequence[Any]], run_id: int | None
) -> int:
    """`customer.grade_changed` for each grade change of a scoring run; `changes` are its
    state-change rows (customer id, kind, old value, new value, ...), stage changes skipped."""
    run = run_id if run_id is not None else uuid.uuid4().hex
    events = [
        Event(
            EventType.customer_grade_changed,
            f"customer.grade_changed:{customer_id}:{run}",
            {"customer_id": customer_id, "from": before, "to": after, "run_id": run_id},
            customer_id,
        )
        for customer_id, kind, before, after, *_ in changes
        if kind == "grade"
    ]
    return publish_on(connection, events)


def deliver_subscribed(engine: Engine, envelope: Envelope, settings: NotifySettings) -> None:
    """Deliver a webhook message: a subscription's to its current URL under its own secret,
    any other (a rule's notify) with the server-wide PATRON_WEBHOOK_SECRET."""
    subscription_id = envelope.payload.get("subscription_id")
    if subscription_id is None:
        deliver_webhook(envelope, settings)
        return
    with engine.connect() as connection:
        found = connection.execute(
            select(
                WebhookSubscription.url, WebhookSubscription.secret, WebhookSubscription.active
            ).where(WebhookSubscription.id == subscription_id)
        ).first()
    if found is None or not found.active:
        raise DeliveryFailed(f"webhook subscription {subscription_id} is deleted or paused")
    signing = settings.model_copy(update={"webhook_secret": found.secret})
    deliver_webhook(replace(envelope, recipient=found.url), signing)


def senders(engine: Engine) -> dict[str, Sender]:
    """The channel senders with subscription webhooks signed by their own secrets."""
    return {**SENDERS, "webhook": partial(deliver_subscribed, engine)}
