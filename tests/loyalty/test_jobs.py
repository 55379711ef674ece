"""The worker's loyalty jobs: points expiry, oldest points first, once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.loyalty import jobs, service
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind
from tests import builders
from tests.loyalty.conftest import UseRules
from tests.loyalty.test_service import ledger_rows


def _earn_at(session: Session, customer_id: int, points: int, when: datetime) -> None:
    service.earn(session=session, customer_id=customer_id, points=points, reason="x", moment=when)


def test_expiry_spends_the_oldest_points_first_and_runs_once(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    use_rules("loyalty", points_expire_months=12)
    with sessions.begin() as session:
        customer = builders.customer(session)
        spent = builders.customer(session, "李四")
        _earn_at(session, customer.id, 100, datetime(2023, 1, 10))
        _earn_at(session, customer.id, 50, datetime(2023, 3, 10))
        service.redeem(session=session, customer_id=customer.id, points=120, reason="x",
                       moment=datetime(2023, 4, 1))  # fmt: skip
        _earn_at(session, customer.id, 70, datetime(2023, 9, 1))
        _earn_at(session, spent.id, 40, datetime(2023, 1, 10))
        service.redeem(session=session, customer_id=spent.id, points=40, reason="x")
    run_at = datetime(2024, 6, 1)
    with sessions.begin() as session:
        # Of the 150 old points the redemption of 120 spent the oldest: 30 remain to expire;
        # the 70 earned in September are inside the window.
        assert jobs.expire_points(session=session, moment=run_at) == {customer.id: 30}
    with sessions.begin() as session:
        assert jobs.expire_points(session=session, moment=run_at) == {}
        assert ledger_rows(session, customer.id)[-1] == ("expire", -30, 70)
        assert service.balance_of(session, customer.id) == 70
        assert service.balance_of(session, spent.id) == 0
    with sessions.begin() as session:
        later = jobs.expire_points(session=session, moment=datetime(2024, 9, 2))
        assert later == {customer.id: 70}
        account = session.get(LoyaltyAccount, customer.id)
        assert account is not None and account.balance == 0


def test_expiry_is_off_without_a_window(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    use_rules("loyalty", points_expire_months=None)
    with sessions.begin() as session:
        customer = builders.customer(session)
        _earn_at(session, customer.id, 100, datetime(2015, 1, 10))
        assert jobs.expire_points(session=session) == {}
        kinds = session.scalars(select(PointsEntry.kind)).all()
        assert kinds == [PointsKind.earn]
