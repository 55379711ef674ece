"""Bulk actions on the customer list: assign, tag, untag, release to the pool.

Each customer is checked on its own against the user's rights, through the same services as
the API so the audit log records the same entries; a refused customer never stops the others.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission, may_own, require_writable, visible_customer
from patron.auth.models import User
from patron.customers import repository, service
from patron.customers.schemas import CustomerPatch, EntryPoint
from patron.errors import Conflict, Forbidden, InvalidInput, PatronError
from patron.pool import service as pool

MAX_SELECTED = 500
TAG_LENGTH = 64


class BulkAction(StrEnum):
    """What a bulk form may ask for."""

    assign = "assign"
    tag = "tag"
    untag = "untag"
    release = "release"


@dataclass
class BulkResult:
    """How many customers were changed and why the others were refused."""

    done: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())


def _new_owner(session: Session, actor: Actor, owner_id: int | None) -> User:
    """The owner to assign to; refused as a whole when the user may not give customers to them."""
    actor.require(Permission.customers_assign)
    owner = session.get(User, owner_id) if owner_id else None
    if owner is None or not owner.active:
        raise InvalidInput("choose an active user to assign the customers to")
    if not may_own(actor, owner):
        raise Forbidden("you may not give customers to that user (outside your team)")
    return owner


def _assign(session: Session, actor: Actor, customer_id: int, owner: User, reason: str) -> None:
    customer = visible_customer(session, actor, customer_id, for_update=True)
    if customer.owner_id == owner.id:
        return
    moved = pool.assign(
        session=session, customer=customer, owner_id=owner.id, by_user_id=actor.user_id,
        reason=reason or "bulk", action="customer.owner", expected_owner_id=customer.owner_id,
    )  # fmt: skip
    if not moved:
        raise Conflict("the customer's owner changed a moment ago")


def _retag(session: Session, actor: Actor, customer_id: int, tag: str, *, add: bool) -> None:
    require_writable(session, actor, visible_customer(session, actor, customer_id))
    tags = repository.tags_of(session, customer_id)
    wanted = tags | {tag} if add else tags - {tag}
    if wanted != tags:
        service.update(
            session=session, customer_id=customer_id, changes=CustomerPatch(tags=sorted(wanted)),
            acting_user_id=actor.user_id, entry_point=EntryPoint.update,
        )  # fmt: skip


def _release(session: Session, actor: Actor, customer_id: int, reason: str) -> None:
    require_writable(session, actor, visible_customer(session, actor, customer_id))
    pool.release(session=session, customer_id=customer_id, by_user_id=actor.user_id, note=reason)


def run_bulk(
    *, session: Session, actor: Actor, action: BulkAction, customer_ids: list[int],
    owner_id: int | None = None, tag: str = "", reason: str = "",
) -> BulkResult:  # fmt: skip
    """Apply `action` to each customer in its own savepoint; refusals are counted by reason."""
    if not customer_ids:
        raise InvalidInput("select at least one customer")
    if len(customer_ids) > MAX_SELECTED:
        raise InvalidInput(f"select at most {MAX_SELECTED} customers at a time")
    tag = tag.strip()
    if action in (BulkAction.tag, BulkAction.untag) and not 0 < len(tag) <= TAG_LENGTH:
        raise InvalidInput(f"give a tag of 1 to {TAG_LENGTH} characters")
    owner = _new_owner(session, actor, owner_id) if action is BulkAction.assign else None
    result = BulkResult()
    for customer_id in dict.fromkeys(customer_ids):
        try:
            with session.begin_nested():
                if owner is not None:
                    _assign(session, actor, customer_id, owner, reason)
                elif action is BulkAction.release:
                    _release(session, actor, customer_id, reason)
                else:
                    _retag(session, actor, customer_id, tag, add=action is BulkAction.tag)
        except PatronError as exc:
            result.refused[exc.message] += 1
        else:
            result.done += 1
    return result
