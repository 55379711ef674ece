"""The dashboard's trends: warnings raised and NPS and CSAT per month, exact on known data,
split at the month boundary, the same stored as counted live, and scoped per role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.dashboard_summary import write_summary
from patron.analytics.dashboard_trends import (
    DashboardTrends,
    combine_trends,
    count_trends,
    months_up_to,
)
from patron.api.access import Actor, visible_customers
from patron.auth.models import Role, User
from patron.service.models import SurveyKind
from patron.web.pages.dashboard import _trends
from tests import builders

AS_OF = datetime(2026, 4, 15, 12, 0)
LAST_OF_MARCH = datetime(2026, 3, 31, 23, 59, 59)
FIRST_OF_APRIL = datetime(2026, 4, 1, 0, 0)
USERS = {
    "boss": (Role.admin, None),
    "lead": (Role.manager, "east"),
    "east1": (Role.agent, "east"),
    "east2": (Role.agent, "east"),
    "west": (Role.agent, "west"),
}


def _alert(session: Session, about: Any, rule: str, severity: str, at: datetime) -> None:
    alert = builders.alert(session, about, rule)
    alert.severity, alert.raised_at = severity, at


def _answers(session: Session, about: Any, kind: SurveyKind, at: datetime, *scores: int) -> None:
    for score in scores:
        builders.survey_response(session, about, score, kind=kind, answered_at=at)


def _store(sessions: sessionmaker[Session]) -> int:
    """Customers of east1, west and the pool (and a deleted one of east1) with warnings and
    answers on both sides of the March-April boundary and outside the window; a run on
    15 April that stores its figures."""
    with sessions.begin() as session:
        users = {name: builders.user(session, name, role=role, team=team)
                 for name, (role, team) in USERS.items()}  # fmt: skip
        east1 = builders.customer(session, "东一", owner_id=users["east1"].id)
        west = builders.customer(session, "西一", owner_id=users["west"].id)
        pool = builders.customer(session, "公海")
        gone = builders.customer(session, "已删", owner_id=users["east1"].id, deleted_at=AS_OF)
        _alert(session, east1, "high_churn_risk", "high", LAST_OF_MARCH)
        _alert(session, east1, "high_churn_risk", "high", FIRST_OF_APRIL)
        _alert(session, east1, "valuable_quiet", "critical", datetime(2026, 4, 10))
        _alert(session, east1, "high_churn_risk", "high", datetime(2025, 4, 30))  # before
        _alert(session, east1, "high_churn_risk", "high", datetime(2026, 4, 15, 13))  # after
        _alert(session, west, "spend_drop", "medium", datetime(2026, 4, 2))
        _alert(session, pool, "high_churn_risk", "high", datetime(2026, 3, 15))
        _alert(session, gone, "high_churn_risk", "high", datetime(2026, 4, 5))
        _answers(session, east1, SurveyKind.nps, datetime(2026, 4, 3), 10, 9, 7, 3)
        _answers(session, east1, SurveyKind.csat, FIRST_OF_APRIL, 5, 4)
        _answers(session, east1, SurveyKind.csat, LAST_OF_MARCH, 2)
        _answers(session, east1, SurveyKind.custom, datetime(2026, 4, 3), 1)
        _answers(session, west, SurveyKind.nps, datetime(2026, 4, 4), 0, 0)
        _answers(session, pool, SurveyKind.nps, datetime(2026, 3, 20), 10)
        _answers(session, gone, SurveyKind.nps, datetime(2026, 4, 3), 0)
        builders.survey_response(session, east1, None, answered_at=datetime(2026, 4, 3))
        run = builders.scoring_run(session, as_of=AS_OF)
        write_summary(session.connection(), run.id)
        return run.id


def _actor(session: Session, username: str) -> Actor:
    user = session.scalars(select(User).where(User.username == username)).one()
    return Actor.of(user, via="session")


def _march_april(values: list[Any]) -> list[Any]:
    return values[-2:]


# Per role, March and April: warnings by rule and by severity, NPS, its answers, average CSAT.
EXPECTED = {
    "boss": (
        {"high_churn_risk": [2, 1], "valuable_quiet": [0, 1], "spend_drop": [0, 1]},
        {"high": [2, 1], "critical": [0, 1], "medium": [0, 1]},
        [100.0, -16.7], [1, 6], [2.0, 4.5],
    ),
    "lead": (
        {"high_churn_risk": [2, 1], "valuable_quiet": [0, 1]},
        {"high": [2, 1], "critical": [0, 1]},
        [100.0, 25.0], [1, 4], [2.0, 4.5],
    ),
    "east1": (
        {"high_churn_risk": [2, 1], "valuable_quiet": [0, 1]},
        {"high": [2, 1], "critical": [0, 1]},
        [100.0, 25.0], [1, 4], [2.0, 4.5],
    ),
    "east2": ({"high_churn_risk": [1, 0]}, {"high": [1, 0]}, [100.0, None], [1, 0], [None, None]),
    "west": (
        {"high_churn_risk": [1, 0], "spend_drop": [0, 1]},
        {"high": [1, 0], "medium": [0, 1]},
        [100.0, -100.0], [1, 2], [None, None],
    ),
}  # fmt: skip


@pytest.mark.parametrize("username", list(USERS))
def test_the_trends_per_role_are_exact(sessions: sessionmaker[Session], username: str) -> None:
    _store(sessions)
    with sessions() as session:
        trends = _trends(session, _actor(session, username))
    by_rule, by_severity, nps, nps_answers, csat = EXPECTED[username]
    assert trends["months"] == months_up_to(AS_OF)
    assert trends["months"][0] == "2025-05" and trends["months"][-1] == "2026-04"
    assert {k: _march_april(v) for k, v in trends["warnings"]["rule"].items()} == by_rule
    assert {k: _march_april(v) for k, v in trends["warnings"]["severity"].items()} == by_severity
    # Nothing outside March and April: the earlier alert and the later one are not counted.
    assert all(sum(v[:-2]) == 0 for v in trends["warnings"]["rule"].values())
    assert _march_april(trends["nps"]) == nps
    assert _march_april(trends["nps_answers"]) == nps_answers
    assert _march_april(trends["csat"]) == csat
    assert trends["as_of"] == "2026-04-15"


def test_an_agent_does_not_count_another_agents_customers(
    sessions: sessionmaker[Session],
) -> None:
    _store(sessions)
    with sessions() as session:
        east1 = _trends(session, _actor(session, "east1"))
        west = _trends(session, _actor(session, "west"))
    assert "spend_drop" not in east1["warnings"]["rule"]
    assert "valuable_quiet" not in west["warnings"]["rule"]
    # West's two detractors would pull east1's April NPS from 25 to -16.7.
    assert east1["nps"][-1] == 25.0 and west["nps"][-1] == -100.0


@pytest.mark.parametrize("username", list(USERS))
def test_the_stored_trends_equal_the_live_counts(
    sessions: sessionmaker[Session], username: str
) -> None:
    run_id = _store(sessions)
    with sessions() as session:
        actor = _actor(session, username)
        assert session.scalars(
            select(DashboardTrends).where(DashboardTrends.run_id == run_id)
        ).all()
        stored = _trends(session, actor)
        counted = count_trends(session.connection(), AS_OF, visible_customers(actor))
        live = combine_trends(counted.values(), months_up_to(AS_OF)).chart()
    assert {**live, "as_of": "2026-04-15"} == stored


def test_without_stored_trends_the_dashboard_counts_them(sessions: sessionmaker[Session]) -> None:
    _store(sessions)
    with sessions.begin() as session:
        session.execute(delete(DashboardTrends))
    with sessions() as session:
        trends = _trends(session, _actor(session, "east1"))
    assert trends["warnings"]["rule"]["high_churn_risk"][-2:] == [2, 1]
    assert trends["nps"][-1] == 25.0


def test_the_window_runs_over_the_new_year() -> None:
    assert months_up_to(datetime(2026, 2, 28)) == [
        "2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09",
        "2025-10", "2025-11", "2025-12", "2026-01", "2026-02",
    ]  # fmt: skip
