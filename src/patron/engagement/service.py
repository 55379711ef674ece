"""Follow-ups (回访) and tasks: create, assign, snooze, complete, overdue lists, recurring plans.

Keyword-only functions on the caller's session; none of them commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, String, and_, case, cast, false, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.auth.models import User
from patron.config import get_settings
from patron.customers.models import Customer, CustomerScore
from patron.db import session_factory, unit_of_work
from patron.engagement.models import (
    Direction,
    FollowUpPlan,
    Interaction,
    InteractionKind,
    Task,
    TaskStatus,
)
from patron.errors import Conflict, InvalidInput, NotFound
from patron.rules import versions
from patron.rules.refresh import request_refresh

LIVE = (TaskStatus.open, TaskStatus.snoozed)
FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class TaskDraft:
    title: str
    customer_id: int | None = None
    assignee_id: int | None = None
    kind: str = FOLLOW_UP
    due_at: datetime | None = None
    notes: str = ""


def create(*, session: Session, draft: TaskDraft, by_user_id: int | None) -> Task:
    """A new open task."""
    if not draft.title.strip():
        raise InvalidInput("a task needs a title")
    if draft.customer_id is not None and session.get(Customer, draft.customer_id) is None:
        raise NotFound(f"no customer with id {draft.customer_id}")
    if draft.kind == FOLLOW_UP and draft.customer_id is None:
        raise InvalidInput("a follow-up is always about a customer: give customer_id")
    task = Task(
        customer_id=draft.customer_id,
        assignee_id=draft.assignee_id,
        kind=draft.kind,
        title=draft.title.strip()[:300],
        notes=draft.notes,
        due_at=draft.due_at,
        status=TaskStatus.open,
        created_by_id=by_user_id,
    )
    session.add(task)
    session.flush()
    return task


def _live(task: Task) -> None:
    if task.status not in LIVE:
        raise Conflict(f"task {task.id} is {task.status.value}: only open or snoozed tasks change")


def assign(*, session: Session, task: Task, assignee: User) -> Task:
    """Give the task to someone else (or to its first assignee)."""
    _live(task)
    if not assignee.active:
        raise InvalidInput(f"user {assignee.username} is not active and cannot take tasks")
    task.assignee_id = assignee.id
    session.flush()
    return task


def snooze(*, session: Session, task: Task, until: datetime, moment: datetime) -> Task:
    """Put the task aside until `until`; it counts as overdue only after that."""
    _live(task)
    if until <= moment:
        raise InvalidInput("snooze until a time in the future")
    task.status = TaskStatus.snoozed
    task.snoozed_until = until
    session.flush()
    return task


def complete(
    *,
    session: Session,
    task: Task,
    outcome: str,
    moment: datetime,
    by_user_id: int,
    interaction_kind: InteractionKind = InteractionKind.call,
    summary: str = "",
) -> Interaction | None:
    """Mark the task done with its outcome; a follow-up also logs the contact as an interaction
    and asks for the customer's warnings to be re-evaluated (by the worker, after the commit)."""
    _live(task)
    if not outcome.strip():
        raise InvalidInput("say what came of the task (outcome)")
    task.status = TaskStatus.done
    task.completed_at = moment
    task.outcome = outcome.strip()[:300]
    logged = None
    if task.kind == FOLLOW_UP and task.customer_id is not None:
        logged = Interaction(
            customer_id=task.customer_id,
            kind=interaction_kind,
            direction=Direction.outbound,
            is_follow_up=True,
            summary=summary.strip() or task.outcome,
            user_id=by_user_id,
            occurred_at=moment,
        )
        session.add(logged)
    session.flush()
    if logged is not None:
        request_refresh(session, logged.customer_id)
    return logged


def cancel(*, session: Session, task: Task, moment: datetime) -> Task:
    """Drop a task that no longer needs doing."""
    _live(task)
    task.status = TaskStatus.cancelled
    task.completed_at = moment
    session.flush()
    return task


def effective_due() -> ColumnElement[datetime]:
    """When a task is due, a snooze pushing it later."""
    return case(
        (Task.status == TaskStatus.snoozed, func.coalesce(Task.snoozed_until, Task.due_at)),
        else_=Task.due_at,
    )


def overdue(moment: datetime) -> ColumnElement[bool]:
    """Open or snoozed tasks whose (snoozed) due time has passed."""
    return and_(Task.status.in_(LIVE), Task.due_at.is_not(None), effective_due() < moment)


def is_overdue(task: Task, moment: datetime) -> bool:
    """Whether an open or snoozed task's (snoozed) due time has passed."""
    if task.status not in LIVE or task.due_at is None:
        return False
    due = (
        task.snoozed_until
        if task.status is TaskStatus.snoozed and task.snoozed_until
        else task.due_at
    )
    return due < moment


def assigned_to_team(team: str | None) -> ColumnElement[bool]:
    """Tasks assigned to members of a team."""
    if team is None:
        return false()
    return Task.assignee_id.in_(select(User.id).where(User.team == team))


# Recurring follow-ups ------------------------------------------------------------------------


def plans(session: Session) -> dict[str, FollowUpPlan]:
    """The plans by grade: the active rulebook's `follow_ups`, each overridden by a plan saved
    for its grade (unsaved ones are not added to the session)."""
    locale = get_settings().locale
    from_rulebook = {
        p.grade: FollowUpPlan(grade=p.grade, every_months=p.every_months, due_days=p.due_days,
                              title=p.title.get(locale) or next(iter(p.title.values())),
                              active=True)
        for p in versions.active(session.connection())[1].follow_ups
    }  # fmt: skip
    saved = {p.grade: p for p in session.scalars(select(FollowUpPlan).order_by(FollowUpPlan.grade))}
    return dict(sorted((from_rulebook | saved).items()))


def save_plan(
    *,
    session: Session,
    grade: str,
    every_months: int,
    due_days: int = 7,
    title: str = "回访",
    active: bool = True,
) -> FollowUpPlan:
    """Create or change the saved plan of a grade (every 1-12 months), overriding the
    rulebook's plan for that grade."""
    if not 1 <= every_months <= 12:
        raise InvalidInput("a follow-up plan repeats every 1 to 12 months")
    if not 0 <= due_days <= 90:
        raise InvalidInput("a planned follow-up is due 0 to 90 days after it appears")
    if not grade.strip():
        raise InvalidInput("a follow-up plan needs a grade")
    plan = session.scalar(select(FollowUpPlan).where(FollowUpPlan.grade == grade))
    if plan is None:
        plan = FollowUpPlan(grade=grade)
        session.add(plan)
    plan.every_months, plan.due_days, plan.title, plan.active = (
        every_months,
        due_days,
        title,
        active,
    )
    session.flush()
    return plan


def period_of(moment: datetime, every_months: int) -> str:
    """The plan period of a moment: `2026-M11` monthly, `2026-Q4` quarterly, else `2026-P3/6`."""
    index = (moment.month - 1) // every_months + 1
    if every_months == 1:
        return f"{moment.year}-M{moment.month:02d}"
    if every_months == 3:
        return f"{moment.year}-Q{index}"
    return f"{moment.year}-P{index}/{every_months}"


def plan_key(customer_id: int, period: str) -> str:
    """The idempotency key of a customer's planned follow-up in a period."""
    return f"plan:{customer_id}:{period}"


def _insert_planned(session: Session, plan: FollowUpPlan, moment: datetime) -> int:
    prefix = "plan:"
    suffix = f":{period_of(moment, plan.every_months)}"
    rows = (
        select(
            Customer.id,
            Customer.owner_id,
            literal(FOLLOW_UP),
            literal(plan.title) + " " + Customer.name,
            literal(""),
            literal(TaskStatus.open.value),
            literal(moment + timedelta(days=plan.due_days)),
            literal("follow_up_plan"),
            literal(prefix) + cast(Customer.id, String) + literal(suffix),
            literal(moment),
            literal(moment),
        )
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(
            CustomerScore.grade == plan.grade,
            Customer.owner_id.is_not(None),
            Customer.deleted_at.is_(None),
            Customer.merged_into_id.is_(None),
        )
    )
    columns = [
        "customer_id",
        "assignee_id",
        "kind",
        "title",
        "notes",
        "status",
        "due_at",
        "source_rule",
        "idempotency_key",
        "created_at",
        "updated_at",
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Task).from_select(columns, rows).on_conflict_do_nothing()
    # RETURNING counts what was inserted; rowcount is -1 for INSERT ... SELECT on PostgreSQL.
    return len(session.scalars(statement.returning(Task.id)).all())


def create_planned_follow_ups(*, engine_or_session: Engine | Session, moment: datetime) -> int:
    """Create this period's follow-up task for every owned customer of a planned grade, once
    per customer and period however often it runs. Returns how many it created."""
    if isinstance(engine_or_session, Session):
        return _create_planned(engine_or_session, moment)
    with unit_of_work(session_factory(engine_or_session)) as session:
        return _create_planned(session, moment)


def _create_planned(session: Session, moment: datetime) -> int:
    active = [p for p in plans(session).values() if p.active]
    created = sum(_insert_planned(session, plan, moment) for plan in active)
    session.flush()
    return created
