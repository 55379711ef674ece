"""The worker's periodic loyalty jobs: expiring points and the period-end tier review.

Both work on all accounts at once in SQL and are safe to re-run: a second run finds nothing
left to do (the review is recorded per closed period). They never commit; the worker's unit
of work does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.db import now
from patron.loyalty import service
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind, TierChange, TierReview


def expire_points(*, session: Session, moment: datetime | None = None) -> dict[int, int]:
    """Write expire entries for points earned before the window and not yet spent or expired.

    FIFO: every debit (redemption, deduction, earlier expiry) spends the oldest points first,
    so what is left of the credits older than the cut-off is
    max(0, credits before the cut-off − all debits so far). Re-running finds nothing more.
    Returns {customer_id: points expired}.
    """
    months = service.loyalty_rules(session).points_expire_months
    if months is None:
        return {}
    moment = moment or now()
    cutoff = service.add_months(moment, -months)
    old = and_(PointsEntry.points > 0, PointsEntry.occurred_at <= cutoff)
    candidates = select(PointsEntry.customer_id).where(old).distinct()
    # Lock the candidate accounts first (a no-op write: the row locks on PostgreSQL, the write
    # lock on SQLite), so no redemption can commit between reading the ledger and expiring.
    session.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id.in_(candidates))
        .values(balance=LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    )
    old_credits = func.sum(case((old, PointsEntry.points), else_=0))
    debits = func.sum(case((PointsEntry.points < 0, -PointsEntry.points), else_=0))
    due = (
        select(PointsEntry.customer_id, (old_credits - debits).label("due"))
        .where(PointsEntry.customer_id.in_(candidates))
        .group_by(PointsEntry.customer_id)
        .having(old_credits - debits > 0)
        .subquery()
    )
    rows = session.execute(
        select(due.c.customer_id, due.c.due, LoyaltyAccount.balance).join(
            LoyaltyAccount, LoyaltyAccount.customer_id == due.c.customer_id
        )
    ).all()
    if not rows:
        return {}
    session.execute(
        update(LoyaltyAccount).execution_options(synchronize_session=False),
        [{"customer_id": c, "balance": b - d, "updated_at": moment} for c, d, b in rows],
    )
    session.execute(
        insert(PointsEntry),
        [
            {"customer_id": c, "kind": PointsKind.expire, "points": -d, "balance_after": b - d,
             "reason": f"points earned by {cutoff.date().isoformat()} expired",
             "occurred_at": moment}
            for c, d, b in rows
        ],
    )  # fmt: skip
    return {c: int(d) for c, d, _ in rows}


def period_end_tiers(*, session: Session, moment: datetime | None = None) -> dict[str, int]:
    """The period-end review: every account gets the tier its last 12 months earn, up or down.

    Returns {"upgrades": N, "downgrades": N}."""
    moment = moment or now()
    rules = service.loyalty_rules(session)
    values = service.window_values(rules, moment).subquery()
    value = func.coalesce(values.c.value, 0)
    steps = list(reversed(service.ladder(rules)))
    target = (
        case(*[(value >= threshold, literal(tier.id)) for threshold, tier in steps], else_=None)
        if steps
        else literal(None)
    )
    rows = session.execute(
        select(LoyaltyAccount.customer_id, LoyaltyAccount.tier, target.label("target"))
        .outerjoin(values, values.c.customer_id == LoyaltyAccount.customer_id)
        .with_for_update(of=LoyaltyAccount)
    ).all()
    changed = [(c, old, new) for c, old, new in rows if old != new]
    ups = {c for c, old, new in changed if service.rank(rules, new) > service.rank(rules, old)}
    if changed:
        session.execute(
            update(LoyaltyAccount).execution_options(synchronize_session=False),
            [{"customer_id": c, "tier": new, "tier_since": moment} for c, _, new in changed],
        )
        session.execute(
            insert(TierChange),
            [
                {"customer_id": c, "from_tier": old, "to_tier": new, "changed_at": moment,
                 "reason": "upgrade" if c in ups else "period_end"}
                for c, old, new in changed
            ],
        )  # fmt: skip
    return {"upgrades": len(ups), "downgrades": len(changed) - len(ups)}


def last_period(moment: datetime, every_months: int) -> tuple[str, datetime]:
    """The review period that ended last at `moment` (periods of `every_months`, aligned to the
    calendar year): its name, such as `2025-01/12m`, and its end."""
    start_month = (moment.month - 1) // every_months * every_months + 1
    end = datetime(moment.year, start_month, 1)
    begin = service.add_months(end, -every_months)
    return f"{begin.year}-{begin.month:02d}/{every_months}m", end


def review_tiers(*, session: Session, moment: datetime | None = None) -> dict[str, Any]:
    """The period-end tier review of the last closed period, once: the first run after a period
    ends records it and moves every account to the tier earned by the period end; later runs
    (or a second worker) find the period recorded and change nothing."""
    moment = moment or now()
    rules = service.loyalty_rules(session)
    period, end = last_period(moment, rules.review_every_months)
    insert_ = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    claimed = session.execute(
        insert_(TierReview)
        .values(period=period, period_end=end, reviewed_at=moment)
        .on_conflict_do_nothing(index_elements=["period"])
        .returning(TierReview.period)
    ).scalar()
    if claimed is None:
        return {"period": period, "reviewed": 0, "upgrades": 0, "downgrades": 0}
    counts = period_end_tiers(session=session, moment=end)
    session.execute(update(TierReview).where(TierReview.period == period).values(**counts))
    return {"period": period, "reviewed": 1, **counts}
