"""Member tiers: upgrade at once, downgrade at the period end, with history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.loyalty import jobs, service
from patron.loyalty.models import LoyaltyAccount, TierChange
from patron.rules import rulebook as rulebooks
from tests import builders
from tests.loyalty.conftest import UseRules

NOW = datetime(2024, 6, 1, 12, 0)


def _history(session: Session, customer_id: int) -> list[tuple[str | None, str | None, str]]:
    rows = session.scalars(
        select(TierChange).where(TierChange.customer_id == customer_id).order_by(TierChange.id)
    )
    return [(row.from_tier, row.to_tier, row.reason) for row in rows]


def _tier(session: Session, customer_id: int) -> str | None:
    account = session.get(LoyaltyAccount, customer_id, populate_existing=True)
    return account.tier if account else None


def test_tier_for_reads_the_ladder() -> None:
    rules = rulebooks.default().loyalty
    assert [tier.id for _, tier in service.ladder(rules)] == ["member", "silver", "gold", "diamond"]
    assert service.tier_for(rules, 0).id == "member"  # type: ignore[union-attr]
    assert service.tier_for(rules, 9999.99).id == "silver"  # type: ignore[union-attr]
    assert service.tier_for(rules, 50000).id == "diamond"  # type: ignore[union-attr]


def test_an_upgrade_happens_at_once_a_downgrade_waits_for_the_period_end(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        old = builders.order(session, customer, "12000", ordered_at=datetime(2023, 3, 1))
        service.earn_for_order(session=session, order_id=old.id, moment=datetime(2023, 3, 1))
        assert _tier(session, customer.id) == "gold"
    with sessions.begin() as session:
        # A year on, the 12-month spend is 0: no downgrade between period ends.
        assert service.refresh_tier(session=session, customer_id=customer.id, moment=NOW) is None
        assert _tier(session, customer.id) == "gold"
    with sessions.begin() as session:
        assert jobs.period_end_tiers(session=session, moment=NOW) == {
            "upgrades": 0, "downgrades": 1,
        }  # fmt: skip
        assert jobs.period_end_tiers(session=session, moment=NOW) == {
            "upgrades": 0, "downgrades": 0,
        }  # fmt: skip
    with sessions() as session:
        assert _tier(session, customer.id) == "member"
        assert _history(session, customer.id) == [
            (None, "gold", "upgrade"), ("gold", "member", "period_end"),
        ]  # fmt: skip


def test_period_end_also_catches_up_upgrades(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session)
        service.earn(session=session, customer_id=customer.id, points=5, reason="x")
        builders.order(session, customer, "2500", ordered_at=datetime(2024, 5, 1))
        assert jobs.period_end_tiers(session=session, moment=NOW) == {
            "upgrades": 1, "downgrades": 0,
        }  # fmt: skip
        assert _tier(session, customer.id) == "silver"
        assert _history(session, customer.id) == [(None, "silver", "upgrade")]


def test_immediate_downgrades_and_points_basis(
    use_rules: UseRules, sessions: sessionmaker[Session]
) -> None:
    tiers = [
        {"id": "member", "label": {"en": "Member"}, "min_points": 0},
        {"id": "vip", "label": {"en": "VIP"}, "min_points": 500, "benefits": {"en": "Free gift"}},
    ]
    use_rules("loyalty", tier_basis="points", tiers=tiers, downgrade="immediate")
    with sessions.begin() as session:
        customer = builders.customer(session)
        service.earn(session=session, customer_id=customer.id, points=600, reason="x",
                     moment=datetime(2023, 1, 1))  # fmt: skip
        service.refresh_tier(session=session, customer_id=customer.id, moment=datetime(2023, 1, 1))
        assert _tier(session, customer.id) == "vip"
        assert service.qualifying_value(session=session, customer_id=customer.id, moment=NOW) == 0
        change = service.refresh_tier(session=session, customer_id=customer.id, moment=NOW)
        assert change is not None and (change.from_tier, change.to_tier) == ("vip", "member")
        assert change.reason == "downgrade"
