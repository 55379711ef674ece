"""Small builders for test data: each adds one row with sensible defaults and flushes.

Pass only what a test cares about; everything else gets a unique or plain default.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.auth.models import Role, User
from patron.customers import normalise
from patron.customers.models import Contact, Customer, CustomerKind, CustomerTag
from patron.engagement.models import Interaction, InteractionKind, Task
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind, TierChange
from patron.orders.models import Order
from patron.pool.models import OwnershipChange
from patron.rules.models import ActionTaken, Alert, StateChange
from patron.service.models import SurveyKind, SurveyResponse, Ticket, TicketKind

_serial = itertools.count(1)
WHEN = datetime(2024, 6, 1, 10, 0)


def _next(prefix: str) -> str:
    return f"{prefix}{next(_serial):06d}"


def _added(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def user(
    session: Session, username: str | None = None, *, role: Role = Role.agent, **fields: Any
) -> User:
    """A user; the display name defaults to the user name."""
    name = username or _next("user")
    return _added(
        session,
        User(username=name, display_name=fields.pop("display_name", name), role=role, **fields),
    )


def customer(session: Session, name: str = "张三", **fields: Any) -> Customer:
    """A live customer; phone and email are stored normalised, as the service stores them."""
    if fields.get("phone"):
        fields["phone"] = normalise.phone(fields["phone"])
    if fields.get("email"):
        fields["email"] = normalise.email(fields["email"])
    fields.setdefault("external_id", _next("C"))
    fields.setdefault("name_initials", normalise.initials(name))
    return _added(session, Customer(name=normalise.name(name), **fields))


def company(session: Session, name: str, **fields: Any) -> Customer:
    """A company customer."""
    return customer(session, name, kind=CustomerKind.company, **fields)


def order(
    session: Session,
    owner: Customer,
    amount: str | Decimal = "100.00",
    ordered_at: datetime = WHEN,
    **fields: Any,
) -> Order:
    """A paid order of `owner`."""
    fields.setdefault("external_id", _next("O"))
    return _added(
        session,
        Order(customer_id=owner.id, amount=Decimal(amount), ordered_at=ordered_at, **fields),
    )


def interaction(session: Session, about: Customer, **fields: Any) -> Interaction:
    """An outbound call."""
    fields.setdefault("kind", InteractionKind.call)
    fields.setdefault("occurred_at", WHEN)
    return _added(session, Interaction(customer_id=about.id, **fields))


def task(session: Session, about: Customer, title: str = "follow up", **fields: Any) -> Task:
    """An open follow-up task."""
    return _added(session, Task(customer_id=about.id, title=title, **fields))


def ticket(session: Session, about: Customer, subject: str = "question", **fields: Any) -> Ticket:
    """A new inquiry ticket."""
    fields.setdefault("kind", TicketKind.inquiry)
    fields.setdefault("opened_at", WHEN)
    return _added(session, Ticket(customer_id=about.id, subject=subject, **fields))


def survey_response(
    session: Session, about: Customer, score: int = 9, **fields: Any
) -> SurveyResponse:
    """An NPS answer."""
    fields.setdefault("kind", SurveyKind.nps)
    fields.setdefault("answered_at", WHEN)
    return _added(session, SurveyResponse(customer_id=about.id, score=score, **fields))


def points(session: Session, about: Customer, amount: int, **fields: Any) -> PointsEntry:
    """Points earned: a ledger entry and the account balance that follows from it."""
    account = session.get(LoyaltyAccount, about.id)
    if account is None:
        account = _added(session, LoyaltyAccount(customer_id=about.id, balance=0))
    account.balance += amount
    fields.setdefault("kind", PointsKind.earn)
    return _added(
        session,
        PointsEntry(customer_id=about.id, points=amount, balance_after=account.balance, **fields),
    )


def tier_change(session: Session, about: Customer, to_tier: str = "gold") -> TierChange:
    """A move into a member tier."""
    return _added(session, TierChange(customer_id=about.id, to_tier=to_tier))


def tag(session: Session, about: Customer, name: str) -> CustomerTag:
    """A manual tag."""
    return _added(session, CustomerTag(customer_id=about.id, tag=name))


def contact(session: Session, at: Customer, name: str = "李四", **fields: Any) -> Contact:
    """A person at a company customer."""
    return _added(session, Contact(customer_id=at.id, name=name, **fields))


def state_change(session: Session, about: Customer, to_value: str = "A") -> StateChange:
    """A grade change."""
    return _added(
        session, StateChange(customer_id=about.id, kind="grade", to_value=to_value, changed_at=WHEN)
    )


def alert(session: Session, about: Customer, rule_id: str = "silent_90d") -> Alert:
    """A warning raised by a rule."""
    return _added(
        session, Alert(customer_id=about.id, rule_id=rule_id, idempotency_key=_next(f"{rule_id}:"))
    )


def action_taken(session: Session, about: Customer, rule_id: str = "win_back") -> ActionTaken:
    """An action a rule took."""
    return _added(
        session,
        ActionTaken(
            customer_id=about.id,
            rule_id=rule_id,
            action="task",
            idempotency_key=_next(f"{rule_id}:"),
        ),
    )


def ownership_change(
    session: Session, about: Customer, to_owner: User | None, reason: str = "assigned"
) -> OwnershipChange:
    """A recorded ownership move."""
    return _added(
        session,
        OwnershipChange(
            customer_id=about.id, reason=reason, to_owner_id=to_owner.id if to_owner else None
        ),
    )


def scoring_run(session: Session, as_of: datetime = WHEN, **fields: Any) -> ScoringRun:
    """A finished scoring run."""
    fields.setdefault("status", "done")
    return _added(session, ScoringRun(as_of=as_of, horizon_days=90, **fields))


def snapshot(
    session: Session, run: ScoringRun, about: Customer, grade: str = "B", **fields: Any
) -> ScoreSnapshot:
    """A customer's snapshot in a scoring run."""
    return _added(
        session, ScoreSnapshot(run_id=run.id, customer_id=about.id, grade=grade, **fields)
    )
