"""Service and complaint tickets: opening with SLA due times, the state machine, escalation.

Services take the caller's session and never commit: the request (or the worker's unit of
work) commits once at its boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, or_, select
from sqlalchemy.orm import Session

from patron.auth.models import Role, User
from patron.config import get_settings
from patron.customers.models import Customer
from patron.db import session_factory, unit_of_work
from patron.engagement.models import Task, TaskStatus
from patron.errors import Conflict, InvalidInput, NotFound
from patron.notify import webhooks
from patron.notify.outbox import enqueue_on
from patron.notify.templates import render
from patron.rules import versions
from patron.rules.actions import insert_ignoring_conflicts
from patron.rules.rulebook import Service
from patron.service import csat, sla
from patron.service.models import Priority, Ticket, TicketKind, TicketStatus

S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.new: frozenset({S.assigned, S.in_progress, S.closed}),
    S.assigned: frozenset({S.in_progress, S.waiting_for_customer, S.resolved, S.closed}),
    S.in_progress: frozenset({S.waiting_for_customer, S.resolved}),
    S.waiting_for_customer: frozenset({S.in_progress, S.resolved, S.closed}),
    S.resolved: frozenset({S.closed, S.reopened}),
    S.closed: frozenset({S.reopened}),
    S.reopened: frozenset({S.assigned, S.in_progress, S.resolved}),
}
# Moving to one of these counts as the first response to the customer.
RESPONDING = frozenset({S.in_progress, S.waiting_for_customer, S.resolved})
OPEN = tuple(s for s in TicketStatus if s not in (S.resolved, S.closed))
# Open tickets whose SLA clock runs: waiting for the customer stops it.
CLOCK_RUNNING = tuple(s for s in OPEN if s is not S.waiting_for_customer)
CHANNELS = ("phone", "email", "chat", "wechat", "social", "in_store")


def root_cause_tags(tags: Iterable[str]) -> list[str]:
    """Root-cause tags trimmed, without blanks or repeats, sorted."""
    return sorted({tag.strip() for tag in tags if tag.strip()})


class InvalidTransition(Conflict):
    """A ticket status change the state machine does not allow."""

    code = "invalid_transition"


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    """Refuse a move the state machine does not allow, naming the states it allows."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(
            f"a ticket cannot go from '{current.value}' to '{target.value}'; "
            f"from '{current.value}' it may go to: {names}",
            detail={
                "message": f"a ticket cannot go from '{current.value}' to '{target.value}'",
                "from": current.value,
                "to": target.value,
                "allowed": sorted(s.value for s in allowed),
            },
        )


def active_service(session: Session) -> Service:
    """The service (SLA) section of the active rulebook."""
    return versions.active(session.connection())[1].service


@dataclass(frozen=True)
class TicketDraft:
    customer_id: int
    kind: TicketKind
    subject: str
    channel: str = "phone"
    priority: Priority = Priority.normal
    description: str = ""
    category: str | None = None
    root_causes: tuple[str, ...] = ()
    assignee_id: int | None = None


def open_ticket(*, session: Session, draft: TicketDraft, moment: datetime) -> Ticket:
    """A new ticket with its response and resolution due times; `assigned` if it has an assignee."""
    if draft.channel not in CHANNELS:
        raise InvalidInput(f"'{draft.channel}' is not a channel: use one of {', '.join(CHANNELS)}")
    customer = session.get(Customer, draft.customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {draft.customer_id}")
    due = sla.due_times(
        active_service(session), priority=draft.priority.value, grade=customer.grade,
        opened_at=moment,
    )  # fmt: skip
    ticket = Ticket(
        customer_id=customer.id, kind=draft.kind, channel=draft.channel,
        priority=draft.priority, subject=draft.subject, description=draft.description,
        category=draft.category, root_causes=root_cause_tags(draft.root_causes),
        assignee_id=draft.assignee_id, opened_at=moment,
        status=S.assigned if draft.assignee_id else S.new,
        response_due_at=due.response_due_at, resolution_due_at=due.resolution_due_at,
    )  # fmt: skip
    session.add(ticket)
    session.flush()
    webhooks.ticket_changed(session, ticket)
    return ticket


def transition(
    *, session: Session, ticket: Ticket, to: TicketStatus, moment: datetime, by_user_id: int | None
) -> Ticket:
    """Move a ticket to `to`, recording response, resolution and closing times."""
    check_transition(ticket.status, to)
    if to is S.assigned and ticket.assignee_id is None:
        raise InvalidInput("assign the ticket to someone (assignee_id) before marking it assigned")
    if to in RESPONDING and ticket.first_response_at is None:
        ticket.first_response_at = moment
    if ticket.status is S.waiting_for_customer:
        _resume_clock(session, ticket, moment)
    if to is S.waiting_for_customer:
        ticket.paused_at = moment
    if to is S.resolved:
        ticket.resolved_at = moment
        ticket.resolutions += 1
        csat.invite_after_resolution(session=session, ticket=ticket, moment=moment, by=by_user_id)
    elif to is S.closed:
        ticket.closed_at = moment
    elif to is S.reopened:
        _reopen(session, ticket, moment)
    webhooks.ticket_changed(session, ticket, previous=ticket.status, to=to)
    ticket.status = to
    session.flush()
    return ticket


def _resume_clock(session: Session, ticket: Ticket, moment: datetime) -> None:
    """End a pause: the resolution due time moves on by the business hours spent waiting.

    The response due time stays: moving to waiting already counted as the first response."""
    if ticket.paused_at is None:
        return
    calendar = sla.Calendar.of(active_service(session))
    hours = sla.business_hours_between(ticket.paused_at, moment, calendar)
    if ticket.resolution_due_at is not None:
        ticket.resolution_due_at = sla.pushed_on(ticket.resolution_due_at, hours, calendar)
    ticket.paused_hours = (ticket.paused_hours or 0.0) + hours
    ticket.paused_at = None


def _reopen(session: Session, ticket: Ticket, moment: datetime) -> None:
    grade = session.scalar(select(Customer.grade).where(Customer.id == ticket.customer_id))
    ticket.resolved_at = ticket.closed_at = ticket.escalated_at = None
    ticket.resolution_due_at = sla.resolution_due(
        active_service(session), priority=ticket.priority.value, grade=grade, since=moment
    )


def assign(*, session: Session, ticket: Ticket, assignee: User, moment: datetime) -> Ticket:
    """Give the ticket to a user; a new or reopened ticket becomes `assigned`."""
    if not assignee.active:
        raise InvalidInput(f"user {assignee.username} is not active and cannot take tickets")
    ticket.assignee_id = assignee.id
    if ticket.status in (S.new, S.reopened):
        transition(session=session, ticket=ticket, to=S.assigned, moment=moment, by_user_id=None)
    session.flush()
    return ticket


def escalation_owner(connection: Connection, service: Service, ticket: Ticket) -> int | None:
    """Who gets a breached ticket: the assignee's team manager (or an admin), or an admin."""
    if service.escalate_to == "manager":
        team = connection.execute(select(User.team).where(User.id == ticket.assignee_id)).scalar()
        manager = connection.execute(
            select(User.id).where(User.role == Role.manager, User.team == team, User.active)
            .order_by(User.id).limit(1)
        ).scalar() if team else None  # fmt: skip
        if manager is not None:
            return manager
    return connection.execute(
        select(User.id).where(User.role == Role.admin, User.active).order_by(User.id).limit(1)
    ).scalar()


def is_breached(ticket: Ticket, moment: datetime) -> bool:
    """Whether an open ticket whose clock runs is past its response (unanswered) or resolution
    due time; one waiting for the customer is not, its due time moves when the wait ends."""
    if ticket.status not in CLOCK_RUNNING:
        return False
    late_response = (
        ticket.first_response_at is None
        and ticket.response_due_at is not None
        and ticket.response_due_at < moment
    )
    late = ticket.resolution_due_at is not None and ticket.resolution_due_at < moment
    return late_response or late


def classify(
    *, session: Session, ticket: Ticket, description: str | None = None,
    category: str | None = None, root_causes: list[str] | None = None,
) -> Ticket:  # fmt: skip
    """Set the description, complaint category or root-cause tags (blank tags dropped)."""
    if description is not None:
        ticket.description = description
    if category is not None:
        ticket.category = category.strip() or None
    if root_causes is not None:
        ticket.root_causes = root_cause_tags(root_causes)
    session.flush()
    return ticket


def breached(moment: datetime) -> ColumnElement[bool]:
    """Open tickets whose clock runs, past their response (while unanswered) or resolution due
    time."""
    return Ticket.status.in_(CLOCK_RUNNING) & or_(
        (Ticket.first_response_at.is_(None)) & (Ticket.response_due_at < moment),
        Ticket.resolution_due_at < moment,
    )


MISSED = {"response": "响应", "resolution": "解决"}


def _escalate(session: Session, service: Service, ticket: Ticket, moment: datetime) -> bool:
    # The key names the due time that was missed, so a reopened ticket can escalate again
    # while a rerun of the same minute (or an overlapping worker) cannot.
    missed = ticket.resolution_due_at if ticket.first_response_at else ticket.response_due_at
    key = f"ticket:{ticket.id}:escalation:{missed.isoformat() if missed else 'none'}"
    kind = "response" if ticket.first_response_at is None else "resolution"
    owner = escalation_owner(session.connection(), service, ticket)
    created = insert_ignoring_conflicts(
        session.connection(), Task,
        [{
            "customer_id": ticket.customer_id, "kind": "escalation", "assignee_id": owner,
            "title": f"工单 #{ticket.id} 超时未{MISSED[kind]}：{ticket.subject}"[:300],
            "notes": f"ticket {ticket.id} missed its {kind} due time {missed}",
            "status": TaskStatus.open.value, "due_at": moment, "source_rule": "sla_breach",
            "idempotency_key": key, "created_at": moment, "updated_at": moment,
        }],
        returning=Task.id,
    )  # fmt: skip
    if created and owner is not None:
        _tell_owner(session, ticket, owner, missed, key)
    ticket.escalated_at = moment
    return bool(created)


def _tell_owner(
    session: Session, ticket: Ticket, owner: int, missed: datetime | None, key: str
) -> None:
    """An in-app notice to whoever got the escalation, in the breach's transaction."""
    name = session.scalar(select(Customer.name).where(Customer.id == ticket.customer_id))
    values = {"ticket": f"#{ticket.id}", "customer": name or "", "due": missed or ""}
    subject, body = render("sla_breach", get_settings().locale, values)
    enqueue_on(
        session.connection(), channel="in_app", recipient=str(owner), subject=subject,
        body=body, dedupe_key=key, customer_id=ticket.customer_id,
    )  # fmt: skip


def check_breaches(*, engine_or_session: Engine | Session, now: datetime) -> int:
    """Mark open tickets past a due time as escalated and give each an escalation task, once.

    With an engine it commits its own unit of work (the worker's call); with a session it
    leaves the commit to the caller. Returns how many escalation tasks it created."""
    if isinstance(engine_or_session, Session):
        return _check(engine_or_session, now)
    with unit_of_work(session_factory(engine_or_session)) as session:
        return _check(session, now)


def _check(session: Session, moment: datetime) -> int:
    service = active_service(session)
    query = (
        select(Ticket)
        .where(Ticket.escalated_at.is_(None), breached(moment))
        .order_by(Ticket.id)
        .with_for_update(skip_locked=True)
    )
    return sum(_escalate(session, service, t, moment) for t in session.scalars(query))
