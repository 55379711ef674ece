"""The Python evaluator's meaning of NULL, division by zero and each function, checked
against DuckDB on the same hand-written customers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pytest

from patron.errors import RuleError
from patron.rules.language import check, compile_duckdb, evaluate
from tests.rules.builders import customer, duckdb_results, feature_table

NOBODY = customer()
LOYAL = customer(
    recency_days=12, orders_90d=3, orders_prev_90d=4, spend_90d=300.0, p_alive=0.9,
    province="北京", tier="gold", in_pool=False, owner="li.lei", tags=["vip", "wholesale"],
    last_nps=None,
)  # fmt: skip
LAPSING = customer(
    recency_days=120, orders_90d=0, orders_prev_90d=3, spend_90d=0.0, p_alive=0.2,
    province="上海", tier=None, in_pool=True, owner=None, tags=[], last_nps=3,
)  # fmt: skip
PEOPLE = [NOBODY, LOYAL, LAPSING]

CASES: list[tuple[str, list[bool | None]]] = [
    ("recency_days > 90", [None, False, True]),
    ("recency_days > 90 AND orders_prev_90d >= 2 AND orders_90d <= orders_prev_90d * 0.5",
     [None, False, True]),
    ("recency_days > 90 OR in_pool", [None, False, True]),
    ("recency_days > 90 AND in_pool", [None, False, True]),
    ("NOT in_pool", [None, True, False]),
    ("last_nps IS NULL", [True, True, False]),
    ("owner IS NOT NULL", [False, True, False]),
    ("tier IN ('gold', NULL)", [None, True, None]),
    ("tier NOT IN ('silver', NULL)", [None, None, None]),
    ("recency_days BETWEEN 10 AND 100", [None, True, False]),
    ("spend_90d / orders_90d > 50", [None, True, None]),
    ("spend_90d / orders_90d IS NULL", [True, False, True]),
    ("orders_prev_90d % orders_90d IS NULL", [True, False, True]),
    ("COALESCE(last_nps, 10) >= 9", [True, True, False]),
    ("GREATEST(last_nps, recency_days) > 50", [None, False, True]),
    ("LEAST(last_nps, recency_days) < 5", [None, False, True]),
    ("HAS_TAG(tags, 'vip')", [None, True, False]),
    ("HAS_TAG(tags, NULL)", [None, None, None]),
    ("HAS_ANY_TAG(tags, 'retail', 'wholesale')", [None, True, False]),
    ("TAG_COUNT(tags) = 2", [None, True, False]),
    ("LENGTH(province) = 2 AND LOWER(tier) = 'gold'", [None, True, None]),
    ("CASE WHEN in_pool THEN p_alive > 0.1 ELSE p_alive > 0.5 END", [None, True, True]),
    ("CASE WHEN recency_days > 90 THEN 'late' END = 'late'", [None, None, True]),
    ("ROUND(p_alive * 10) = 9 AND FLOOR(-p_alive) = -1 AND CEIL(p_alive) = 1",
     [None, True, False]),
    ("ABS(recency_days - 100) < 30", [None, False, True]),
    ("NULL = NULL", [None, None, None]),
    ("NULL IS NULL", [True, True, True]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_python_and_duckdb_agree_with_the_expected_values(
    expression: str, expected: list[bool | None]
) -> None:
    checked = check(expression)
    assert [evaluate(checked, person) for person in PEOPLE] == expected
    assert duckdb_results(feature_table(PEOPLE), compile_duckdb(checked)) == expected


def test_rounding_follows_duckdb_half_away_from_zero() -> None:
    rows = [customer(clv=value) for value in (2.5, -2.5, 0.5, 1.005, 1234.5, -0.49999999999999994)]
    for expression in ("ROUND(clv) = clv", "ROUND(clv, 2) > clv", "ROUND(clv, -1) < clv"):
        checked = check(expression)
        python = [evaluate(checked, row) for row in rows]
        assert python == duckdb_results(feature_table(rows), compile_duckdb(checked))


@pytest.mark.parametrize(
    "values",
    [
        {"recency_days": np.int64(120), "p_alive": np.float64(0.2)},
        {"recency_days": 120.0, "p_alive": 0.2},
        {"recency_days": Decimal("120"), "p_alive": Decimal("0.20")},
    ],
)
def test_numpy_and_float_values_are_read_as_numbers(values: dict[str, Any]) -> None:
    checked = check("recency_days > 90 AND p_alive < 0.5")
    assert evaluate(checked, customer(**values)) is True


def test_booleans_stored_as_0_and_1_keep_three_valued_logic() -> None:
    checked = check("NOT in_pool AND (in_pool OR recency_days > 90)")
    assert evaluate(checked, customer(in_pool=0, recency_days=100)) is True
    assert evaluate(checked, customer(in_pool=1, recency_days=100)) is False
    assert evaluate(checked, customer(in_pool=0, recency_days=None)) is None


def test_decimal_columns_compute_as_floats_in_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE features (customer_id BIGINT, spend_90d DECIMAL(18, 2))")
    con.execute("INSERT INTO features VALUES (0, 0.10), (1, 0.20)")
    checked = check("spend_90d * 3 = 0.3 OR spend_90d + spend_90d + spend_90d = 0.6")
    people = [customer(spend_90d=Decimal("0.10")), customer(spend_90d=Decimal("0.20"))]
    python = [evaluate(checked, person) for person in people]
    assert python == [False, False]  # float arithmetic, as documented
    assert duckdb_results(con, compile_duckdb(checked)) == python


def test_nan_is_null() -> None:
    checked = check("p_alive IS NULL")
    assert evaluate(checked, customer(p_alive=float("nan"))) is True


def test_tags_may_come_as_any_sequence() -> None:
    checked = check("HAS_TAG(tags, 'vip') AND TAG_COUNT(tags) = 2")
    for tags in (["vip", "new"], ("vip", "new", "vip"), {"vip", "new"}, np.array(["vip", "new"])):
        assert evaluate(checked, customer(tags=tags)) is True


def test_a_missing_feature_is_an_error_not_a_null() -> None:
    with pytest.raises(RuleError, match="no value was given for the feature 'recency_days'"):
        evaluate(check("recency_days > 90"), {"orders_90d": 1})


@pytest.mark.parametrize(
    ("expression", "values", "named"),
    [
        ("recency_days > 90", {"recency_days": "many"}, "'recency_days' should be a number"),
        ("HAS_TAG(tags, 'vip')", {"tags": "vip;new"}, "'tags' should be a list of tags"),
        ("in_pool", {"in_pool": "yes"}, "'in_pool' should be true or false"),
        ("city = 'a'", {"city": 5}, "'city' should be text"),
    ],
)
def test_wrongly_typed_values_are_refused(
    expression: str, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(RuleError, match=named):
        evaluate(check(expression), customer(**values))


def test_untyped_allowed_names_fail_clearly_on_a_wrong_value() -> None:
    checked = check("early_score + 1 > 2", allowed={"early_score"})
    assert evaluate(checked, {"early_score": 5}) is True
    with pytest.raises(RuleError, match="cannot evaluate"):
        evaluate(checked, {"early_score": "high"})
    with pytest.raises(RuleError, match="not true or false"):
        evaluate(check("early_score", allowed={"early_score"}), {"early_score": 5})
