"""What the reports page shows, over the customers the user may see: KPIs per calendar month or
quarter with the change from the period before, KPIs by grade, segment, channel and owner,
and monthly acquisition cohorts. Every number comes from `patron.analytics` (docs/kpi.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from patron.analytics.cohorts import cohort_retention
from patron.analytics.kpi import kpis
from patron.analytics.kpi_breakdowns import breakdown
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_stored import counts_by_period, every_owner
from patron.api.access import Actor, customer_scope
from patron.errors import InvalidInput
from patron.web.queries import owners_seen

UNITS = {"month": 1, "quarter": 3}
BREAKDOWNS = ("grade", "segment", "channel", "owner")
# The columns of every KPI table, in order; rates are shown as percentages.
KPI_COLUMNS = (
    "active_customers", "new_customers", "paid_orders", "revenue", "average_order_value",
    "retention_rate", "repurchase_rate", "nps", "csat",
)  # fmt: skip
RATES = frozenset({"retention_rate", "repurchase_rate", "csat", "churn_rate"})
MAX_PERIODS = 24
# The cohort table (reports page) and heatmap (dashboard) follow this many months.
COHORT_MONTHS = 12


@dataclass(frozen=True)
class PeriodRow:
    """One calendar period's KPIs and their change from the period before (None: unknown)."""

    label: str
    values: dict[str, Any]
    changes: dict[str, float | None]


def _month_start(day: date, back: int) -> date:
    """The first day of the month `back` months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _label(start: date, unit: str) -> str:
    if unit == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def calendar_periods(unit: str, last_day: date, count: int) -> list[Period]:
    """The `count` calendar months or quarters up to the one holding `last_day`, oldest first;
    the last one ends after `last_day` (it is still running)."""
    if unit not in UNITS:
        raise InvalidInput(f"'{unit}' is not a report period (use month or quarter)")
    if not 1 <= count <= MAX_PERIODS:
        raise InvalidInput(f"show between 1 and {MAX_PERIODS} periods")
    months = UNITS[unit]
    current = _month_start(last_day, (last_day.month - 1) % months)
    periods = []
    for step in range(count - 1, -1, -1):
        start = _month_start(current, step * months)
        end = _month_start(start, -months)
        periods.append(
            Period(
                datetime.combine(start, time()), datetime.combine(end, time()),
                _label(start, unit), end.isoformat(),
            )
        )  # fmt: skip
    return periods


def months_up_to(last_day: date, months: int) -> Period:
    """The `months` calendar months up to the one holding `last_day`, as one period."""
    chosen = calendar_periods("month", last_day, months)
    return Period(chosen[0].start, chosen[-1].end, chosen[0].label_from, chosen[-1].label_from)


def _change(value: Any, previous: Any) -> float | None:
    if value is None or previous is None:
        return None
    return float(value) - float(previous)


def kpis_by_period(session: Session, actor: Actor, periods: list[Period]) -> list[PeriodRow]:
    """Each period's KPIs over the actor's customers, with the change from the row before;
    ended periods come from the figures stored per owner, added up over the owners seen."""
    connection = session.connection()
    owners = owners_seen(session, actor, every_owner(connection))
    counted = counts_by_period(connection, periods, owners=owners, customers=customer_scope(actor))
    rows: list[PeriodRow] = []
    for period, counts in zip(periods, counted, strict=True):
        values = kpis(counts)
        before = rows[-1].values if rows else {}
        changes = {key: _change(values.get(key), before.get(key)) for key in KPI_COLUMNS}
        rows.append(PeriodRow(period.label_from, values, changes))
    return rows


def breakdown_rows(session: Session, actor: Actor, period: Period, by: str) -> list[dict[str, Any]]:
    """The period's KPIs per grade, segment, channel or owner, over the actor's customers."""
    if by not in BREAKDOWNS:
        raise InvalidInput(
            f"cannot break KPIs down by '{by}' (use one of: {', '.join(BREAKDOWNS)})"
        )
    connection = session.connection()
    rows = breakdown(
        connection=connection, period=period, by=by, customers=customer_scope(actor),
        owners=owners_seen(session, actor, every_owner(connection)),
    )  # fmt: skip
    for row in rows:
        row["key"] = row.get("owner") if by == "owner" else row.get(by)
    return rows


def cohort_cells(rows: list[dict[str, Any]]) -> list[list[float]]:
    """The cohort table as heatmap cells: [months after, cohort row, percent buying]."""
    return [
        [k, i, round(share * 100, 1)]
        for i, row in enumerate(rows)
        for k, share in enumerate(row["retention"])
    ]


def cohorts(session: Session, actor: Actor, period: Period) -> list[dict[str, Any]]:
    """Monthly acquisition cohorts first buying in the period: the share buying in month k."""
    return cohort_retention(
        connection=session.connection(), period=period, customers=customer_scope(actor)
    )
