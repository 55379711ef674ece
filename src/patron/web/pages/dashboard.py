"""The dashboard: KPI cards, customers by grade and stage, the RFM grid, the CLV distribution,
warnings raised and NPS and CSAT by month, and valuable customers at risk, each with a
one-click follow-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response

from patron.analytics.dashboard_trends import (
    combine_trends,
    count_trends,
    months_up_to,
    stored_trends,
)
from patron.analytics.kpi import latest_run_id
from patron.analytics.kpi_period import parse_period
from patron.analytics.models import ScoringRun
from patron.api.access import (
    Actor,
    Permission,
    require_writable,
    visible_customer,
    visible_customers,
)
from patron.api.deps import CurrentActor, SessionDep, requires
from patron.audit.service import record
from patron.customers.models import CustomerScore
from patron.customers.repository import owner_names
from patron.db import now
from patron.engagement.models import Task, TaskStatus
from patron.web import queries, report_queries
from patron.web.i18n import Translate, request_locale, translator
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FOLLOW_UP_DAYS = 2


def _charts(session: Any, actor: Actor) -> tuple[dict[str, Any], list[queries.AtRisk]]:
    """The charts and valuable customers at risk: from the latest run's stored figures, or
    counted live where no run stored them (a store never scored, or scored before)."""
    stored = queries.stored_dashboard(session, actor)
    if stored is not None:
        at_risk = queries.valuable_at_risk(session, actor, among=stored.pop("at_risk"))
        return stored, at_risk
    return _live_charts(session, actor), queries.valuable_at_risk(session, actor)


def _live_charts(session: Any, actor: Actor) -> dict[str, Any]:
    return {
        "grades": queries.counts_by(session, actor, CustomerScore.grade),
        "stages": queries.counts_by(session, actor, CustomerScore.stage),
        "rfm": queries.rfm_grid(session, actor),
        "clv": queries.clv_histogram(session, actor),
    }


def _trends(session: Any, actor: Actor) -> dict[str, Any]:
    """Warnings raised and NPS and CSAT by month up to the latest run, from the trends it
    stored per owner, added up over the owners the user sees; counted live where the run
    stored none (a store never scored, or scored before)."""
    connection = session.connection()
    run_id = latest_run_id(connection)
    run = session.get(ScoringRun, run_id) if run_id is not None else None
    moment = run.as_of if run is not None else now()
    stored = stored_trends(connection, run_id) if run_id is not None else {}
    if stored:
        parts = [stored[owner] for owner in queries.owners_seen(session, actor, stored)]
    else:
        parts = list(count_trends(connection, moment, visible_customers(actor)).values())
    return {
        **combine_trends(parts, months_up_to(moment)).chart(),
        "as_of": moment.date().isoformat(),
    }


def _trend_labels(trends: dict[str, Any], _: Translate) -> dict[str, Any]:
    """The trend charts' words: each warning's and severity's name in the user's language."""
    return {
        "rules": {rule: _(rule) for rule in trends["warnings"]["rule"]},
        "severities": {"critical": _("Critical"), "high": _("High"), "medium": _("Medium"),
                       "low": _("Low")},
        "by_rule": _("By warning"), "by_severity": _("By severity"), "raised": _("Warnings raised"),
        "nps": "NPS", "csat": _("Average CSAT (1-5)"), "answers": _("Answers"),
    }  # fmt: skip


DateFrom = Annotated[str | None, Query(alias="from", max_length=32)]
DateTo = Annotated[str | None, Query(alias="to", max_length=32)]


@router.get("/")
def dashboard(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Response:
    """The dashboard of the customers the user may see; KPIs for roles that read them, loaded
    after the page paints (they read every order of two periods)."""
    period = parse_period(date_from or None, date_to or None, today=now().date())
    dates = {"from": date_from, "to": date_to}
    query = urlencode({key: value for key, value in dates.items() if value})
    charts, at_risk = _charts(session, actor)
    owners = owner_names(session, [c.owner_id for c in at_risk if c.owner_id])
    _ = translator(request_locale(request))
    stage_labels = {stage: _(stage) if stage else _("unscored") for stage, _n in charts["stages"]}
    trends = _trends(session, actor)
    return render(
        request, "dashboard.html", actor, period=period, kpis=actor.can(Permission.kpi_read),
        query=query, at_risk=at_risk, owners=owners, charts=charts, stage_labels=stage_labels,
        trends=trends, trend_labels=_trend_labels(trends, _),
    )  # fmt: skip


@router.get("/dashboard/kpis")
def kpis(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.kpi_read)],
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Response:
    """The dashboard's KPI cards for the period, over the customers the user may see."""
    period = parse_period(date_from or None, date_to or None, today=now().date())
    cards = queries.kpi_cards(session, actor, period)
    return render(request, "fragments/dashboard_kpis.html", actor, cards=cards)


@router.get("/dashboard/cohorts")
def cohort_heatmap(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.kpi_read)],
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Response:
    """The cohort retention heatmap: the reports page's cohort table for the months up to the
    period's end, over the customers the user may see."""
    period = parse_period(date_from or None, date_to or None, today=now().date())
    last_day = (period.end - timedelta(microseconds=1)).date()
    rows = report_queries.cohorts(
        session, actor, report_queries.months_up_to(last_day, report_queries.COHORT_MONTHS)
    )
    heatmap = {"cohorts": [row["cohort"] for row in rows],
               "sizes": [row["customers"] for row in rows],
               "cells": report_queries.cohort_cells(rows)}  # fmt: skip
    return render(request, "fragments/dashboard_cohorts.html", actor, heatmap=heatmap)


@router.post("/customers/{customer_id}/follow-up")
def create_follow_up(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.customers_write)],
    customer_id: int,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A follow-up task for the customer's owner (the user, for a pool customer)."""
    customer = visible_customer(session, actor, customer_id)
    require_writable(session, actor, customer)
    assignee = customer.owner_id or actor.user_id
    title = f"{customer.name}: {reason}" if reason else customer.name
    task = Task(
        customer_id=customer.id, assignee_id=assignee, kind="follow_up", title=title[:300],
        status=TaskStatus.open, due_at=now() + timedelta(days=FOLLOW_UP_DAYS),
        source_rule=reason.split(";")[0][:64] or None, created_by_id=actor.user_id,
    )  # fmt: skip
    session.add(task)
    session.flush()
    record(session=session, action="task.create", entity="task", entity_id=task.id,
           user_id=actor.user_id, customer_id=customer.id, assignee_id=assignee)  # fmt: skip
    assignee_name = owner_names(session, [assignee]).get(assignee, "")
    return render(request, "fragments/follow_up.html", actor, task=task, assignee=assignee_name)
