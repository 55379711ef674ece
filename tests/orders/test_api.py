"""The orders REST API: record rules, filters, one order with lines, and bulk ingestion."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.orders.models import Order, OrderLine
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _order(n: int, customer: str = "BULK-C1", **fields: object) -> dict[str, object]:
    return {
        "external_id": f"SO-{n}", "customer_external_id": customer,
        "ordered_at": "2024-03-01T10:00:00", "amount": "99.50", **fields,
    }  # fmt: skip


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_bulk_stores_good_rows_reports_bad_ones_and_is_idempotent(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    batch = [
        _order(1),
        _order(2, amount="¥1,234.50", status="已退款", ordered_at="2024/3/2 9:30"),
        _order(3, amount="-5"),
        _order(4, ordered_at="not a date"),
        _order(1),
        {"external_id": "SO-5", "ordered_at": "2024-03-01", "amount": 1},
        _order(
            6, lines=[{"product_id": "SKU-1", "product_name": "茶", "amount": "10", "quantity": 2}]
        ),
        "not an object",
    ]
    headers = bearer(world.tokens["admin"])
    answer = client.post("/api/v1/orders/bulk", json=batch, headers=headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["received"], result["inserted"], result["rejected"]) == (8, 3, 5)
    assert result["customers_created"] == 1
    assert [e["row"] for e in result["errors"]] == [2, 3, 4, 5, 7]
    assert "negative" in result["errors"][0]["problems"][0]
    assert "repeats the order id of row 0" in result["errors"][2]["problems"][0]
    with sessions() as session:
        refund = session.scalar(select(Order).where(Order.external_id == "SO-2"))
        assert refund is not None
        assert (str(refund.amount), refund.status.value) == ("1234.50", "refunded")
        assert refund.ordered_at.isoformat() == "2024-03-02T09:30:00"
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
    again = client.post("/api/v1/orders/bulk", json=batch, headers=headers).json()
    assert (again["inserted"], again["existing"], again["rejected"]) == (0, 3, 5)
    assert _count(sessions, Order) == 3
    assert _count(sessions, OrderLine) == 1


def test_bulk_is_for_ingesters_only(client: TestClient, world: World) -> None:
    for role in ("manager", "agent", "analyst"):
        answer = client.post(
            "/api/v1/orders/bulk", json=[_order(1)], headers=bearer(world.tokens[role])
        )
        assert answer.status_code == 403, role
        assert answer.json()["error"] == "forbidden"
    too_many = [_order(n) for n in range(10_001)]
    answer = client.post(
        "/api/v1/orders/bulk", json=too_many, headers=bearer(world.tokens["admin"])
    )
    assert answer.status_code == 422


def test_orders_follow_the_customer_record_rules(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other")
        mine = builders.order(session, own, "10.00", external_id="MINE")
        theirs = builders.order(session, other, "20.00", external_id="THEIRS")
        ids = {"own": own.id, "mine": mine.id, "theirs": theirs.id}
    agent = bearer(world.tokens["agent"])
    listed = client.get("/api/v1/orders", headers=agent).json()["items"]
    assert [o["external_id"] for o in listed] == ["MINE"]
    assert client.get(f"/api/v1/orders/{ids['theirs']}", headers=agent).status_code == 404
    one = client.get(f"/api/v1/orders/{ids['mine']}", headers=agent).json()
    assert (one["external_id"], one["lines"]) == ("MINE", [])
    admin = client.get("/api/v1/orders", headers=bearer(world.tokens["admin"])).json()["items"]
    assert {o["external_id"] for o in admin} == {"MINE", "THEIRS"}


def test_list_filters_and_pages(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        for day in range(1, 6):
            builders.order(
                session,
                own,
                "10.00",
                external_id=f"D{day}",
                ordered_at=builders.WHEN.replace(day=day),
            )
        builders.order(
            session, own, "5.00", external_id="R", status="refunded", ordered_at=builders.WHEN
        )
    admin = bearer(world.tokens["admin"])
    params = {"ordered_from": "2024-06-02", "ordered_to": "2024-06-04", "status": "paid"}
    found = client.get("/api/v1/orders", params=params, headers=admin).json()["items"]
    assert [o["external_id"] for o in found] == ["D4", "D3", "D2"]
    first = client.get(
        "/api/v1/orders", params={"limit": 4, "sort": "ordered_at"}, headers=admin
    ).json()
    rest = client.get(
        "/api/v1/orders",
        params={"limit": 4, "sort": "ordered_at", "cursor": first["next_cursor"]},
        headers=admin,
    ).json()
    seen = [o["external_id"] for o in first["items"] + rest["items"]]
    assert len(seen) == 6 == len(set(seen)) and rest["next_cursor"] is None
    bad = client.get("/api/v1/orders", params={"sort": "amount"}, headers=admin)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_input")


def test_create_one_order_with_lines(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        other = world.customer(session, "other")
        ids = (own.id, other.id)
    agent = bearer(world.tokens["agent"])
    body = {
        "external_id": "WEB-1", "customer_id": ids[0], "ordered_at": "2024-05-01 12:00",
        "amount": 30, "lines": [{"product_id": "SKU-9", "amount": 30, "quantity": 3}],
    }  # fmt: skip
    made = client.post("/api/v1/orders", json=body, headers=agent)
    assert made.status_code == 201, made.text
    assert made.json()["lines"][0]["product_code"] == "SKU-9"
    again = client.post("/api/v1/orders", json=body, headers=agent)
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    elsewhere = client.post(
        "/api/v1/orders", json=body | {"external_id": "WEB-2", "customer_id": ids[1]}, headers=agent
    )
    assert elsewhere.status_code == 404
    both = client.post("/api/v1/orders", json=body | {"customer_external_id": "X"}, headers=agent)
    assert both.status_code == 422
    assert _count(sessions, Order) == 1
