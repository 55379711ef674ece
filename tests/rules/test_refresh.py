"""Warning refreshes outside the request: asked for in the change's transaction, run by the
worker afterwards, never lost, never acting twice; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now, unit_of_work
from patron.rules import events, refresh
from patron.rules.models import ActionTaken, Alert, WarningRefresh
from patron.worker.runner import Worker
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _spend_dropped(sessions: sessionmaker[Session], world: World) -> tuple[int, int]:
    """A customer of the agent's whose spend_drop warning holds (100 spent 120 days ago,
    nothing since) but was never raised, and an open follow-up about them."""
    with sessions.begin() as session:
        customer = world.customer(session, "own")
        builders.order(session, customer, "100", now() - timedelta(days=120))
        task = builders.task(session, customer, assignee_id=world.users["agent"].id)
        return customer.id, task.id


def _alerts(sessions: sessionmaker[Session], customer_id: int) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Alert.rule_id).where(Alert.customer_id == customer_id)))


def _queued(sessions: sessionmaker[Session]) -> dict[int, WarningRefresh]:
    with sessions() as session:
        return {row.customer_id: row for row in session.scalars(select(WarningRefresh))}


def _ask(sessions: sessionmaker[Session], customer_id: int) -> None:
    with unit_of_work(sessions) as session:
        refresh.request_refresh(session, customer_id)


def test_completing_a_follow_up_answers_first_and_the_worker_raises_the_warning_once(
    client: TestClient, world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    customer_id, task_id = _spend_dropped(sessions, world)
    done = client.post(
        f"/api/v1/tasks/{task_id}/complete", json={"outcome": "will reorder"},
        headers=bearer(world.tokens["agent"]),
    )  # fmt: skip
    assert done.status_code == 200, done.text
    # The request wrote its change and the request for a refresh, nothing more.
    assert _alerts(sessions, customer_id) == []
    assert {c: row.requests for c, row in _queued(sessions).items()} == {customer_id: 1}
    ran = Worker.build(db, ["warnings"]).tick(force=True)
    assert ran["warnings"].status == "ok" and ran["warnings"].summary["done"] == 1
    assert _alerts(sessions, customer_id) == ["spend_drop"]
    assert _queued(sessions) == {}
    with sessions() as session:
        taken = session.scalar(select(func.count()).select_from(ActionTaken))
    # Run again for the same change (as after a worker stopped before removing the row):
    # the action's key is taken, so nothing is raised twice.
    _ask(sessions, customer_id)
    assert refresh.run_queued(db, worker="w2").done == 1
    assert _alerts(sessions, customer_id) == ["spend_drop"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ActionTaken)) == taken


def test_a_refused_completion_asks_for_no_refresh(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _, task_id = _spend_dropped(sessions, world)
    refused = client.post(
        f"/api/v1/tasks/{task_id}/complete", json={"outcome": "  "},
        headers=bearer(world.tokens["agent"]),
    )  # fmt: skip
    assert refused.status_code == 422
    assert _queued(sessions) == {}


def test_changes_while_a_refresh_waits_or_runs_are_all_seen(
    world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    customer_id, _ = _spend_dropped(sessions, world)
    _ask(sessions, customer_id)
    _ask(sessions, customer_id)
    assert _queued(sessions)[customer_id].requests == 2  # one row, one run for both
    [claimed] = refresh.claim(db, worker="w1")
    assert refresh.claim(db, worker="w2") == []  # claimed rows are not claimed twice
    # A change commits while the refresh runs: the run may have read the store before it.
    _ask(sessions, customer_id)
    assert refresh.run_one(db, claimed, worker="w1") == "again"
    row = _queued(sessions)[customer_id]
    assert row.claimed_by is None and row.attempts == 0
    assert refresh.run_queued(db, worker="w2").done == 1
    assert _queued(sessions) == {}


def test_a_stopped_workers_refresh_is_run_again_after_its_lease(
    world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    customer_id, _ = _spend_dropped(sessions, world)
    _ask(sessions, customer_id)
    [stopped] = refresh.claim(db, worker="w1")  # and w1 never finishes
    assert refresh.claim(db, worker="w2") == []
    later = now() + refresh.LEASE + timedelta(seconds=1)
    [taken] = refresh.claim(db, worker="w2", moment=later)
    assert taken.customer_id == customer_id and taken.attempts == 2
    assert refresh.run_one(db, taken, worker="w2") == "done"
    assert _alerts(sessions, customer_id) == ["spend_drop"]
    # The first worker coming back finds its claim gone and changes nothing.
    assert refresh.run_one(db, stopped, worker="w1") == "lost"
    assert _alerts(sessions, customer_id) == ["spend_drop"]


def test_a_failing_refresh_is_retried_then_left_with_its_error_until_the_next_change(
    world: World, db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id, _ = _spend_dropped(sessions, world)
    _ask(sessions, customer_id)

    def broken(**_: object) -> None:
        raise RuntimeError("store unreachable")

    monkeypatch.setattr(events, "on_event", broken)
    outcomes = []
    moment = now()
    for _ in range(refresh.MAX_ATTEMPTS):
        [claimed] = refresh.claim(db, worker="w1", moment=moment)
        outcomes.append(refresh.run_one(db, claimed, worker="w1"))
        row = _queued(sessions)[customer_id]
        assert row.next_attempt_at > now() and row.last_error == "RuntimeError: store unreachable"
        moment = row.next_attempt_at
    assert outcomes == ["retrying"] * (refresh.MAX_ATTEMPTS - 1) + ["given_up"]
    assert refresh.claim(db, worker="w1", moment=moment + timedelta(days=1)) == []
    monkeypatch.undo()
    _ask(sessions, customer_id)  # the customer's next change tries again at once
    assert refresh.run_queued(db, worker="w1").done == 1
    assert _alerts(sessions, customer_id) == ["spend_drop"] and _queued(sessions) == {}
