"""Tasks and follow-ups on both databases: lifecycle, overdue, recurring plans."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.engagement import service
from patron.engagement.models import Interaction, Task, TaskStatus
from patron.engagement.service import TaskDraft
from patron.errors import Conflict, InvalidInput
from tests import builders

NOW = datetime(2026, 11, 23, 10, 0)


def test_completing_a_follow_up_logs_an_interaction(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session)
        other = builders.user(session)
        customer = builders.customer(session, owner_id=agent.id)
        task = service.create(
            session=session,
            draft=TaskDraft(
                title="回访",
                customer_id=customer.id,
                assignee_id=agent.id,
                due_at=NOW + timedelta(days=1),
            ),
            by_user_id=agent.id,
        )
        service.assign(session=session, task=task, assignee=other)
        service.snooze(session=session, task=task, until=NOW + timedelta(days=3), moment=NOW)
        assert task.status is TaskStatus.snoozed and task.assignee_id == other.id
        logged = service.complete(
            session=session,
            task=task,
            outcome="satisfied, reorders soon",
            moment=NOW,
            by_user_id=other.id,
        )
        assert logged is not None
    with sessions() as session:
        done = session.get(Task, task.id)
        assert done is not None and done.status is TaskStatus.done
        assert done.outcome == "satisfied, reorders soon" and done.completed_at == NOW
        interaction = session.scalars(select(Interaction)).one()
        assert interaction.is_follow_up and interaction.customer_id == customer.id
        assert interaction.user_id == other.id and interaction.occurred_at == NOW


def test_other_tasks_complete_without_an_interaction(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        task = service.create(
            session=session, draft=TaskDraft(title="order brochures", kind="admin"), by_user_id=None
        )
        assert (
            service.complete(
                session=session,
                task=task,
                outcome="done",
                moment=NOW,
                by_user_id=builders.user(session).id,
            )
            is None
        )
        assert session.scalars(select(Interaction)).all() == []


def test_finished_tasks_refuse_changes_and_bad_input_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        customer = builders.customer(session)
        with pytest.raises(InvalidInput, match="title"):
            service.create(session=session, draft=TaskDraft(title=" "), by_user_id=None)
        with pytest.raises(InvalidInput, match="customer_id"):
            service.create(session=session, draft=TaskDraft(title="call"), by_user_id=None)
        task = builders.task(session, customer)
        with pytest.raises(InvalidInput, match="outcome"):
            service.complete(session=session, task=task, outcome="", moment=NOW, by_user_id=1)
        with pytest.raises(InvalidInput, match="future"):
            service.snooze(session=session, task=task, until=NOW, moment=NOW)
        service.cancel(session=session, task=task, moment=NOW)
        with pytest.raises(Conflict, match="cancelled"):
            service.snooze(session=session, task=task, until=NOW + timedelta(1), moment=NOW)


def test_overdue_respects_snoozes_and_status(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        late = builders.task(session, customer, "late", due_at=NOW - timedelta(hours=1))
        builders.task(session, customer, "later", due_at=NOW + timedelta(hours=1))
        builders.task(
            session, customer, "done", due_at=NOW - timedelta(days=2), status=TaskStatus.done
        )
        builders.task(
            session,
            customer,
            "snoozed",
            due_at=NOW - timedelta(days=2),
            status=TaskStatus.snoozed,
            snoozed_until=NOW + timedelta(days=1),
        )
        woke = builders.task(
            session,
            customer,
            "woke",
            due_at=NOW - timedelta(days=2),
            status=TaskStatus.snoozed,
            snoozed_until=NOW - timedelta(minutes=5),
        )
        found = session.scalars(select(Task.title).where(service.overdue(NOW)).order_by(Task.id))
        assert list(found) == [late.title, woke.title]


def test_plans_create_one_follow_up_per_customer_and_period(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        agent = builders.user(session)
        a = builders.customer(session, "甲", grade="A", owner_id=agent.id)
        b = builders.customer(session, "乙", grade="B", owner_id=agent.id)
        builders.customer(session, "丙", grade="C", owner_id=agent.id)
        builders.customer(session, "丁", grade="A")  # in the pool: nobody to call
    assert service.create_planned_follow_ups(engine_or_session=db, moment=NOW) == 2
    assert service.create_planned_follow_ups(engine_or_session=db, moment=NOW) == 0
    # December: A is due again (monthly), B is not (still the fourth quarter).
    december = datetime(2026, 12, 2, 9, 0)
    assert service.create_planned_follow_ups(engine_or_session=db, moment=december) == 1
    with sessions() as session:
        rows = session.execute(
            select(Task.customer_id, Task.idempotency_key, Task.assignee_id, Task.due_at).order_by(
                Task.id
            )
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        (a.id, f"plan:{a.id}:2026-M11"),
        (b.id, f"plan:{b.id}:2026-Q4"),
        (a.id, f"plan:{a.id}:2026-M12"),
    ]
    assert {r[2] for r in rows} == {agent.id}
    assert rows[0][3] == NOW + timedelta(days=7)


def test_saved_plans_change_the_rhythm(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session)
        builders.customer(session, grade="C", owner_id=agent.id)
        b = builders.customer(session, grade="B", owner_id=agent.id)
        service.save_plan(session=session, grade="C", every_months=6, due_days=14)
        service.save_plan(session=session, grade="B", every_months=1)
        assert set(service.plans(session)) == {"A", "B", "C"}
        assert service.create_planned_follow_ups(engine_or_session=session, moment=NOW) == 2
        keys = set(session.scalars(select(Task.idempotency_key)))
        assert f"plan:{b.id}:2026-M11" in keys
        assert any(k is not None and k.endswith(":2026-P2/6") for k in keys)
        with pytest.raises(InvalidInput, match="1 to 12 months"):
            service.save_plan(session=session, grade="A", every_months=0)
