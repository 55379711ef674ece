"""The loyalty endpoints: accounts, ledger, earning on orders, redeeming, adjusting, tiers."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.db import now
from tests import builders
from tests.api.conftest import World, bearer


def _as(world: World, role: str) -> dict[str, str]:
    return bearer(world.tokens[role])


def test_an_agent_earns_on_an_order_once_and_redeems(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer = world.customer(session, "own", grade="B")
        order = builders.order(session, customer, "2100", ordered_at=now() - timedelta(days=1))
        other = builders.order(session, world.customer(session, "own", "李四"), "10")
    url = f"/api/v1/loyalty/accounts/{customer.id}"
    agent = _as(world, "agent")
    earned = client.post(f"{url}/earn", json={"order_id": order.id}, headers=agent)
    assert earned.status_code == 200, earned.text
    assert earned.json()["entry"]["points"] == 3150 and earned.json()["balance"] == 3150
    again = client.post(f"{url}/earn", json={"order_id": order.id}, headers=agent)
    assert again.json()["entry"]["id"] == earned.json()["entry"]["id"]
    assert again.json()["balance"] == 3150
    wrong = client.post(f"{url}/earn", json={"order_id": other.id}, headers=agent)
    assert wrong.status_code == 404
    both = client.post(f"{url}/earn", json={"order_id": order.id, "points": 5}, headers=agent)
    assert both.status_code == 422
    spent = client.post(f"{url}/redeem", json={"points": 150, "reason": "coupon"}, headers=agent)
    assert spent.json()["balance_after"] == 3000
    too_much = client.post(f"{url}/redeem", json={"points": 5000, "reason": "x"}, headers=agent)
    assert too_much.status_code == 409
    assert too_much.json() == {
        "error": "insufficient_points",
        "detail": "the balance is 3000 points, fewer than the 5000 asked",
    }
    account = client.get(url, headers=_as(world, "analyst")).json()
    assert account["balance"] == 3000
    assert account["tier"]["id"] == "silver" and account["next_tier"]["id"] == "gold"
    assert account["to_next_tier"] == 7900.0
    assert [c["to_tier"] for c in account["tier_history"]] == ["silver"]
    ledger = client.get(f"{url}/ledger", headers=agent, params={"limit": 1}).json()
    assert [e["kind"] for e in ledger["items"]] == ["redeem"] and ledger["next_cursor"]
    rest = client.get(f"{url}/ledger", headers=agent, params={"cursor": ledger["next_cursor"]})
    assert [e["kind"] for e in rest.json()["items"]] == ["earn"]


def test_adjusting_is_for_managers_and_audited(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer = world.customer(session, "own")
    url = f"/api/v1/loyalty/accounts/{customer.id}/adjust"
    body = {"points": 40, "reason": "complaint goodwill"}
    refused = client.post(url, json=body, headers=_as(world, "agent"))
    assert refused.status_code == 403 and "may not adjust" in refused.json()["detail"]
    done = client.post(url, json=body, headers=_as(world, "manager"))
    assert done.status_code == 200 and done.json()["balance_after"] == 40
    below = client.post(url, json={"points": -41, "reason": "x"}, headers=_as(world, "admin"))
    assert below.status_code == 409
    with sessions() as session:
        assert session.scalars(select(AuditEntry.action)).all().count("loyalty.adjust") == 1


def test_the_tiers_come_from_the_rulebook(client: TestClient, world: World) -> None:
    tiers = client.get("/api/v1/loyalty/tiers", headers=_as(world, "agent")).json()
    assert [(t["id"], t["threshold"]) for t in tiers] == [
        ("member", 0.0), ("silver", 2000.0), ("gold", 10000.0), ("diamond", 50000.0),
    ]  # fmt: skip
