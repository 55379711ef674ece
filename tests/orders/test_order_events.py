"""A new order is an event: it earns its points, upgrades the tier, re-evaluates warnings."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now
from patron.loyalty.models import LoyaltyAccount, PointsEntry
from patron.rules.models import Alert
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _post(client: TestClient, world: World, customer_id: int, **fields: object) -> int:
    body = {
        "external_id": "WEB-1", "customer_id": customer_id,
        "ordered_at": (now() - timedelta(days=1)).isoformat(), "amount": "2500.40", **fields,
    }  # fmt: skip
    answer = client.post("/api/v1/orders", json=body, headers=bearer(world.tokens["agent"]))
    return int(answer.status_code)


def _account(sessions: sessionmaker[Session], customer_id: int) -> tuple[int, str | None, int]:
    """Balance, tier and number of ledger entries of the customer."""
    with sessions() as session:
        account = session.get(LoyaltyAccount, customer_id)
        entries = session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.customer_id == customer_id)
        )
        if account is None:
            return 0, None, entries or 0
        return account.balance, account.tier, entries or 0


def test_a_paid_order_earns_its_points_and_upgrades_the_tier_once(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer_id = world.customer(session, "own", grade="A").id
    assert _post(client, world, customer_id) == 201
    # 2,500.40 at 1 point per unit, doubled for grade A; 2,000 of spend makes silver.
    assert _account(sessions, customer_id) == (5000, "silver", 1)
    assert _post(client, world, customer_id) == 409
    assert _account(sessions, customer_id) == (5000, "silver", 1)


def test_a_refunded_order_earns_nothing(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer_id = world.customer(session, "own").id
    assert _post(client, world, customer_id, status="refunded") == 201
    assert _account(sessions, customer_id) == (0, None, 0)


def test_a_late_recorded_order_raises_the_spend_drop_warning(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    """spend_drop: spend_prev_90d > 0 AND spend_90d <= spend_prev_90d * 0.5. With 100 spent
    120 days ago and 60 spent last month it does not hold; an order from 130 days ago,
    recorded only now, doubles the earlier spend and makes it hold."""
    moment = now()
    with sessions.begin() as session:
        customer = world.customer(session, "own")
        builders.order(session, customer, "100", moment - timedelta(days=120))
        builders.order(session, customer, "60", moment - timedelta(days=30))
        customer_id = customer.id
    late = (moment - timedelta(days=130)).isoformat()
    assert _post(client, world, customer_id, amount="100", ordered_at=late) == 201
    with sessions() as session:
        raised = session.scalars(
            select(Alert.rule_id).where(Alert.customer_id == customer_id)
        ).all()
    assert "spend_drop" in raised
