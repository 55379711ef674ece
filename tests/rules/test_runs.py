"""Scoring runs against the real store: stored once, acting once, backfills that never act."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.catalog import FEATURES
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.audit.models import AuditEntry
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.engagement.models import Task
from patron.loyalty.models import LoyaltyAccount, PointsEntry
from patron.pool.models import OwnershipChange
from patron.rules import events, runs, versions
from patron.rules.models import ActionTaken, Alert, StateChange
from tests.analytics.history import History, at
from tests.rules.scenario import AS_OF, RULEBOOK, shop


def _count(sessions: sessionmaker[Session], model: type, *where: object) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_scoring_the_same_date_twice_acts_once(db: Engine, sessions: sessionmaker[Session]) -> None:
    ids = shop(sessions)
    first = runs.run_scoring(engine=db, as_of=AS_OF, horizon_days=90)
    assert first.live and first.customers == 3 and first.rulebook_version == 1
    assert first.grades == {"A": 2, "C": 1} and first.warnings == {"gone_quiet": 2}
    tasks, alerts = _count(sessions, Task), _count(sessions, Alert)
    assert tasks == 2 and alerts >= 2
    again = runs.run_scoring(engine=db, as_of=AS_OF, horizon_days=90)
    assert again.run_id != first.run_id
    assert (_count(sessions, Task), _count(sessions, Alert)) == (tasks, alerts)
    assert _count(sessions, ScoreSnapshot) == 6
    with sessions() as session:
        task = session.scalars(select(Task).where(Task.customer_id == ids["quiet"])).one()
        assert task.title == "回访 quiet" and task.assignee_id is not None
        snapshot = session.scalars(
            select(ScoreSnapshot).where(ScoreSnapshot.customer_id == ids["quiet"]).limit(1)
        ).one()
        assert snapshot.warnings == "gone_quiet"
        assert snapshot.explain["warnings"]["gone_quiet"] == {"recency_days": 300}
        assert snapshot.features["orders_total"] == 3
        loyal = session.get(Customer, ids["loyal"])
        assert loyal is not None and (loyal.grade, loyal.stage) == ("A", "active")


def test_scoring_an_empty_store_stores_an_empty_run(db: Engine) -> None:
    outcome = runs.run_scoring(engine=db, as_of=AS_OF)
    assert (outcome.customers, outcome.grades, outcome.warnings) == (0, {}, {})


def test_a_run_computes_exactly_the_catalogued_features(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF)
    with sessions() as session:
        snapshot = session.scalars(select(ScoreSnapshot).limit(1)).one()
    assert set(snapshot.features) | {"grade", "stage"} == set(FEATURES)


def test_recycling_moves_quiet_customers_to_the_pool_with_a_record(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = shop(sessions)
    outcome = runs.run_scoring(engine=db, as_of=AS_OF)
    assert outcome.applied["recycled"] == 1
    with sessions() as session:
        single = session.get(Customer, ids["single"])
        assert single is not None and single.owner_id is None
        assert session.scalar(select(func.count()).select_from(OwnershipChange)) == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "pool.recycle")
            )
            == 1
        )
    runs.run_scoring(engine=db, as_of=AS_OF)
    assert _count(sessions, OwnershipChange) == 1


def test_a_backfill_stores_snapshots_but_never_acts(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF)
    before = (_count(sessions, Task), _count(sessions, ActionTaken), _count(sessions, StateChange))
    past = runs.run_scoring(engine=db, as_of=AS_OF - timedelta(days=200))
    assert not past.live and past.applied == {}
    assert (
        _count(sessions, Task),
        _count(sessions, ActionTaken),
        _count(sessions, StateChange),
    ) == before
    assert _count(sessions, ScoreSnapshot, ScoreSnapshot.run_id == past.run_id) == 3


def test_a_failed_run_leaves_the_store_as_it_was(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop(sessions)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "apply_decisions", broken)
    with pytest.raises(RuntimeError):
        runs.run_scoring(engine=db, as_of=AS_OF)
    assert _count(sessions, ScoringRun) == 0 and _count(sessions, ScoreSnapshot) == 0
    with sessions() as session:
        graded = select(func.count()).select_from(Customer).where(Customer.grade.is_not(None))
        assert session.scalar(graded) == 0


def test_an_event_re_evaluates_one_customer_and_acts_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF - timedelta(days=1))
    tasks_before = _count(sessions, Task)
    history = History(customers=ids)
    with unit_of_work(sessions) as session:
        history.order(session, "quiet", 399, 10)
    outcome = events.on_event(engine=db, customer_id=ids["quiet"], moment=at(400))
    assert outcome.warnings == []
    with unit_of_work(sessions) as session:
        history.interaction(session, "loyal", 399)
    later = at(400 + 120)
    fired = events.on_event(engine=db, customer_id=ids["loyal"], moment=later)
    assert fired.warnings == ["gone_quiet"] and fired.applied["tasks"] == 1
    again = events.on_event(engine=db, customer_id=ids["loyal"], moment=later)
    assert again.applied["tasks"] == 0
    assert _count(sessions, Task) == tasks_before + 1


def test_points_actions_go_through_the_ledger_once(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = shop(sessions)
    points_rules = RULEBOOK.replace(
        "      - alert: true\n",
        "      - alert: true\n      - award_points: 50\n      - deduct_points: 80\n",
    )
    with unit_of_work(sessions) as session:
        versions.apply(session.connection(), points_rules)
    first = runs.run_scoring(engine=db, as_of=AS_OF)
    runs.run_scoring(engine=db, as_of=AS_OF)
    assert (first.applied["points_awarded"], first.applied["points_deducted"]) == (100, 0)
    assert first.applied["skipped_insufficient_points"] == 2
    with sessions() as session:
        balances = dict(
            session.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)).all()
        )
        entries = session.scalar(select(func.count()).select_from(PointsEntry))
    assert balances == {ids["quiet"]: 50, ids["single"]: 50} and entries == 2
