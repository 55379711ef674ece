"""/api/v1/pool: the public pool (公海) list, and claiming, releasing, transferring, locking.

Everyone who reads customers sees the pool. Claiming and releasing need write access
(an agent releases only their own customers); transfers and locks are a manager's or an
admin's, within what they may see and, for managers, to owners in their team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from patron.api.access import (
    Actor,
    Permission,
    may_own,
    require_writable,
    visible_customer,
    visible_customers,
)
from patron.api.deps import SessionDep, SettingsDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, as_datetime, paginate
from patron.auth.models import User
from patron.config import Settings
from patron.customers import repository
from patron.customers.models import Customer, CustomerScore
from patron.errors import Forbidden
from patron.pool import service
from patron.pool.schemas import OwnershipOut, PoolCustomerOut, ReleaseIn, TransferIn

router = APIRouter(prefix="/pool", tags=["pool"], responses=responses(401, 403, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
Assigner = Annotated[Actor, requires(Permission.customers_assign)]
POOL_SORT = {
    key.name: key
    for key in (
        SortKey(Customer.id, int),
        SortKey(Customer.name, str),
        SortKey(Customer.city, str),
        SortKey(CustomerScore.grade, str),
        SortKey(Customer.created_at, as_datetime),
    )
}
Moved = responses(404, 409)


def _ownership(session: Session, customer: Customer) -> OwnershipOut:
    names = repository.owner_names(session, [customer.owner_id] if customer.owner_id else [])
    return OwnershipOut(
        customer_id=customer.id,
        owner_id=customer.owner_id,
        owner_name=names.get(customer.owner_id) if customer.owner_id else None,
        owned_since=customer.owned_since,
        locked=customer.locked,
    )


def _pool_items(session: Session, customers: list[Customer]) -> list[PoolCustomerOut]:
    releases = service.last_releases(session, [c.id for c in customers])
    people = [r.from_owner_id for r in releases.values() if r.from_owner_id]
    names = repository.owner_names(
        session, people + [r.by_user_id for r in releases.values() if r.by_user_id]
    )
    items = []
    for customer in customers:
        release = releases.get(customer.id)
        items.append(
            PoolCustomerOut(
                id=customer.id, external_id=customer.external_id, name=customer.name,
                city=customer.city, grade=customer.grade, stage=customer.stage,
                created_at=customer.created_at,
                released_at=release.released_at if release else None,
                released_from_id=release.from_owner_id if release else None,
                released_from_name=names.get(release.from_owner_id or 0) if release else None,
                released_by_id=release.by_user_id if release else None,
                released_by_name=names.get(release.by_user_id or 0) if release else None,
                release_reason=release.reason if release else None,
            )
        )  # fmt: skip
    return items


def _local(moment: datetime, settings: Settings) -> datetime:
    # Stored times are naive local wall-clock times; a moment with a zone is converted first.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)


@router.get("", summary="The public pool")
def pool(
    session: SessionDep,
    settings: SettingsDep,
    actor: Reader,
    city: str | None = None,
    grade: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    released_since: Annotated[
        datetime | None, Query(description="Last released at or after (date or datetime)")
    ] = None,
    sort: Annotated[str, Query(description=f"One of {', '.join(POOL_SORT)}; '-' descends")] = "id",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[PoolCustomerOut]:
    """Customers nobody owns, with when, from whom and by whom each was released."""
    query = (
        select(Customer)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .options(contains_eager(Customer.score))
        .where(
            Customer.owner_id.is_(None),
            Customer.deleted_at.is_(None),
            Customer.merged_into_id.is_(None),
            visible_customers(actor),
        )
    )
    if city:
        query = query.where(Customer.city == city)
    if grade:
        query = query.where(CustomerScore.grade.in_(grade))
    if released_since is not None:
        query = query.where(service.released_since(_local(released_since, settings)))
    rows, next_cursor = paginate(
        session, query, sort=sort, keys=POOL_SORT, id_column=Customer.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return Page(items=_pool_items(session, list(rows)), next_cursor=next_cursor, limit=limit)


@router.post("/{customer_id}/claim", summary="Claim a pool customer", responses=Moved)
def claim(session: SessionDep, actor: Writer, customer_id: int) -> OwnershipOut:
    """Take the customer; 409 `claim_refused` names the limit or says who was faster."""
    visible_customer(session, actor, customer_id)
    customer = service.claim(session=session, customer_id=customer_id, user_id=actor.user_id)
    return _ownership(session, customer)


@router.post("/{customer_id}/release", summary="Release to the pool", responses=Moved)
def release(
    session: SessionDep, actor: Writer, customer_id: int, data: ReleaseIn | None = None
) -> OwnershipOut:
    """Give the customer back to the pool (an agent: only their own)."""
    require_writable(session, actor, visible_customer(session, actor, customer_id))
    customer = service.release(
        session=session, customer_id=customer_id, by_user_id=actor.user_id,
        note=data.note if data else "",
    )  # fmt: skip
    return _ownership(session, customer)


@router.post("/{customer_id}/transfer", summary="Transfer to another owner", responses=Moved)
def transfer(
    session: SessionDep, actor: Assigner, customer_id: int, data: TransferIn
) -> OwnershipOut:
    """Move an owned customer to another owner (a manager: within the team)."""
    visible_customer(session, actor, customer_id)
    if not may_own(actor, session.get(User, data.to_owner_id)):
        raise Forbidden("you may not give a customer to that owner (outside your team)")
    customer = service.transfer(
        session=session, customer_id=customer_id, to_owner_id=data.to_owner_id,
        by_user_id=actor.user_id, note=data.note,
    )  # fmt: skip
    return _ownership(session, customer)


def _set_locked(session: Session, actor: Actor, customer_id: int, locked: bool) -> OwnershipOut:
    visible_customer(session, actor, customer_id)
    customer = service.set_locked(
        session=session, customer_id=customer_id, locked=locked, by_user_id=actor.user_id
    )
    return _ownership(session, customer)


@router.post("/{customer_id}/lock", summary="Lock: never recycled", responses=Moved)
def lock(session: SessionDep, actor: Assigner, customer_id: int) -> OwnershipOut:
    """Exempt an owned customer from recycling to the pool."""
    return _set_locked(session, actor, customer_id, True)


@router.post("/{customer_id}/unlock", summary="Unlock", responses=Moved)
def unlock(session: SessionDep, actor: Assigner, customer_id: int) -> OwnershipOut:
    """Let the recycling rules apply to the customer again."""
    return _set_locked(session, actor, customer_id, False)
