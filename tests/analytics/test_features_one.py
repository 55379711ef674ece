"""One customer's features in Python equal their row of `FEATURES_SQL` in DuckDB.

Random histories are written through the real models to SQLite and PostgreSQL; each
customer's row of a whole-store DuckDB run must equal `customer_features` on that customer's
own read, column by column: same names in the same order, same NULLs, same Python types,
numbers equal (sums of amounts to a relative 1e-9: the two add in different orders).
Event times cluster on what the SQL treats specially: the cut itself and a second either side
of it, midnight, the window edges (29/30, 89/90, 179/180, 364/365 days back) and times before
1970 that are not midnight (DuckDB's integer division truncates toward zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.features import as_of_moment, compute_features, connect
from patron.analytics.features_one import age, customer_features
from patron.analytics.store import read_store
from patron.customers.models import CustomerKind, CustomerTag
from patron.db import unit_of_work
from patron.engagement.models import Interaction, InteractionKind
from patron.loyalty.models import PointsEntry, PointsKind, TierChange
from patron.orders.models import Order, OrderStatus
from patron.service.models import SurveyKind, SurveyResponse, Ticket, TicketKind
from tests import builders

TODAY = date(2026, 3, 1)
WINDOW_EDGES = [0, 1, 29, 30, 89, 90, 179, 180, 364, 365]


@dataclass(frozen=True)
class When:
    """A time relative to the as-of date: days back (negative: after it), then a time of day."""

    days_back: int
    second: int
    micro: int = 0

    def on(self, today: date) -> datetime:
        midnight = datetime.combine(today - timedelta(days=self.days_back), time())
        return midnight + timedelta(seconds=self.second, microseconds=self.micro)


@dataclass
class Story:
    """One customer's profile and dated rows, before they are stored."""

    profile: dict[str, Any]
    tags: list[str]
    orders: list[tuple[When, int, OrderStatus, str | None]] = field(default_factory=list)
    interactions: list[tuple[When, bool]] = field(default_factory=list)
    tickets: list[tuple[When, TicketKind, When | None, When | None]] = field(default_factory=list)
    responses: list[tuple[When, SurveyKind, int | None]] = field(default_factory=list)
    points: list[tuple[When, int]] = field(default_factory=list)
    tiers: list[tuple[When, str | None]] = field(default_factory=list)


CUT_SECOND = 18 * 3600  # the as-of time of day when the as-of is a moment, not a date
_seconds = st.one_of(
    st.sampled_from([0, 1, CUT_SECOND - 1, CUT_SECOND, CUT_SECOND + 1, 86_399]),
    st.integers(0, 86_399),
)
_days_back = st.one_of(st.sampled_from([*WINDOW_EDGES, -1]), st.integers(-2, 420))
_when = st.builds(When, _days_back, _seconds, st.sampled_from([0, 0, 500_000]))
_before_1970 = st.builds(
    lambda day, second: When((TODAY - date(1969, 12, 31)).days + day, second),
    st.integers(0, 2),
    st.sampled_from([0, 1, 43_200]),
)
_text = st.sampled_from(["", "北京", "Beijing", "微信"])


def _profile() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "created": st.one_of(_when, _before_1970),
            "birthday": st.one_of(
                st.none(),
                st.sampled_from([date(2000, 2, 29), TODAY, TODAY + timedelta(days=1)]),
                st.dates(date(1930, 1, 1), date(2030, 12, 31)),
            ),
            "lunar_birthday": st.sampled_from([None, "01-15"]),
            "gender": st.sampled_from([None, "F", "M"]),
            "province": st.one_of(st.none(), _text),
            "city": st.one_of(st.none(), _text),
            "kind": st.sampled_from(list(CustomerKind)),
            "owned": st.booleans(),
            "owned_since": st.one_of(st.none(), _when, _before_1970),
            "locked": st.booleans(),
            "grade": st.sampled_from([None, "A", "C"]),
            "stage": st.sampled_from([None, "active", "churned"]),
            "deleted": st.integers(0, 9).map(lambda n: n == 0),
        }
    )


_maybe_when = st.one_of(st.none(), _when)
_stories = st.builds(
    Story,
    profile=_profile(),
    tags=st.lists(st.sampled_from(["vip", "b2b", "新客"]), unique=True, max_size=3),
    orders=st.lists(
        st.tuples(
            _when,
            st.one_of(st.just(0), st.integers(1, 5_000_000)),
            st.sampled_from([OrderStatus.paid, OrderStatus.paid, *OrderStatus]),
            st.sampled_from([None, "web", "store", "微信", "app"]),
        ),
        max_size=12,
    ),
    interactions=st.lists(st.tuples(_when, st.booleans()), max_size=5),
    tickets=st.lists(
        st.tuples(_when, st.sampled_from(list(TicketKind)), _maybe_when, _maybe_when), max_size=5
    ),
    # Two answers of one kind at the very same time have no defined "latest": times unique.
    responses=st.lists(
        st.tuples(
            _when, st.sampled_from(list(SurveyKind)), st.one_of(st.none(), st.integers(0, 10))
        ),
        max_size=5,
        unique_by=lambda answer: answer[0],
    ),
    points=st.lists(st.tuples(_when, st.integers(-500, 500)), max_size=5),
    tiers=st.lists(
        st.tuples(_when, st.sampled_from([None, "silver", "gold"])),
        max_size=3,
        unique_by=lambda change: change[0],
    ),
)
_as_of = st.one_of(
    st.just(TODAY),
    st.just(datetime.combine(TODAY, time()) + timedelta(seconds=CUT_SECOND)),
)


def _on(when: When | None) -> datetime | None:
    return None if when is None else when.on(TODAY)


def _store(session: Session, story: Story, owner_id: int, key: str) -> int:
    """Write one story through the models; return the customer's id."""
    p = story.profile
    stored = builders.customer(
        session,
        name=f"客户{key}",
        created_at=p["created"].on(TODAY),
        birthday=p["birthday"],
        lunar_birthday=p["lunar_birthday"],
        gender=p["gender"],
        province=p["province"],
        city=p["city"],
        kind=p["kind"],
        owner_id=owner_id if p["owned"] else None,
        owned_since=_on(p["owned_since"]),
        locked=p["locked"],
        grade=p["grade"],
        stage=p["stage"],
        deleted_at=datetime(2026, 1, 1) if p["deleted"] else None,
    )
    cid = stored.id
    rows: list[Any] = [CustomerTag(customer_id=cid, tag=tag) for tag in story.tags]
    rows += [
        Order(external_id=f"{key}-{i}", customer_id=cid, ordered_at=when.on(TODAY),
              amount=Decimal(cents) / 100, status=status, channel=channel)
        for i, (when, cents, status, channel) in enumerate(story.orders)
    ]  # fmt: skip
    rows += [
        Interaction(customer_id=cid, kind=InteractionKind.call, occurred_at=when.on(TODAY),
                    is_follow_up=follow_up)
        for when, follow_up in story.interactions
    ]  # fmt: skip
    rows += [
        Ticket(customer_id=cid, kind=kind, subject="s", opened_at=opened.on(TODAY),
               resolved_at=_on(resolved), closed_at=_on(closed))
        for opened, kind, resolved, closed in story.tickets
    ]  # fmt: skip
    rows += [
        SurveyResponse(customer_id=cid, kind=kind, score=score, answered_at=when.on(TODAY))
        for when, kind, score in story.responses
    ]
    rows += [
        PointsEntry(customer_id=cid, kind=PointsKind.earn if points >= 0 else PointsKind.redeem,
                    points=points, balance_after=0, occurred_at=when.on(TODAY))
        for when, points in story.points
    ]  # fmt: skip
    rows += [
        TierChange(customer_id=cid, to_tier=tier, changed_at=when.on(TODAY))
        for when, tier in story.tiers
    ]
    session.add_all(rows)
    session.flush()
    return cid


def _same(python: Any, duckdb: Any) -> bool:
    if python is None or duckdb is None:
        return python is None and duckdb is None
    if type(python) is not type(duckdb):
        return False
    if isinstance(python, float):
        return math.isclose(python, duckdb, rel_tol=1e-9, abs_tol=1e-9)
    return bool(python == duckdb)


def _check(db: Engine, ids: list[int], as_of: date | datetime) -> None:
    """Every customer's Python features against their row of the whole-store run."""
    moment = as_of_moment(as_of)
    table = compute_features(connect(read_store(db, moment)), moment)
    names = table.columns
    batch = {row[0]: dict(zip(names, row, strict=True)) for row in table.fetchall()}
    for customer_id in ids:
        one = customer_features(read_store(db, moment, only=customer_id), moment)
        expected = batch.get(customer_id)
        if expected is None:
            assert one is None, f"customer {customer_id} is not in the batch run"
            continue
        assert one is not None, f"customer {customer_id} is missing: {expected}"
        assert list(one) == names
        wrong = {n: (one[n], expected[n]) for n in names if not _same(one[n], expected[n])}
        assert not wrong, f"customer {customer_id}: (python, duckdb) {wrong}"


_counter = iter(range(1, 10**9))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(stories=st.lists(_stories, min_size=1, max_size=3), as_of=_as_of)
def test_features_in_python_equal_features_sql(
    db: Engine, sessions: sessionmaker[Session], stories: list[Story], as_of: date | datetime
) -> None:
    # Each example adds its own customers: a customer's features read only their own rows.
    with unit_of_work(sessions) as session:
        owner = builders.user(session).id
        ids = [_store(session, story, owner, f"E{next(_counter)}") for story in stories]
    _check(db, ids, as_of)


def _edge_stories() -> list[Story]:
    """Histories written by hand for the cases a random draw may miss."""
    plain = {"created": When(400, 0), "birthday": None, "lunar_birthday": None, "gender": None,
             "province": None, "city": None, "kind": CustomerKind.person, "owned": True,
             "owned_since": When(100, 0), "locked": False, "grade": None, "stage": None,
             "deleted": False}  # fmt: skip
    paid, refunded, cancelled = OrderStatus.paid, OrderStatus.refunded, OrderStatus.cancelled
    return [
        Story(plain, []),  # no orders, nothing else
        Story({**plain, "created": When(-3, 0)}, []),  # created after the as-of date: left out
        Story(  # created later, but with an order before: in the run
            {**plain, "created": When(-3, 0)}, [], orders=[(When(5, 0), 1000, paid, "web")]
        ),
        Story(  # only refunds and cancellations
            plain,
            ["vip"],
            orders=[(When(10, 0), 5000, refunded, "web"), (When(100, 0), 700, cancelled, None)],
        ),
        Story(  # three orders on one day, then one more: one repeat purchase
            plain,
            [],
            orders=[
                (When(40, 1), 100, paid, "web"),
                (When(40, 80_000), 250, paid, "store"),
                (When(40, 3), 5, paid, "store"),
                (When(2, 0), 999, paid, "web"),
            ],
        ),
        Story(  # rows at the cut, a second after it and a day after it
            plain,
            [],
            orders=[
                (When(0, CUT_SECOND), 100, paid, "web"),
                (When(0, CUT_SECOND + 1), 200, paid, "web"),
                (When(-1, 0), 300, paid, "web"),
            ],
            interactions=[(When(0, CUT_SECOND), True)],
            tickets=[
                (When(0, 0), TicketKind.complaint, When(0, CUT_SECOND), None),
                (When(0, 0), TicketKind.complaint, When(0, CUT_SECOND + 1), None),
            ],
            responses=[
                (When(0, CUT_SECOND), SurveyKind.nps, 3),
                (When(0, CUT_SECOND + 1), SurveyKind.nps, 10),
            ],
            points=[(When(0, CUT_SECOND), 7), (When(0, CUT_SECOND + 1), 1000)],
            tiers=[(When(0, CUT_SECOND), "gold"), (When(0, CUT_SECOND + 1), "silver")],
        ),
        Story(  # every window edge
            plain,
            [],
            orders=[(When(days, 0), 100 * (days + 1), paid, "web") for days in WINDOW_EDGES],
            interactions=[(When(days, 0), False) for days in WINDOW_EDGES],
            tickets=[(When(days, 0), TicketKind.complaint, None, None) for days in WINDOW_EDGES],
        ),
        Story(  # before 1970, not at midnight: DuckDB's day number rounds toward zero
            {
                **plain,
                "created": When((TODAY - date(1969, 12, 31)).days, 43_200),
                "owned_since": When((TODAY - date(1969, 12, 30)).days, 1),
                "birthday": date(1969, 12, 31),
            },
            [],
        ),
    ]


def test_edge_cases_by_hand(db: Engine, sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        owner = builders.user(session).id
        ids = [_store(session, story, owner, f"H{n}") for n, story in enumerate(_edge_stories())]
    for as_of in (TODAY, datetime.combine(TODAY, time()) + timedelta(seconds=CUT_SECOND)):
        _check(db, ids, as_of)


def test_a_customer_missing_from_the_store_has_no_features(db: Engine) -> None:
    assert customer_features(read_store(db, as_of_moment(TODAY), only=1), TODAY) is None


def test_age_counts_whole_years_either_side_of_the_birthday() -> None:
    day = 86_400
    born = (date(2000, 2, 29) - date(1970, 1, 1)).days * day
    assert age(born, date(2026, 2, 28)) == 25
    assert age(born, date(2026, 3, 1)) == 26
    assert age(born, date(2000, 2, 29)) == 0
    assert age(born, date(1999, 3, 1)) == 0
    assert age(born, date(1999, 2, 28)) == -1
    assert age(None, TODAY) is None
