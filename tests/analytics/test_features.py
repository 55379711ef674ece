"""Point-in-time features: exact values on a small history, and the as-of property."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics import churn
from patron.analytics.features import as_of_moment, compute_features, connect
from patron.analytics.store import read_store
from patron.db import create_db_engine, session_factory, unit_of_work
from patron.models import Base, OrderStatus, SurveyKind, TicketKind
from tests.analytics.history import START, History

AS_OF = START + timedelta(days=200)


def features(engine: Engine, as_of: date) -> dict[str, dict[str, Any]]:
    con = connect(read_store(engine, as_of_moment(as_of)))
    relation = compute_features(con, as_of)
    names = relation.columns
    return {row[1]: dict(zip(names, row, strict=True)) for row in relation.fetchall()}


def test_feature_values_by_hand(sessions: sessionmaker[Session], db: Engine) -> None:
    history = History()
    with unit_of_work(sessions) as session:
        history.customer(session, "A", tags=("vip", "b2b"))
        history.customer(session, "B", created=150)
        history.customer(session, "late", created=250)
        for day, amount in [(10, 100), (60, 50), (60, 30), (150, 70), (190, 40)]:
            history.order(session, "A", day, amount)
        history.order(session, "A", 195, 999, status=OrderStatus.refunded)
        history.order(session, "A", 201, 500)
        history.interaction(session, "A", 180, follow_up=True)
        history.interaction(session, "A", 195)
        history.ticket(session, "A", 170, resolved=205)
        history.ticket(session, "A", 100, kind=TicketKind.inquiry, resolved=101)
        history.response(session, "A", 120, SurveyKind.nps, 9)
        history.response(session, "A", 185, SurveyKind.nps, 3)
        history.points(session, "A", 20, 100)
        history.points(session, "A", 190, -30)
    got = features(db, AS_OF)
    assert set(got) == {"A", "B"}
    a = got["A"]
    assert a["recency_days"] == 10
    assert a["frequency"] == 3  # purchase days 10, 60, 150, 190: three repeat days
    assert a["tenure_days"] == 200
    assert a["monetary_total"] == 290
    assert a["monetary_avg"] == (80 + 70 + 40) / 3
    assert (a["orders_total"], a["orders_30d"], a["orders_90d"], a["orders_prev_90d"]) == (
        5,
        1,
        2,
        2,
    )
    assert (a["spend_90d"], a["spend_prev_90d"]) == (110, 80)
    assert a["avg_gap_days"] == 60
    assert a["overdue_ratio"] == 10 / 60
    assert a["refunds_90d"] == 1
    assert (a["interactions_90d"], a["days_since_interaction"], a["days_since_follow_up"]) == (
        2,
        5,
        20,
    )
    assert (a["complaints_90d"], a["open_tickets"]) == (1, 1)
    assert (a["last_nps"], a["last_csat"], a["points_balance"]) == (3, None, 70)
    assert a["tags"] == ["b2b", "vip"] and a["in_pool"] and a["channel"] == "web"
    b = got["B"]
    assert b["recency_days"] is None and b["frequency"] == 0 and b["tenure_days"] == 50
    assert b["orders_total"] == 0 and b["avg_gap_days"] is None


def test_the_ledger_summed_per_customer_gives_what_every_change_gives(
    sessions: sessionmaker[Session], db: Engine
) -> None:
    """A run reads the points ledger as one row per customer (`points_summed`): its
    features, and the churn model's inputs as of two earlier cuts, are those of the ledger's
    every change, whether a customer's changes come before, between or after the cuts."""
    history = History()
    with unit_of_work(sessions) as session:
        for key in ("A", "B", "C", "D"):
            history.customer(session, key, created=250)
        for day, points in [(20, 100), (20, -5), (150, -30), (199, 7), (230, 50)]:
            history.points(session, "A", day, points)
        history.points(session, "B", 120, 40)  # between the cuts
        history.points(session, "C", 210, 9)  # after the as-of date only
        history.order(session, "D", 10, 10)
    moment = as_of_moment(AS_OF)
    every = connect(read_store(db, moment))
    summed = connect(read_store(db, moment, points_summed=True))
    assert summed.execute("SELECT count(*) FROM points").fetchone() == (2,)
    for con in (every, summed):
        compute_features(con, AS_OF)
        churn._past_designs(
            con, as_of_moment(START + timedelta(days=100)), moment - timedelta(days=60)
        )
    for table in ("features", "churn_train", "churn_valid"):
        query = f"SELECT * FROM {table} ORDER BY customer_id"
        # As text: a NaN input (the log of a negative tenure) equals no other NaN.
        assert repr(every.execute(query).fetchall()) == repr(summed.execute(query).fetchall())
    balance = "SELECT points_balance FROM features ORDER BY customer_id"
    assert summed.execute(balance).fetchall() == [(72,), (40,), (0,)]
    # B's only change falls between the cuts: seen as of the later one alone.
    assert summed.execute("SELECT count(*) FROM churn_train").fetchone() == (2,)
    assert summed.execute("SELECT count(*) FROM churn_valid").fetchone() == (3,)


def _event(history: History, session: Session, kind: str, key: str, day: int) -> None:
    if kind in ("order", "refund"):
        status = OrderStatus.paid if kind == "order" else OrderStatus.refunded
        history.order(session, key, day, 10, status=status)
    elif kind == "interaction":
        history.interaction(session, key, day)
    elif kind == "ticket":
        history.ticket(session, key, day, kind=TicketKind.inquiry)
    elif kind == "response":
        history.response(session, key, day, SurveyKind.csat, 4)
    else:
        history.points(session, key, day, 5)


@pytest.mark.parametrize("kind", ["order", "refund", "interaction", "ticket", "response", "points"])
def test_a_customer_created_later_is_scored_from_any_event_known_by_then(
    kind: str, sessions: sessionmaker[Session], db: Engine
) -> None:
    """A customer whose record is dated after the as-of date (imported later with their past)
    is scored when the store held any event of theirs by then, of whichever kind; one whose
    events all came later is not."""
    history = History()
    with unit_of_work(sessions) as session:
        for key in ("known", "later"):
            history.customer(session, key, created=250)
        _event(history, session, kind, "known", 120)
        _event(history, session, kind, "later", 210)
    got = features(db, AS_OF)
    assert set(got) == {"known"}
    assert got["known"]["tenure_days"] == (80 if kind == "order" else -50)


EVENT = st.tuples(
    st.sampled_from(["order", "refund", "interaction", "follow_up", "complaint", "nps", "points"]),
    st.sampled_from(["A", "B", "C"]),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=400),
)


def _build(engine: Engine, events: list[tuple[str, str, int, int]], cut: int | None) -> None:
    """Write the events; with `cut`, only what a store holding data up to that day would have."""
    history = History()
    with unit_of_work(session_factory(engine)) as session:
        for key in ("A", "B", "C"):
            history.customer(session, key, created=0)
        for kind, key, day, other in events:
            if cut is not None and day > cut:
                continue
            if kind in ("order", "refund"):
                status = OrderStatus.paid if kind == "order" else OrderStatus.refunded
                history.order(session, key, day, 10 + other, status=status)
            elif kind in ("interaction", "follow_up"):
                history.interaction(session, key, day, follow_up=kind == "follow_up")
            elif kind == "complaint":
                resolved = day + other % 30
                known = cut is None or resolved <= cut
                history.ticket(session, key, day, resolved=resolved if known else None)
            elif kind == "nps":
                history.response(session, key, day, SurveyKind.nps, other % 11)
            else:
                history.points(session, key, day, other - 100)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENT, max_size=25), cut=st.integers(min_value=0, max_value=400))
def test_scoring_the_past_equals_a_store_that_ended_then(events: list[Any], cut: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        full = create_db_engine(f"sqlite:///{folder}/full.db")
        past = create_db_engine(f"sqlite:///{folder}/past.db")
        for engine in (full, past):
            Base.metadata.create_all(engine)
        _build(full, events, None)
        _build(past, events, cut)
        as_of = START + timedelta(days=cut)
        assert features(full, as_of) == features(past, as_of)
        full.dispose()
        past.dispose()
