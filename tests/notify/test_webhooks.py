"""Outgoing webhooks end to end: subscriptions through the API, events enqueued with their
change, delivered by the outbox worker to a real HTTP receiver on 127.0.0.1, signed with the
subscription's own secret, retried on failure and delivered once."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.customers import service as customers
from patron.customers.schemas import CustomerIn
from patron.db import now, unit_of_work
from patron.notify import webhooks
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.settings import NotifySettings
from patron.notify.webhooks_models import WebhookSubscription
from patron.notify.worker import drain
from patron.rules import runs
from patron.rules.models import StateChange
from patron.service import tickets
from patron.service.models import TicketKind, TicketStatus
from tests import builders
from tests.api.conftest import World, app, bearer, client, world
from tests.notify.receivers import Received, http_receiver
from tests.rules.scenario import AS_OF, shop

__all__ = ["app", "client", "world"]
SECRET = "subscription-secret-0123456789"
# No server-wide secret: a subscription's message must be signed with its own.
SETTINGS = NotifySettings(webhook_secret=None, notify_max_attempts=3)


def _subscribe(client: TestClient, world: World, url: str, *events: str, **extra: Any) -> int:
    body = {"url": url, "events": list(events), "secret": SECRET} | extra
    answer = client.post("/api/v1/webhooks", json=body, headers=bearer(world.tokens["admin"]))
    assert answer.status_code == 201, answer.text
    assert answer.json()["secret"] == body["secret"]
    subscription_id: int = answer.json()["id"]
    return subscription_id


def _deliver(db: Engine) -> Any:
    return drain(db, settings=SETTINGS, senders=webhooks.senders(db))


def _signed_by(request: Received, secret: str) -> bool:
    stamp = request.headers["X-Patron-Timestamp"].encode()
    expected = hmac.new(secret.encode(), stamp + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Patron-Signature"], f"sha256={expected}")


def _order(n: int) -> dict[str, object]:
    return {
        "external_id": f"WH-{n}", "customer_external_id": "WH-C", "amount": 10,
        "ordered_at": "2024-06-01T10:00:00",
    }  # fmt: skip


def _messages(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_orders_reach_the_subscriber_signed_and_once(
    db: Engine, client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        _subscribe(client, world, receiver.url + "/orders", "order.created")
        _subscribe(client, world, receiver.url + "/tickets", "ticket.created")
        batch = [_order(1), _order(2), {"external_id": "bad"}]
        admin = bearer(world.tokens["admin"])
        assert client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()["inserted"] == 2
        assert client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()["inserted"] == 0
        report = _deliver(db)
        assert (report.sent, _deliver(db).claimed) == (2, 0)
    assert [r.path for r in receiver.requests] == ["/orders", "/orders"]
    assert all(_signed_by(r, SECRET) for r in receiver.requests)
    assert not any(_signed_by(r, "another secret") for r in receiver.requests)
    payloads = [r.json()["payload"] for r in receiver.requests]
    assert {p["event"] for p in payloads} == {"order.created"}
    assert sorted(p["data"]["external_id"] for p in payloads) == ["WH-1", "WH-2"]
    assert payloads[0]["data"]["amount"] == "10.00"
    assert len({r.headers["X-Patron-Delivery"] for r in receiver.requests}) == 2


def test_a_failed_delivery_is_retried_with_the_same_delivery_id(
    db: Engine, client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (503, {"busy": True}) if len(receiver.requests) == 1 else (
            200, {"ok": True}
        )  # fmt: skip
        _subscribe(client, world, receiver.url, "order.created")
        client.post("/api/v1/orders/bulk", json=[_order(1)], headers=bearer(world.tokens["admin"]))
        assert _deliver(db).retrying == 1
        with db.begin() as connection:
            connection.execute(update(OutboxMessage).values(next_attempt_at=now() - timedelta(1)))
        assert _deliver(db).sent == 1
        assert _deliver(db).claimed == 0
    deliveries = Counter(r.headers["X-Patron-Delivery"] for r in receiver.requests)
    assert list(deliveries.values()) == [2]
    assert all(_signed_by(r, SECRET) for r in receiver.requests)
    (message,) = _messages(sessions)
    assert (message.status, message.attempts) == (OutboxStatus.sent, 2)


def test_a_rolled_back_change_sends_nothing(
    db: Engine, client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _subscribe(client, world, "http://127.0.0.1:9/hook", "customer.created")
    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        customers.create(session=session, data=CustomerIn(name="回滚客户"))
        assert len(session.scalars(select(OutboxMessage)).all()) == 1
        raise RuntimeError("the change fails after the event was enqueued")
    assert _messages(sessions) == []
    with unit_of_work(sessions) as session:
        customers.create(session=session, data=CustomerIn(name="留下的客户"))
    (kept,) = _messages(sessions)
    assert kept.payload["event"] == "customer.created"
    assert kept.payload["data"]["name"] == "留下的客户"
    assert "phone" not in kept.payload["data"]


def test_customer_ticket_and_grade_events(
    db: Engine, client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _subscribe(client, world, "http://127.0.0.1:9/all", *[e.value for e in webhooks.EventType])
    _subscribe(client, world, "http://127.0.0.1:9/paused", "ticket.created", active=False)
    with unit_of_work(sessions) as session:
        first = builders.customer(session, "甲")
        second = builders.customer(session, "乙")
        customers.merge(session=session, source_id=second.id, into_id=first.id)
        draft = tickets.TicketDraft(customer_id=first.id, kind=TicketKind.complaint, subject="慢")
        ticket = tickets.open_ticket(session=session, draft=draft, moment=now())
        tickets.transition(
            session=session, ticket=ticket, to=TicketStatus.in_progress, moment=now(),
            by_user_id=None,
        )  # fmt: skip
        webhooks.grades_changed(
            session.connection(),
            [(first.id, "grade", "B", "A", "r"), (first.id, "stage", "x", "y", "r")],
            7,
        )
    events = [(m.payload["event"], m.recipient) for m in _messages(sessions)]
    assert events == [
        ("customer.merged", "http://127.0.0.1:9/all"),
        ("ticket.created", "http://127.0.0.1:9/all"),
        ("ticket.status_changed", "http://127.0.0.1:9/all"),
        ("customer.grade_changed", "http://127.0.0.1:9/all"),
    ]
    changed = _messages(sessions)[2].payload["data"]
    assert (changed["previous_status"], changed["status"]) == ("new", "in_progress")
    graded = _messages(sessions)[3].payload["data"]
    assert (graded["from"], graded["to"], graded["run_id"]) == ("B", "A", 7)


def test_admins_manage_subscriptions_and_deleting_stops_waiting_messages(
    db: Engine, client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    admin = bearer(world.tokens["admin"])
    made = _subscribe(client, world, "http://127.0.0.1:9/hook", "order.created")
    listed = client.get("/api/v1/webhooks", headers=admin).json()
    assert [(s["id"], s["secret"]) for s in listed] == [(made, None)]
    changed = client.patch(
        f"/api/v1/webhooks/{made}",
        json={"events": ["ticket.created", "order.created"]},
        headers=admin,
    ).json()
    assert changed["events"] == ["order.created", "ticket.created"]
    bad = client.post(
        "/api/v1/webhooks", json={"url": "ftp://x", "events": ["nope"]}, headers=admin
    )
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_input")
    client.post("/api/v1/orders/bulk", json=[_order(1)], headers=admin)
    assert client.delete(f"/api/v1/webhooks/{made}", headers=admin).status_code == 204
    (message,) = _messages(sessions)
    assert message.status is OutboxStatus.dead
    assert _deliver(db).claimed == 0
    assert client.get(f"/api/v1/webhooks/{made}", headers=admin).status_code == 404
    generated = client.post(
        "/api/v1/webhooks", json={"url": "https://example.com/h", "events": ["order.created"]},
        headers=admin,
    ).json()  # fmt: skip
    assert len(generated["secret"]) >= 32


def test_a_scoring_run_sends_each_grade_change_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:

    shop(sessions)
    with unit_of_work(sessions) as session:
        session.add(
            WebhookSubscription(
                url="http://127.0.0.1:9/g", secret=SECRET, events=["customer.grade_changed"]
            )
        )
    first = runs.run_scoring(engine=db, as_of=AS_OF, horizon_days=90)
    graded = [m.payload["data"] for m in _messages(sessions)]
    assert sorted(d["to"] for d in graded) == sorted(
        grade for grade, count in first.grades.items() for _ in range(count)
    )
    assert {d["run_id"] for d in graded} == {first.run_id}
    with sessions() as session:
        recorded = session.scalars(select(StateChange).where(StateChange.kind == "grade")).all()
    assert sorted((c.customer_id, c.to_value) for c in recorded) == sorted(
        (d["customer_id"], d["to"]) for d in graded
    )
