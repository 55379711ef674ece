"""An event's one-customer path decides exactly what the batch path decides.

Warnings: the checked expressions evaluated in Python (`rules.single`) against DuckDB's
`engine.evaluate` with `keep_states`, on random feature rows for the default rulebook and the
scenario's. Features: one customer's row as an event computes it (in Python, from that
customer's rows) against the same customer's row of a whole-store run, on SQLite and
PostgreSQL; `tests/analytics/test_features_one.py` checks the same on random histories.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.catalog import FEATURES, FeatureKind
from patron.analytics.features import compute_features, connect
from patron.analytics.store import read_store
from patron.rules import events
from patron.rules import rulebook as rulebooks
from patron.rules.engine import compile_rulebook, evaluate
from patron.rules.single import decide_warnings, with_kept_states
from tests.analytics.history import History, at
from tests.rules.builders import customer, feature_table
from tests.rules.scenario import RULEBOOK, shop

TODAY = date(2026, 3, 1)
GRADES = [None, "A", "B", "C", "D"]
STAGES = [None, "new", "active", "at_risk", "dormant", "churned"]
_VALUES: dict[FeatureKind, st.SearchStrategy[Any]] = {
    FeatureKind.integer: st.one_of(st.integers(-3, 400), st.just(0)),
    FeatureKind.number: st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, 2.5, 0.05, 0.95]),
        st.integers(-100_000, 2_000_000).map(lambda cents: cents / 100),
    ),
    FeatureKind.text: st.sampled_from(["A", "B", "C", "gold", "silver", "微信", ""]),
    FeatureKind.boolean: st.booleans(),
    FeatureKind.tags: st.lists(st.sampled_from(["vip", "complained", "new"]), unique=True),
}


def _read(rulebook: rulebooks.Rulebook) -> list[str]:
    """The catalogue features the rulebook's warnings read."""
    names = {name for rule in compile_rulebook(rulebook).warnings for name in rule.features}
    return sorted(names & set(FEATURES) - {"grade", "stage"})


def _rows(rulebook: rulebooks.Rulebook) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries(
        {name: st.one_of(st.none(), _VALUES[FEATURES[name].kind]) for name in _read(rulebook)}
    )
    states = st.tuples(st.sampled_from(GRADES), st.sampled_from(STAGES))
    return st.lists(st.tuples(row, states), min_size=1, max_size=8)


def _batch_warnings(
    rulebook: rulebooks.Rulebook, people: list[dict[str, Any]]
) -> list[tuple[list[str], dict[str, Any]]]:
    con = feature_table([{k: v for k, v in p.items() if k in FEATURES} for p in people])
    # On an event grade and stage come from the last run, not from the feature row.
    con.execute("ALTER TABLE features DROP COLUMN grade")
    con.execute("ALTER TABLE features DROP COLUMN stage")
    con.execute("ALTER TABLE features ADD COLUMN current_grade VARCHAR")
    con.execute("ALTER TABLE features ADD COLUMN current_stage VARCHAR")
    for key, person in enumerate(people):
        con.execute(
            "UPDATE features SET current_grade = ?, current_stage = ? WHERE customer_id = ?",
            [person["current_grade"], person["current_stage"], key],
        )
    evaluate(rulebook, con, TODAY, keep_states=True)
    rows = con.execute(
        "SELECT warnings, warnings_values FROM decisions ORDER BY customer_id"
    ).fetchall()
    return [(list(fired), json.loads(values)) for fired, values in rows]


def _check_same(rulebook: rulebooks.Rulebook, rows: list[Any]) -> None:
    people = [
        {**customer(**values), "current_grade": grade, "current_stage": stage}
        for values, (grade, stage) in rows
    ]
    batch = _batch_warnings(rulebook, people)
    for person, (fired, values) in zip(people, batch, strict=True):
        single = decide_warnings(rulebook, with_kept_states(person))
        assert single.fired == fired
        assert single.values == values


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(rulebooks.default()))
def test_default_warnings_decided_in_python_equal_the_batch_path(rows: list[Any]) -> None:
    _check_same(rulebooks.default(), rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(rulebooks.parse(RULEBOOK)))
def test_scenario_warnings_decided_in_python_equal_the_batch_path(rows: list[Any]) -> None:
    _check_same(rulebooks.parse(RULEBOOK), rows)


def test_one_customers_features_equal_their_row_in_a_whole_store_run(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = shop(sessions)
    with sessions.begin() as session:
        History(customers=ids).interaction(session, "loyal", 399)
    moment = at(400) + timedelta(hours=6)
    whole = connect(read_store(db, moment))
    table = compute_features(whole, moment)
    names = table.columns
    batch = {row[0]: dict(zip(names, row, strict=True)) for row in table.fetchall()}
    assert set(batch) == set(ids.values())
    for customer_id, expected in batch.items():
        assert events._features(db, customer_id, moment) == expected
    assert events._features(db, max(ids.values()) + 1, moment) is None
