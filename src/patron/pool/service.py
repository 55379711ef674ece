"""The public pool (公海): releases, claims, transfers, locks, and the one way an owner changes.

Every ownership move is a conditional `UPDATE customers SET owner_id = ... WHERE id = :c AND
owner_id IS NULL` (or `= :previous owner`) whose row count says whether it won: of two people
claiming one customer at the same moment exactly one matches, the other is refused. Recycling
to the pool happens in the scoring run (patron.rules.actions). Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session

from patron.audit.service import record
from patron.auth.models import User
from patron.customers.models import Customer
from patron.db import now
from patron.errors import Conflict, InvalidInput, NotFound
from patron.orders.models import Order, OrderStatus
from patron.pool.models import OwnershipChange
from patron.rules import versions
from patron.rules.rulebook import Pool


class ClaimRefused(Conflict):
    """A claim the pool's rules or a faster colleague refused; the message names which."""

    code = "claim_refused"


def pool_rules(session: Session) -> Pool:
    """The pool section of the active rulebook."""
    return versions.active(session.connection())[1].pool


def live_customer(session: Session, customer_id: int) -> Customer:
    """The customer as stored now (re-read, not from the session's cache)."""
    customer = session.get(Customer, customer_id, populate_existing=True)
    if customer is None or customer.deleted_at is not None:
        raise NotFound(f"no customer with id {customer_id}")
    if customer.merged_into_id is not None:
        raise Conflict(f"customer {customer_id} was merged into {customer.merged_into_id}")
    return customer


def active_user(session: Session, user_id: int) -> User:
    """An active user who can own customers."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"there is no active user with id {user_id} to own the customer")
    return user


def assign(
    *,
    session: Session,
    customer: Customer,
    owner_id: int | None,
    by_user_id: int | None,
    reason: str,
    action: str,
    expected_owner_id: int | None,
    **detail: Any,
) -> bool:
    """Move the customer from `expected_owner_id` to `owner_id` (None: the pool), recorded as
    an ownership change and in the audit log. False when the owner was no longer the expected
    one (someone else moved it first): nothing is written then."""
    moment = now()
    owner_now = (
        Customer.owner_id.is_(None)
        if expected_owner_id is None
        else Customer.owner_id == expected_owner_id
    )
    moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Customer)
        .where(Customer.id == customer.id, owner_now, Customer.deleted_at.is_(None))
        .values(
            owner_id=owner_id,
            owned_since=moment if owner_id is not None else None,
            locked=Customer.locked if owner_id is not None else False,
            updated_at=moment,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    session.add(
        OwnershipChange(
            customer_id=customer.id, from_owner_id=expected_owner_id, to_owner_id=owner_id,
            reason=reason[:32], changed_at=moment, by_user_id=by_user_id,
        )
    )  # fmt: skip
    record(
        session=session, action=action, entity="customer", entity_id=customer.id,
        user_id=by_user_id, from_owner_id=expected_owner_id, to_owner_id=owner_id,
        reason=reason, **detail,
    )  # fmt: skip
    session.flush()
    session.refresh(customer)
    return True


def _lock_claimant(session: Session, user_id: int) -> None:
    # A no-op write on the claimant's row serialises one person's claims (the row lock on
    # PostgreSQL, the write lock on SQLite), so two at once cannot both pass the limits.
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )


def _wait_for_former_owner(session: Session, rules: Pool, customer_id: int, user_id: int) -> None:
    if rules.former_owner_wait_days == 0:
        return
    lost = session.scalar(
        select(func.max(OwnershipChange.changed_at)).where(
            OwnershipChange.customer_id == customer_id, OwnershipChange.from_owner_id == user_id
        )
    )
    until = lost + timedelta(days=rules.former_owner_wait_days) if lost else None
    if until is not None and now() < until:
        raise ClaimRefused(
            f"you owned this customer until {lost:%Y-%m-%d}; a former owner waits "
            f"{rules.former_owner_wait_days} days (former_owner_wait_days) to claim it again, "
            f"until {until:%Y-%m-%d %H:%M}"
        )


def _claims_today(session: Session, rules: Pool, user_id: int) -> None:
    if rules.max_claims_per_day is None:
        return
    midnight = now().replace(hour=0, minute=0, second=0)
    claims = session.scalar(
        select(func.count()).where(
            OwnershipChange.to_owner_id == user_id,
            OwnershipChange.reason == "claim",
            OwnershipChange.changed_at >= midnight,
        )
    )
    if (claims or 0) >= rules.max_claims_per_day:
        raise ClaimRefused(
            f"you have claimed {claims} customers today, the most allowed "
            f"(max_claims_per_day: {rules.max_claims_per_day}); try again tomorrow"
        )


def owned_count(session: Session, user_id: int, *, count_won: bool) -> int:
    """Live customers the user owns; without `count_won`, those with a paid order are left out."""
    query = select(func.count()).where(
        Customer.owner_id == user_id,
        Customer.deleted_at.is_(None),
        Customer.merged_into_id.is_(None),
    )
    if not count_won:
        won = exists().where(Order.customer_id == Customer.id, Order.status == OrderStatus.paid)
        query = query.where(~won)
    return session.scalar(query) or 0


def _ownership_limit(session: Session, rules: Pool, user_id: int) -> None:
    if rules.max_customers_per_owner is None:
        return
    owned = owned_count(session, user_id, count_won=rules.count_won_customers)
    if owned >= rules.max_customers_per_owner:
        counted = "" if rules.count_won_customers else " not yet buying"
        raise ClaimRefused(
            f"you already own {owned} customers{counted}, the most allowed "
            f"(max_customers_per_owner: {rules.max_customers_per_owner}); release some first"
        )


def claim(*, session: Session, customer_id: int, user_id: int) -> Customer:
    """Take a pool customer, within the rulebook's limits; refused with the limit named."""
    active_user(session, user_id)
    _lock_claimant(session, user_id)
    customer = live_customer(session, customer_id)
    if customer.owner_id == user_id:
        raise ClaimRefused("this customer is already yours")
    if customer.owner_id is not None:
        raise ClaimRefused("this customer is not in the public pool: someone owns it")
    rules = pool_rules(session)
    _wait_for_former_owner(session, rules, customer_id, user_id)
    _claims_today(session, rules, user_id)
    _ownership_limit(session, rules, user_id)
    won = assign(
        session=session, customer=customer, owner_id=user_id, by_user_id=user_id,
        reason="claim", action="pool.claim", expected_owner_id=None,
    )  # fmt: skip
    if not won:
        raise ClaimRefused("someone else claimed this customer a moment ago")
    return customer


def release(*, session: Session, customer_id: int, by_user_id: int, note: str = "") -> Customer:
    """Give an owned customer back to the pool (its lock, if any, goes with the ownership)."""
    customer = live_customer(session, customer_id)
    if customer.owner_id is None:
        raise Conflict("this customer is already in the public pool")
    moved = assign(
        session=session, customer=customer, owner_id=None, by_user_id=by_user_id,
        reason="release", action="pool.release", expected_owner_id=customer.owner_id,
        was_locked=customer.locked, note=note,
    )  # fmt: skip
    if not moved:
        raise Conflict("the customer's owner changed a moment ago: look again")
    return customer


def transfer(
    *, session: Session, customer_id: int, to_owner_id: int, by_user_id: int, note: str = ""
) -> Customer:
    """Move an owned customer straight to another owner (a manager's or admin's decision)."""
    customer = live_customer(session, customer_id)
    active_user(session, to_owner_id)
    if customer.owner_id is None:
        raise Conflict("this customer is in the public pool: claim or assign it instead")
    if customer.owner_id == to_owner_id:
        raise Conflict("this customer already belongs to that user")
    moved = assign(
        session=session, customer=customer, owner_id=to_owner_id, by_user_id=by_user_id,
        reason="transfer", action="pool.transfer", expected_owner_id=customer.owner_id,
        note=note,
    )  # fmt: skip
    if not moved:
        raise Conflict("the customer's owner changed a moment ago: look again")
    return customer


def set_locked(*, session: Session, customer_id: int, locked: bool, by_user_id: int) -> Customer:
    """Lock (exempt from recycling) or unlock an owned customer; idempotent, audited."""
    customer = live_customer(session, customer_id)
    if locked and customer.owner_id is None:
        raise Conflict("a customer in the public pool cannot be locked: assign it first")
    if customer.locked != locked:
        customer.locked = locked
        record(
            session=session, action="pool.lock" if locked else "pool.unlock", entity="customer",
            entity_id=customer.id, user_id=by_user_id, owner_id=customer.owner_id,
        )  # fmt: skip
        session.flush()
    return customer


@dataclass(frozen=True)
class Release:
    """How a pool customer last came to the pool."""

    released_at: datetime
    from_owner_id: int | None
    by_user_id: int | None
    reason: str


def last_releases(session: Session, customer_ids: list[int]) -> dict[int, Release]:
    """Each customer's latest move into the pool (recycled ones have no `by_user_id`)."""
    if not customer_ids:
        return {}
    latest = (
        select(func.max(OwnershipChange.id))
        .where(OwnershipChange.customer_id.in_(customer_ids), OwnershipChange.to_owner_id.is_(None))
        .group_by(OwnershipChange.customer_id)
    )
    rows = session.scalars(select(OwnershipChange).where(OwnershipChange.id.in_(latest)))
    return {
        row.customer_id: Release(row.changed_at, row.from_owner_id, row.by_user_id, row.reason)
        for row in rows
    }


def released_since(moment: datetime) -> Any:
    """Pool customers whose latest release is at or after `moment`."""
    return Customer.id.in_(
        select(OwnershipChange.customer_id).where(
            OwnershipChange.to_owner_id.is_(None), OwnershipChange.changed_at >= moment
        )
    )
