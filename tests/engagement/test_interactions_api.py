"""The interactions REST API: record rules, filters, paging and logging a contact."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.engagement.models import Direction, Interaction, InteractionKind
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _summaries(
    client: TestClient, world: World, role: str, url: str, **params: object
) -> list[str]:
    answer = client.get(url, params=params, headers=bearer(world.tokens[role]))
    assert answer.status_code == 200, answer.text
    return [item["summary"] for item in answer.json()["items"]]


def _history(sessions: sessionmaker[Session], world: World) -> dict[str, int]:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other")
        pool = world.customer(session, "pool")
        agent = world.users["agent"].id
        rows = (
            (own, InteractionKind.call, "own call", Direction.outbound, 1, agent),
            (own, InteractionKind.wechat, "own wechat", Direction.inbound, 3, None),
            (other, InteractionKind.visit, "west visit", Direction.outbound, 2, None),
            (pool, InteractionKind.sms, "pool sms", Direction.outbound, 4, None),
        )
        for about, kind, summary, direction, day, user_id in rows:
            builders.interaction(
                session, about, kind=kind, summary=summary, direction=direction,
                occurred_at=datetime(2024, 5, day, 9), user_id=user_id,
            )  # fmt: skip
        return {"own": own.id, "other": other.id, "pool": pool.id}


def test_lists_follow_the_customer_record_rules(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    ids = _history(sessions, world)
    everything = ["pool sms", "own wechat", "west visit", "own call"]
    assert _summaries(client, world, "analyst", "/api/v1/interactions") == everything
    assert _summaries(client, world, "agent", "/api/v1/interactions") == [
        "pool sms", "own wechat", "own call",
    ]  # fmt: skip
    assert _summaries(client, world, "other_agent", "/api/v1/interactions") == [
        "pool sms", "west visit",
    ]  # fmt: skip
    own_url = f"/api/v1/customers/{ids['own']}/interactions"
    assert _summaries(client, world, "agent", own_url) == ["own wechat", "own call"]
    hidden = client.get(own_url, headers=bearer(world.tokens["other_agent"]))
    assert (hidden.status_code, hidden.json()["error"]) == (404, "not_found")


def test_filters_and_pages(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    ids = _history(sessions, world)
    url = "/api/v1/interactions"
    assert _summaries(client, world, "admin", url, kind=["call", "visit"]) == [
        "west visit",
        "own call",
    ]
    assert _summaries(client, world, "admin", url, direction="inbound") == ["own wechat"]
    assert _summaries(client, world, "admin", url, user_id=world.users["agent"].id) == ["own call"]
    window = {"occurred_from": "2024-05-02", "occurred_to": "2024-05-03", "sort": "occurred_at"}
    assert _summaries(client, world, "admin", url, **window) == ["west visit", "own wechat"]
    assert _summaries(client, world, "admin", url, customer_id=ids["pool"]) == ["pool sms"]
    admin = bearer(world.tokens["admin"])
    first = client.get(url, params={"limit": 3}, headers=admin).json()
    rest = client.get(
        url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert [i["summary"] for i in first["items"] + rest["items"]] == [
        "pool sms", "own wechat", "west visit", "own call",
    ]  # fmt: skip
    bad = client.get(url, params={"kind": "fax"}, headers=admin)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_input")


def test_logging_an_interaction(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
        other = world.customer(session, "other").id
        pool = world.customer(session, "pool").id
    body = {"customer_id": own, "kind": "wechat", "direction": "inbound", "summary": "问价格",
            "occurred_at": "2024-05-01T10:00:00+00:00"}  # fmt: skip
    agent = bearer(world.tokens["agent"])
    made = client.post("/api/v1/interactions", json=body, headers=agent)
    assert made.status_code == 201, made.text
    logged = made.json()
    assert (logged["user_id"], logged["occurred_at"]) == (
        world.users["agent"].id,
        "2024-05-01T18:00:00+08:00",
    )
    assert (
        client.post(
            "/api/v1/interactions", json=body | {"customer_id": other}, headers=agent
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/interactions", json=body | {"customer_id": pool}, headers=agent
        ).status_code
        == 403
    )
    for_colleague = body | {"user_id": world.users["other_agent"].id}
    assert client.post("/api/v1/interactions", json=for_colleague, headers=agent).status_code == 403
    manager = bearer(world.tokens["manager"])
    by_manager = client.post(
        "/api/v1/interactions", json=body | {"user_id": world.users["agent"].id}, headers=manager
    )
    assert by_manager.status_code == 201, by_manager.text
    analyst = client.post(
        "/api/v1/interactions", json=body, headers=bearer(world.tokens["analyst"])
    )
    assert analyst.status_code == 403
    with sessions() as session:
        assert len(session.scalars(select(Interaction)).all()) == 2
