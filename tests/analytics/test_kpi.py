from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pytest import approx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.cohorts import cohort_retention, month_label
from patron.analytics.kpi import headline, monthly
from patron.analytics.kpi_breakdowns import agents, breakdown
from patron.analytics.kpi_period import Period, parse_period
from patron.db import unit_of_work
from patron.errors import InvalidInput
from tests import builders
from tests.analytics.kpi_shop import build_shop

JANUARY = parse_period("2024-01-01", "2024-01-31", today=date(2024, 6, 1))


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    with unit_of_work(sessions) as session:
        return build_shop(session)


def _rows(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_headline_kpis_match_the_hand_computed_values(db: Engine, shop: dict[str, int]) -> None:
    with db.connect() as connection:
        kpis = headline(connection=connection, period=JANUARY)
    assert kpis["from"] == "2024-01-01" and kpis["to"] == "2024-01-31"
    # Active: A, B, D, E (C only refunded). New: D (its December order was cancelled) and E.
    assert kpis["active_customers"] == 4
    assert kpis["new_customers"] == 2
    assert kpis["returning_customers"] == 2
    # December buyers B, C, F (F at 23:59 on the 31st); only B bought again in January.
    assert kpis["retention_rate"] == approx(1 / 3)
    assert kpis["churn_rate"] == approx(2 / 3)
    # Only A bought on two days; B's two orders fall on one day.
    assert kpis["repurchase_rate"] == approx(1 / 4)
    assert kpis["paid_orders"] == 6
    assert kpis["revenue"] == approx(580)
    assert kpis["average_order_value"] == approx(580 / 6)
    assert kpis["purchase_frequency"] == approx(6 / 4)
    assert kpis["nps"] == approx(100 * (3 - 2) / 6)
    assert kpis["csat"] == approx(2 / 4)
    assert kpis["average_clv"] == approx(200)


def test_an_empty_database_gives_zero_counts_and_no_rates(db: Engine) -> None:
    with db.connect() as connection:
        kpis = headline(connection=connection, period=JANUARY)
    assert kpis["active_customers"] == kpis["new_customers"] == kpis["paid_orders"] == 0
    for name in ("retention_rate", "churn_rate", "repurchase_rate", "average_order_value"):
        assert kpis[name] is None
    assert kpis["nps"] is None and kpis["csat"] is None and kpis["average_clv"] is None


def test_average_clv_ignores_runs_still_running_or_failed(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as session:
        someone = builders.customer(session)
        done = builders.scoring_run(session)
        builders.snapshot(session, done, someone, clv=50.0)
        running = builders.scoring_run(session, status="running")
        builders.snapshot(session, running, someone, clv=1.0)
    with db.connect() as connection:
        assert headline(connection=connection, period=JANUARY)["average_clv"] == approx(50)


def test_breakdown_by_grade(db: Engine, shop: dict[str, int]) -> None:
    with db.connect() as connection:
        rows = breakdown(connection=connection, period=JANUARY, by="grade")
    assert [row["grade"] for row in rows] == ["A", "B", None]
    by_grade = _rows(rows, "grade")
    a, b, none = by_grade["A"], by_grade["B"], by_grade[None]
    assert (a["active_customers"], a["new_customers"], a["returning_customers"]) == (2, 0, 2)
    assert a["retention_rate"] == approx(1.0) and a["repurchase_rate"] == approx(0.5)
    assert a["average_order_value"] == approx(100) and a["purchase_frequency"] == approx(2)
    assert a["nps"] == approx(100) and a["csat"] == approx(1.0)
    assert a["average_clv"] == approx(200)
    assert (b["active_customers"], b["new_customers"], b["retention_rate"]) == (1, 1, 0.0)
    assert b["nps"] == approx(-50) and b["csat"] == approx(0.0) and b["average_clv"] is None
    assert none["active_customers"] == 1 and none["nps"] == approx(0) and none["csat"] is None


def test_breakdown_by_channel_counts_a_customer_in_each_channel(
    db: Engine, shop: dict[str, int]
) -> None:
    with db.connect() as connection:
        rows = _rows(breakdown(connection=connection, period=JANUARY, by="channel"), "channel")
    web, store = rows["web"], rows["store"]
    assert (web["active_customers"], web["paid_orders"], web["revenue"]) == (3, 4, 360)
    assert web["new_customers"] == 1 and web["retention_rate"] == approx(1.0)
    assert web["repurchase_rate"] == approx(0)
    assert (store["active_customers"], store["paid_orders"], store["revenue"]) == (2, 2, 220)
    assert store["new_customers"] == 1 and store["retention_rate"] == approx(0)
    assert "nps" not in web and "csat" not in store


def test_breakdown_by_owner_names_the_owner(db: Engine, shop: dict[str, int]) -> None:
    with db.connect() as connection:
        rows = breakdown(connection=connection, period=JANUARY, by="owner")
    assert [(row["owner_id"], row["owner"]) for row in rows] == [
        (shop["alice"], "alice"),
        (shop["bob"], "bob"),
        (None, None),
    ]
    alice, bob, pool = rows
    assert alice["active_customers"] == 2 and alice["retention_rate"] == approx(1.0)
    assert bob["active_customers"] == 0 and bob["retention_rate"] == approx(0)
    assert bob["average_order_value"] is None and bob["csat"] == approx(0)
    assert pool["new_customers"] == 2 and pool["nps"] == approx(-100 / 3)


def test_breakdown_by_segment(db: Engine, shop: dict[str, int]) -> None:
    with db.connect() as connection:
        rows = _rows(breakdown(connection=connection, period=JANUARY, by="segment"), "segment")
    assert rows["new"]["active_customers"] == 2 and rows["new"]["new_customers"] == 2
    assert rows["at_risk"]["active_customers"] == 0 and rows["at_risk"]["retention_rate"] == 0


def test_unknown_breakdown_is_refused(db: Engine) -> None:
    with db.connect() as connection, pytest.raises(InvalidInput, match="by 'city'"):
        breakdown(connection=connection, period=JANUARY, by="city")


def test_agents(db: Engine, shop: dict[str, int]) -> None:
    with db.connect() as connection:
        rows = agents(connection=connection, period=JANUARY)
    assert [row["username"] for row in rows] == ["alice", "bob", None]
    alice, bob, unassigned = rows
    assert (alice["follow_ups_due"], alice["follow_ups_done_on_time"]) == (3, 1)
    assert alice["follow_up_completion"] == approx(1 / 3)
    assert (alice["tickets_due"], alice["tickets_resolved_in_time"]) == (3, 1)
    assert alice["csat"] == approx(1.0) and alice["interactions"] == 2
    # Done exactly at the due time counts; a ticket closed before its due time met the SLA.
    assert bob["follow_up_completion"] == approx(1.0) and bob["sla_met_rate"] == approx(1.0)
    assert bob["csat_responses"] == 1 and bob["csat"] == approx(0)
    assert unassigned["tickets_due"] == 1 and unassigned["sla_met_rate"] == approx(0)
    assert unassigned["follow_up_completion"] is None


def test_monthly_series_matches_each_month_alone(db: Engine, shop: dict[str, int]) -> None:
    period = parse_period("2023-12-01", "2024-01-31", today=date(2024, 6, 1))
    with db.connect() as connection:
        rows = monthly(connection=connection, period=period)
        january = headline(connection=connection, period=JANUARY)
    assert [row["month"] for row in rows] == ["2023-12", "2024-01"]
    december = rows[0]
    assert (december["active_customers"], december["new_customers"]) == (3, 3)
    assert december["retention_rate"] == approx(0)
    assert december["csat"] == approx(0) and december["nps"] is None
    for name, value in rows[1].items():
        if name != "month":
            assert january[name] == value


def test_cohort_retention_matrix(db: Engine, shop: dict[str, int]) -> None:
    period = parse_period("2023-11-01", "2024-01-31", today=date(2024, 6, 1))
    with db.connect() as connection:
        rows = cohort_retention(connection=connection, period=period)
    assert rows == [
        {"cohort": "2023-11", "customers": 1, "retention": [1.0, 0.0, 1.0]},
        {"cohort": "2023-12", "customers": 3, "retention": [1.0, approx(1 / 3)]},
        {"cohort": "2024-01", "customers": 2, "retention": [1.0]},
    ]


def test_month_label() -> None:
    assert month_label(2024 * 12) == "2024-01" and month_label(2024 * 12 + 11) == "2024-12"


def test_default_period_is_the_thirty_days_to_today() -> None:
    period = parse_period(None, None, today=date(2024, 3, 10))
    assert (period.start, period.end) == (datetime(2024, 2, 10), datetime(2024, 3, 11))
    assert (period.label_from, period.label_to) == ("2024-02-10", "2024-03-10")
    assert period.previous().start == datetime(2024, 1, 11)


def test_period_with_times_includes_the_end_instant() -> None:
    period = parse_period("2024-01-01T08:00", "2024-01-02T18:30:00", today=date(2024, 6, 1))
    assert period.start == datetime(2024, 1, 1, 8)
    assert period.end > datetime(2024, 1, 2, 18, 30) and period.label_to == "2024-01-02T18:30:00"
    assert isinstance(period, Period)


@pytest.mark.parametrize(
    ("date_from", "date_to", "message"),
    [
        ("2024-02-01", "2024-01-01", "the period is empty"),
        ("yesterday", None, "--from 'yesterday' is not a date"),
        (None, "2024-13-01", "--to '2024-13-01' is not a date"),
    ],
)
def test_bad_periods_are_refused(date_from: str | None, date_to: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_period(date_from, date_to, today=date(2024, 6, 1))
