"""The task inbox and the ticket board through the app, per role, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now
from patron.engagement.models import Interaction, Task, TaskStatus
from patron.rules.models import WarningRefresh
from patron.service.models import Priority, Ticket, TicketStatus
from tests import builders
from tests.api.conftest import World, build_world
from tests.web.clients import browser_for, section


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)


def _later_today() -> datetime:
    moment = now()
    midnight = datetime.combine(moment.date() + timedelta(days=1), time())
    return moment + (midnight - moment) / 2


def _inbox_tasks(sessions: sessionmaker[Session], world: World) -> dict[str, int]:
    """The agent's overdue, today and upcoming tasks, and one of the other agent's."""
    agent, other = world.users["agent"], world.users["other_agent"]
    with sessions.begin() as session:
        mine = builders.customer(session, "张三", owner_id=agent.id)
        theirs = builders.customer(session, "赵敏", owner_id=other.id)
        rows = {
            "late": builders.task(session, mine, "call back 张三", assignee_id=agent.id,
                                  due_at=now() - timedelta(days=1)),
            "today": builders.task(session, mine, "send the quote", assignee_id=agent.id,
                                   due_at=_later_today()),
            "later": builders.task(session, mine, "visit in spring", assignee_id=agent.id,
                                   due_at=now() + timedelta(days=5)),
            "theirs": builders.task(session, theirs, "secret plan", assignee_id=other.id,
                                    due_at=now() - timedelta(days=1)),
        }  # fmt: skip
        return {name: task.id for name, task in rows.items()}


def test_the_inbox_sorts_an_agents_own_tasks_by_when_they_are_due(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _inbox_tasks(sessions, world)
    page = browser_for(app, sessions, world.users["agent"]).get("/tasks").text
    assert "call back 张三" in section(page, "overdue")
    assert "send the quote" in section(page, "today")
    assert "visit in spring" in section(page, "upcoming")
    assert "secret plan" not in page
    # Asking for everything still shows only what the record rules allow.
    wide = browser_for(app, sessions, world.users["agent"]).get("/tasks?scope=all").text
    assert "secret plan" not in wide


@pytest.mark.parametrize("role", ["admin", "analyst"])
def test_roles_that_see_every_customer_see_every_task(
    app: FastAPI, sessions: sessionmaker[Session], world: World, role: str
) -> None:
    _inbox_tasks(sessions, world)
    page = browser_for(app, sessions, world.users[role]).get("/tasks").text
    assert "secret plan" in page and "call back 张三" in page
    # Analysts only read: no actions.
    assert ("Complete</button>" in page) is (role == "admin")


def test_completing_a_task_needs_an_outcome_and_logs_the_contact(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _inbox_tasks(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    path = f"/tasks/{ids['late']}/complete"
    assert agent.post(path, {"outcome": "bought"}, csrf=False, htmx=False).status_code == 403
    refused = agent.post(path, {"outcome": "  "})
    assert refused.status_code == 200
    assert "say what came of the task (outcome)" in refused.text
    done = agent.post(path, {"outcome": "will order next week", "interaction_kind": "wechat"})
    assert "Completed" in done.text
    with sessions() as session:
        task = session.get(Task, ids["late"])
        assert task is not None and task.status is TaskStatus.done
        assert task.outcome == "will order next week"
        logged = session.scalars(
            select(Interaction).where(Interaction.customer_id == task.customer_id)
        ).one()
    assert logged.kind.value == "wechat" and logged.is_follow_up
    with sessions() as session:
        # The refused try asked for nothing; the worker re-evaluates the warnings later.
        queued = session.scalars(select(WarningRefresh)).one()
    assert queued.customer_id == logged.customer_id and queued.requests == 1
    again = agent.post(path, {"outcome": "twice"})
    assert "only open or snoozed tasks change" in again.text


def test_an_agent_cannot_touch_another_agents_task(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _inbox_tasks(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    answer = agent.post(f"/tasks/{ids['theirs']}/complete", {"outcome": "x"}, htmx=False)
    assert answer.status_code == 404
    with sessions() as session:
        assert session.get(Task, ids["theirs"]).status is TaskStatus.open  # type: ignore[union-attr]


def test_snoozing_moves_a_task_out_of_overdue(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _inbox_tasks(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    past = agent.post(f"/tasks/{ids['late']}/snooze", {"until": "2020-01-01"})
    assert "snooze until a time in the future" in past.text
    wake = (now().date() + timedelta(days=3)).isoformat()
    answer = agent.post(f"/tasks/{ids['late']}/snooze", {"until": wake})
    assert f"Snoozed until {wake} 09:00" in answer.text
    page = agent.get("/tasks").text
    assert "call back 张三" in section(page, "upcoming")
    assert "call back 张三" not in section(page, "overdue")


def test_a_manager_reassigns_within_the_team_only(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _inbox_tasks(sessions, world)
    manager = browser_for(app, sessions, world.users["manager"])
    path = f"/tasks/{ids['late']}/assign"
    outside = manager.post(path, {"assignee_id": world.users["other_agent"].id})
    assert "you may not give work to other_agent" in outside.text
    inside = manager.post(path, {"assignee_id": world.users["manager"].id})
    assert "Reassigned to manager" in inside.text
    with sessions() as session:
        assert session.get(Task, ids["late"]).assignee_id == world.users["manager"].id  # type: ignore[union-attr]


def _tickets(sessions: sessionmaker[Session], world: World) -> dict[str, int]:
    agent, other = world.users["agent"], world.users["other_agent"]
    with sessions.begin() as session:
        mine = builders.customer(session, "张三", owner_id=agent.id)
        theirs = builders.customer(session, "赵敏", owner_id=other.id)
        moment = now()
        rows = {
            "new": builders.ticket(session, mine, "快递破损", opened_at=moment,
                                   response_due_at=moment + timedelta(hours=2),
                                   resolution_due_at=moment + timedelta(hours=20)),
            "late": builders.ticket(session, mine, "退款未到账", opened_at=moment,
                                    status=TicketStatus.in_progress, assignee_id=agent.id,
                                    priority=Priority.urgent, first_response_at=moment,
                                    resolution_due_at=moment - timedelta(hours=3)),
            "theirs": builders.ticket(session, theirs, "别人的工单", assignee_id=other.id,
                                      status=TicketStatus.assigned),
        }  # fmt: skip
        return {name: t.id for name, t in rows.items()}


def test_the_board_shows_each_status_with_sla_time_left(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _tickets(sessions, world)
    page = browser_for(app, sessions, world.users["agent"]).get("/tickets").text
    new_lane = page[page.index('data-status="new"') : page.index('data-status="assigned"')]
    assert "快递破损" in new_lane and "Response:" in new_lane and " left" in new_lane
    working = page[page.index('data-status="in_progress"') : page.index('data-status="waiting')]
    assert "退款未到账" in working and "3h 0m late" in working
    assert "别人的工单" not in page
    everything = browser_for(app, sessions, world.users["analyst"]).get("/tickets").text
    assert "别人的工单" in everything and "hx-post" not in everything


def test_a_ticket_moves_only_along_the_state_machine(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _tickets(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    path = f"/tickets/{ids['new']}/move"
    refused = agent.post(path, {"to": "resolved"})
    assert refused.status_code == 200
    assert "a ticket cannot go from &#39;new&#39; to &#39;resolved&#39;" in refused.text
    assert "it may go to: assigned, closed, in_progress" in refused.text
    assert "is not a ticket status" in agent.post(path, {"to": "flying"}).text
    moved = agent.post(path, {"to": "in_progress"})
    assert "Moved to In progress" in moved.text
    with sessions() as session:
        ticket = session.get(Ticket, ids["new"])
        assert ticket is not None and ticket.status is TicketStatus.in_progress
        assert ticket.first_response_at is not None
    hidden = agent.post(f"/tickets/{ids['theirs']}/move", {"to": "in_progress"}, htmx=False)
    assert hidden.status_code == 404


def test_taking_an_unassigned_ticket_assigns_it(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _tickets(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    assert "Now assigned to you" in agent.post(f"/tickets/{ids['new']}/take").text
    with sessions() as session:
        ticket = session.get(Ticket, ids["new"])
        assert ticket is not None and ticket.status is TicketStatus.assigned
        assert ticket.assignee_id == world.users["agent"].id
