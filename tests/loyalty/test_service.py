"""The points ledger: earn, redeem, adjust, earning on orders, expiry; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.errors import Conflict, InvalidInput, RuleError
from patron.loyalty import service
from patron.loyalty.models import PointsEntry
from patron.orders.models import OrderStatus
from tests import builders
from tests.loyalty.conftest import UseRules


def ledger_rows(session: Session, customer_id: int) -> list[tuple[str, int, int]]:
    rows = session.scalars(
        select(PointsEntry).where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.id)
    )
    return [(row.kind.value, row.points, row.balance_after) for row in rows]


def test_earn_redeem_adjust_keep_a_running_balance(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        staff = builders.user(session, role=builders.Role.manager)
        service.earn(session=session, customer_id=customer.id, points=100, reason="welcome")
        service.redeem(session=session, customer_id=customer.id, points=30, reason="coupon")
        service.adjust(
            session=session, customer_id=customer.id, points=-20, reason="typo", by_user_id=staff.id
        )
    with sessions() as session:
        assert ledger_rows(session, customer.id) == [
            ("earn", 100, 100), ("redeem", -30, 70), ("adjust", -20, 50),
        ]  # fmt: skip
        assert service.balance_of(session, customer.id) == 50
        audited = session.scalars(select(AuditEntry.action)).all()
        assert audited == ["loyalty.adjust"]


def test_overspending_is_refused_and_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        service.earn(session=session, customer_id=customer.id, points=50, reason="x")
    with sessions() as session, pytest.raises(service.InsufficientPoints, match="50 points"):
        service.redeem(session=session, customer_id=customer.id, points=51, reason="too much")
    with sessions() as session, pytest.raises(service.InsufficientPoints):
        service.adjust(
            session=session, customer_id=customer.id, points=-51, reason="x", by_user_id=None
        )
    with sessions() as session, pytest.raises(service.InsufficientPoints, match="0 points"):
        other = builders.customer(session)
        service.redeem(session=session, customer_id=other.id, points=1, reason="no account")
    with sessions() as session:
        assert ledger_rows(session, customer.id) == [("earn", 50, 50)]


@pytest.mark.parametrize("points", [0, -5, 10**9])
def test_points_out_of_range_are_refused(sessions: sessionmaker[Session], points: int) -> None:
    with sessions() as session:
        customer = builders.customer(session)
        with pytest.raises(InvalidInput, match="whole number"):
            service.earn(session=session, customer_id=customer.id, points=points, reason="x")


def test_an_adjustment_needs_a_reason(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer = builders.customer(session)
        with pytest.raises(InvalidInput, match="reason"):
            service.adjust(
                session=session, customer_id=customer.id, points=5, reason=" ", by_user_id=None
            )


def test_an_idempotency_key_acts_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        other = builders.customer(session, "李四")
        first = service.earn(
            session=session, customer_id=customer.id, points=10, reason="x", idempotency_key="k1"
        )
        again = service.earn(
            session=session, customer_id=customer.id, points=10, reason="x", idempotency_key="k1"
        )
        assert again.id == first.id
        with pytest.raises(Conflict, match="another customer"):
            service.earn(
                session=session, customer_id=other.id, points=10, reason="x", idempotency_key="k1"
            )
    with sessions() as session:
        assert service.balance_of(session, customer.id) == 10


def test_paid_orders_earn_points_times_the_grade_multiplier_once(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        gold = builders.customer(session, grade="A")
        plain = builders.customer(session, "李四", grade="D")
        big = builders.order(session, gold, "199.99")
        small = builders.order(session, plain, "199.99")
        refunded = builders.order(session, plain, "50", status=OrderStatus.refunded)
        entry = service.earn_for_order(session=session, order_id=big.id)
        assert entry is not None and entry.points == 399  # 199.99 × 1 × 2.0, floored
        assert service.earn_for_order(session=session, order_id=big.id) is entry
        other = service.earn_for_order(session=session, order_id=small.id)
        assert other is not None and other.points == 199
        with pytest.raises(Conflict, match="refunded"):
            service.earn_for_order(session=session, order_id=refunded.id)
    with sessions() as session:
        assert service.balance_of(session, gold.id) == 399
        assert entry.order_id == big.id
        assert entry.expires_at == service.add_months(entry.occurred_at, 24)


def test_points_for_order_follows_the_rulebook(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    use_rules("loyalty", points_per_unit=0.5, grade_multipliers={"B": 3})
    with sessions.begin() as session:
        customer = builders.customer(session, grade="B")
        order = builders.order(session, customer, "101")
        entry = service.earn_for_order(session=session, order_id=order.id)
        assert entry is not None and entry.points == 151  # 101 × 0.5 × 3 = 151.5


def test_add_months_clamps_to_the_month_end() -> None:
    assert service.add_months(datetime(2024, 3, 31, 9), -1) == datetime(2024, 2, 29, 9)
    assert service.add_months(datetime(2024, 1, 15), 24) == datetime(2026, 1, 15)
    assert service.add_months(datetime(2024, 1, 15), -13) == datetime(2022, 12, 15)


def test_bonus_rules_add_to_the_base_points(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    bonus = [
        {"min_amount": 500, "extra_points": 50},
        {"channels": ["wechat"], "multiplier": 2},
        {"grades": ["A"], "extra_points": 1000},
    ]
    use_rules("loyalty", grade_multipliers={}, bonus=bonus)
    with sessions.begin() as session:
        customer = builders.customer(session, grade="B")
        small = builders.order(session, customer, "100", channel="wechat")
        large = builders.order(session, customer, "600", channel="store")
        assert service.earn_for_order(session=session, order_id=small.id).points == 200  # type: ignore[union-attr]
        assert service.earn_for_order(session=session, order_id=large.id).points == 650  # type: ignore[union-attr]


def test_a_malformed_bonus_rule_is_named(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    use_rules("loyalty", bonus=[{"min_amount": 10, "extra_points": 5}, {"bonus_points": 5}])
    with sessions() as session:
        order = builders.order(session, builders.customer(session))
        with pytest.raises(RuleError, match=r"loyalty\.bonus\.1: bonus_points"):
            service.earn_for_order(session=session, order_id=order.id)
