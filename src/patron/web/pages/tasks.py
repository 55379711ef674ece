"""The task inbox: overdue, due today and upcoming work; complete with an outcome, snooze,
reassign. Each change answers with the task's card (HTMX), its error shown inside it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.db import now
from patron.engagement import service
from patron.engagement.api import assignee_for
from patron.engagement.models import InteractionKind, Task
from patron.errors import InvalidInput, NotFound, PatronError
from patron.web import work_queries as work
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
# A snooze given as a date wakes the task at the start of that working day.
SNOOZE_HOUR = 9


@router.get("/tasks")
def task_inbox(
    request: Request,
    session: SessionDep,
    actor: Reader,
    scope: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """The tasks the user may see in a scope, by when they are due."""
    choices = work.scopes_for(actor)
    chosen = next((s for s in choices if s.value == scope), work.default_scope(actor))
    moment = now()
    return render(
        request, "tasks.html", actor, inbox=work.inbox(session, actor, scope=chosen, moment=moment),
        sections=work.SECTIONS, scopes=choices, scope=chosen,
        assignees=work.assignable_users(session, actor),
        kinds=[k.value for k in InteractionKind], today=moment.date().isoformat(),
        writable=actor.can(Permission.customers_write), limit=work.SECTION_LIMIT,
    )  # fmt: skip


def _task(session: Session, actor: Actor, task_id: int) -> Task:
    task = work.visible_task(session, actor, task_id, lock=True)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


def _card(
    request: Request, session: Session, actor: Actor, task: Task, *, done: str = "",
    message: str = "",
) -> Response:  # fmt: skip
    moment = now()
    return render(
        request, "fragments/task_item.html", actor, item=work.task_item(session, task, moment),
        assignees=work.assignable_users(session, actor), kinds=[k.value for k in InteractionKind],
        today=moment.date().isoformat(), writable=True, done=done, message=message,
    )  # fmt: skip


def _change(
    request: Request, session: Session, actor: Actor, task_id: int, done: str,
    act: Callable[[Task], None],
) -> Response:  # fmt: skip
    """Apply a change to a visible task; a refused change leaves it as it was and says why."""
    task = _task(session, actor, task_id)
    try:
        act(task)
    except PatronError as exc:
        # Nothing of a refused change may stay: start over and show the task as stored.
        session.rollback()
        return _card(request, session, actor, _task(session, actor, task_id), message=exc.message)
    return _card(request, session, actor, task, done=done)


def _until(text: str) -> datetime:
    value = text.strip()
    try:
        if len(value) == len("YYYY-MM-DD"):
            return datetime.combine(date.fromisoformat(value), time(SNOOZE_HOUR))
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError as exc:
        raise InvalidInput(f"'{text}' is not a date: use YYYY-MM-DD") from exc


def _interaction_kind(text: str) -> InteractionKind:
    try:
        return InteractionKind(text or InteractionKind.call.value)
    except ValueError as exc:
        kinds = ", ".join(k.value for k in InteractionKind)
        raise InvalidInput(f"'{text}' is not a kind of contact: use one of {kinds}") from exc


@router.post("/tasks/{task_id}/complete")
def complete_task(
    request: Request,
    session: SessionDep,
    actor: Writer,
    task_id: int,
    outcome: Annotated[str, Form(max_length=300)] = "",
    interaction_kind: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Mark the task done with what came of it; a follow-up logs the contact (the worker
    re-evaluates the customer's warnings after the commit)."""

    def act(task: Task) -> None:
        service.complete(
            session=session, task=task, outcome=outcome, moment=now(), by_user_id=actor.user_id,
            interaction_kind=_interaction_kind(interaction_kind),
        )  # fmt: skip

    return _change(request, session, actor, task_id, "completed", act)


@router.post("/tasks/{task_id}/snooze")
def snooze_task(
    request: Request,
    session: SessionDep,
    actor: Writer,
    task_id: int,
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Put the task aside until a later day."""

    def act(task: Task) -> None:
        service.snooze(session=session, task=task, until=_until(until), moment=now())

    return _change(request, session, actor, task_id, "snoozed", act)


@router.post("/tasks/{task_id}/assign")
def reassign_task(
    request: Request,
    session: SessionDep,
    actor: Writer,
    task_id: int,
    assignee_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Give the task to someone the user may give work to."""

    def act(task: Task) -> None:
        if assignee_id is None:
            raise InvalidInput("choose who takes the task")
        assignee = assignee_for(session, actor, assignee_id)
        service.assign(session=session, task=task, assignee=assignee)

    return _change(request, session, actor, task_id, "reassigned", act)
