"""The dashboard figures a scoring run stores equal the live counts, for every role."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from sqlalchemy import Engine, column, func, insert, select, table
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.dashboard_summary import DashboardFigures, _fetched
from patron.api.access import Actor
from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.db import unit_of_work
from patron.rules import runs, versions
from patron.web import queries
from patron.web.pages.dashboard import _charts, _live_charts
from tests.analytics.history import History, at
from tests.rules.scenario import AS_OF, RULEBOOK

# (owner's user name or None for the pool, order days, amount per order)
CUSTOMERS = {
    "east1-loyal": ("east1", (300, 350, 390), 120),
    "east1-quiet": ("east1", (10, 50, 100), 80),
    "east1-big": ("east1", (5, 30, 60, 90), 900),
    "east2-loyal": ("east2", (200, 320, 395), 60),
    "east2-quiet": ("east2", (20, 40), 500),
    "west-loyal": ("west", (330, 360, 380), 300),
    "west-quiet": ("west", (15, 45, 75), 700),
    "pool-loyal": (None, (310, 370), 50),
    "pool-quiet": (None, (25, 55, 85), 400),
    "pool-single": (None, (200,), 30),
}
USERS = {
    "boss": (Role.admin, None),
    "numbers": (Role.analyst, None),
    "lead": (Role.manager, "east"),
    "east1": (Role.agent, "east"),
    "east2": (Role.agent, "east"),
    "west": (Role.agent, "west"),
}


def _shop(sessions: sessionmaker[Session]) -> dict[str, User]:
    history = History()
    with unit_of_work(sessions) as session:
        users = {name: User(username=name, role=role, team=team)
                 for name, (role, team) in USERS.items()}  # fmt: skip
        session.add_all(users.values())
        session.flush()
        for key, (owner, days, amount) in CUSTOMERS.items():
            history.customer(session, key)
            for day in days:
                history.order(session, key, day, amount)
            if owner is not None:
                customer = session.get(Customer, history.customers[key])
                assert customer is not None
                customer.owner_id, customer.owned_since = users[owner].id, at(150)
        versions.apply(session.connection(), RULEBOOK)
        session.flush()
        return users


def _actors(sessions: sessionmaker[Session]) -> list[Actor]:
    with sessions() as session:
        users = session.scalars(select(User).order_by(User.id)).all()
        return [Actor.of(user, via="session") for user in users]


@pytest.mark.parametrize("username", list(USERS))
def test_stored_figures_equal_the_live_counts_per_role(
    db: Engine, sessions: sessionmaker[Session], username: str
) -> None:
    _shop(sessions)
    outcome = runs.run_scoring(engine=db, as_of=AS_OF)
    # The run hands customers back to the pool: the figures count them where the run left them.
    assert outcome.applied["recycled"] > 0
    actor = next(a for a in _actors(sessions) if a.username == username)
    with sessions() as session:
        stored = queries.stored_dashboard(session, actor)
        assert stored is not None
        charts, at_risk = _charts(session, actor)
        live = _live_charts(session, actor)
        assert charts == live
        assert at_risk == queries.valuable_at_risk(session, actor)
    assert sum(n for _grade, n in charts["grades"]) > 0


def test_an_agent_counts_only_their_own_customers_and_the_pool(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF)
    actors = {a.username: a for a in _actors(sessions)}
    with sessions() as session:
        counted = {
            name: sum(n for _g, n in _charts(session, actors[name])[0]["grades"])
            for name in ("boss", "lead", "east1", "west")
        }
        pool = len(session.scalars(select(Customer.id).where(Customer.owner_id.is_(None))).all())
        at_risk = _charts(session, actors["west"])[1]
        owners = {session.get(Customer, row.customer_id).owner_id for row in at_risk}  # type: ignore[union-attr]
    # The rulebook may hand a quiet customer back to the pool; the team holds 8 either way.
    assert counted == {"boss": 10, "lead": 8, "east1": pool + 3, "west": pool + 2}
    assert pool >= 3 and owners <= {None, actors["west"].user_id}


def test_a_store_scored_before_the_figures_existed_is_counted_live(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions)
    runs.run_scoring(engine=db, as_of=AS_OF)
    with unit_of_work(sessions) as session:
        session.execute(DashboardFigures.__table__.delete())
    actor = next(a for a in _actors(sessions) if a.username == "east1")
    with sessions() as session:
        assert queries.stored_dashboard(session, actor) is None
        charts, _at_risk = _charts(session, actor)
        assert charts == _live_charts(session, actor)
        assert 0 < sum(n for _g, n in charts["grades"]) < len(CUSTOMERS)


def test_each_run_stores_its_own_figures(db: Engine, sessions: sessionmaker[Session]) -> None:
    _shop(sessions)
    first = runs.run_scoring(engine=db, as_of=AS_OF)
    second = runs.run_scoring(engine=db, as_of=AS_OF)
    with sessions() as session:
        owners = session.execute(select(DashboardFigures.run_id, DashboardFigures.owner_id)).all()
    by_run = {run for run, _owner in owners}
    assert by_run == {first.run_id, second.run_id}
    assert len(owners) == 2 * 4  # three owners and the pool, per run


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_fetched_rows_keep_words_that_look_like_null(db: Engine) -> None:
    """Rows for the figures come as CSV on PostgreSQL: only NULL is NULL, never a name such
    as "NA", and a `%` in the query is a `%`."""
    texts = ["NA", "N/A", "null", "NULL", "nan", "", None, "a%b", "A"]
    numbers = [1.5, float("nan"), None, float("inf"), -0.0, 5e-324, 0.1, 2.0, 3.0]
    tricky = table("tricky", column("n"), column("label"), column("x"))
    with db.begin() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE tricky (n integer, label text, x float)")
        connection.execute(
            insert(tricky),
            [
                {"n": n, "label": t, "x": x}
                for n, (t, x) in enumerate(zip(texts, numbers, strict=True))
            ],
        )
        # Leaves out the row "a%b" only if the `%` reaches the server as one.
        query = select(tricky.c.n, tricky.c.label, tricky.c.x).where(
            func.coalesce(tricky.c.label, "") != "a%b"
        )
        fetched = _fetched(
            connection, query, {"n": pa.int64(), "label": pa.string(), "x": pa.float64()}
        )
    rows = sorted(fetched.to_pylist(), key=lambda row: row["n"])
    assert [row["label"] for row in rows] == texts[:7] + texts[8:]
    got = [row["x"] for row in rows]
    assert math.isnan(got[1]) and got[2] is None
    assert got[:1] + got[3:] == numbers[:1] + numbers[3:7] + numbers[8:]
