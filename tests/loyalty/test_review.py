"""The period-end tier review as the worker runs it: once per closed period, as of its end."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.loyalty import jobs, service
from patron.loyalty.models import LoyaltyAccount, TierChange, TierReview
from tests import builders
from tests.loyalty.conftest import UseRules


@pytest.mark.parametrize(
    ("moment", "months", "period", "end"),
    [
        (datetime(2025, 1, 3, 3, 30), 12, "2024-01/12m", datetime(2025, 1, 1)),
        (datetime(2025, 12, 31, 23), 12, "2024-01/12m", datetime(2025, 1, 1)),
        (datetime(2025, 5, 20), 3, "2025-01/3m", datetime(2025, 4, 1)),
        (datetime(2025, 1, 1), 1, "2024-12/1m", datetime(2025, 1, 1)),
        (datetime(2025, 8, 1), 6, "2025-01/6m", datetime(2025, 7, 1)),
    ],
)
def test_the_last_closed_period(moment: datetime, months: int, period: str, end: datetime) -> None:
    assert jobs.last_period(moment, months) == (period, end)


def _tier_changes(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TierChange)) or 0


def test_the_review_runs_once_per_period_as_of_its_end(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    use_rules("loyalty", review_every_months=3)
    with sessions.begin() as session:
        lapsed = builders.customer(session, "王五")
        order = builders.order(session, lapsed, "12000", ordered_at=datetime(2024, 2, 1))
        service.earn_for_order(session=session, order_id=order.id, moment=datetime(2024, 2, 1))
        late = builders.customer(session, "赵六")
        service.earn(session=session, customer_id=late.id, points=1, reason="sign-up",
                     moment=datetime(2025, 1, 2))  # fmt: skip
        # Bought after the period ended: it counts for the next review, not this one.
        builders.order(session, late, "3000", ordered_at=datetime(2025, 4, 2))
        assert _tier_changes(session) == 1  # gold for 王五 on his order
    first = datetime(2025, 4, 3, 3, 30)
    with sessions.begin() as session:
        outcome = jobs.review_tiers(session=session, moment=first)
        # 王五's spend left the window: gold to member; 赵六 enters as a member.
        assert outcome == {"period": "2025-01/3m", "reviewed": 1, "upgrades": 1, "downgrades": 1}
    for again in (first, datetime(2025, 6, 30)):
        with sessions.begin() as session:
            assert jobs.review_tiers(session=session, moment=again)["reviewed"] == 0
            assert _tier_changes(session) == 3
    with sessions() as session:
        account = session.get(LoyaltyAccount, lapsed.id)
        assert account is not None and account.tier == "member"
        assert account.tier_since == datetime(2025, 4, 1)  # the period end, not the run
        assert session.get(LoyaltyAccount, late.id).tier == "member"  # type: ignore[union-attr]
        review = session.get(TierReview, "2025-01/3m")
        assert review is not None and (review.upgrades, review.downgrades) == (1, 1)
    with sessions.begin() as session:
        outcome = jobs.review_tiers(session=session, moment=datetime(2025, 7, 1, 3, 30))
        assert outcome == {"period": "2025-04/3m", "reviewed": 1, "upgrades": 1, "downgrades": 0}
        assert session.get(LoyaltyAccount, late.id).tier == "silver"  # type: ignore[union-attr]
