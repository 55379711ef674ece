"""Record rules in the query layer: tasks and tickets follow the customer rules."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.api.access import Actor, visible_customers, visible_tasks, visible_tickets
from patron.customers.models import Customer
from patron.engagement.models import Task
from patron.service.models import Ticket
from tests import builders
from tests.api.conftest import World


def _actor(world: World, role: str) -> Actor:
    return Actor.of(world.users[role], via="token")


def test_tasks_and_tickets_follow_the_roles(world: World, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other", "李四")
        agent, other_agent = world.users["agent"], world.users["other_agent"]
        builders.task(session, own, "mine", assignee_id=agent.id)
        builders.task(session, other, "theirs", assignee_id=other_agent.id)
        builders.ticket(session, own, "mine", assignee_id=agent.id)
        builders.ticket(session, other, "theirs", assignee_id=other_agent.id)
    with sessions() as session:
        for role, expected in (
            ("agent", ["mine"]),
            ("manager", ["mine"]),
            ("admin", ["mine", "theirs"]),
            ("analyst", ["mine", "theirs"]),
        ):
            actor = _actor(world, role)
            tasks = session.scalars(select(Task.title).where(visible_tasks(actor)))
            tickets = session.scalars(select(Ticket.subject).where(visible_tickets(actor)))
            assert sorted(tasks) == expected, role
            assert sorted(tickets) == expected, role


def test_a_manager_without_a_team_sees_own_customers_and_the_pool(
    world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        loner = builders.user(session, "loner", role=world.users["manager"].role)
        mine = builders.customer(session, "甲", owner_id=loner.id)
        pool = world.customer(session, "pool", "乙")
        world.customer(session, "own", "丙")
    with sessions() as session:
        seen = session.scalars(
            select(Customer.id).where(visible_customers(Actor.of(loner, via="token")))
        )
        assert sorted(seen) == sorted([mine.id, pool.id])
