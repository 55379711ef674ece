"""The customer list's filters, free-text search and sort whitelist, as SQL conditions.

Every condition here narrows `access.visible_customers`; none widens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, contains_eager

from patron.analytics.kpi import latest_run_id
from patron.analytics.models import ScoreSnapshot
from patron.api.access import Actor, visible_customers
from patron.api.pagination import SortKey, as_datetime
from patron.auth.models import Role
from patron.customers.models import Customer, CustomerScore, CustomerTag
from patron.errors import InvalidInput

# The score sorts are on `customer_scores`, which `customer_query` joins: a list ranked by CLV
# or churn risk walks that table's rank index.
SORT_KEYS = {
    key.name: key
    for key in (
        SortKey(Customer.id, int),
        SortKey(Customer.name, str),
        SortKey(Customer.created_at, as_datetime),
        SortKey(Customer.updated_at, as_datetime),
        SortKey(CustomerScore.grade, str),
        SortKey(CustomerScore.stage, str),
        SortKey(CustomerScore.clv, Decimal),
        SortKey(CustomerScore.churn_risk, float),
        SortKey(CustomerScore.p_alive, float),
        SortKey(CustomerScore.scored_at, as_datetime),
    )
}
MIN_PHONE_DIGITS = 4
BIGRAM = 2


@dataclass(frozen=True)
class CustomerFilters:
    """What a customer list may be narrowed by; every field left empty does not filter."""

    grade: list[str] = field(default_factory=list)
    stage: list[str] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    owner: str | None = None
    city: str | None = None
    has_warning: bool | None = None
    churn_min: float | None = None
    churn_max: float | None = None
    clv_min: Decimal | None = None
    clv_max: Decimal | None = None
    q: str | None = None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_contains(text: str, dialect: str) -> ColumnElement[bool]:
    contains = Customer.name.ilike(f"%{_like_escaped(text)}%", escape="\\")
    if dialect == "postgresql" and len(text) == BIGRAM:
        # Two characters make no trigram: the names' two-character pieces serve them
        # (`patron.customers.bigrams`); the ILIKE stays as the plain statement of the match.
        pieces = func.patron_bigrams(Customer.name)
        wanted = cast(postgresql.array([text.lower()]), postgresql.ARRAY(Text))
        return and_(pieces.op("@>")(wanted), contains)
    return contains


def text_search(q: str, *, phones: bool, dialect: str = "sqlite") -> ColumnElement[bool]:
    """Name contains `q`; pinyin initials start with it (`zs` finds 张三); with `phones`, the
    phone contains its digits."""
    text = q.strip()
    found = [_name_contains(text, dialect)]
    folded = text.lower()
    if folded.isascii() and folded.isalnum():
        found.append(Customer.name_initials.like(f"{folded}%"))
    digits = "".join(ch for ch in text if ch.isdigit())
    if phones and len(digits) >= MIN_PHONE_DIGITS and len(digits) >= len(text.replace(" ", "")) - 1:
        found.append(Customer.phone.like(f"%{digits}%"))
    return or_(*found)


def _owner(owner: str, actor: Actor) -> ColumnElement[bool]:
    if owner == "pool":
        return Customer.owner_id.is_(None)
    if owner == "me":
        return Customer.owner_id == actor.user_id
    if not owner.isdigit():
        raise InvalidInput(f"owner '{owner}' is not a user id, 'me' or 'pool'")
    return Customer.owner_id == int(owner)


def _warned(session: Session) -> ColumnElement[bool]:
    run_id = latest_run_id(session.connection())
    if run_id is None:
        return false()
    return exists().where(
        ScoreSnapshot.run_id == run_id,
        ScoreSnapshot.customer_id == Customer.id,
        ScoreSnapshot.warnings != "",
    )


def _score(name: str, joined: bool) -> Any:
    """A score column: the joined `customer_scores` row's, or (no join) `Customer`'s own
    attribute, a subquery that reads it by primary key."""
    return getattr(CustomerScore if joined else Customer, name)


def _ranges(filters: CustomerFilters, joined: bool) -> list[ColumnElement[bool]]:
    bounds: list[tuple[Any, Any, Any]] = [
        (_score("churn_risk", joined), filters.churn_min, filters.churn_max),
        (_score("clv", joined), filters.clv_min, filters.clv_max),
    ]
    conditions: list[ColumnElement[bool]] = []
    for column, low, high in bounds:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    return conditions


async def customer_filters(  # async: it only reads the query, so no worker thread
    grade: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    stage: Annotated[list[str], Query()] = [],  # noqa: B006
    segment: Annotated[list[str], Query(description="RFM segment")] = [],  # noqa: B006
    tags: Annotated[list[str], Query(description="Customers with every one of these")] = [],  # noqa: B006
    owner: Annotated[str | None, Query(description="A user id, 'me' or 'pool'")] = None,
    city: str | None = None,
    has_warning: bool | None = None,
    churn_min: Annotated[float | None, Query(ge=0, le=1)] = None,
    churn_max: Annotated[float | None, Query(ge=0, le=1)] = None,
    clv_min: Decimal | None = None,
    clv_max: Decimal | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Name, phone or pinyin initials (zs)")
    ] = None,
) -> CustomerFilters:
    """The customer filters of a request's query string (the list and the export share them)."""
    return CustomerFilters(
        grade=grade, stage=stage, segment=segment, tags=tags, owner=owner, city=city,
        has_warning=has_warning, churn_min=churn_min, churn_max=churn_max,
        clv_min=clv_min, clv_max=clv_max, q=q,
    )  # fmt: skip


FiltersDep = Annotated[CustomerFilters, Depends(customer_filters)]


def customer_query(session: Session, actor: Actor, filters: CustomerFilters) -> Select[Any]:
    """Live customers the actor may see, narrowed by the filters, joined to their scores
    (every customer has its score row), which load with them."""
    return (
        select(Customer)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .options(contains_eager(Customer.score))
        .where(
            visible_customers(actor),
            Customer.deleted_at.is_(None),
            Customer.merged_into_id.is_(None),
            *filter_conditions(session, actor, filters, joined=True),
        )
    )


def filter_conditions(
    session: Session, actor: Actor, filters: CustomerFilters, *, joined: bool = False
) -> list[ColumnElement[bool]]:
    """The filters' own conditions on `Customer` (visibility is the caller's to add); with
    `joined`, those on scores read the `CustomerScore` the query joins."""
    where = _ranges(filters, joined)
    for column, values in (
        (_score("grade", joined), filters.grade),
        (_score("stage", joined), filters.stage),
        (_score("rfm_segment", joined), filters.segment),
    ):
        if values:
            where.append(column.in_(values))
    for tag in dict.fromkeys(filters.tags):
        where.append(exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag == tag))
    if filters.owner:
        where.append(_owner(filters.owner.strip(), actor))
    if filters.city:
        where.append(Customer.city == filters.city.strip())
    if filters.has_warning is not None:
        warned = _warned(session)
        where.append(warned if filters.has_warning else ~warned)
    if filters.q and filters.q.strip():
        # Analysts never see phones, so they may not probe for one either.
        dialect = session.get_bind().dialect.name
        where.append(text_search(filters.q, phones=actor.role is not Role.analyst, dialect=dialect))
    return where


def tags_by_customer(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """The tags of each listed customer, in one query."""
    result: dict[int, list[str]] = {customer_id: [] for customer_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag)
        .where(CustomerTag.customer_id.in_(ids))
        .order_by(CustomerTag.tag)
    )
    for customer_id, tag in rows:
        result[customer_id].append(tag)
    return result
