"""The fast KPI paths (the KPI store, figures stored per owner for ended periods) give the
numbers of the definitions in docs/kpi.md, worked out here in Python from the raw orders:
on generated data, for each role's customers, across month ends, and after the orders and
the owners change under stored figures."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.cohorts import cohort_retention
from patron.analytics.kpi import Counts, average_clv, headline, kpis
from patron.analytics.kpi_breakdowns import DIMENSIONS, _average_clv_by
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_stored import (
    average_clv_by,
    average_clv_over,
    counts_by_period,
    every_owner,
)
from patron.api.access import Actor, customer_scope
from patron.auth.models import Role, User
from patron.customers.models import Customer, CustomerScore
from patron.orders.models import Order, OrderStatus
from patron.web.queries import owners_seen
from patron.web.report_queries import calendar_periods, months_up_to
from tests import builders

FIRST_DAY = datetime(2024, 1, 1)
DAYS = 240
STATUSES = [OrderStatus.paid] * 8 + [OrderStatus.refunded, OrderStatus.cancelled]


@dataclass(frozen=True)
class Shop:
    actors: dict[str, Actor]


def _moment(draw: random.Random) -> datetime:
    """Any moment of the eight months, one in four on the last second or first instant of
    a month, where a wrong bound would show."""
    day = FIRST_DAY + timedelta(days=draw.randrange(DAYS))
    if draw.random() < 0.25:
        first = day.replace(day=1)
        return first if draw.random() < 0.5 else first - timedelta(seconds=1)
    return day + timedelta(minutes=draw.randrange(24 * 60))


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> Shop:
    """Two teams of two agents, a manager of the east team, 60 customers (a third in the
    pool) and about 400 orders drawn with a fixed seed."""
    draw = random.Random(7)
    with sessions.begin() as session:
        agents = [
            builders.user(session, f"agent{i}", team="east" if i < 2 else "west") for i in range(4)
        ]
        manager = builders.user(session, "boss", role=Role.manager, team="east")
        admin = builders.user(session, "root", role=Role.admin)
        run = builders.scoring_run(session)
        for n in range(60):
            owner = None if n % 3 == 0 else draw.choice(agents).id
            grade = draw.choice(["A", "B", None])
            person = builders.customer(
                session, f"客户{n}", external_id=f"G-{n}", owner_id=owner, grade=grade
            )
            if n % 5:
                clv = None if n % 7 == 0 else float(draw.randrange(1000))
                builders.snapshot(session, run, person, clv=clv)
            for _ in range(draw.randrange(12)):
                builders.order(
                    session, person, f"{draw.randrange(10, 500)}.00", _moment(draw),
                    status=draw.choice(STATUSES), channel=draw.choice(["web", "store"]),
                )  # fmt: skip
        users = {"admin": admin, "manager": manager, "agent": agents[0]}
        actors = {
            role: Actor(u.id, u.username, u.role, u.team, via="test") for role, u in users.items()
        }
    return Shop(actors)


def _expected(session: Session, period: Period, actor: Actor) -> Counts:
    """The period's counts by the definitions, from every order in Python."""
    scope = customer_scope(actor)
    visible = set(session.scalars(select(Customer.id).where(scope) if scope is not None
                                  else select(Customer.id)))  # fmt: skip
    paid = [
        o
        for o in session.scalars(select(Order))
        if o.status == OrderStatus.paid and o.customer_id in visible
    ]
    before = Period(period.start - (period.end - period.start), period.start, "", "")
    within = [o for o in paid if period.start <= o.ordered_at < period.end]
    active = {o.customer_id for o in within}
    earlier = {o.customer_id for o in paid if o.ordered_at < period.start}
    previous = {o.customer_id for o in paid if before.start <= o.ordered_at < before.end}
    days = {c: {o.ordered_at.date() for o in within if o.customer_id == c} for c in active}
    return Counts(
        active=len(active),
        new=len(active - earlier),
        orders=len(within),
        revenue=sum((o.amount for o in within), Decimal(0)),
        repeaters=sum(1 for c in active if len(days[c]) >= 2),
        previous_active=len(previous),
        retained=len(previous & active),
    )


def _fast(session: Session, periods: list[Period], actor: Actor) -> list[Counts]:
    connection = session.connection()
    owners = owners_seen(session, actor, every_owner(connection))
    return counts_by_period(connection, periods, owners=owners, customers=customer_scope(actor))


def _check_months(sessions: sessionmaker[Session], shop: Shop) -> None:
    months = calendar_periods("month", datetime(2024, 8, 10).date(), 8)
    quarters = calendar_periods("quarter", datetime(2024, 8, 10).date(), 3)
    for actor in shop.actors.values():
        with sessions.begin() as session:
            for periods in (months, quarters):
                expected = [_expected(session, p, actor) for p in periods]
                # The first call counts and stores the ended periods, the second reads them.
                assert _fast(session, periods, actor) == expected
                assert _fast(session, periods, actor) == expected


ROLES = ["admin", "manager", "agent"]


@pytest.mark.parametrize("role", ROLES)
def test_headline_equals_the_definition_over_any_window(
    sessions: sessionmaker[Session], shop: Shop, role: str
) -> None:
    actor = shop.actors[role]
    with sessions() as session:
        for start in (datetime(2024, 2, 1), datetime(2024, 3, 17, 8, 30), datetime(2024, 5, 31)):
            for length in (timedelta(days=1), timedelta(days=30), timedelta(days=61)):
                period = Period(start, start + length, "", "")
                got = headline(
                    connection=session.connection(), period=period, customers=customer_scope(actor)
                )
                wanted = kpis(_expected(session, period, actor))
                assert {key: got[key] for key in wanted} == wanted


def test_months_and_quarters_from_the_store_equal_the_definition(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    _check_months(sessions, shop)


def test_a_running_period_is_counted_live_next_to_stored_ones(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    running = Period(datetime(2024, 8, 1), datetime.now() + timedelta(days=1), "", "")
    ended = Period(datetime(2024, 7, 1), datetime(2024, 8, 1), "", "")
    actor = shop.actors["manager"]
    with sessions.begin() as session:
        assert _fast(session, [ended, running], actor) == [
            _expected(session, ended, actor),
            _expected(session, running, actor),
        ]


def test_stored_figures_follow_order_changes(
    sessions: sessionmaker[Session], shop: Shop, db: Engine
) -> None:
    _check_months(sessions, shop)
    with sessions.begin() as session:
        someone = session.scalars(select(Customer).order_by(Customer.id)).first()
        assert someone is not None
        # An early first purchase makes later "new" customers returning; a refund and a
        # deleted order take purchases out of months already stored.
        builders.order(session, someone, "70.00", datetime(2024, 1, 1), status=OrderStatus.paid)
        paid = select(Order.id).where(Order.status == OrderStatus.paid).order_by(Order.id)
        refunded, deleted = session.scalars(paid.limit(2)).all()
        session.execute(
            update(Order).where(Order.id == refunded).values(status=OrderStatus.refunded)
        )
        session.delete(session.get(Order, deleted))
    _check_months(sessions, shop)


def test_stored_figures_follow_a_change_of_owner(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    _check_months(sessions, shop)
    agent = shop.actors["agent"]
    with sessions.begin() as session:
        pooled = select(Customer.id).where(Customer.owner_id.is_(None)).limit(3)
        claimed = list(session.scalars(pooled))
        session.execute(
            update(Customer).where(Customer.id.in_(claimed)).values(owner_id=agent.user_id)
        )
        west = session.scalars(select(User.id).where(User.team == "west")).first()
        theirs = select(Customer.id).where(Customer.owner_id == agent.user_id).limit(2)
        handed = list(session.scalars(theirs))
        session.execute(update(Customer).where(Customer.id.in_(handed)).values(owner_id=west))
    _check_months(sessions, shop)


def _check_clv(sessions: sessionmaker[Session], shop: Shop) -> None:
    """The stored CLV totals per owner and value give what the live query gives."""
    for actor in shop.actors.values():
        for by in ("grade", "owner"):
            with sessions.begin() as session:
                connection = session.connection()
                live = _average_clv_by(connection, DIMENSIONS[by], customer_scope(actor))
                owners = owners_seen(session, actor, every_owner(connection))
                for _ in range(2):  # counted and stored, then read
                    stored = average_clv_by(connection, DIMENSIONS[by], owners)
                    assert stored == pytest.approx(live) and live
                    overall = average_clv(connection, customer_scope(actor))
                    assert average_clv_over(connection, owners) == pytest.approx(overall)


def test_average_clv_by_grade_and_owner_follows_grades_and_owners(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    _check_clv(sessions, shop)
    agent = shop.actors["agent"]
    with sessions.begin() as session:
        mine = select(Customer.id).where(Customer.owner_id == agent.user_id).limit(2)
        moved = list(session.scalars(mine))
        session.execute(update(Customer).where(Customer.id.in_(moved)).values(owner_id=None))
    _check_clv(sessions, shop)
    with sessions.begin() as session:
        # Customers of other agents, whose stored totals no change of owner has dropped.
        others = Customer.owner_id.is_not(None) & (Customer.owner_id != agent.user_id)
        graded = select(Customer.id).where(Customer.grade == "A", others).limit(3)
        regraded = list(session.scalars(graded))
        session.execute(
            update(CustomerScore).where(CustomerScore.customer_id.in_(regraded)).values(grade="B")
        )
    _check_clv(sessions, shop)


@pytest.mark.parametrize("role", ROLES)
def test_cohorts_equal_the_definition(
    sessions: sessionmaker[Session], shop: Shop, role: str
) -> None:
    actor = shop.actors[role]
    period = months_up_to(datetime(2024, 8, 10).date(), 6)
    with sessions() as session:
        scope = customer_scope(actor)
        visible = set(session.scalars(select(Customer.id).where(scope) if scope is not None
                                      else select(Customer.id)))  # fmt: skip
        paid = [
            o
            for o in session.scalars(select(Order))
            if o.status == OrderStatus.paid and o.customer_id in visible
        ]
        first = {}
        for o in sorted(paid, key=lambda o: o.ordered_at):
            first.setdefault(o.customer_id, o.ordered_at)
        month = lambda moment: moment.year * 12 + moment.month - 1  # noqa: E731
        last = month(period.end - timedelta(microseconds=1))
        expected = []
        for cohort in range(month(period.start), last + 1):
            members = {c for c, at in first.items() if month(at) == cohort and at < period.end}
            if not members:
                continue
            bought = [
                {
                    o.customer_id
                    for o in paid
                    if o.customer_id in members and month(o.ordered_at) == m
                }
                for m in range(cohort, last + 1)
            ]
            expected.append([len(members), [len(b) / len(members) for b in bought]])
        got = cohort_retention(
            connection=session.connection(), period=period, customers=customer_scope(actor)
        )
    assert [[row["customers"], row["retention"]] for row in got] == expected
