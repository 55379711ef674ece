"""What the survey and loyalty pages show, under the API's customer record rules: CSAT and NPS
by month, the answers, and the loyalty accounts with their tiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from patron.analytics.kpi import ratio
from patron.analytics.kpi_period import Period
from patron.api.access import Actor, visible_customers, writable_customers
from patron.api.pagination import SortKey, as_datetime, paginate
from patron.customers.models import Customer
from patron.loyalty.models import LoyaltyAccount
from patron.service.models import SurveyKind, SurveyResponse
from patron.web.work_queries import customer_names

ANSWER_SORT = {"answered_at": SortKey(SurveyResponse.answered_at, as_datetime)}
ACCOUNT_SORT = {"balance": SortKey(LoyaltyAccount.balance, int)}


def _live(actor: Actor) -> ColumnElement[bool]:
    return and_(
        visible_customers(actor), Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)
    )


def _month(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_of(period: Period) -> list[str]:
    """Each calendar month the period touches, as `YYYY-MM`."""
    months, year, month = [], period.start.year, period.start.month
    while datetime(year, month, 1) < period.end:
        months.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@dataclass(frozen=True)
class SurveyMonth:
    """One month's answers: NPS (promoters minus detractors, per cent) and CSAT (4-5 share)."""

    month: str
    nps_responses: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_responses: int = 0
    satisfied: int = 0

    @property
    def nps(self) -> float | None:
        return ratio(100 * (self.promoters - self.detractors), self.nps_responses)

    @property
    def csat(self) -> float | None:
        return ratio(self.satisfied, self.csat_responses)

    @property
    def passives(self) -> int:
        return self.nps_responses - self.promoters - self.detractors


def survey_trend(session: Session, actor: Actor, period: Period) -> list[SurveyMonth]:
    """CSAT and NPS per month of the period, by the KPI definitions (docs/kpi.md)."""
    nps = SurveyResponse.kind == SurveyKind.nps
    csat = SurveyResponse.kind == SurveyKind.csat
    month = _month(session, SurveyResponse.answered_at).label("month")
    query = (
        select(
            month,
            func.count().filter(nps),
            func.count().filter(nps, SurveyResponse.score >= 9),
            func.count().filter(nps, SurveyResponse.score <= 6),
            func.count().filter(csat),
            func.count().filter(csat, SurveyResponse.score >= 4),
        )
        .join(Customer, Customer.id == SurveyResponse.customer_id)
        .where(_live(actor), SurveyResponse.score.is_not(None))
        .where(period.within(SurveyResponse.answered_at))
        .group_by(month)
    )
    found = {
        row[0]: SurveyMonth(row[0], *(int(n) for n in row[1:])) for row in session.execute(query)
    }
    return [found.get(label, SurveyMonth(label)) for label in months_of(period)]


def total(months: list[SurveyMonth]) -> SurveyMonth:
    """The whole period's counts."""
    return SurveyMonth(
        "", *(sum(getattr(m, name) for m in months) for name in
              ("nps_responses", "promoters", "detractors", "csat_responses", "satisfied"))
    )  # fmt: skip


def answers(
    session: Session, actor: Actor, period: Period, *, kind: SurveyKind | None,
    cursor: str | None, limit: int,
) -> tuple[Sequence[SurveyResponse], str | None, dict[int, str]]:  # fmt: skip
    """The period's answers about customers the actor sees, newest first, with their names."""
    query = (
        select(SurveyResponse)
        .join(Customer, Customer.id == SurveyResponse.customer_id)
        .where(_live(actor), period.within(SurveyResponse.answered_at))
    )
    if kind is not None:
        query = query.where(SurveyResponse.kind == kind)
    rows, next_cursor = paginate(
        session, query, sort="-answered_at", keys=ANSWER_SORT, id_column=SurveyResponse.id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return rows, next_cursor, customer_names(session, [r.customer_id for r in rows])


def accounts(
    session: Session, actor: Actor, *, tier: str, q: str, cursor: str | None, limit: int
) -> tuple[Sequence[LoyaltyAccount], str | None, dict[int, str]]:
    """Loyalty accounts of customers the actor sees, the largest balance first."""
    query = select(LoyaltyAccount).join(Customer, Customer.id == LoyaltyAccount.customer_id)
    query = query.where(_live(actor))
    if tier:
        query = query.where(LoyaltyAccount.tier == tier)
    if q:
        query = query.where(Customer.name.contains(q, autoescape=True))
    rows, next_cursor = paginate(
        session, query, sort="-balance", keys=ACCOUNT_SORT, id_column=LoyaltyAccount.customer_id,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return rows, next_cursor, customer_names(session, [r.customer_id for r in rows])


def is_writable(session: Session, actor: Actor, customer_id: int) -> bool:
    """Whether the actor may change this customer (an agent: only their own)."""
    query = select(Customer.id).where(Customer.id == customer_id, writable_customers(actor))
    return session.scalar(query) is not None
