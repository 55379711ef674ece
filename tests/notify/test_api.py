"""The notification endpoints: a user's own in-app notifications, and the outbox for admins."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.notify.models import InAppNotification
from patron.notify.outbox import enqueue
from patron.notify.settings import NotifySettings
from patron.notify.worker import drain
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]  # the API fixtures, used by name

NOTIFICATIONS = "/api/v1/notifications"


def _notify(sessions: sessionmaker[Session], user_id: int, *subjects: str) -> list[int]:
    with unit_of_work(sessions) as session:
        rows = [InAppNotification(user_id=user_id, subject=s, body=f"{s}!") for s in subjects]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_users_see_only_their_own_notifications_newest_first(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _notify(sessions, world.users["agent"].id, "first", "second", "third")
    _notify(sessions, world.users["manager"].id, "for the manager")
    agent = bearer(world.tokens["agent"])
    page = client.get(NOTIFICATIONS, params={"limit": 2}, headers=agent).json()
    assert [item["subject"] for item in page["items"]] == ["third", "second"]
    rest = client.get(
        NOTIFICATIONS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=agent
    )
    assert [item["subject"] for item in rest.json()["items"]] == ["first"]
    assert rest.json()["next_cursor"] is None


def test_marking_read_changes_the_unread_count(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    first, _, _ = _notify(sessions, world.users["agent"].id, "a", "b", "c")
    agent = bearer(world.tokens["agent"])
    assert client.get(f"{NOTIFICATIONS}/unread-count", headers=agent).json() == {"unread": 3}
    marked = client.post(f"{NOTIFICATIONS}/{first}/read", headers=agent)
    assert marked.status_code == 200 and marked.json()["read_at"] is not None
    again = client.post(f"{NOTIFICATIONS}/{first}/read", headers=agent)
    assert again.json()["read_at"] == marked.json()["read_at"]
    unread = client.get(NOTIFICATIONS, params={"unread": True}, headers=agent).json()["items"]
    assert [item["subject"] for item in unread] == ["c", "b"]
    assert client.post(f"{NOTIFICATIONS}/read-all", headers=agent).json() == {"marked": 2}
    assert client.get(f"{NOTIFICATIONS}/unread-count", headers=agent).json() == {"unread": 0}


def test_nobody_can_mark_another_users_notification(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    [theirs] = _notify(sessions, world.users["agent"].id, "private")
    for role in ("admin", "manager", "other_agent"):
        response = client.post(f"{NOTIFICATIONS}/{theirs}/read", headers=bearer(world.tokens[role]))
        assert response.status_code == 404, role
        assert response.json()["error"] == "not_found"
    agent = bearer(world.tokens["agent"])
    assert client.get(f"{NOTIFICATIONS}/unread-count", headers=agent).json() == {"unread": 1}


def test_admins_see_the_outbox_with_recipients_masked(
    client: TestClient, world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as session:
        enqueue(
            session=session, channel="email", recipient="zhang.san@example.com", subject="hi",
            body="b", dedupe_key="m1",
        )  # fmt: skip
        enqueue(
            session=session, channel="wecom", recipient="http://127.0.0.1:9/send?key=SECRET",
            subject="robot", body="b", dedupe_key="m2",
        )  # fmt: skip
        enqueue(
            session=session, channel="in_app", recipient=str(world.users["agent"].id),
            subject="bell", body="b", dedupe_key="m3",
        )  # fmt: skip
    drain(db, settings=NotifySettings(notify_max_attempts=1), max_batches=1)
    admin = bearer(world.tokens["admin"])
    items = client.get("/api/v1/outbox", headers=admin).json()["items"]
    by_key = {item["dedupe_key"]: item for item in items}
    assert by_key["m1"]["recipient"] == "z***@example.com"
    assert by_key["m2"]["recipient"] == "http://127.0.0.1:9/send"
    assert "SECRET" not in str(items)
    assert (by_key["m3"]["status"], by_key["m2"]["status"]) == ("sent", "dead")
    dead = client.get("/api/v1/outbox", params={"status": "dead"}, headers=admin).json()["items"]
    assert {item["dedupe_key"] for item in dead} == {"m1", "m2"}  # nothing listens on port 9
    summary = client.get("/api/v1/outbox/summary", headers=admin).json()
    assert summary["counts"]["sent"] == {"in_app": 1}
    assert summary["counts"]["dead"] == {"email": 1, "wecom": 1}
    assert summary["oldest_waiting_since"] is None
    bell = client.get(NOTIFICATIONS, headers=bearer(world.tokens["agent"])).json()["items"]
    assert [item["subject"] for item in bell] == ["bell"]
