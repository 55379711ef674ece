"""A new order is an event: it earns its points, upgrades the tier, re-evaluates warnings."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now, unit_of_work
from patron.loyalty.models import LoyaltyAccount, PointsEntry
from patron.loyalty.service import earn_for_order, on_new_order
from patron.orders.models import Order
from patron.rules.models import Alert
from patron.rules.refresh import run_queued
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


def _raised(sessions: sessionmaker[Session], customer_id: int) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Alert.rule_id).where(Alert.customer_id == customer_id)))


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
    client: TestClient, world: World, db: Engine, sessions: sessionmaker[Session]
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
    assert _raised(sessions, customer_id) == []  # the request only asked for a refresh
    assert run_queued(db, worker="tests").done == 1  # the worker's warnings job
    assert "spend_drop" in _raised(sessions, customer_id)


def test_a_bulk_batch_earns_what_earn_for_order_would_and_once(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        grade_a = world.customer(session, "own", grade="A")
        plain = world.customer(session, "other")
        first = builders.order(session, grade_a, "10.00", external_id="EARLIER")
        ids = (grade_a.id, plain.id, first.id)
    with unit_of_work(sessions) as session:
        earlier = earn_for_order(session=session, order_id=ids[2])
        assert earlier is not None and earlier.points == 20
    day = (now() - timedelta(days=2)).isoformat()
    batch = [
        {"external_id": "B-1", "customer_id": ids[0], "ordered_at": day, "amount": "99.99"},
        {"external_id": "B-2", "customer_id": ids[0], "ordered_at": day, "amount": "10.50"},
        {"external_id": "B-3", "customer_id": ids[1], "ordered_at": day, "amount": "7.90"},
        {"external_id": "B-4", "customer_id": ids[1], "ordered_at": day, "amount": "500",
         "status": "refunded"},
    ]  # fmt: skip
    admin = bearer(world.tokens["admin"])
    assert client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()["inserted"] == 4
    # 99.99 and 10.50 doubled for grade A, floored each: 199 + 21 on top of the earlier 20.
    assert _account(sessions, ids[0]) == (240, "member", 3)
    assert _account(sessions, ids[1]) == (7, None, 1)
    with sessions() as session:
        ledger = session.scalars(
            select(PointsEntry).where(PointsEntry.customer_id == ids[0]).order_by(PointsEntry.id)
        ).all()
        assert [entry.balance_after for entry in ledger] == [20, 219, 240]
        keys = [entry.idempotency_key for entry in ledger]
        refunded = session.scalar(select(Order.id).where(Order.external_id == "B-4"))
    assert keys[1:] == [f"earn:order:{entry.order_id}" for entry in ledger[1:]]
    assert client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()["existing"] == 4
    assert _account(sessions, ids[0]) == (240, "member", 3)
    with unit_of_work(sessions) as session:
        again = earn_for_order(session=session, order_id=ledger[1].order_id or 0)
        assert again is not None and again.id == ledger[1].id
        assert refunded is not None and on_new_order(session=session, order_id=refunded) is None
    assert _account(sessions, ids[0]) == (240, "member", 3)
    assert _account(sessions, ids[1]) == (7, None, 1)
