"""Survey results: CSAT and NPS by month over a period (charts and a table) and the answers,
about the customers the user may see."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from patron.analytics.kpi_period import Period, parse_period
from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.db import now
from patron.service.models import SurveyKind
from patron.web import member_queries as members
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
PAGE_SIZE = 25
DEFAULT_MONTHS = 12


def _default_from(today: date) -> str:
    """The first day of the month DEFAULT_MONTHS - 1 months ago: this month and the 11 before."""
    index = today.year * 12 + today.month - 1 - (DEFAULT_MONTHS - 1)
    return date(index // 12, index % 12 + 1, 1).isoformat()


def _period(date_from: str, date_to: str) -> Period:
    today = now().date()
    return parse_period(date_from or _default_from(today), date_to or None, today=today)


@router.get("/surveys")
def survey_results(
    request: Request,
    session: SessionDep,
    actor: Reader,
    date_from: Annotated[str, Query(alias="from", max_length=32)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=32)] = "",
    kind: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """CSAT and NPS per month, the period's totals, and the answers newest first."""
    period = _period(date_from, date_to)
    months = members.survey_trend(session, actor, period)
    chosen_kind = next((k for k in SurveyKind if k.value == kind), None)
    rows, next_cursor, names = members.answers(
        session, actor, period, kind=chosen_kind, cursor=cursor, limit=PAGE_SIZE
    )
    chosen = {k: v for k, v in (("from", date_from), ("to", date_to), ("kind", kind)) if v}
    chart = {
        "months": [m.month for m in months],
        "nps": [None if m.nps is None else round(m.nps, 1) for m in months],
        "csat": [None if m.csat is None else round(m.csat * 100, 1) for m in months],
        "nps_responses": [m.nps_responses for m in months],
        "csat_responses": [m.csat_responses for m in months],
    }
    return render(
        request, "surveys.html", actor, period=period, months=months, totals=members.total(months),
        chart=chart, answers=rows, names=names, kinds=[k.value for k in SurveyKind],
        chosen=chosen, first_url="?" + urlencode(chosen),
        next_url="?" + urlencode({**chosen, "cursor": next_cursor}) if next_cursor else None,
    )  # fmt: skip
