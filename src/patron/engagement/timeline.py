"""One customer's timeline: orders, interactions, tasks, tickets, survey answers, points and
grade and stage changes, newest first, a page at a time.

One UNION ALL query orders and pages the (moment, kind, id) keys; the page's rows are then
read per kind, so a page costs a handful of indexed queries however long the history is.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    inspect,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from patron.engagement.models import Interaction, Task
from patron.errors import InvalidInput
from patron.loyalty.models import PointsEntry
from patron.orders.models import Order
from patron.rules.models import StateChange
from patron.service.models import SurveyResponse, Ticket


@dataclass(frozen=True)
class Entry:
    """One event in a customer's history."""

    kind: str
    id: int
    at: datetime
    title: str
    detail: dict[str, Any]


def _text(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _order(o: Order) -> tuple[str, dict[str, Any]]:
    return f"订单 {o.external_id}", {
        "amount": str(o.amount),
        "status": _text(o.status),
        "channel": o.channel,
        "currency": o.currency,
    }


def _interaction(i: Interaction) -> tuple[str, dict[str, Any]]:
    return i.summary or _text(i.kind), {
        "kind": _text(i.kind),
        "direction": _text(i.direction),
        "is_follow_up": i.is_follow_up,
        "user_id": i.user_id,
    }


def _task(t: Task) -> tuple[str, dict[str, Any]]:
    return t.title, {
        "kind": t.kind,
        "status": _text(t.status),
        "assignee_id": t.assignee_id,
        "due_at": t.due_at,
        "outcome": t.outcome,
    }


def _ticket(t: Ticket) -> tuple[str, dict[str, Any]]:
    return t.subject, {
        "kind": _text(t.kind),
        "status": _text(t.status),
        "priority": _text(t.priority),
        "channel": t.channel,
        "category": t.category,
    }


def _survey(r: SurveyResponse) -> tuple[str, dict[str, Any]]:
    return f"{_text(r.kind).upper()} {r.score}", {
        "kind": _text(r.kind),
        "score": r.score,
        "comment": r.comment,
        "ticket_id": r.ticket_id,
    }


def _points(p: PointsEntry) -> tuple[str, dict[str, Any]]:
    return p.reason or _text(p.kind), {
        "kind": _text(p.kind),
        "points": p.points,
        "balance_after": p.balance_after,
    }


def _change(c: StateChange) -> tuple[str, dict[str, Any]]:
    return f"{c.kind}: {c.from_value or '-'} → {c.to_value or '-'}", {
        "change": c.kind,
        "from": c.from_value,
        "to": c.to_value,
        "rule_id": c.rule_id,
    }


@dataclass(frozen=True)
class Source:
    model: Any
    at: Any
    describe: Callable[[Any], tuple[str, dict[str, Any]]]


SOURCES: dict[str, Source] = {
    "order": Source(Order, Order.ordered_at, _order),
    "interaction": Source(Interaction, Interaction.occurred_at, _interaction),
    "task": Source(Task, Task.created_at, _task),
    "ticket": Source(Ticket, Ticket.opened_at, _ticket),
    "survey_response": Source(SurveyResponse, SurveyResponse.answered_at, _survey),
    "points": Source(PointsEntry, PointsEntry.occurred_at, _points),
    "state_change": Source(StateChange, StateChange.changed_at, _change),
}


def _keys(customer_id: int, kinds: list[str]) -> Select[Any]:
    parts = [
        select(
            source.at.label("at"),
            literal(kind, String).label("kind"),
            source.model.id.label("ref_id"),
        ).where(source.model.customer_id == customer_id)
        for kind, source in SOURCES.items()
        if kind in kinds
    ]
    return select(union_all(*parts).subquery())


def encode_cursor(entry: Entry) -> str:
    """An opaque cursor after `entry`."""
    raw = json.dumps([entry.at.isoformat(), entry.kind, entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    """The (moment, kind, id) a cursor carries; refused if damaged."""
    try:
        at, kind, ref_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind not in SOURCES or not isinstance(ref_id, int):
            raise ValueError(kind)
        return datetime.fromisoformat(at), kind, ref_id
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("the cursor is damaged: start again from the first page") from exc


def _after(columns: Any, cursor: tuple[datetime, str, int]) -> ColumnElement[bool]:
    at, kind, ref_id = cursor
    # Newest first; ties on the moment by kind (ascending) then id (descending).
    return or_(
        columns.at < at,
        and_(columns.at == at, columns.kind > kind),
        and_(columns.at == at, columns.kind == kind, columns.ref_id < ref_id),
    )


def timeline(
    *,
    session: Session,
    customer_id: int,
    limit: int,
    cursor: str | None = None,
    kinds: list[str] | None = None,
) -> tuple[list[Entry], str | None]:
    """A page of the customer's history, newest first, and the cursor of the next page."""
    chosen = kinds or list(SOURCES)
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise InvalidInput(f"unknown timeline kind {', '.join(unknown)}: use {', '.join(SOURCES)}")
    keys = _keys(customer_id, chosen).subquery()
    query = select(keys.c.at, keys.c.kind, keys.c.ref_id)
    if cursor:
        query = query.where(_after(keys.c, decode_cursor(cursor)))
    query = query.order_by(keys.c.at.desc(), keys.c.kind, keys.c.ref_id.desc()).limit(limit + 1)
    rows = session.execute(query).all()
    page = rows[:limit]
    entries = _load(session, [(kind, ref_id) for _, kind, ref_id in page])
    ordered = [entries[(kind, ref_id)] for _, kind, ref_id in page]
    next_cursor = encode_cursor(ordered[-1]) if len(rows) > limit else None
    return ordered, next_cursor


@cache
def _columns(model: Any) -> tuple[Any, ...]:
    return tuple(column.class_attribute for column in inspect(model).column_attrs)


def _load(session: Session, refs: list[tuple[str, int]]) -> dict[tuple[str, int], Entry]:
    loaded: dict[tuple[str, int], Entry] = {}
    for kind, source in SOURCES.items():
        ids = [ref_id for k, ref_id in refs if k == kind]
        if not ids:
            continue
        # Plain rows of the model's columns (the describers read them by name): a page
        # needs no ORM objects, whose loading cost more than the queries.
        query = select(*_columns(source.model)).where(source.model.id.in_(ids))
        for row in session.execute(query):
            title, detail = source.describe(row)
            at = getattr(row, source.at.key)
            loaded[(kind, row.id)] = Entry(kind, row.id, at, title, detail)
    return loaded
