"""The rulebook engine on hand-made feature tables: first match wins, quantiles, explanations."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import pytest

from patron.analytics.catalog import FEATURES
from patron.errors import RuleError
from patron.rules import rulebook as rulebooks
from patron.rules.engine import evaluate

TODAY = date(2026, 3, 1)


def features(*rows: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """A `features` table with every catalogue and engine column, NULL unless given."""
    con = duckdb.connect()
    columns = {"customer_id": "BIGINT"}
    columns |= {name: feature.duckdb_type for name, feature in FEATURES.items()}
    columns.pop("grade")
    columns.pop("stage")
    con.execute(f"CREATE TABLE features ({', '.join(f'{n} {t}' for n, t in columns.items())})")
    for key, row in enumerate(rows, start=1):
        values = {"customer_id": key, "in_pool": True, "locked": False, "tags": [], **row}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        con.execute(f"INSERT INTO features ({names}) VALUES ({marks})", list(values.values()))
    return con


def decide(text: str, con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    evaluate(rulebooks.parse(text), con, TODAY)
    relation = con.table("decisions")
    return [
        dict(zip(relation.columns, row, strict=True))
        for row in relation.order("customer_id").fetchall()
    ]


BASIC = """
grades:
  - {id: A, label: {en: A}, when: "orders_total > 0", quantile: {score: clv, top: 0.25}}
  - {id: B, label: {en: B}, when: "orders_total > 0"}
  - {id: P, label: {en: prospect}, when: "TRUE"}
stages:
  - {id: prospect, label: {en: p}, when: "orders_total = 0"}
  - {id: lapsed, label: {en: l}, when: "recency_days > 90 AND grade = 'A'"}
  - {id: active, label: {en: a}, when: "TRUE"}
warnings:
  - {id: quiet, label: {en: q}, when: "stage = 'lapsed' AND recency_days > 100"}
"""


def test_grades_by_quantile_then_first_match_and_stage_sees_grade() -> None:
    con = features(
        {"orders_total": 3, "clv": 900.0, "recency_days": 120},
        {"orders_total": 2, "clv": 500.0, "recency_days": 95},
        {"orders_total": 1, "clv": 100.0, "recency_days": 10},
        {"orders_total": 1, "clv": 50.0, "recency_days": 10},
        {"orders_total": 0, "clv": None},
    )
    rows = decide(BASIC, con)
    assert [r["grade"] for r in rows] == ["A", "B", "B", "B", "P"]
    assert [r["stage"] for r in rows] == ["lapsed", "active", "active", "active", "prospect"]
    assert [r["warnings"] for r in rows] == [["quiet"], [], [], [], []]
    assert json.loads(rows[0]["grade_values"]) == {"orders_total": 3}
    assert json.loads(rows[0]["warnings_values"]) == {
        "quiet": {"recency_days": 120, "stage": "lapsed"}
    }


def test_null_features_never_match_a_rule() -> None:
    rows = decide(BASIC, features({"orders_total": None, "clv": None}))
    assert (rows[0]["grade"], rows[0]["stage"]) == ("P", "active")


def test_tied_scores_at_the_quantile_edge_share_one_grade() -> None:
    con = features(*({"orders_total": 1, "clv": 100.0} for _ in range(4)))
    assert {r["grade"] for r in decide(BASIC, con)} == {"B"}


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("grade = 'A'", "`grade` is decided after grades"),
        ("1=1; DROP TABLE customers", "only one condition"),
        ("recency_days > (SELECT 1)", "subquery"),
        ("recencydays > 3", "recency_days"),
    ],
)
def test_bad_grade_expressions_are_refused_naming_the_rule(when: str, message: str) -> None:
    text = BASIC.replace('when: "orders_total > 0"}', f'when: "{when}"}}', 1)
    with pytest.raises(RuleError, match=r"grades .(A|B).") as raised:
        decide(text, features())
    assert message in raised.value.message


def test_recycling_respects_grades_lock_and_quiet_days() -> None:
    text = (
        BASIC
        + """
pool:
  recycle: [{grades: [B], no_follow_up_days: 30, no_purchase_days: 60}]
  warn_days_before: 5
"""
    )
    owned = {"in_pool": False, "orders_total": 1, "clv": 1.0, "recency_days": 70}
    con = features(
        {**owned, "days_owned": 200, "days_since_follow_up": 40},
        {**owned, "days_owned": 200, "days_since_follow_up": 27},
        {**owned, "days_owned": 10, "days_since_follow_up": 300},
        {**owned, "days_owned": 200, "days_since_follow_up": 40, "locked": True},
        {**owned, "days_owned": None, "in_pool": True},
    )
    rows = decide(text, con)
    assert [r["recycle"] for r in rows] == [True, False, False, False, False]
    assert [r["recycle_soon"] for r in rows] == [True, True, False, False, False]


def test_care_reminders_come_within_their_days_ahead() -> None:
    text = (
        BASIC
        + """
care:
  - id: bday
    label: {en: b}
    occasion: birthday
    days_ahead: 3
    actions: [{alert: true}]
"""
    )
    rows = decide(text, features({"days_to_birthday": 3}, {"days_to_birthday": 4}, {}))
    assert [r["care"] for r in rows] == [["bday"], [], []]


def test_the_default_rulebook_checks_and_runs() -> None:
    con = features(
        {
            "orders_total": 5,
            "clv": 10.0,
            "recency_days": 400,
            "frequency": 4,
            "orders_prev_90d": 0,
            "orders_90d": 0,
            "days_since_first_purchase": 900,
        }
    )
    rows = decide(rulebooks.default_text(), con)
    assert rows[0]["stage"] == "churned"
