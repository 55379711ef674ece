"""The worker's periodic business jobs on both databases: planned follow-ups per grade and the
period-end tier review run on schedule and never act twice, even from two workers at once."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.engagement.models import Task
from patron.loyalty import service as loyalty
from patron.loyalty.models import LoyaltyAccount, TierChange
from patron.worker.runner import Worker
from patron.worker.schedule import WorkerSettings
from tests import builders

JOBS = ["follow_ups", "tier_review"]


def _world(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        agent = builders.user(session)
        a = builders.customer(session, "甲", grade="A", owner_id=agent.id)
        b = builders.customer(session, "乙", grade="B", owner_id=agent.id)
        builders.customer(session, "丙", grade="A")  # in the pool: nobody to call
        builders.customer(session, "丁", grade="C", owner_id=agent.id)  # no plan for C
        old = builders.order(session, b, "12000", ordered_at=datetime(2024, 3, 1))
        loyalty.earn_for_order(session=session, order_id=old.id, moment=datetime(2024, 3, 1))
        return {"a": a.id, "b": b.id}


def _counts(sessions: sessionmaker[Session]) -> tuple[list[str], int]:
    with sessions() as session:
        keys = session.scalars(select(Task.idempotency_key).order_by(Task.id)).all()
        changes = session.scalar(select(func.count()).select_from(TierChange)) or 0
        return [k or "" for k in keys], changes


def test_plans_and_the_tier_review_run_on_schedule_and_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = _world(sessions)
    worker = Worker.build(db, JOBS, WorkerSettings(lease_seconds=60))
    assert worker.tick(moment=datetime(2026, 11, 2, 3, 0)) == {}  # nothing due yet
    review = worker.tick(moment=datetime(2026, 11, 2, 3, 30))
    assert list(review) == ["tier_review"] and review["tier_review"].summary == {
        "period": "2025-01/12m", "reviewed": 1, "upgrades": 0, "downgrades": 1,
    }  # fmt: skip
    ran = worker.tick(moment=datetime(2026, 11, 2, 6, 0))
    assert list(ran) == ["follow_ups"] and ran["follow_ups"].summary == {"created": 2}
    expected = [f"plan:{ids['a']}:2026-M11", f"plan:{ids['b']}:2026-Q4"]
    assert _counts(sessions) == (expected, 2)
    # Forced again (an operator's `--once --now`), and the next day: nothing new.
    again = worker.tick(force=True, moment=datetime(2026, 11, 2, 6, 5))
    assert again["follow_ups"].summary == {"created": 0}
    assert again["tier_review"].summary["reviewed"] == 0
    worker.tick(moment=datetime(2026, 11, 3, 6, 0))
    assert _counts(sessions) == (expected, 2)
    # A new month: A customers get their next follow-up; B's quarter is not over.
    december = worker.tick(moment=datetime(2026, 12, 1, 6, 0))
    assert december["follow_ups"].summary == {"created": 1}
    assert _counts(sessions)[0] == [*expected, f"plan:{ids['a']}:2026-M12"]
    with sessions() as session:
        account = session.get(LoyaltyAccount, ids["b"])
        assert account is not None and account.tier == "member"


def test_two_workers_at_once_create_each_follow_up_and_tier_change_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    _world(sessions)
    moment = datetime(2026, 11, 2, 6, 0)
    workers = [Worker.build(db, JOBS, WorkerSettings(lease_seconds=60)) for _ in range(2)]
    for index, worker in enumerate(workers):
        worker.name = f"worker-{index}"
    start = threading.Barrier(2)
    failures: list[BaseException] = []
    statuses: list[str] = []

    def run(worker: Worker) -> None:
        start.wait()
        try:
            for _ in range(3):
                ran = worker.tick(force=True, moment=moment)
                statuses.extend(outcome.status for outcome in ran.values())
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and statuses and set(statuses) == {"ok"}
    keys, changes = _counts(sessions)
    assert len(keys) == len(set(keys)) == 2
    assert changes == 2  # the gold upgrade on the order, then one period-end downgrade
