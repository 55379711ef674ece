"""The pool endpoints: the list with its release history, claims, transfers and locks."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.db import now
from patron.pool import service
from tests.api.conftest import World, bearer
from tests.loyalty.conftest import UseRules


def _as(world: World, role: str) -> dict[str, str]:
    return bearer(world.tokens[role])


def test_the_pool_list_shows_who_released_when_and_filters(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        released = world.customer(session, "own", "甲", city="上海", grade="B")
        world.customer(session, "pool", "乙", city="北京", grade="C")
        world.customer(session, "own", "丙", city="上海")
        agent_id = world.users["agent"].id
        service.release(session=session, customer_id=released.id, by_user_id=agent_id)
    listed = client.get("/api/v1/pool", headers=_as(world, "other_agent")).json()["items"]
    assert [c["name"] for c in listed] == ["甲", "乙"]
    first = listed[0]
    assert (first["released_from_name"], first["released_by_name"]) == ("agent", "agent")
    assert first["release_reason"] == "release" and first["released_at"]
    assert listed[1]["released_at"] is None

    def names(**params: object) -> list[str]:
        got = client.get("/api/v1/pool", params=params, headers=_as(world, "analyst"))
        return [c["name"] for c in got.json()["items"]]

    assert names(city="北京") == ["乙"]
    assert names(grade=["B", "A"]) == ["甲"]
    assert names(released_since=(now() - timedelta(hours=1)).date().isoformat()) == ["甲"]
    assert names(released_since="2999-01-01T00:00:00+08:00") == []


def test_claims_one_winner_and_named_limits(
    client: TestClient, world: World, sessions: sessionmaker[Session], use_rules: UseRules
) -> None:
    use_rules("pool", max_claims_per_day=1)
    with sessions.begin() as session:
        first = world.customer(session, "pool", "甲")
        second = world.customer(session, "pool", "乙")
    won = client.post(f"/api/v1/pool/{first.id}/claim", headers=_as(world, "agent"))
    assert won.status_code == 200 and won.json()["owner_name"] == "agent"
    late = client.post(f"/api/v1/pool/{first.id}/claim", headers=_as(world, "other_agent"))
    assert late.status_code == 404  # now the east agent's: the west agent cannot see it
    limited = client.post(f"/api/v1/pool/{second.id}/claim", headers=_as(world, "agent"))
    assert limited.status_code == 409 and limited.json()["error"] == "claim_refused"
    assert "max_claims_per_day: 1" in limited.json()["detail"]


def test_transfers_stay_in_the_team_and_locks_toggle(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer = world.customer(session, "own")
    manager = _as(world, "manager")
    url = f"/api/v1/pool/{customer.id}"
    outside = {"to_owner_id": world.users["other_agent"].id}
    assert client.post(f"{url}/transfer", json=outside, headers=manager).status_code == 403
    inside = {"to_owner_id": world.users["manager"].id, "note": "agent on leave"}
    moved = client.post(f"{url}/transfer", json=inside, headers=manager)
    assert moved.status_code == 200 and moved.json()["owner_id"] == world.users["manager"].id
    assert client.post(f"{url}/lock", headers=manager).json()["locked"] is True
    released = client.post(f"{url}/release", headers=manager, json={"note": "not ours"})
    assert released.json() == {
        "customer_id": customer.id, "owner_id": None, "owner_name": None,
        "owned_since": None, "locked": False,
    }  # fmt: skip
    with sessions() as session:
        stored = session.scalar(select(Customer).where(Customer.id == customer.id))
        assert stored is not None and stored.owner_id is None
