"""The dashboard's two trends, warnings raised and NPS and CSAT answers per month over the
twelve months up to a scoring run, counted when the run finishes and stored per owner.

Why stored, not counted on each visit: at 1M customers a year holds millions of alerts and
hundreds of thousands of answers. Counting them for a visit reads every row of the window
(an agent sees the pool, a third of the customers, so scoping does not shrink it), which no
index makes cheap and which would take most of the page's 300 ms. A run stores one small row
per owner (and one for the pool, owner None, always written, so "counted, nothing found" is
told apart from "not counted"); a visit reads the latest run's rows and adds up those of the
owners the user may see, as `dashboard_summary` does for the charts, so an agent never
counts another agent's customers.

Why that stays correct: every run counts the whole window again from the records, nothing
is added to in place, so a late import or a customer handed to another owner is right after
the next run. Until then the trends are those of the run's moment, like the rest of the
dashboard: answers given and alerts raised by event runs since then join on the next run.

Warnings are the `alerts` rows: the one record of a warning raised that keeps its rule and
the severity it had, written once per rule, customer and cooldown period. A warning whose
rule takes no alert action (a task only) is not among them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    and_,
    delete,
    extract,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.analytics.kpi import ratio
from patron.analytics.models import ScoringRun
from patron.customers.models import Customer
from patron.db import Base, Id
from patron.rules.models import Alert
from patron.service.models import SurveyKind, SurveyResponse

MONTHS = 12
# Per month: NPS answers, promoters (9-10), detractors (0-6), CSAT answers, their score total.
SURVEY_COUNTS = 5


class DashboardTrends(Base):
    """One owner's monthly warnings and survey answers in one scoring run (owner None: the
    pool). `figures`: {"warnings": [[month, rule, severity, n], ...], "surveys": {month:
    [nps answers, promoters, detractors, csat answers, csat score total]}}."""

    __tablename__ = "dashboard_trends"
    __table_args__ = (Index("ix_dashboard_trends_run_owner", "run_id", "owner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None]
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)


def months_up_to(moment: datetime, count: int = MONTHS) -> list[str]:
    """The `count` calendar months ending with the moment's, oldest first, as `YYYY-MM`."""
    last = moment.year * 12 + moment.month - 1
    return [f"{index // 12}-{index % 12 + 1:02d}" for index in range(last - count + 1, last + 1)]


def _window(moment: datetime, column: Any) -> ColumnElement[bool]:
    """From the first day of the window's first month up to the moment itself (a run's
    alerts are raised at its as-of moment)."""
    year, month = (int(part) for part in months_up_to(moment)[0].split("-"))
    return and_(column >= datetime(year, month, 1), column <= moment)


def _month(column: Any) -> list[Any]:
    return [extract("year", column).label("year"), extract("month", column).label("month")]


def _label(year: Any, month: Any) -> str:
    return f"{int(year)}-{int(month):02d}"


def _live(scope: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    return [scope, Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)]


def _empty() -> dict[str, Any]:
    return {"warnings": [], "surveys": {}}


def _warnings(connection: Connection, moment: datetime, scope: ColumnElement[bool],
              figures: dict[int | None, dict[str, Any]]) -> None:  # fmt: skip
    year, month = _month(Alert.raised_at)
    query = (
        select(Customer.owner_id, year, month, Alert.rule_id, Alert.severity, func.count())
        .join(Customer, Customer.id == Alert.customer_id)
        .where(*_live(scope), _window(moment, Alert.raised_at))
        .group_by(Customer.owner_id, year, month, Alert.rule_id, Alert.severity)
    )
    for owner, y, m, rule, severity, n in connection.execute(query):
        figures.setdefault(owner, _empty())["warnings"].append(
            [_label(y, m), rule, severity, int(n)]
        )


def _surveys(connection: Connection, moment: datetime, scope: ColumnElement[bool],
             figures: dict[int | None, dict[str, Any]]) -> None:  # fmt: skip
    nps = SurveyResponse.kind == SurveyKind.nps
    csat = SurveyResponse.kind == SurveyKind.csat
    year, month = _month(SurveyResponse.answered_at)
    query = (
        select(
            Customer.owner_id, year, month,
            func.count().filter(nps),
            func.count().filter(nps, SurveyResponse.score >= 9),
            func.count().filter(nps, SurveyResponse.score <= 6),
            func.count().filter(csat),
            func.coalesce(func.sum(SurveyResponse.score).filter(csat), 0),
        )
        .join(Customer, Customer.id == SurveyResponse.customer_id)
        .where(*_live(scope), SurveyResponse.score.is_not(None))
        .where(_window(moment, SurveyResponse.answered_at))
        .group_by(Customer.owner_id, year, month)
    )  # fmt: skip
    for owner, y, m, *counts in connection.execute(query):
        figures.setdefault(owner, _empty())["surveys"][_label(y, m)] = [int(n) for n in counts]


def count_trends(
    connection: Connection, moment: datetime, scope: ColumnElement[bool] | None = None
) -> dict[int | None, dict[str, Any]]:
    """Each owner's warnings and answers in the window up to the moment, over the live
    customers in `scope` (all when None); the pool always has an entry."""
    where = true() if scope is None else scope
    figures: dict[int | None, dict[str, Any]] = {None: _empty()}
    _warnings(connection, moment, where, figures)
    _surveys(connection, moment, where, figures)
    return figures


def write_trends(connection: Connection, run_id: int) -> None:
    """Count and store the run's trends per owner up to its as-of moment (inside the run's
    transaction)."""
    moment = connection.execute(
        select(ScoringRun.as_of).where(ScoringRun.id == run_id)
    ).scalar_one()
    rows = [
        {"run_id": run_id, "owner_id": owner, "figures": figures}
        for owner, figures in count_trends(connection, moment).items()
    ]
    connection.execute(delete(DashboardTrends).where(DashboardTrends.run_id == run_id))
    connection.execute(insert(DashboardTrends), rows)


def stored_trends(connection: Connection, run_id: int) -> dict[int | None, dict[str, Any]]:
    """The run's stored trends by owner; empty when the run stored none (an older run)."""
    rows = connection.execute(
        select(DashboardTrends.owner_id, DashboardTrends.figures).where(
            DashboardTrends.run_id == run_id
        )
    )
    return {row.owner_id: row.figures for row in rows}


@dataclass
class Trends:
    """Several owners' trends added up, month by month over `months`."""

    months: list[str]
    by_rule: dict[str, list[int]] = field(default_factory=dict)
    by_severity: dict[str, list[int]] = field(default_factory=dict)
    surveys: dict[str, list[int]] = field(default_factory=dict)

    def add(self, figures: dict[str, Any]) -> None:
        """One owner's figures; months outside `months` are left out."""
        column = {month: index for index, month in enumerate(self.months)}
        for month, rule, severity, n in figures["warnings"]:
            if month in column:
                for key, table in ((rule, self.by_rule), (severity, self.by_severity)):
                    table.setdefault(key, [0] * len(self.months))[column[month]] += n
        for month, counts in figures["surveys"].items():
            if month in column:
                total = self.surveys.setdefault(month, [0] * SURVEY_COUNTS)
                self.surveys[month] = [a + b for a, b in zip(total, counts, strict=True)]

    def _survey(self, month: str) -> list[int]:
        return self.surveys.get(month, [0] * SURVEY_COUNTS)

    def nps(self) -> list[float | None]:
        """NPS per month: 100 × (promoters − detractors) / answers; None without answers."""
        return [
            ratio(100 * (promoters - detractors), answers)
            for answers, promoters, detractors, *_ in map(self._survey, self.months)
        ]

    def csat(self) -> list[float | None]:
        """The average CSAT score (1-5) per month; None without answers."""
        return [ratio(total, answers) for *_, answers, total in map(self._survey, self.months)]

    def chart(self) -> dict[str, Any]:
        """What the dashboard's two charts draw, rounded for display."""
        return {
            "months": self.months,
            "warnings": {"rule": self.by_rule, "severity": self.by_severity},
            "nps": [None if v is None else round(v, 1) for v in self.nps()],
            "csat": [None if v is None else round(v, 2) for v in self.csat()],
            "nps_answers": [self._survey(month)[0] for month in self.months],
            "csat_answers": [self._survey(month)[3] for month in self.months],
        }


def combine_trends(parts: Iterable[dict[str, Any]], months: list[str]) -> Trends:
    """The owners' figures added up over the months."""
    trends = Trends(months)
    for part in parts:
        trends.add(part)
    return trends
