"""The dashboard page carries the trend charts' data and words, scoped to the user."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import User
from tests.analytics.test_dashboard_trends import _store
from tests.web.clients import browser_for

CHART_DATA = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)


def _page_data(app: FastAPI, sessions: sessionmaker[Session], username: str) -> dict[str, Any]:
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
    page = browser_for(app, sessions, user).get("/")
    assert page.status_code == 200
    assert 'id="chart-warnings"' in page.text and 'id="chart-satisfaction"' in page.text
    found = CHART_DATA.search(page.text)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_page_carries_the_agents_trends(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    _store(sessions)
    data = _page_data(app, sessions, "east1")
    trends, words = data["trends"], data["labels"]["trends"]
    assert trends["months"][-2:] == ["2026-03", "2026-04"]
    assert trends["warnings"]["rule"]["high_churn_risk"][-2:] == [2, 1]
    assert "spend_drop" not in trends["warnings"]["rule"]
    assert trends["nps"][-2:] == [100.0, 25.0] and trends["csat"][-2:] == [2.0, 4.5]
    assert words["rules"]["high_churn_risk"] == "High churn risk"
    assert words["severities"]["critical"] == "Critical"


def test_the_admin_page_counts_every_owner(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    _store(sessions)
    trends = _page_data(app, sessions, "boss")["trends"]
    assert trends["warnings"]["rule"]["spend_drop"][-1] == 1
    assert trends["warnings"]["severity"]["medium"][-1] == 1
    assert trends["nps"][-1] == -16.7 and trends["nps_answers"][-1] == 6
