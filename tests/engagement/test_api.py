"""The task and timeline REST API: record rules, scopes, lifecycle, overdue and the timeline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now
from patron.engagement.models import Interaction
from patron.rules.models import StateChange
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _titles(client: TestClient, world: World, role: str, **params: object) -> set[str]:
    response = client.get("/api/v1/tasks", params=params, headers=bearer(world.tokens[role]))
    assert response.status_code == 200, response.text
    return {item["title"] for item in response.json()["items"]}


def test_task_lists_follow_role_and_scope(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    users = world.users
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other")
        builders.task(session, own, "agent's", assignee_id=users["agent"].id)
        builders.task(session, own, "on agent's customer", assignee_id=users["manager"].id)
        builders.task(session, other, "west's", assignee_id=users["other_agent"].id)
    assert _titles(client, world, "agent") == {"agent's"}
    assert _titles(client, world, "agent", scope="all") == {"agent's", "on agent's customer"}
    assert _titles(client, world, "manager", scope="team") == {"agent's", "on agent's customer"}
    assert _titles(client, world, "other_agent", scope="all") == {"west's"}
    assert len(_titles(client, world, "analyst", scope="all")) == 3
    team = client.get("/api/v1/tasks?scope=team", headers=bearer(world.tokens["agent"]))
    assert team.status_code == 403


def test_overdue_list(client: TestClient, world: World, sessions: sessionmaker[Session]) -> None:
    agent = world.users["agent"].id
    with sessions.begin() as session:
        own = world.customer(session, "own")
        builders.task(session, own, "late", assignee_id=agent, due_at=now() - timedelta(hours=2))
        builders.task(session, own, "soon", assignee_id=agent, due_at=now() + timedelta(days=2))
    assert _titles(client, world, "agent", overdue=True) == {"late"}
    listed = client.get("/api/v1/tasks", headers=bearer(world.tokens["agent"])).json()["items"]
    assert {t["title"]: t["overdue"] for t in listed} == {"late": True, "soon": False}


def test_follow_up_lifecycle_logs_an_interaction(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
    agent = bearer(world.tokens["agent"])
    created = client.post(
        "/api/v1/tasks", json={"title": "回访", "customer_id": own}, headers=agent
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["assignee_id"] == world.users["agent"].id and task["kind"] == "follow_up"
    url = f"/api/v1/tasks/{task['id']}"
    until = (now() + timedelta(days=1)).isoformat()
    snoozed = client.post(f"{url}/snooze", json={"until": until}, headers=agent).json()
    assert snoozed["status"] == "snoozed"
    handed = client.post(
        f"{url}/assign", json={"assignee_id": world.users["other_agent"].id}, headers=agent
    )
    assert handed.status_code == 403
    done = client.post(
        f"{url}/complete",
        json={"outcome": "will reorder", "interaction_kind": "wechat"},
        headers=agent,
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = client.post(f"{url}/complete", json={"outcome": "again"}, headers=agent)
    assert again.status_code == 409
    with sessions() as session:
        logged = session.scalars(select(Interaction)).one()
    assert logged.is_follow_up and logged.kind.value == "wechat" and logged.customer_id == own


def test_managers_reassign_within_their_team(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        task = builders.task(session, own, assignee_id=world.users["manager"].id)
    manager = bearer(world.tokens["manager"])
    url = f"/api/v1/tasks/{task.id}/assign"
    ok = client.post(url, json={"assignee_id": world.users["agent"].id}, headers=manager)
    assert ok.status_code == 200 and ok.json()["assignee_id"] == world.users["agent"].id
    west = client.post(url, json={"assignee_id": world.users["other_agent"].id}, headers=manager)
    assert west.status_code == 403


def test_tasks_about_unseen_customers_cannot_be_created(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        other = world.customer(session, "other").id
    refused = client.post(
        "/api/v1/tasks",
        json={"title": "x", "customer_id": other},
        headers=bearer(world.tokens["agent"]),
    )
    assert refused.status_code == 404


def test_timeline_merges_everything_newest_first(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    base = builders.WHEN
    with sessions.begin() as session:
        own = world.customer(session, "own")
        builders.order(session, own, "88.00", ordered_at=base)
        builders.interaction(session, own, occurred_at=base + timedelta(days=1), summary="call")
        builders.ticket(session, own, "broken", opened_at=base + timedelta(days=2))
        builders.survey_response(session, own, score=4, answered_at=base + timedelta(days=3))
        builders.points(session, own, 88, occurred_at=base + timedelta(days=4), reason="order")
        session.add(
            StateChange(
                customer_id=own.id,
                kind="grade",
                from_value="B",
                to_value="A",
                changed_at=base + timedelta(days=5),
            )
        )
        builders.task(session, own, "回访", created_at=base + timedelta(days=6))
        other = world.customer(session, "other")
        builders.order(session, other, "1.00", ordered_at=base + timedelta(days=7))
    agent = bearer(world.tokens["agent"])
    url = f"/api/v1/customers/{own.id}/timeline"
    first = client.get(url, params={"limit": 4}, headers=agent).json()
    second = client.get(
        url, params={"limit": 4, "cursor": first["next_cursor"]}, headers=agent
    ).json()
    kinds = [e["kind"] for e in first["items"] + second["items"]]
    assert kinds == [
        "task",
        "state_change",
        "points",
        "survey_response",
        "ticket",
        "interaction",
        "order",
    ]
    assert second["next_cursor"] is None
    assert second["items"][-1]["detail"]["amount"] == str(Decimal("88.00"))
    assert first["items"][1]["detail"]["to"] == "A"
    only_orders = client.get(url, params={"kind": "order"}, headers=agent).json()["items"]
    assert [e["kind"] for e in only_orders] == ["order"]
    assert client.get(f"/api/v1/customers/{other.id}/timeline", headers=agent).status_code == 404
    damaged = client.get(url, params={"cursor": "nonsense"}, headers=agent)
    assert damaged.status_code == 422


def test_follow_up_plans_through_the_api(client: TestClient, world: World) -> None:
    plans = client.get("/api/v1/follow-up-plans", headers=bearer(world.tokens["agent"])).json()
    assert {p["grade"]: p["every_months"] for p in plans} == {"A": 1, "B": 3}
    saved = client.put(
        "/api/v1/follow-up-plans/C",
        json={"every_months": 6},
        headers=bearer(world.tokens["manager"]),
    )
    assert saved.status_code == 200 and saved.json()["every_months"] == 6
    plans = client.get("/api/v1/follow-up-plans", headers=bearer(world.tokens["agent"])).json()
    assert {p["grade"]: p["every_months"] for p in plans} == {"A": 1, "B": 3, "C": 6}
