"""The reports page: KPIs by month or quarter with the change from the period before, by grade,
segment, channel and owner, the cohort retention table, and all of it as an XLSX workbook.

Every figure covers only the customers the user may see (a manager's team and the pool, an
agent's own and the pool, everyone for admins and analysts). The page loads each section as
its own fragment, so the first paint does not wait for the slowest table.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.db import now
from patron.errors import InvalidInput
from patron.web import report_queries as reports
from patron.web.i18n import request_locale, translator
from patron.web.pages.base import PageRoute, render
from patron.web.report_export import workbook

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.kpi_read)]
Unit = Annotated[str, Query(max_length=8)]
Count = Annotated[int, Query(ge=1, le=reports.MAX_PERIODS)]
Day = Annotated[str, Query(alias="to", max_length=10)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day(text: str) -> date:
    if not text:
        return now().date()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"'{text}' is not a date: use YYYY-MM-DD") from exc


@router.get("/reports")
def reports_page(
    request: Request, actor: Reader, unit: Unit = "month", count: Count = 6, day: Day = ""
) -> Response:
    """The page's frame: the period choice and a placeholder loading each section."""
    last_day = _day(day)
    reports.calendar_periods(unit, last_day, count)  # refuse a bad choice before rendering
    query = f"unit={unit}&count={count}&to={last_day.isoformat()}"
    return render(
        request, "reports.html", actor, unit=unit, count=count, day=last_day.isoformat(),
        query=query, breakdowns=reports.BREAKDOWNS, units=list(reports.UNITS),
    )  # fmt: skip


@router.get("/reports/periods")
def periods(
    request: Request, session: SessionDep, actor: Reader,
    unit: Unit = "month", count: Count = 6, day: Day = "",
) -> Response:  # fmt: skip
    """KPIs per calendar period, newest last, with the change from the period before."""
    chosen = reports.calendar_periods(unit, _day(day), count)
    rows = reports.kpis_by_period(session, actor, chosen)
    return render(
        request, "fragments/report_periods.html", actor, rows=rows,
        columns=reports.KPI_COLUMNS, rates=reports.RATES,
    )  # fmt: skip


@router.get("/reports/breakdown/{by}")
def breakdown(
    request: Request, session: SessionDep, actor: Reader, by: str,
    unit: Unit = "month", day: Day = "",
) -> Response:  # fmt: skip
    """The latest period's KPIs by grade, segment, channel or owner."""
    period = reports.calendar_periods(unit, _day(day), 1)[0]
    rows = reports.breakdown_rows(session, actor, period, by)
    return render(
        request, "fragments/report_breakdown.html", actor, by=by, rows=rows, period=period,
        columns=reports.KPI_COLUMNS, rates=reports.RATES,
    )  # fmt: skip


@router.get("/reports/cohorts")
def cohorts(request: Request, session: SessionDep, actor: Reader, day: Day = "") -> Response:
    """Customers by the month of their first purchase, and the share buying in later months."""
    rows = reports.cohorts(session, actor, reports.months_up_to(_day(day), reports.COHORT_MONTHS))
    width = max((len(row["retention"]) for row in rows), default=0)
    return render(request, "fragments/report_cohorts.html", actor, rows=rows, width=width)


@router.get("/reports/export.xlsx")
def export(
    request: Request, session: SessionDep, actor: Reader,
    unit: Unit = "month", count: Count = 6, day: Day = "",
) -> Response:  # fmt: skip
    """The whole report as an XLSX workbook, one sheet per table."""
    last_day = _day(day)
    chosen = reports.calendar_periods(unit, last_day, count)
    latest = chosen[-1]
    cohort_months = reports.months_up_to(last_day, reports.COHORT_MONTHS)
    body = workbook(
        translator(request_locale(request)),
        periods=reports.kpis_by_period(session, actor, chosen),
        breakdowns={by: reports.breakdown_rows(session, actor, latest, by)
                    for by in reports.BREAKDOWNS},
        cohorts=reports.cohorts(session, actor, cohort_months),
    )  # fmt: skip
    name = f"patron-report-{unit}-{last_day.isoformat()}.xlsx"
    return Response(
        body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
