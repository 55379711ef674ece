"""The campaigns REST API: create, preview, launch once, results, opt-outs and who may."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.notify.models import OutboxMessage
from tests import builders
from tests.api.conftest import World, app, bearer, client, world
from tests.campaigns.world import scored

__all__ = ["app", "client", "world"]
TEMPLATES = {"zh-CN": {"subject": "{name}，好久不见", "body": "送您一张优惠券"}}


def _call(client: TestClient, world: World, role: str, method: str, url: str, **body: Any) -> Any:
    response = client.request(method, url, json=body or None, headers=bearer(world.tokens[role]))
    assert response.status_code < 300, response.text
    return response.json()


def _setup(client: TestClient, world: World, sessions: sessionmaker[Session], role: str) -> int:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        for record in ("own", "own", "other", "pool"):
            customer = world.customer(
                session, record, email="a@example.com", consent={"email": True}
            )
            builders.snapshot(session, run, customer, features={"recency_days": 120})
    segment = _call(client, world, role, "POST", "/api/v1/campaigns/segments",
                    name="沉睡", expression="recency_days > 90")  # fmt: skip
    assert segment["features"] == ["recency_days"]
    campaign = _call(client, world, role, "POST", "/api/v1/campaigns", name="回访",
                     segment_id=segment["id"], templates=TEMPLATES, holdout_share=0.25)  # fmt: skip
    return int(campaign["id"])


def test_admin_previews_launches_once_and_reads_results(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    campaign_id = _setup(client, world, sessions, "admin")
    url = f"/api/v1/campaigns/{campaign_id}"
    preview = _call(client, world, "admin", "GET", f"{url}/audience")
    assert (preview["segment"], preview["treated"], preview["holdout"]) == (4, 3, 1)
    first = _call(client, world, "admin", "POST", f"{url}/launch")
    second = _call(client, world, "admin", "POST", f"{url}/launch")
    assert (first["treated"], first["already_launched"]) == (3, False)
    assert (second["treated"], second["already_launched"]) == (3, True)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
    results = _call(client, world, "analyst", "GET", f"{url}/results")
    assert (results["treated"]["customers"], results["holdout"]["customers"]) == (3, 1)
    assert results["treated"]["conversion_rate"] == 0.0
    assert _call(client, world, "analyst", "GET", url)["status"] == "launched"


def test_a_manager_reaches_only_customers_they_see(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    campaign_id = _setup(client, world, sessions, "manager")
    launched = _call(client, world, "manager", "POST", f"/api/v1/campaigns/{campaign_id}/launch")
    # Team east's two customers and the pool's one; the west agent's customer is not seen.
    assert launched["segment"] == 3
    assert _call(client, world, "admin", "GET", "/api/v1/campaigns")[0]["id"] == campaign_id


def test_others_campaigns_and_agents_are_refused(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    campaign_id = _setup(client, world, sessions, "admin")
    manager = bearer(world.tokens["manager"])
    assert client.get(f"/api/v1/campaigns/{campaign_id}", headers=manager).status_code == 404
    assert client.get("/api/v1/campaigns", headers=manager).json() == []
    agent = bearer(world.tokens["agent"])
    assert client.get(f"/api/v1/campaigns/{campaign_id}/results", headers=agent).status_code == 403


def test_bad_segments_and_early_results_are_422(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    admin = bearer(world.tokens["admin"])
    bad = client.post(
        "/api/v1/campaigns/segments",
        json={"name": "x", "expression": "1; DROP TABLE customers"},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_rule"
    campaign_id = _setup(client, world, sessions, "admin")
    early = client.get(f"/api/v1/campaigns/{campaign_id}/results", headers=admin)
    assert early.status_code == 422 and "not been launched" in early.json()["detail"]


def test_an_opt_out_stops_messages(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        mine = scored(session, run, "王芳", owner_id=world.users["agent"].id)
    optout = _call(
        client, world, "agent", "POST", f"/api/v1/customers/{mine.id}/opt-outs", channel="email"
    )
    assert optout["channel"] == "email"
    segment = _call(
        client,
        world,
        "admin",
        "POST",
        "/api/v1/campaigns/segments",
        name="s",
        expression="recency_days > 90",
    )
    campaign = _call(
        client,
        world,
        "admin",
        "POST",
        "/api/v1/campaigns",
        name="c",
        segment_id=segment["id"],
        templates=TEMPLATES,
    )
    preview = _call(client, world, "admin", "GET", f"/api/v1/campaigns/{campaign['id']}/audience")
    assert (preview["treated"], preview["suppressed"]["opted_out"]) == (0, 1)
