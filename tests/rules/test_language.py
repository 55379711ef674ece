"""What rule expressions accept, how they are normalised, and what they refuse and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.analytics.catalog import FEATURES, FeatureKind
from patron.errors import RuleError
from patron.rules.functions import FUNCTIONS
from patron.rules.language import check, compile_duckdb

CONTRACT_EXAMPLE = (
    "recency_days > 90 AND orders_prev_90d >= 2 AND orders_90d <= orders_prev_90d * 0.5"
)

ACCEPTED = [
    CONTRACT_EXAMPLE,
    "in_pool",
    "NOT in_pool AND owner IS NOT NULL",
    "HAS_TAG(tags, 'vip') OR tier IN ('gold', 'platinum')",
    "HAS_ANY_TAG(tags, 'vip', 'key_account') AND TAG_COUNT(tags) >= 2",
    "province = '北京' AND city <> 'O''Brien'",
    "age BETWEEN 18 AND 30 AND gender = 'female'",
    "recency_days NOT BETWEEN 0 AND 30",
    "channel NOT IN ('web', 'store')",
    "COALESCE(last_nps, 0) >= 9",
    "GREATEST(orders_90d, orders_prev_90d) > LEAST(orders_30d, 1)",
    "ROUND(clv, -2) >= 1000 AND ABS(spend_90d - spend_prev_90d) > 100.5",
    "FLOOR(overdue_ratio) >= 2 OR CEIL(p_alive * 10) <= 3",
    "LOWER(kind) = 'company' AND LENGTH(UPPER(city)) > 1",
    "CASE WHEN value_class = 'high' THEN churn_risk > 0.3 ELSE churn_risk > 0.6 END",
    "CASE grade WHEN 'A' THEN 1 WHEN 'B' THEN 2 ELSE 3 END <= 2",
    "spend_90d / orders_90d > 200 AND orders_total % 2 = 0",
    "-recency_days < -30",
    "interactions_90d < interactions_prev_90d / 2 AND complaints_90d > complaints_prev_90d",
    "open_tickets > 0 OR last_csat <= 2 OR refunds_90d >= 2",
    "days_since_follow_up > 14 OR days_since_interaction IS NULL",
    "p_alive < 0.2 AND expected_purchases < 0.5 AND expected_avg_value > 0",
    "r_score + f_score + m_score >= 12 AND rfm_segment = 'champions' AND stage = 'active'",
    "points_balance >= 1000 AND frequency > 2 AND tenure_days > 365 AND monetary_avg > 0",
    "monetary_total > 1e4 AND avg_gap_days < 30 AND orders_365d > 3 AND spend_365d > 0",
    "Recency_Days > 90",
    '"recency_days" > 90',
    "recency_days > NULL OR TRUE",
]


@pytest.mark.parametrize("expression", ACCEPTED)
def test_accepted(expression: str) -> None:
    checked = check(expression)
    assert checked.source == expression
    again = check(checked.normalised)
    assert again.root == checked.root
    assert again.normalised == checked.normalised
    assert compile_duckdb(checked)


def test_the_contract_example_keeps_its_spelling() -> None:
    checked = check(CONTRACT_EXAMPLE)
    assert checked.normalised == CONTRACT_EXAMPLE
    assert checked.features == {"recency_days", "orders_prev_90d", "orders_90d"}


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("recency_days>90 and not in_pool", "recency_days > 90 AND NOT in_pool"),
        ("x != 1 or y == 2", "x <> 1 OR y = 2"),
        ("NOT (recency_days > 90)", "NOT (recency_days > 90)"),
        ("NOT x IN (1, 2)", "x NOT IN (1, 2)"),
        ("NOT x IS NULL", "x IS NOT NULL"),
        ("(a OR b) AND c", "(a OR b) AND c"),
        ("a OR (b AND c)", "a OR b AND c"),
        ("10 - (2 - 3) > 0", "10 - (2 - 3) > 0"),
        ("(10 - 2) - 3 > 0", "10 - 2 - 3 > 0"),
        ("-(-x) > 0", "-(-x) > 0"),
        ("x - -5 > 0", "x - -5 > 0"),
        ("ifnull(x, 0) > 1", "COALESCE(x, 0) > 1"),
        ("has_tag(tags, 'vip')", "HAS_TAG(tags, 'vip')"),
        ("CASE x WHEN 1 THEN a END", "CASE WHEN x = 1 THEN a END"),
        ("x > 1e3", "x > 1000.0"),
    ],
)
def test_normalised_spelling(written: str, normalised: str) -> None:
    assert check(written, allowed={"x", "y", "a", "b", "c"}).normalised == normalised


def test_allowed_names_extend_the_catalogue() -> None:
    with pytest.raises(RuleError, match="unknown feature 'early_warning'"):
        check("early_warning AND in_pool")
    checked = check("early_warning AND in_pool", allowed={"early_warning"})
    assert checked.features == {"early_warning", "in_pool"}


def test_typed_allowed_names_are_type_checked() -> None:
    kinds = {"warning_level": FeatureKind.integer, "first_seen": FeatureKind.date}
    check("warning_level >= 2 AND first_seen IS NOT NULL", allowed=kinds)
    with pytest.raises(RuleError, match="mixes a number"):
        check("warning_level = 'high'", allowed=kinds)
    with pytest.raises(RuleError, match="mixes a date"):
        check("first_seen > 3", allowed=kinds)


def test_every_catalogue_name_is_usable() -> None:
    for name in FEATURES:
        assert check(f"{name} IS NULL").features == {name}


HOSTILE = [
    ("1=1; DROP TABLE customers", "; DROP TABLE customers"),
    ("recency_days > 90;", "no ';'"),
    ("DROP TABLE customers", "DROP TABLE customers"),
    ("UPDATE customers SET owner = NULL", "UPDATE customers"),
    ("SELECT * FROM customers", "SELECT * FROM customers"),
    ("recency_days > (SELECT max(recency_days) FROM features)", "(SELECT MAX"),
    ("recency_days IN (SELECT 1)", "recency_days IN (SELECT 1)"),
    ("EXISTS (SELECT 1)", "EXISTS"),
    ("recency_day > 90", "did you mean 'recency_days'"),
    ("orders_prev90d >= 2", "did you mean 'orders_prev_90d'"),
    ("password_hash IS NULL", "unknown feature 'password_hash'"),
    ('city = "Beijing"', "single quotes, like 'Beijing'"),
    ("flor(clv) > 1", "unknown function 'flor'; did you mean 'FLOOR'"),
    ("sqrt(clv) > 1", "SQRT is not an allowed function"),
    ("count(*) > 1", "COUNT is not an allowed function"),
    ("read_csv('/etc/passwd') IS NULL", "READ_CSV is not an allowed function"),
    ("recency_days > 90 -- AND in_pool", "comments"),
    ("recency_days /* sneaky */ > 90", "comments"),
    ("__import__('os').system('x')", "__import__('os').system('x')"),
    ("customers.recency_days > 90", "`customers.recency_days`: write the feature name alone"),
    ("*", "`*`"),
    ("row_number() OVER (ORDER BY clv) = 1", "window function"),
    ("recency_days::INT > 1", "type cast"),
    ("CAST(recency_days AS INT) > 1", "type cast"),
    ("recency_days > ?", "placeholder"),
    ("city LIKE 'Bei%'", "city LIKE 'Bei%'"),
    ("in_pool IS TRUE", "in_pool IS TRUE"),
    ("recency_days > 1 AS flag", "alias"),
    ("recency_days + 1", "must be a condition (true or false), but `recency_days + 1` is a number"),
    ("city", "`city` is text"),
    ("NULL", "`NULL` is NULL"),
    ("province = 5", "`province = 5` mixes text (`province`) with a number (`5`)"),
    ("tags = 'vip'", "`tags` is a tag set: test it with HAS_TAG(tags, 'vip')"),
    ("in_pool AND 1", "`1` is a number, but AND needs conditions"),
    ("NOT recency_days", "`recency_days` is a number, but NOT needs a condition"),
    ("city + 1 > 0", "`city` is text, but arithmetic (+) needs numbers"),
    ("recency_days IN (1, 'a')", "mixes a number (`recency_days`) with text (`'a'`)"),
    ("age BETWEEN 'a' AND 30", "mixes a number (`age`) with text (`'a'`)"),
    ("CASE WHEN in_pool THEN 1 ELSE 'a' END = 1", "mixes a number (`1`) with text (`'a'`)"),
    ("CASE WHEN clv THEN 1 END = 1", "`clv` is a number, but WHEN needs a condition"),
    ("HAS_TAG(city, 'vip')", "`city` is text, but HAS_TAG needs the tags feature"),
    ("HAS_TAG(tags, 5)", "`5` is a number, but HAS_TAG needs tag names as text"),
    ("HAS_TAG(tags)", "use it as HAS_TAG(tags, tag)"),
    ("LOWER(age) = 'a'", "`age` is a number, but LOWER needs text"),
    ("ROUND(clv, recency_days) > 1", "ROUND's second argument must be a whole number"),
    ("ROUND(clv, 2.5) > 1", "ROUND's second argument must be a whole number"),
    ("recency_days IN ()", "the IN list is empty"),
    ("recency_days >", "near `>`"),
    ("city = 'Beijing", "not closed"),
    ("recency_days > 1e999", "too large"),
    ("recency_days > 90\x00", "control character (U+0000)"),
    ("recency\u200b_days > 90", "control character (U+200B)"),
    ("-- recency_days > 90", "only a comment"),
    ("recency_days > 90 UNION SELECT 1", "queries and statements are not allowed"),
    ("pg_sleep(10) IS NULL", "unknown function 'pg_sleep'"),
    ("city || 'x' = 'ax'", "`city || 'x'` is not allowed"),
    ("", "empty"),
    ("   ", "empty"),
    ("(" * 300 + "in_pool" + ")" * 300, "nested"),
    (" OR ".join(["in_pool"] * 150), "nested more than"),
    ("in_pool OR " * 500 + "in_pool", "longer than"),
]


@pytest.mark.parametrize(("expression", "named"), HOSTILE)
def test_refused_with_the_offending_part_named(expression: str, named: str) -> None:
    with pytest.raises(RuleError) as refused:
        check(expression)
    assert named in refused.value.message
    assert "\n" not in refused.value.message
    assert refused.value.code == "invalid_rule"


def test_every_function_is_documented_with_an_accepted_example() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    section = docs.split("### Functions", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert {row.split("`")[1].split("(")[0] for row in rows} == set(FUNCTIONS)
    for row in rows:
        check(row.rstrip(" |").rsplit("`", 2)[1])
