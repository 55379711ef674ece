"""/api/v1/loyalty: accounts, the ledger, earning, redeeming, adjusting, and the tiers.

Reading follows the customer record rules; earning and redeeming need write access to the
customer (an agent: their own); adjusting is for managers and admins. After a points change
commits, the worker re-evaluates the customer's warnings (`patron.rules.refresh`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission, require_writable, visible_customer
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, as_datetime, paginate
from patron.auth.models import Role
from patron.errors import Forbidden, NotFound
from patron.loyalty import service
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind, TierChange
from patron.loyalty.schemas import (
    AccountOut,
    AdjustIn,
    EarnIn,
    EarnOut,
    EntryOut,
    RedeemIn,
    TierChangeOut,
    TierOut,
)
from patron.orders.models import Order
from patron.rules.refresh import request_refresh
from patron.rules.rulebook import Loyalty, Tier

router = APIRouter(prefix="/loyalty", tags=["loyalty"], responses=responses(401, 403, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
LEDGER_SORT = {
    key.name: key
    for key in (SortKey(PointsEntry.id, int), SortKey(PointsEntry.occurred_at, as_datetime))
}


def _tier_out(rules: Loyalty, tier: Tier | None) -> TierOut | None:
    if tier is None:
        return None
    threshold = next(t for t, step in service.ladder(rules) if step.id == tier.id)
    return TierOut(id=tier.id, label=tier.label, threshold=threshold, benefits=tier.benefits)


def _writable(session: Session, actor: Actor, customer_id: int) -> None:
    require_writable(session, actor, visible_customer(session, actor, customer_id))


@router.get("/tiers", summary="The member tiers")
def tiers(session: SessionDep, actor: Reader) -> list[TierOut]:
    """The tiers of the active rulebook, lowest first, with thresholds and benefits."""
    rules = service.loyalty_rules(session)
    return [out for _, tier in service.ladder(rules) if (out := _tier_out(rules, tier))]


@router.get(
    "/accounts/{customer_id}", summary="A customer's points and tier", responses=responses(404)
)
def account(session: SessionDep, actor: Reader, customer_id: int) -> AccountOut:
    """Balance, tier and its benefits, the 12-month value that decides it, the tier history."""
    visible_customer(session, actor, customer_id)
    rules = service.loyalty_rules(session)
    stored = session.get(LoyaltyAccount, customer_id, populate_existing=True)
    value = service.qualifying_value(session=session, customer_id=customer_id)
    current = next((t for _, t in service.ladder(rules) if stored and t.id == stored.tier), None)
    rank = [t.id for _, t in service.ladder(rules)].index(current.id) if current else -1
    above = service.ladder(rules)[rank + 1 :]
    history = session.scalars(
        select(TierChange).where(TierChange.customer_id == customer_id).order_by(TierChange.id)
    )
    return AccountOut(
        customer_id=customer_id,
        balance=stored.balance if stored else 0,
        tier=_tier_out(rules, current),
        tier_since=stored.tier_since if stored else None,
        tier_basis=rules.tier_basis,
        qualifying_value=value,
        next_tier=_tier_out(rules, above[0][1]) if above else None,
        to_next_tier=max(above[0][0] - value, 0.0) if above else None,
        tier_history=[TierChangeOut.model_validate(change) for change in history],
    )


@router.get(
    "/accounts/{customer_id}/ledger", summary="A customer's points ledger", responses=responses(404)
)
def ledger(
    session: SessionDep,
    actor: Reader,
    customer_id: int,
    kind: PointsKind | None = None,
    sort: Annotated[str, Query(description="id or occurred_at; '-' descends")] = "-id",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[EntryOut]:
    """The ledger entries, newest first by default, a page at a time."""
    visible_customer(session, actor, customer_id)
    query = select(PointsEntry).where(PointsEntry.customer_id == customer_id)
    if kind is not None:
        query = query.where(PointsEntry.kind == kind)
    rows, next_cursor = paginate(
        session, query, sort=sort, keys=LEDGER_SORT, id_column=PointsEntry.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    items = [EntryOut.model_validate(row) for row in rows]
    return Page(items=items, next_cursor=next_cursor, limit=limit)


@router.post("/accounts/{customer_id}/earn", summary="Earn points", responses=responses(404, 409))
def earn(session: SessionDep, actor: Writer, customer_id: int, data: EarnIn) -> EarnOut:
    """Points for one of the customer's paid orders (once per order) or a given number."""
    _writable(session, actor, customer_id)
    if data.order_id is not None:
        order = session.get(Order, data.order_id)
        if order is None or order.customer_id != customer_id:
            raise NotFound(f"customer {customer_id} has no order with id {data.order_id}")
        entry = service.earn_for_order(session=session, order_id=order.id, by_user_id=actor.user_id)
    else:
        assert data.points is not None
        entry = service.earn(
            session=session, customer_id=customer_id, points=data.points, reason=data.reason,
            idempotency_key=data.idempotency_key, by_user_id=actor.user_id,
        )  # fmt: skip
        service.refresh_tier(session=session, customer_id=customer_id)
    request_refresh(session, customer_id)
    return EarnOut(
        entry=EntryOut.model_validate(entry) if entry else None,
        balance=service.balance_of(session, customer_id),
    )


@router.post(
    "/accounts/{customer_id}/redeem", summary="Redeem points", responses=responses(404, 409)
)
def redeem(session: SessionDep, actor: Writer, customer_id: int, data: RedeemIn) -> EntryOut:
    """Spend points; 409 `insufficient_points` when the balance does not cover them."""
    _writable(session, actor, customer_id)
    entry = service.redeem(
        session=session, customer_id=customer_id, points=data.points, reason=data.reason,
        idempotency_key=data.idempotency_key, by_user_id=actor.user_id,
    )  # fmt: skip
    request_refresh(session, customer_id)
    return EntryOut.model_validate(entry)


@router.post(
    "/accounts/{customer_id}/adjust",
    summary="Adjust points (managers)",
    responses=responses(404, 409),
)
def adjust(session: SessionDep, actor: Writer, customer_id: int, data: AdjustIn) -> EntryOut:
    """A correction with a reason, by a manager or an admin; audited."""
    if actor.role not in (Role.admin, Role.manager):
        raise Forbidden(f"a {actor.role.value} may not adjust points: ask a manager")
    _writable(session, actor, customer_id)
    entry = service.adjust(
        session=session, customer_id=customer_id, points=data.points, reason=data.reason,
        by_user_id=actor.user_id,
    )  # fmt: skip
    request_refresh(session, customer_id)
    return EntryOut.model_validate(entry)
