"""The exact JSON text a snapshot stores for its features and explanation.

Readers (the customer page, the API, exports, campaign targeting, SQL with `::json`) parse it,
and the stored text of a run is compared across versions of the code by digest: its key order,
number formatting, nulls for NaN and infinity, and the rule values embedded as JSON (not as
strings) are pinned here.
"""

from __future__ import annotations

import duckdb

from patron.rules import runs

FEATURES = """
CREATE TABLE features AS SELECT
    1::BIGINT AS customer_id, 'C1' AS external_id, '张三' AS name,
    3::BIGINT AS recency_days, 2.5::DOUBLE AS monetary_avg, 'NaN'::DOUBLE AS p_alive,
    'inf'::DOUBLE AS clv, NULL::DOUBLE AS churn_risk, ['vip', '线上偏好']::VARCHAR[] AS tags,
    TRUE AS in_pool, 'a"b' || chr(9) || 'c\\d' AS city, 'Champions' AS rfm_segment,
    'x' AS value_class, 4::BIGINT AS r_score, 5::BIGINT AS f_score, 'a;b' AS churn_drivers,
    [{'product': 'P1', 'name': '茶', 'reason': 'due', 'score': 1.5}] AS offers
"""
DECISIONS = """
CREATE TABLE decisions AS SELECT
    1::BIGINT AS customer_id, 'A' AS grade, '{"clv":1.0}'::JSON AS grade_values,
    'active' AS stage, '{}'::JSON AS stage_values, ['vip']::VARCHAR[] AS segments,
    '{"vip":{"tags":["vip"]}}'::JSON AS segments_values, ['overdue']::VARCHAR[] AS warnings,
    '{"overdue":{"recency_days":3}}'::JSON AS warnings_values, []::VARCHAR[] AS care,
    '{}'::JSON AS care_values
"""


def test_a_snapshot_row_is_stored_as_this_text() -> None:
    con = duckdb.connect()
    con.execute(FEATURES)
    con.execute(DECISIONS)
    query = runs._snapshot_query(con, 7, 3)("TRUE")
    features, explain, warnings = con.execute(
        f"SELECT features::VARCHAR, explain::VARCHAR, warnings FROM ({query})"
    ).fetchone() or (None, None, None)
    assert features == (
        '{"recency_days":3,"monetary_avg":2.5,"p_alive":null,"clv":null,"churn_risk":null,'
        '"tags":["vip","线上偏好"],"in_pool":true,"city":"a\\"b\\tc\\\\d",'
        '"rfm_segment":"Champions","value_class":"x","r_score":4,"f_score":5}'
    )
    assert explain == (
        '{"grade":{"rule":"A","values":{"clv":1.0}},"stage":{"rule":"active","values":{}},'
        '"segments":{"vip":{"tags":["vip"]}},"warnings":{"overdue":{"recency_days":3}},'
        '"care":{},"churn_drivers":"a;b",'
        '"offers":[{"product":"P1","name":"茶","reason":"due","score":1.5}],'
        '"rulebook_version":3}'
    )
    assert warnings == "overdue"
