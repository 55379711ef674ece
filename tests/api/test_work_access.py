"""Task and ticket record rules through the API: an agent sees work assigned to them and work
about their own customers; a colleague's work is a 404 by id and absent from every list."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


@dataclass(frozen=True)
class Work:
    """Ids of tasks (or tickets) by whose they are."""

    assigned: int
    on_own_customer: int
    colleagues: int
    pool_unassigned: int


def _work(sessions: sessionmaker[Session], world: World, build: object) -> Work:
    """Four records: the agent's; a manager's on the agent's customer; the west agent's on
    their own customer; an unassigned one on a pool customer."""
    users = world.users
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other")
        pool = world.customer(session, "pool")
        make = builders.task if build == "tasks" else builders.ticket
        ids = Work(
            assigned=make(session, own, "assigned", assignee_id=users["agent"].id).id,
            on_own_customer=make(session, own, "on own", assignee_id=users["manager"].id).id,
            colleagues=make(session, other, "colleague's", assignee_id=users["other_agent"].id).id,
            pool_unassigned=make(session, pool, "pool", assignee_id=None).id,
        )
    return ids


def _listed(client: TestClient, world: World, role: str, path: str, **params: str) -> set[int]:
    response = client.get(path, params=params, headers=bearer(world.tokens[role]))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def _status(client: TestClient, world: World, role: str, path: str) -> int:
    return client.get(path, headers=bearer(world.tokens[role])).status_code


def test_tasks_by_id_and_in_lists(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    work = _work(sessions, world, "tasks")
    every = {work.assigned, work.on_own_customer, work.colleagues, work.pool_unassigned}
    assert _listed(client, world, "agent", "/api/v1/tasks", scope="all") == {
        work.assigned,
        work.on_own_customer,
    }
    assert _listed(client, world, "other_agent", "/api/v1/tasks", scope="all") == {work.colleagues}
    # The manager of team east: the team's work and the work on customers they see (pool too).
    assert _listed(client, world, "manager", "/api/v1/tasks", scope="all") == {
        work.assigned,
        work.on_own_customer,
        work.pool_unassigned,
    }
    assert _listed(client, world, "admin", "/api/v1/tasks", scope="all") == every
    assert _listed(client, world, "analyst", "/api/v1/tasks", scope="all") == every
    for task_id, status in ((work.assigned, 200), (work.on_own_customer, 200),
                            (work.colleagues, 404), (work.pool_unassigned, 404)):  # fmt: skip
        assert _status(client, world, "agent", f"/api/v1/tasks/{task_id}") == status, task_id
    assert _status(client, world, "manager", f"/api/v1/tasks/{work.colleagues}") == 404
    refused = client.post(
        f"/api/v1/tasks/{work.colleagues}/complete",
        json={"outcome": "done"},
        headers=bearer(world.tokens["agent"]),
    )
    assert refused.status_code == 404


def test_tickets_by_id_and_in_lists(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    work = _work(sessions, world, "tickets")
    every = {work.assigned, work.on_own_customer, work.colleagues, work.pool_unassigned}
    assert _listed(client, world, "agent", "/api/v1/tickets") == {
        work.assigned,
        work.on_own_customer,
    }
    assert _listed(client, world, "other_agent", "/api/v1/tickets") == {work.colleagues}
    assert _listed(client, world, "manager", "/api/v1/tickets") == {
        work.assigned,
        work.on_own_customer,
        work.pool_unassigned,
    }
    assert _listed(client, world, "admin", "/api/v1/tickets") == every
    assert _listed(client, world, "analyst", "/api/v1/tickets") == every
    for ticket_id, status in ((work.assigned, 200), (work.on_own_customer, 200),
                              (work.colleagues, 404), (work.pool_unassigned, 404)):  # fmt: skip
        assert _status(client, world, "agent", f"/api/v1/tickets/{ticket_id}") == status, ticket_id
    assert _status(client, world, "manager", f"/api/v1/tickets/{work.colleagues}") == 404
    refused = client.post(
        f"/api/v1/tickets/{work.colleagues}/transitions",
        json={"to": "in_progress"},
        headers=bearer(world.tokens["agent"]),
    )
    assert refused.status_code == 404
