"""Webhook events from file imports and bulk ingestion: each inserted or updated customer and
order reaches a real HTTP receiver, signed with its subscription's secret; unchanged rows,
dry runs and rolled-back batches send nothing, and without subscribers nothing is read."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.imports.service import import_file
from patron.notify import webhooks
from patron.notify.models import OutboxMessage
from patron.notify.settings import NotifySettings
from patron.notify.worker import drain
from tests.api.conftest import World, app, bearer, client, world
from tests.imports.files import ORDER_HEADER, orders, write_csv
from tests.notify.receivers import Received, http_receiver

__all__ = ["app", "client", "world"]
SECRET = "import-subscription-secret-0123"
SETTINGS = NotifySettings(webhook_secret=None, notify_max_attempts=3)
# Three batches for ten rows: events are enqueued batch by batch.
SMALL_BATCHES = Settings(import_batch_size=4)
CUSTOMER_HEADER = ["customer_id", "name", "city", "phone"]
ALL = ("customer.created", "customer.updated", "order.created", "order.updated")


def _subscribe(client: TestClient, world: World, url: str, *events: str) -> None:
    body = {"url": url, "events": list(events), "secret": SECRET}
    answer = client.post("/api/v1/webhooks", json=body, headers=bearer(world.tokens["admin"]))
    assert answer.status_code == 201, answer.text


def _import(db: Engine, kind: str, path: Path, **options: Any) -> dict[str, int]:
    result = import_file(engine=db, kind=kind, path=path, settings=SMALL_BATCHES, **options)
    return result.counts.as_dict()


def _deliver(db: Engine) -> int:
    report = drain(db, settings=SETTINGS, senders=webhooks.senders(db))
    assert report.retrying == 0
    return report.sent


def _signed(request: Received) -> bool:
    stamp = request.headers["X-Patron-Timestamp"].encode()
    expected = hmac.new(SECRET.encode(), stamp + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Patron-Signature"], f"sha256={expected}")


def _payloads(requests: list[Received]) -> list[dict[str, Any]]:
    assert all(_signed(request) for request in requests)
    return [request.json()["payload"] for request in requests]


def _events(payloads: list[dict[str, Any]]) -> Counter[str]:
    return Counter(payload["event"] for payload in payloads)


def _outbox(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_imported_customers_and_orders_reach_the_subscriber_signed(
    db: Engine, client: TestClient, world: World, tmp_path: Path
) -> None:
    people = [[f"K{n}", f"客户{n}", "杭州", f"1380000000{n}"] for n in range(6)]
    customers_csv = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, people)
    rows = orders(10, customers=4)
    orders_csv = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    with http_receiver() as receiver:
        _subscribe(client, world, receiver.url + "/hook", *ALL)
        assert _import(db, "customers", customers_csv)["inserted"] == 6
        assert _import(db, "orders", orders_csv)["inserted"] == 10
        assert _deliver(db) == 6 + 4 + 10  # the orders' four customers are created too
        first = _payloads(receiver.requests)
        receiver.requests.clear()

        assert _import(db, "customers", customers_csv)["unchanged"] == 6
        assert _import(db, "orders", orders_csv)["unchanged"] == 10
        assert _deliver(db) == 0

        people[2][2] = "宁波"
        rows[5][3] = "999.90"
        edited_people = write_csv(tmp_path / "c2.csv", CUSTOMER_HEADER, people)
        edited_orders = write_csv(tmp_path / "o2.csv", ORDER_HEADER, rows)
        assert _import(db, "customers", edited_people)["updated"] == 1
        assert _import(db, "orders", edited_orders)["updated"] == 1
        assert _deliver(db) == 2
        second = _payloads(receiver.requests)
    assert _events(first) == {"customer.created": 10, "order.created": 10}
    created = [p["data"] for p in first if p["event"] == "customer.created"]
    assert sorted(d["external_id"] for d in created) == [
        *(f"C{n:03d}" for n in range(4)), *(f"K{n}" for n in range(6)),
    ]  # fmt: skip
    assert all("phone" not in data for data in created)
    assert set(created[0]) == set(webhooks.CUSTOMER_FIELDS)
    ordered = sorted((p["data"] for p in first if p["event"] == "order.created"), key=str)
    assert sorted(d["external_id"] for d in ordered) == [row[0] for row in rows]
    assert set(ordered[0]) == set(webhooks.ORDER_FIELDS)
    assert {(d["amount"], d["status"]) for d in ordered if d["external_id"] == rows[0][0]} == {
        (rows[0][3], "paid")
    }
    assert sorted((p["event"], p["data"]["external_id"]) for p in second) == [
        ("customer.updated", "K2"),
        ("order.updated", rows[5][0]),
    ]
    updated = {p["event"]: p["data"] for p in second}
    assert updated["customer.updated"]["city"] == "宁波"
    assert updated["order.updated"]["amount"] == "999.90"


def test_bulk_ingestion_announces_new_customers_and_orders_once(
    db: Engine, client: TestClient, world: World
) -> None:
    batch = [
        {
            "external_id": f"B-{n}", "customer_external_id": f"BC-{n % 3}", "amount": 5 + n,
            "ordered_at": "2024-06-01T10:00:00",
        }
        for n in range(7)
    ] + [{"external_id": "refused"}]  # fmt: skip
    admin = bearer(world.tokens["admin"])
    with http_receiver() as receiver:
        _subscribe(client, world, receiver.url, "customer.created", "order.created")
        answer = client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()
        assert (answer["inserted"], answer["customers_created"], answer["rejected"]) == (7, 3, 1)
        again = client.post("/api/v1/orders/bulk", json=batch, headers=admin).json()
        assert (again["inserted"], again["existing"], again["customers_created"]) == (0, 7, 0)
        assert _deliver(db) == 10
        payloads = _payloads(receiver.requests)
    assert _events(payloads) == {"customer.created": 3, "order.created": 7}
    names = sorted(p["data"]["name"] for p in payloads if p["event"] == "customer.created")
    assert names == ["BC-0", "BC-1", "BC-2"]
    amounts = {
        p["data"]["external_id"]: p["data"]["amount"]
        for p in payloads
        if p["event"] == "order.created"
    }
    assert amounts == {f"B-{n}": f"{5 + n}.00" for n in range(7)}


def test_a_failed_batch_enqueues_nothing_and_dry_runs_send_nothing(
    db: Engine,
    client: TestClient,
    world: World,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _subscribe(client, world, "http://127.0.0.1:9/hook", *ALL)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(10, customers=10))
    assert _import(db, "orders", path, dry_run=True)["inserted"] == 10
    assert _outbox(sessions) == []
    publish = webhooks.publish_on
    published: list[Counter[str]] = []

    def fail_in_second_batch(connection: Any, events: Any, wanted: Any = None) -> int:
        published.append(Counter(event.type.value for event in events))
        enqueued = publish(connection, events, wanted)
        assert enqueued == len(events)
        if len(published) == 2:
            raise RuntimeError("the batch fails after its events were enqueued")
        return enqueued

    monkeypatch.setattr(webhooks, "publish_on", fail_in_second_batch)
    with pytest.raises(RuntimeError):
        _import(db, "orders", path)
    # One bulk write per batch, its new customers' events and its orders' together.
    assert published == [Counter({"customer.created": 4, "order.created": 4})] * 2
    kept = Counter(message.payload["event"] for message in _outbox(sessions))
    assert kept == {"customer.created": 4, "order.created": 4}


def test_without_a_subscriber_for_them_nothing_is_read_or_enqueued(
    db: Engine,
    client: TestClient,
    world: World,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = Counter[str]()
    stored = webhooks._stored

    def counted(connection: Any, record: str, keys: Any) -> Any:
        read[record] += 1
        return stored(connection, record, keys)

    monkeypatch.setattr(webhooks, "_stored", counted)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(10))
    assert _import(db, "orders", path)["inserted"] == 10
    _subscribe(client, world, "http://127.0.0.1:9/hook", "ticket.created", "order.updated")
    edited = orders(10)
    edited[0][3] = "1.00"
    assert _import(db, "orders", write_csv(tmp_path / "o2.csv", ORDER_HEADER, edited)) == {
        "inserted": 0, "updated": 1, "unchanged": 9, "rejected": 0,
    }  # fmt: skip
    (message,) = _outbox(sessions)
    assert (message.payload["event"], message.payload["data"]["amount"]) == (
        "order.updated",
        "1.00",
    )
    assert read == {"order": 1}
