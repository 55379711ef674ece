"""GET /api/v1/kpi counts only the customers the caller may see: a manager's team and the pool,
an agent's own and the pool, everyone for admins and analysts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests import builders
from tests.api.conftest import World, app, bearer, client, token_for, world

__all__ = ["app", "client", "world"]

JUNE = {"from": "2024-06-01", "to": "2024-06-30"}


def _shop(sessions: sessionmaker[Session], world: World) -> None:
    """One customer each: the agent's (2 orders, a promoter), the west agent's (1 order, a
    detractor) and the pool's (1 order); CLVs 100, 300 and 200."""
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        for record, amounts, score, clv in (
            ("own", ("100.00", "50.00"), 10, 100),
            ("other", ("400.00",), 2, 300),
            ("pool", ("30.00",), None, 200),
        ):
            customer = world.customer(session, record, f"客户{record}")
            for day, amount in enumerate(amounts, start=3):
                builders.order(session, customer, amount, datetime(2024, 6, day))
            if score is not None:
                builders.survey_response(session, customer, score, answered_at=datetime(2024, 6, 9))
            builders.snapshot(session, run, customer, clv=clv)


def _kpi(client: TestClient, world: World, role: str) -> dict[str, Any]:
    response = client.get("/api/v1/kpi", params=JUNE, headers=bearer(world.tokens[role]))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _summary(body: dict[str, Any]) -> tuple[Any, ...]:
    return (
        body["active_customers"],
        body["paid_orders"],
        body["revenue"],
        body["nps"],
        body["average_clv"],
    )


def test_kpis_count_only_visible_customers(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions, world)
    everyone = (3, 4, 580.0, 0.0, 200.0)
    assert _summary(_kpi(client, world, "admin")) == everyone
    assert _summary(_kpi(client, world, "analyst")) == everyone
    # East: the agent's customer and the pool.
    assert _summary(_kpi(client, world, "agent")) == (2, 3, 180.0, 100.0, 150.0)
    assert _summary(_kpi(client, world, "manager")) == (2, 3, 180.0, 100.0, 150.0)
    # West: the other agent's customer and the pool.
    assert _summary(_kpi(client, world, "other_agent")) == (2, 2, 430.0, -100.0, 250.0)


def test_a_token_without_the_kpi_scope_is_refused(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        agent = session.merge(world.users["agent"])
        narrow = token_for(session, agent, "customers:read")
    response = client.get("/api/v1/kpi", params=JUNE, headers=bearer(narrow))
    assert response.status_code == 403
    assert "kpi:read" in response.json()["detail"]
