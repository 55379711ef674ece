"""The rules, KPI and audit endpoints."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.service import record
from tests import builders
from tests.api.conftest import World, bearer


def test_the_active_rulebook_is_readable(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/rules", headers=bearer(world.tokens["manager"]))
    assert response.status_code == 200
    body = response.json()
    assert body["version"] is None
    assert body["document"].strip()
    assert isinstance(body["rulebook"], dict)


def test_kpis_cover_the_period(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        buyer = world.customer(session, "pool")
        builders.order(session, buyer, "120.00", datetime(2024, 6, 3))
        builders.order(session, buyer, "80.00", datetime(2024, 6, 20))
    response = client.get(
        "/api/v1/kpi", params={"from": "2024-06-01", "to": "2024-06-30"},
        headers=bearer(world.tokens["analyst"]),
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == ("2024-06-01", "2024-06-30")
    assert body["active_customers"] == 1
    assert body["paid_orders"] == 2
    assert body["revenue"] == 200.0
    wrong = client.get(
        "/api/v1/kpi", params={"from": "June"}, headers=bearer(world.tokens["admin"])
    )
    assert wrong.status_code == 422


def test_the_audit_log_filters_and_pages(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        for index in range(3):
            record(session=session, action="auth.sign_in", entity="user", entity_id=index)
        record(session=session, action="customer.unmask", entity="customer", entity_id=7)
    admin = bearer(world.tokens["admin"])
    signs = client.get(
        "/api/v1/audit", params={"action": "auth.", "limit": 2}, headers=admin
    ).json()
    assert [item["entity_id"] for item in signs["items"]] == ["2", "1"]
    rest = client.get(
        "/api/v1/audit", params={"action": "auth.", "limit": 2, "cursor": signs["next_cursor"]},
        headers=admin,
    ).json()  # fmt: skip
    assert [item["entity_id"] for item in rest["items"]] == ["0"]
    assert rest["next_cursor"] is None
    unmask = client.get("/api/v1/audit", params={"entity": "customer"}, headers=admin).json()
    assert [item["action"] for item in unmask["items"]] == ["customer.unmask"]
