"""Property: quantile grades decided from score thresholds (`engine.evaluate`) equal the grades
of the window form, cume_dist among the eligible rows (`engine.grade_conditions`, which Spark
runs), on random feature tables with tied scores, NULL scores and NULL conditions.
"""

from __future__ import annotations

from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.rules import rulebook as rulebooks
from patron.rules.engine import compile_rulebook, evaluate, grade_conditions
from patron.rules.rulebook import Rulebook
from tests.rules.builders import customer, feature_table
from tests.rules.test_single import TODAY

# Two grades ranking the same rows by the same score (they share one sort), one ranking other
# rows by a whole-number score, a tiny and a whole quantile, and a condition that can be NULL.
RANKED = """
grades:
  - {id: top, label: {en: t}, when: "orders_total > 0", quantile: {score: clv, top: 0.1}}
  - {id: F, label: {en: f}, when: "recency_days < 100", quantile: {score: frequency, top: 0.34}}
  - {id: A, label: {en: a}, when: "orders_total > 0", quantile: {score: clv, top: 0.5}}
  - {id: all, label: {en: x}, when: "orders_total >= 0", quantile: {score: clv, top: 1.0}}
  - {id: rest, label: {en: r}, when: "TRUE"}
stages:
  - {id: any, label: {en: any}, when: "TRUE"}
"""

_rows = st.lists(
    st.fixed_dictionaries(
        {
            "orders_total": st.one_of(st.none(), st.integers(0, 3)),
            "clv": st.one_of(
                st.none(), st.sampled_from([0.0, 1.5, 100.0, -2.0]), st.floats(-1e6, 1e6)
            ),
            "frequency": st.one_of(st.none(), st.integers(0, 4)),
            "recency_days": st.one_of(st.none(), st.integers(0, 200)),
        }
    ),
    min_size=1,
    max_size=40,
)


def _window_grades(rulebook: Rulebook, con: duckdb.DuckDBPyConnection) -> list[Any]:
    """Each row's grade decided by cume_dist windows over the whole table."""
    compiled = compile_rulebook(rulebook)
    conditions, windows = grade_conditions(rulebook, compiled)
    cases = " ".join(
        f"WHEN {c} THEN '{r.id}'" for r, c in zip(compiled.grades, conditions, strict=True)
    )
    window_sql = (", " + ", ".join(windows)) if windows else ""
    query = (
        f"SELECT CASE {cases} END FROM (SELECT *{window_sql} FROM features) ORDER BY customer_id"
    )
    return [grade for (grade,) in con.execute(query).fetchall()]


def _check(rulebook: Rulebook, rows: list[dict[str, Any]]) -> None:
    con = feature_table([customer(**row) for row in rows])
    con.execute("ALTER TABLE features DROP COLUMN grade")
    con.execute("ALTER TABLE features DROP COLUMN stage")
    expected = _window_grades(rulebook, con)
    evaluate(rulebook, con, TODAY)
    decided = [grade for (grade,) in con.execute("SELECT grade FROM decisions").fetchall()]
    assert decided == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows)
def test_threshold_grades_equal_window_grades(rows: list[dict[str, Any]]) -> None:
    _check(rulebooks.parse(RANKED), rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows)
def test_default_rulebook_grades_equal_window_grades(rows: list[dict[str, Any]]) -> None:
    _check(rulebooks.default(), rows)
