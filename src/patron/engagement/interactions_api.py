"""/api/v1/interactions and /api/v1/customers/{id}/interactions: calls, visits, emails,
chats, WeChat, SMS and social contacts, listed and logged.

Record rules: an interaction is visible exactly when its customer is (`visible_customers`),
and logged only on a customer the caller may change; logging one for a colleague follows the
rules for giving them work (`assignee_for`). A new interaction re-evaluates the customer's
warnings once the request has committed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, select

from patron.api.access import (
    Actor,
    Permission,
    require_writable,
    visible_customer,
    visible_customers,
)
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, as_datetime, paginate
from patron.config import get_settings
from patron.customers.models import Customer
from patron.db import now
from patron.engagement.api import assignee_for
from patron.engagement.models import Direction, Interaction, InteractionKind
from patron.rules.refresh import request_refresh
from patron.wire import LocalDateTime

router = APIRouter(tags=["interactions"], responses=responses(401, 403, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
SORT_KEYS = {
    "occurred_at": SortKey(Interaction.occurred_at, as_datetime),
    "id": SortKey(Interaction.id, int),
}
SortParam = Annotated[str, Query(description="occurred_at or id; '-' descends")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


class InteractionIn(BaseModel):
    """A contact with a customer; `user_id` (default: the caller) is who had it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: int
    kind: InteractionKind = Field(description="call, visit, email, chat, wechat, sms or social")
    direction: Direction = Direction.outbound
    summary: str = Field(default="", max_length=4000)
    occurred_at: LocalDateTime | None = Field(default=None, description="Default: now")
    user_id: int | None = None
    is_follow_up: bool = False

    @field_validator("occurred_at")
    @classmethod
    def _business_time(cls, value: datetime | None) -> datetime | None:
        # Stored datetimes are naive business time, as everywhere in Patron.
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(ZoneInfo(get_settings().timezone)).replace(tzinfo=None)


class InteractionView(BaseModel):
    """A logged interaction."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    kind: InteractionKind
    direction: Direction
    summary: str
    user_id: int | None
    occurred_at: LocalDateTime
    is_follow_up: bool


def _day(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time.min)


def _filtered(
    actor: Actor,
    kind: list[InteractionKind],
    direction: Direction | None,
    user_id: int | None,
    occurred_from: date | None,
    occurred_to: date | None,
) -> Select[Interaction]:
    query = (
        select(Interaction)
        .join(Customer, Customer.id == Interaction.customer_id)
        .where(visible_customers(actor))
    )
    if kind:
        query = query.where(Interaction.kind.in_(kind))
    if direction is not None:
        query = query.where(Interaction.direction == direction)
    if user_id is not None:
        query = query.where(Interaction.user_id == user_id)
    if occurred_from is not None:
        query = query.where(Interaction.occurred_at >= _day(occurred_from))
    if occurred_to is not None:
        query = query.where(Interaction.occurred_at < _day(occurred_to + timedelta(days=1)))
    return query


def _page(
    session: SessionDep,
    query: Select[Interaction],
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[InteractionView]:
    rows, next_cursor = paginate(
        session, query, sort=sort, keys=SORT_KEYS, id_column=Interaction.id, cursor=cursor,
        limit=limit,
    )  # fmt: skip
    items = [InteractionView.model_validate(row) for row in rows]
    return Page(items=items, next_cursor=next_cursor, limit=limit)


@router.get("/interactions", summary="List interactions")
def list_interactions(
    session: SessionDep,
    actor: Reader,
    customer_id: int | None = None,
    kind: Annotated[list[InteractionKind], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    direction: Direction | None = None,
    user_id: Annotated[int | None, Query(description="Who had the contact")] = None,
    occurred_from: Annotated[date | None, Query(description="From this day on")] = None,
    occurred_to: Annotated[date | None, Query(description="Up to and including this day")] = None,
    sort: SortParam = "-occurred_at",
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[InteractionView]:
    """Interactions with the customers the caller may see, newest first by default."""
    query = _filtered(actor, kind, direction, user_id, occurred_from, occurred_to)
    if customer_id is not None:
        query = query.where(Interaction.customer_id == customer_id)
    return _page(session, query, sort, cursor, limit)


@router.get(
    "/customers/{customer_id}/interactions",
    summary="A customer's interactions",
    responses=responses(404),
)
def customer_interactions(
    session: SessionDep,
    actor: Reader,
    customer_id: int,
    kind: Annotated[list[InteractionKind], Query()] = [],  # noqa: B006
    direction: Direction | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
    sort: SortParam = "-occurred_at",
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[InteractionView]:
    """Interactions with one customer the caller may see (404 for one they may not)."""
    visible_customer(session, actor, customer_id)
    query = _filtered(actor, kind, direction, None, occurred_from, occurred_to)
    return _page(session, query.where(Interaction.customer_id == customer_id), sort, cursor, limit)


@router.post(
    "/interactions", status_code=201, summary="Log an interaction", responses=responses(404)
)
def create_interaction(session: SessionDep, actor: Writer, data: InteractionIn) -> InteractionView:
    """Log a contact with a customer the caller may change, by the caller or a colleague
    they may give work to; the worker re-evaluates the customer's warnings after the commit."""
    customer = visible_customer(session, actor, data.customer_id)
    require_writable(session, actor, customer)
    who = assignee_for(session, actor, data.user_id)
    interaction = Interaction(
        customer_id=customer.id, kind=data.kind, direction=data.direction, summary=data.summary,
        user_id=who.id, occurred_at=data.occurred_at or now(), is_follow_up=data.is_follow_up,
    )  # fmt: skip
    session.add(interaction)
    session.flush()
    request_refresh(session, customer.id)
    return InteractionView.model_validate(interaction)
