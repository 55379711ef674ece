"""What the work pages show, under the API's record rules: the task inbox by when work is due,
the ticket board by status with SLA time left, and the user's standing against the pool limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from patron.api.access import Actor
from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.customers.repository import owner_names
from patron.engagement import service as engagement
from patron.engagement.api import Scope, may_assign, task_scope, tasks_in_scope
from patron.engagement.models import Task, TaskStatus
from patron.pool import service as pool
from patron.pool.models import OwnershipChange
from patron.service import tickets
from patron.service.api import ticket_scope
from patron.service.models import Ticket, TicketStatus

SECTIONS = ("overdue", "today", "upcoming")
SECTION_LIMIT = 20
BOARD = (
    TicketStatus.new, TicketStatus.assigned, TicketStatus.in_progress,
    TicketStatus.waiting_for_customer, TicketStatus.reopened, TicketStatus.resolved,
    TicketStatus.closed,
)  # fmt: skip
COLUMN_LIMIT = 30
# Finished tickets only give context: the latest few are enough.
FINISHED_LIMIT = 8
FINISHED = (TicketStatus.resolved, TicketStatus.closed)


def default_scope(actor: Actor) -> Scope:
    """An agent's inbox is their own work; a manager's their team's (all they see without a
    team); others see all."""
    if actor.role is Role.agent:
        return Scope.mine
    return Scope.team if actor.role is Role.manager and actor.team else Scope.all


def scopes_for(actor: Actor) -> list[Scope]:
    """The inbox scopes a role may choose between."""
    if actor.role is Role.agent:
        return [Scope.mine, Scope.all]
    if actor.role is Role.analyst:
        return [Scope.all]
    return [Scope.mine, Scope.team, Scope.all]


def _scope_filter(actor: Actor, scope: Scope) -> ColumnElement[bool]:
    # The inbox offers the team scope to managers only; anyone else asking gets all they see.
    if scope is Scope.team and actor.role is not Role.manager:
        scope = Scope.all
    return tasks_in_scope(actor, scope)


def _section_filters(moment: datetime) -> dict[str, ColumnElement[bool]]:
    due = engagement.effective_due()
    tomorrow = datetime.combine(moment.date() + timedelta(days=1), time())
    return {
        "overdue": due < moment,
        "today": and_(due >= moment, due < tomorrow),
        "upcoming": or_(due >= tomorrow, Task.due_at.is_(None)),
    }


@dataclass(frozen=True)
class TaskItem:
    """One task in the inbox, with the names it shows and when it is (effectively) due."""

    task: Task
    customer_name: str | None
    assignee_name: str | None
    due: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Inbox:
    sections: dict[str, list[TaskItem]]
    counts: dict[str, int]


def inbox(session: Session, actor: Actor, *, scope: Scope, moment: datetime) -> Inbox:
    """Live tasks the actor may see in the scope: overdue, due today, and later."""
    base = select(Task).where(Task.status.in_(engagement.LIVE), _scope_filter(actor, scope))
    filters = _section_filters(moment)
    counted = base.with_only_columns(*(func.count().filter(f) for f in filters.values()))
    counts = dict(zip(filters, session.execute(counted).one(), strict=True))
    due = engagement.effective_due()
    sections = {}
    for name, condition in filters.items():
        rows = session.scalars(
            base.where(condition).order_by(due.is_(None), due, Task.id).limit(SECTION_LIMIT)
        ).all()
        sections[name] = _items(session, list(rows), moment)
    return Inbox(sections, {name: int(n or 0) for name, n in counts.items()})


def _items(session: Session, rows: list[Task], moment: datetime) -> list[TaskItem]:
    customers = customer_names(session, [t.customer_id for t in rows if t.customer_id])
    people = owner_names(session, [t.assignee_id for t in rows if t.assignee_id])
    return [
        TaskItem(
            task=t,
            customer_name=customers.get(t.customer_id or 0),
            assignee_name=people.get(t.assignee_id or 0),
            due=t.snoozed_until if t.snoozed_until and t.status is TaskStatus.snoozed else t.due_at,
            overdue=engagement.is_overdue(t, moment),
        )
        for t in rows
    ]


def task_item(session: Session, task: Task, moment: datetime) -> TaskItem:
    """One task as the inbox shows it (after a change)."""
    return _items(session, [task], moment)[0]


def customer_names(session: Session, ids: list[int]) -> dict[int, str]:
    """Names of some customers by id."""
    if not ids:
        return {}
    query = select(Customer.id, Customer.name).where(Customer.id.in_(set(ids)))
    return dict(session.execute(query).all())


def visible_task(session: Session, actor: Actor, task_id: int, *, lock: bool) -> Task | None:
    """The task if the actor may see it (the API's rule), locked for a change."""
    query = select(Task).where(Task.id == task_id, task_scope(actor))
    return session.scalar(query.with_for_update() if lock else query)


def assignable_users(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Active users the actor may give work to (an agent: only themselves)."""
    query = select(User).where(User.active, User.role != Role.analyst).order_by(User.id)
    if actor.role is Role.manager:
        query = query.where(or_(User.id == actor.user_id, User.team == actor.team))
    elif actor.role is not Role.admin:
        query = query.where(User.id == actor.user_id)
    users = session.scalars(query).all()
    return [(u.id, u.display_name or u.username) for u in users if may_assign(actor, u)]


# The ticket board ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketCard:
    """A ticket on the board: the SLA clock it runs against and the seconds left (negative:
    late), the statuses it may move to."""

    ticket: Ticket
    customer_name: str
    assignee_name: str | None
    clock: str | None
    seconds_left: int | None
    allowed: list[str]


@dataclass(frozen=True)
class Column:
    status: TicketStatus
    total: int
    cards: list[TicketCard]


def _board_query(actor: Actor, *, mine: bool) -> Select[Any]:
    query = select(Ticket).where(ticket_scope(actor))
    return query.where(Ticket.assignee_id == actor.user_id) if mine else query


def _column_order(status: TicketStatus) -> list[Any]:
    if status is TicketStatus.closed:
        return [Ticket.closed_at.desc(), Ticket.id.desc()]
    if status is TicketStatus.resolved:
        return [Ticket.resolved_at.desc(), Ticket.id.desc()]
    return [Ticket.resolution_due_at.is_(None), Ticket.resolution_due_at, Ticket.id]


def column_limit(status: TicketStatus) -> int:
    """How many tickets a status's column shows."""
    return FINISHED_LIMIT if status in FINISHED else COLUMN_LIMIT


def board(session: Session, actor: Actor, *, mine: bool, moment: datetime) -> list[Column]:
    """Each status's tickets the actor may see: open ones soonest due first, finished ones
    latest first, at most `column_limit` a column."""
    query = _board_query(actor, mine=mine)
    totals = dict(
        session.execute(
            query.with_only_columns(Ticket.status, func.count()).group_by(Ticket.status)
        ).all()
    )
    columns = []
    for status in BOARD:
        rows = session.scalars(
            query.where(Ticket.status == status)
            .order_by(*_column_order(status))
            .limit(column_limit(status))
        ).all()
        columns.append(
            Column(status, int(totals.get(status, 0)), cards(session, list(rows), moment))
        )
    return columns


def sla_clock(ticket: Ticket, moment: datetime) -> tuple[str | None, int | None]:
    """Which due time an open ticket runs against (response until first answered, then
    resolution, paused while waiting for the customer) and the seconds left; (None, None) for
    a finished ticket."""
    if ticket.status not in tickets.OPEN:
        return None, None
    if ticket.status is TicketStatus.waiting_for_customer:
        # Waiting for the customer stops the clock; the due time moves on when the wait ends.
        return "paused", None
    if ticket.first_response_at is None and ticket.response_due_at is not None:
        return "response", int((ticket.response_due_at - moment).total_seconds())
    if ticket.resolution_due_at is not None:
        return "resolution", int((ticket.resolution_due_at - moment).total_seconds())
    return None, None


def cards(session: Session, rows: list[Ticket], moment: datetime) -> list[TicketCard]:
    """The board cards of some tickets."""
    customers = customer_names(session, [t.customer_id for t in rows])
    people = owner_names(session, [t.assignee_id for t in rows if t.assignee_id])
    result = []
    for t in rows:
        clock, left = sla_clock(t, moment)
        allowed = [s.value for s in BOARD if s in tickets.TRANSITIONS[t.status]]
        result.append(
            TicketCard(t, customers.get(t.customer_id, ""), people.get(t.assignee_id or 0),
                       clock, left, allowed)
        )  # fmt: skip
    return result


def visible_ticket(session: Session, actor: Actor, ticket_id: int) -> Ticket | None:
    """The ticket if the actor may see it (the API's rule), locked for a change."""
    query = select(Ticket).where(Ticket.id == ticket_id, ticket_scope(actor))
    return session.scalar(query.with_for_update())


# The public pool ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """How near the user is to the pool's limits (None: the rulebook sets no limit)."""

    owned: int
    max_owned: int | None
    claimed_today: int
    max_claims: int | None
    wait_days: int
    count_won: bool


def standing(session: Session, user_id: int, moment: datetime) -> Standing:
    """The user's customers and today's claims against the active rulebook's pool limits."""
    rules = pool.pool_rules(session)
    midnight = datetime.combine(moment.date(), time())
    claimed = session.scalar(
        select(func.count()).where(
            OwnershipChange.to_owner_id == user_id,
            OwnershipChange.reason == "claim",
            OwnershipChange.changed_at >= midnight,
        )
    )
    owned = pool.owned_count(session, user_id, count_won=rules.count_won_customers)
    return Standing(
        owned, rules.max_customers_per_owner, int(claimed or 0), rules.max_claims_per_day,
        rules.former_owner_wait_days, rules.count_won_customers,
    )  # fmt: skip
