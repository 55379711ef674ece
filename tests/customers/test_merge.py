from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.models import ScoreSnapshot
from patron.audit.models import AuditEntry
from patron.customers import repository, service
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.errors import Conflict, InvalidInput, NotFound
from patron.loyalty.models import LoyaltyAccount
from patron.orders.models import Order
from tests import builders


def owned_by(session: Session, model: Any, customer: Customer) -> int:
    query = select(func.count()).select_from(model).where(model.customer_id == customer.id)
    return session.scalar(query) or 0


def one_of_everything(session: Session, customer: Customer) -> None:
    """A row of every kind that belongs to a customer."""
    builders.order(session, customer)
    builders.order(session, customer)
    builders.interaction(session, customer)
    builders.task(session, customer)
    builders.ticket(session, customer)
    builders.survey_response(session, customer)
    builders.points(session, customer, 30)
    builders.tier_change(session, customer)
    builders.contact(session, customer)
    builders.state_change(session, customer)
    builders.alert(session, customer)
    builders.action_taken(session, customer)
    builders.ownership_change(session, customer, None, reason="released")


def test_merge_moves_everything_fills_gaps_and_records_counts(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        agent = builders.user(session)
        source = builders.customer(
            session,
            "王五",
            external_id="S",
            phone="13800138000",
            city="上海",
            custom_fields={"wechat": "w5", "vip": "no"},
        )
        into = builders.customer(
            session, "王 五", external_id="K", email="w@x.cn", custom_fields={"vip": "yes"}
        )
        one_of_everything(session, source)
        builders.points(session, into, 20)
        builders.tag(session, source, "shared")
        builders.tag(session, source, "only-source")
        builders.tag(session, into, "shared")
        both_scored, source_only = builders.scoring_run(session), builders.scoring_run(session)
        builders.snapshot(session, both_scored, source)
        builders.snapshot(session, both_scored, into, grade="A")
        builders.snapshot(session, source_only, source)
        report = service.merge(
            session=session, source_id=source.id, into_id=into.id, user_id=agent.id
        )
        session.commit()
    assert report.moved == {
        "orders": 2,
        "interactions": 1,
        "tasks": 1,
        "tickets": 1,
        "survey_responses": 1,
        "points_entries": 1,
        "tier_changes": 1,
        "contacts": 1,
        "state_changes": 1,
        "alerts": 1,
        "actions_taken": 1,
        "ownership_changes": 1,
        "tags": 1,
        "score_snapshots": 1,
        "score_snapshots_dropped": 1,
        "points": 30,
        "merged_customers": 0,
    }
    with sessions() as session:
        kept = session.get_one(Customer, into.id)
        gone = session.get_one(Customer, source.id)
        assert (kept.phone, kept.city, kept.email) == ("+8613800138000", "上海", "w@x.cn")
        assert kept.custom_fields == {"wechat": "w5", "vip": "yes"}
        assert gone.merged_into_id == kept.id and gone.deleted_at is not None
        assert owned_by(session, Order, kept) == 2 and owned_by(session, Order, gone) == 0
        assert repository.tags_of(session, kept.id) == {"shared", "only-source"}
        assert repository.tags_of(session, gone.id) == set()
        assert session.get_one(LoyaltyAccount, kept.id).balance == 50
        assert session.get(LoyaltyAccount, gone.id) is None
        grades = session.execute(
            select(ScoreSnapshot.run_id, ScoreSnapshot.grade)
            .where(ScoreSnapshot.customer_id == kept.id)
            .order_by(ScoreSnapshot.run_id)
        ).all()
        assert [tuple(g) for g in grades] == [(both_scored.id, "A"), (source_only.id, "B")]
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_id, entry.user_id) == (
        "customer.merge",
        str(into.id),
        agent.id,
    )
    assert entry.detail["moved"]["orders"] == 2 and entry.detail["source_external_id"] == "S"
    assert set(entry.detail["filled"]) == {"phone", "city", "custom_fields"}


def test_the_survivor_gets_a_loyalty_account_when_it_had_none(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        source, into = builders.customer(session, "甲"), builders.customer(session, "乙")
        builders.points(session, source, 40)
        session.get_one(LoyaltyAccount, source.id).tier = "gold"
        service.merge(session=session, source_id=source.id, into_id=into.id)
        account = session.get_one(LoyaltyAccount, into.id)
    assert (account.balance, account.tier) == (40, "gold")


def test_rows_already_loaded_follow_the_merge(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        source, into = builders.customer(session, "甲"), builders.customer(session, "乙")
        earlier = builders.customer(session, "丙", merged_into_id=source.id)
        order = builders.order(session, source)
        report = service.merge(session=session, source_id=source.id, into_id=into.id)
        assert report.moved["merged_customers"] == 1
        assert earlier.merged_into_id == into.id and order.customer_id == into.id


def test_merge_refuses_itself_missing_and_gone_customers(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        live = builders.customer(session, "甲", external_id="L")
        other = builders.customer(session, "乙", external_id="O")
        service.merge(session=session, source_id=other.id, into_id=live.id)
        with pytest.raises(InvalidInput, match="cannot be merged into itself"):
            service.merge(session=session, source_id=live.id, into_id=live.id)
        with pytest.raises(NotFound, match="no customer with id 999999"):
            service.merge(session=session, source_id=999_999, into_id=live.id)
        with pytest.raises(Conflict, match="customer 'O' was merged into 'L'"):
            service.merge(session=session, source_id=live.id, into_id=other.id)
        with pytest.raises(Conflict, match="customer 'O' was merged into 'L'"):
            service.merge(session=session, source_id=other.id, into_id=live.id)
        deleted = builders.customer(session, "丙", external_id="D", deleted_at=live.created_at)
        with pytest.raises(Conflict, match="customer 'D' is deleted"):
            service.merge(session=session, source_id=live.id, into_id=deleted.id)


def test_a_failure_mid_merge_leaves_nothing_moved(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work(sessions) as session:
        source, into = builders.customer(session, "甲"), builders.customer(session, "乙")
        one_of_everything(session, source)
        builders.tag(session, source, "t")
    moved_before_failing: list[int] = []

    def fail(session: Session, source_id: int, into_id: int) -> int:
        # By now orders, tickets, tags and snapshots have moved inside the transaction.
        moved_before_failing.append(owned_by(session, Order, into))
        raise RuntimeError("disk full")

    monkeypatch.setattr(repository, "move_loyalty", fail)
    with pytest.raises(RuntimeError, match="disk full"), unit_of_work(sessions) as session:
        service.merge(session=session, source_id=source.id, into_id=into.id)
    assert moved_before_failing == [2]
    with sessions() as session:
        assert owned_by(session, Order, source) == 2 and owned_by(session, Order, into) == 0
        assert repository.tags_of(session, source.id) == {"t"}
        assert session.get_one(LoyaltyAccount, source.id).balance == 30
        left = session.get_one(Customer, source.id)
        assert left.merged_into_id is None and left.deleted_at is None
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
