"""The public pool (公海): customers nobody owns, when and from whom they came, and claiming
them within the rulebook's limits; a refused claim says which limit stopped it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from patron.api.access import Actor, Permission, visible_customer, visible_customers
from patron.api.deps import SessionDep, requires
from patron.api.pagination import paginate
from patron.customers.models import Customer, CustomerScore
from patron.customers.repository import owner_names
from patron.db import now
from patron.errors import PatronError
from patron.pool import service
from patron.pool.api import POOL_SORT
from patron.web import work_queries as work
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
PAGE_SIZE = 25
GRADES = ("A", "B", "C", "D")


def _releases(
    session: Session, customers: list[Customer]
) -> tuple[dict[int, service.Release], dict[int, str]]:
    releases = service.last_releases(session, [c.id for c in customers])
    people = [r.from_owner_id for r in releases.values() if r.from_owner_id]
    return releases, owner_names(session, people)


@router.get("/pool")
def public_pool(
    request: Request,
    session: SessionDep,
    actor: Reader,
    city: Annotated[str, Query(max_length=64)] = "",
    grade: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Pool customers the user may see, in id order, with when they came and claim buttons."""
    query = (
        select(Customer)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .options(contains_eager(Customer.score))
        .where(
            Customer.owner_id.is_(None), Customer.deleted_at.is_(None),
            Customer.merged_into_id.is_(None), visible_customers(actor),
        )
    )  # fmt: skip
    if city:
        query = query.where(Customer.city == city)
    if grade:
        query = query.where(CustomerScore.grade == grade)
    rows, next_cursor = paginate(
        session, query, sort="id", keys=POOL_SORT, id_column=Customer.id, cursor=cursor,
        limit=PAGE_SIZE,
    )  # fmt: skip
    customers = list(rows)
    releases, names = _releases(session, customers)
    chosen = {k: v for k, v in (("city", city), ("grade", grade)) if v}
    writable = actor.can(Permission.customers_write)
    return render(
        request, "pool.html", actor, customers=customers, releases=releases, names=names,
        chosen=chosen, grades=GRADES, writable=writable,
        next_url="?" + urlencode({**chosen, "cursor": next_cursor}) if next_cursor else None,
        first_url="?" + urlencode(chosen),
        standing=work.standing(session, actor.user_id, now()) if writable else None,
    )  # fmt: skip


@router.post("/pool/{customer_id}/claim")
def claim_customer(
    request: Request, session: SessionDep, actor: Writer, customer_id: int
) -> Response:
    """Take a pool customer; the row says it is now the user's, or plainly why not."""
    customer = visible_customer(session, actor, customer_id)
    try:
        service.claim(session=session, customer_id=customer_id, user_id=actor.user_id)
    except PatronError as exc:
        # Nothing of a refused claim may stay (the claimant's row was touched to lock it).
        session.rollback()
        customer = visible_customer(session, actor, customer_id)
        releases, names = _releases(session, [customer])
        return render(
            request, "fragments/pool_row.html", actor, customer=customer, releases=releases,
            names=names, message=exc.message, writable=True,
        )  # fmt: skip
    return render(
        request, "fragments/pool_row.html", actor, customer=customer, claimed=True,
        releases={}, names={}, writable=True, standing=work.standing(session, actor.user_id, now()),
    )  # fmt: skip
