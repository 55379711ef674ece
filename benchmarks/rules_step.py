"""Benchmark the batch rule step alone: `rules.engine.evaluate` with the default rulebook.

    .venv/bin/python benchmarks/rules_step.py --customers 1000000 --repeat 3

Builds an in-memory DuckDB feature table shaped like a scoring run's (every catalogue column,
plus the store columns the run carries: name, owner, current grade and stage, offers, churn
drivers), filled by SQL with a fixed seed, then times only `evaluate` (grades with the two CLV
quantiles, stages, segments, warnings, care and recycling into `decisions`). Wall and CPU
seconds (CPU of all this process's threads; DuckDB uses every core) per repeat, the load
average before and after, and a digest of `decisions` so a faster version can show it decided
the same.

Distributions: 70% of customers have bought (orders from a geometric law, a recency skewed
towards recent), prospects have no purchase features and a CLV of 0, as the models leave them;
purchasers' CLV is log-normal; 20% are in the pool; survey scores, complaints, birthdays and
follow-ups are present for a share of customers, NULL otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import time
from datetime import date

import duckdb

from patron.analytics.catalog import duckdb_table_sql
from patron.rules import rulebook as rulebooks
from patron.rules.engine import evaluate

TODAY = date(2026, 6, 30)

# Each column's value for row `i`, with `b` (bought), `pooled`, `r` (recency), `f` (frequency)
# and `span` drawn first. Every `random()` below is replaced by a draw of its own, a hash of
# the row number and the draw's position, so the table is the same on every run and thread.
COLUMNS = {
    "recency_days": "CASE WHEN b THEN r END",
    "frequency": "f",
    "tenure_days": "coalesce(r + span, 0) + floor(random() * 400)::BIGINT",
    "monetary_total": "CASE WHEN b THEN round((f + 1) * (20 + random() * 400), 2) ELSE 0 END",
    "monetary_avg": "CASE WHEN f > 0 THEN round(20 + random() * 400, 2) ELSE 0 END",
    "purchase_span_days": "CASE WHEN b THEN span END",
    "days_since_first_purchase": "CASE WHEN b THEN r + span END",
    "last_gap_days": "CASE WHEN f > 0 THEN floor(random() * 2 * span / f)::BIGINT END",
    "days_to_next_purchase": "CASE WHEN f > 0 THEN random() * 200 END",
    "orders_total": "CASE WHEN b THEN f + 1 + floor(random() * 1.3)::BIGINT ELSE 0 END",
    "orders_30d": "CASE WHEN b AND r < 30 THEN 1 + floor(random() * 2)::BIGINT ELSE 0 END",
    "orders_90d": "CASE WHEN b AND r < 90 THEN 1 + floor(random() * 3)::BIGINT ELSE 0 END",
    "orders_365d": "CASE WHEN b AND r < 365 THEN 1 + floor(random() * f)::BIGINT ELSE 0 END",
    "orders_prev_90d": "CASE WHEN b THEN floor(random() * 4)::BIGINT ELSE 0 END",
    "spend_90d": "CASE WHEN b AND r < 90 THEN round(random() * 900, 2) ELSE 0 END",
    "spend_prev_90d": "CASE WHEN b AND random() < 0.4 THEN round(random() * 900, 2) ELSE 0 END",
    "spend_365d": "CASE WHEN b AND r < 365 THEN round(random() * 3000, 2) ELSE 0 END",
    "avg_gap_days": "CASE WHEN f > 0 THEN span / f END",
    "overdue_ratio": "CASE WHEN f > 0 AND span > 0 THEN r / (span / f) END",
    "refunds_90d": "CASE WHEN random() < 0.03 THEN 1 ELSE 0 END",
    "interactions_90d": "floor(random() * random() * 6)::BIGINT",
    "interactions_prev_90d": "floor(random() * random() * 6)::BIGINT",
    "days_since_interaction": "CASE WHEN random() < 0.8 THEN floor(random() * 400)::BIGINT END",
    "days_since_follow_up": "CASE WHEN random() < 0.5 THEN floor(random() * 400)::BIGINT END",
    "complaints_90d": "CASE WHEN random() < 0.05 THEN 1 + floor(random() * 3)::BIGINT ELSE 0 END",
    "complaints_prev_90d": "CASE WHEN random() < 0.05 THEN 1 ELSE 0 END",
    "open_tickets": "CASE WHEN random() < 0.04 THEN 1 ELSE 0 END",
    "last_nps": "CASE WHEN random() < 0.3 THEN floor(random() * 11)::BIGINT END",
    "last_csat": "CASE WHEN random() < 0.3 THEN 1 + floor(random() * 5)::BIGINT END",
    "points_balance": "CASE WHEN b THEN floor(random() * 5000)::BIGINT ELSE 0 END",
    "tier": "CASE WHEN b THEN ['member', 'silver', 'gold'][1 + floor(random() * 3)::INT] END",
    "owner": "CASE WHEN NOT pooled THEN 'agent' || (i % 40) END",
    "in_pool": "pooled",
    "locked": "random() < 0.05",
    "days_owned": "CASE WHEN NOT pooled THEN floor(random() * 700)::BIGINT END",
    "tags": "CASE WHEN random() < 0.3 THEN ['vip'] ELSE []::VARCHAR[] END",
    "age": "CASE WHEN random() < 0.6 THEN 18 + floor(random() * 60)::BIGINT END",
    "gender": "['F', 'M', NULL][1 + floor(random() * 3)::INT]",
    "province": "['北京', '上海', '广东', '浙江'][1 + floor(random() * 4)::INT]",
    "city": "['北京', '上海', '广州', '杭州'][1 + floor(random() * 4)::INT]",
    "channel": "CASE WHEN b THEN ['web', 'store', '微信'][1 + floor(random() * 3)::INT] END",
    "kind": "CASE WHEN random() < 0.9 THEN 'person' ELSE 'company' END",
    "days_to_birthday": "CASE WHEN random() < 0.6 THEN floor(random() * 366) END",
    "days_to_anniversary": "CASE WHEN b THEN floor(random() * 366) END",
    "r_score": "1 + floor(random() * 5)::BIGINT",
    "f_score": "1 + floor(random() * 5)::BIGINT",
    "m_score": "1 + floor(random() * 5)::BIGINT",
    "rfm_segment": "['champions', 'loyal', 'at_risk', 'lost'][1 + floor(random() * 4)::INT]",
    "value_class": "['high', 'mid', 'low'][1 + floor(random() * 3)::INT]",
    "p_alive": "CASE WHEN b THEN random() END",
    "expected_purchases": "CASE WHEN b THEN random() * 3 ELSE 0 END",
    "expected_avg_value": "CASE WHEN b THEN 20 + random() * 400 END",
    "clv": "CASE WHEN b THEN exp(5 + 1.2 * sqrt(-2 * ln(random())) * cos(6.283 * random())) "
    "ELSE 0 END",
    "churn_risk": "random()",
}
# What a scoring run's feature table carries beyond the catalogue (rules.actions reads some).
EXTRA = {
    "external_id": "'C' || i",
    "name": "'客户' || i",
    "owner_id": "CASE WHEN NOT pooled THEN i % 40 END",
    "birthday_day": "CASE WHEN random() < 0.6 THEN floor(random() * 20000)::BIGINT END",
    "lunar_birthday": "NULL::VARCHAR",
    "current_grade": "['A', 'B', 'C', 'D'][1 + floor(random() * 4)::INT]",
    "current_stage": "['new', 'active', 'at_risk', 'dormant'][1 + floor(random() * 4)::INT]",
    "churn_drivers": "[]::VARCHAR[]",
    "offers": "[]::VARCHAR[]",
}


def _draws(sql: str, counter: itertools.count[int]) -> str:
    """Each `random()` of the SQL as its own uniform draw in (0, 1) from the row number."""
    return re.sub(r"random\(\)", lambda _: f"draw(i, {next(counter)})", sql)


def build(con: duckdb.DuckDBPyConnection, customers: int) -> None:
    """The feature table `features`, `customers` rows, the same on every run."""
    con.execute("CREATE OR REPLACE MACRO draw(i, k) AS ((hash(i, k) % 1000003) + 0.5) / 1000003.0")
    con.execute(duckdb_table_sql("features"))
    con.execute("ALTER TABLE features DROP COLUMN grade")
    con.execute("ALTER TABLE features DROP COLUMN stage")
    types = dict(con.execute("SELECT name, type FROM pragma_table_info('features')").fetchall())
    missing = set(types) - set(COLUMNS) - {"customer_id"}
    assert not missing, f"no generator for {sorted(missing)}"
    counter = itertools.count(1)
    values = ", ".join(
        f"CAST({_draws(COLUMNS[name], counter)} AS {types[name]}) AS {name}" for name in COLUMNS
    )
    extra = ", ".join(f"{_draws(sql, counter)} AS {name}" for name, sql in EXTRA.items())
    con.execute(
        _draws(
            f"""
        CREATE OR REPLACE TABLE features AS
        SELECT i AS customer_id, {values}, {extra}
        FROM (
            SELECT i, b, pooled, r, f, CASE WHEN b THEN f * (1 + floor(random() * 120)) END AS span
            FROM (
                SELECT i, b, random() < 0.2 AS pooled,
                       CASE WHEN b THEN floor(random() * random() * 1500)::BIGINT END AS r,
                       CASE WHEN b THEN floor(-ln(1 - random()) * 3)::BIGINT ELSE 0 END AS f
                FROM (SELECT i, random() < 0.7 AS b FROM (SELECT range + 1 AS i FROM range($n)))
            )
        )
        ORDER BY customer_id
        """,
            counter,
        ),
        {"n": customers},
    )


def digest(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Counts per decision, and a hash of every decision with the values it read."""
    grades = dict(con.execute("SELECT grade, count(*) FROM decisions GROUP BY ALL").fetchall())
    stages = dict(con.execute("SELECT stage, count(*) FROM decisions GROUP BY ALL").fetchall())
    fired = con.execute(
        "SELECT sum(len(warnings)), sum(len(segments)), sum(len(care)), "
        "count(*) FILTER (WHERE recycle), count(*) FILTER (WHERE recycle_soon) FROM decisions"
    ).fetchone()
    everything = con.execute(
        "SELECT sum(hash(customer_id, grade, grade_values::VARCHAR, stage, "
        "stage_values::VARCHAR, segments, segments_values::VARCHAR, warnings, "
        "warnings_values::VARCHAR, care, care_values::VARCHAR, recycle, recycle_soon) "
        "::HUGEINT % 1000000007) FROM decisions"
    ).fetchone()
    return {
        "grades": {str(k): v for k, v in sorted(grades.items(), key=str)},
        "stages": {str(k): v for k, v in sorted(stages.items(), key=str)},
        "warnings_segments_care_recycle_soon": list(fired or ()),
        "hash": str(everything[0]) if everything else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    build(con, args.customers)
    built = time.perf_counter() - started
    rulebook = rulebooks.default()
    load_before = os.getloadavg()[0]
    walls, cpus = [], []
    for _ in range(args.repeat):
        con.execute("DROP TABLE IF EXISTS decisions")
        wall, cpu = time.perf_counter(), time.process_time()
        evaluate(rulebook, con, TODAY)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    load_after = os.getloadavg()[0]
    result = {
        "customers": args.customers,
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],  # type: ignore[index]
        "build_s": round(built, 1),
        "wall_s": [round(w, 2) for w in walls],
        "cpu_s": [round(c, 2) for c in cpus],
        "load_average": [round(load_before, 1), round(load_after, 1)],
        "decisions": digest(con),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(
        f"| {args.customers:,} | {statistics.median(walls):.2f} | {min(walls):.2f} | "
        f"{statistics.median(cpus):.2f} | {load_before:.1f} / {load_after:.1f} |"
    )


if __name__ == "__main__":
    main()
