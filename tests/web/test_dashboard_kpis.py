"""The dashboard paints its charts at once and loads its KPI cards as a fragment."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import User
from patron.rules import runs
from tests.analytics.test_dashboard_summary import _shop
from tests.rules.scenario import AS_OF
from tests.web.clients import browser_for

PERIOD = "from=2025-01-01&to=2025-01-31"


def test_the_kpi_cards_come_after_the_page(
    app: FastAPI, db: Engine, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF)
    with sessions() as session:
        agent = session.scalars(select(User).where(User.username == "east1")).one()
    client = browser_for(app, sessions, agent)
    page = client.get(f"/?{PERIOD}")
    assert page.status_code == 200 and 'data-kpi="' not in page.text
    assert f"/dashboard/kpis?{PERIOD.replace('&', '&amp;')}" in page.text
    assert 'id="chart-grades"' in page.text
    cards = client.get(f"/dashboard/kpis?{PERIOD}")
    assert cards.status_code == 200 and cards.text.count('class="kpi"') == 6


def test_a_bad_period_is_refused_on_the_fragment_too(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.add(User(username="numbers", role="analyst"))
    with sessions() as session:
        analyst = session.scalars(select(User).where(User.username == "numbers")).one()
    client = browser_for(app, sessions, analyst)
    answer = client.get("/dashboard/kpis?from=yesterday")
    assert answer.status_code in (400, 422) and "yesterday" in answer.text
