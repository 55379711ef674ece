"""Point-in-time customer features, computed in DuckDB from what the store knew as of a date.

Day counts are whole days between the as-of date and an event's date. Windows: `_30d` means
0-29 days before the as-of date, `_90d` 0-89, `_prev_90d` 90-179, `_365d` 0-364. Purchases are
paid orders only; refunded and cancelled orders never count.

`analytics.features_one` computes the same row for one customer in Python (event runs): a
change to `FEATURES_SQL` needs its twin there, and `tests/analytics/test_features_one.py`
fails until the two agree. The churn model's inputs as of its two earlier moments are a
second twin (`churn._PAST_HISTORY_SQL`, one pass for both), checked against this query by
`tests/analytics/test_compute_fast_paths.py`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import duckdb
import numpy as np

from patron.analytics.store import StoreTable

SECONDS_PER_DAY = 86_400

# Paid amounts are added as decimals (to a millionth of the currency unit) and each sum is
# converted to a double once: DuckDB's threads add doubles in no fixed order, which made the
# last bits of spends and mean spends (and the scores computed from them) differ between runs.
#
# The paid orders pass through one window, in customer and day order, and one grouping by
# customer: a repeat purchase day is an order whose gap to the one before it is not 0 (several
# orders on one day follow each other with a gap of 0), so the distinct purchase days, their
# last gap and the first day's spend come without grouping by customer and day first. A
# customer is scored when created by the cut or when any of their events is (a row in one of
# the per-customer aggregates over all of a table's rows: refunds, contact, service, answers,
# points), without a union of every table's customer ids.
FEATURES_SQL = """
WITH
o AS (SELECT * FROM orders WHERE ts <= $cut),
ix AS (SELECT * FROM interactions WHERE ts <= $cut),
tk AS (SELECT * FROM tickets WHERE ts <= $cut),
rs AS (SELECT * FROM responses WHERE ts <= $cut),
pt AS (SELECT * FROM points WHERE ts <= $cut),
paid AS (
    SELECT customer_id, ts // 86400 AS day, CAST(amount AS DECIMAL(38, 6)) AS amount, channel
    FROM o WHERE status = 'paid'
),
paid_gaps AS (
    SELECT customer_id, day, amount,
           day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap,
           first_value(day) OVER (PARTITION BY customer_id ORDER BY day) AS opening_day
    FROM paid
),
purchases AS (
    SELECT customer_id,
           min(day) AS first_day,
           max(day) AS last_day,
           count(*) FILTER (WHERE gap <> 0) AS frequency,
           arg_max(gap, day) FILTER (WHERE gap <> 0) AS last_gap_days,
           coalesce(
               CAST(sum(amount) - sum(amount) FILTER (WHERE day = opening_day) AS DOUBLE)
                   / nullif(count(*) FILTER (WHERE gap <> 0), 0),
               0
           ) AS monetary_avg,
           count(*) AS orders_total,
           CAST(sum(amount) AS DOUBLE) AS monetary_total,
           count(*) FILTER (WHERE $d - day < 30) AS orders_30d,
           count(*) FILTER (WHERE $d - day < 90) AS orders_90d,
           count(*) FILTER (WHERE $d - day < 365) AS orders_365d,
           count(*) FILTER (WHERE $d - day >= 90 AND $d - day < 180) AS orders_prev_90d,
           coalesce(CAST(sum(amount) FILTER (WHERE $d - day < 90) AS DOUBLE), 0) AS spend_90d,
           coalesce(
               CAST(sum(amount) FILTER (WHERE $d - day >= 90 AND $d - day < 180) AS DOUBLE), 0
           ) AS spend_prev_90d,
           coalesce(CAST(sum(amount) FILTER (WHERE $d - day < 365) AS DOUBLE), 0) AS spend_365d
    FROM paid_gaps GROUP BY ALL
),
refunds AS (
    SELECT customer_id,
           count(*) FILTER (WHERE status = 'refunded' AND $d - ts // 86400 < 90) AS refunds_90d
    FROM o GROUP BY ALL
),
channel_counts AS (
    SELECT customer_id, channel, count(*) AS n FROM paid WHERE channel IS NOT NULL GROUP BY ALL
),
main_channel AS (
    SELECT customer_id, channel FROM channel_counts
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, channel) = 1
),
contact AS (
    SELECT customer_id,
           count(*) FILTER (WHERE $d - ts // 86400 < 90) AS interactions_90d,
           count(*) FILTER (WHERE $d - ts // 86400 >= 90 AND $d - ts // 86400 < 180)
               AS interactions_prev_90d,
           $d - max(ts // 86400) AS days_since_interaction,
           $d - max(ts // 86400) FILTER (WHERE is_follow_up = 1) AS days_since_follow_up
    FROM ix GROUP BY ALL
),
service AS (
    SELECT customer_id,
           count(*) FILTER (WHERE kind = 'complaint' AND $d - ts // 86400 < 90) AS complaints_90d,
           count(*) FILTER (
               WHERE kind = 'complaint' AND $d - ts // 86400 >= 90 AND $d - ts // 86400 < 180
           ) AS complaints_prev_90d,
           count(*) FILTER (
               WHERE coalesce(resolved_ts > $cut, TRUE) AND coalesce(closed_ts > $cut, TRUE)
           ) AS open_tickets
    FROM tk GROUP BY ALL
),
answers AS (
    SELECT customer_id,
           arg_max(score, ts) FILTER (WHERE kind = 'nps') AS last_nps,
           arg_max(score, ts) FILTER (WHERE kind = 'csat') AS last_csat
    FROM rs GROUP BY ALL
),
points_balance AS (
    SELECT customer_id, sum(points) AS points_balance FROM pt GROUP BY ALL
),
tiers AS (
    SELECT customer_id, arg_max(tier, ts) AS tier FROM tier_changes WHERE ts <= $cut GROUP BY ALL
),
tag_lists AS (
    SELECT customer_id, list(tag ORDER BY tag) AS tags FROM tags GROUP BY ALL
)
SELECT
    c.customer_id,
    c.external_id,
    $d - p.last_day AS recency_days,
    coalesce(p.frequency, 0) AS frequency,
    $d - least(p.first_day, c.created_ts // 86400) AS tenure_days,
    p.last_day - p.first_day AS purchase_span_days,
    $d - p.first_day AS days_since_first_purchase,
    p.last_gap_days,
    coalesce(p.monetary_total, 0) AS monetary_total,
    coalesce(p.monetary_avg, 0) AS monetary_avg,
    coalesce(p.orders_total, 0) AS orders_total,
    coalesce(p.orders_30d, 0) AS orders_30d,
    coalesce(p.orders_90d, 0) AS orders_90d,
    coalesce(p.orders_365d, 0) AS orders_365d,
    coalesce(p.orders_prev_90d, 0) AS orders_prev_90d,
    coalesce(p.spend_90d, 0) AS spend_90d,
    coalesce(p.spend_prev_90d, 0) AS spend_prev_90d,
    coalesce(p.spend_365d, 0) AS spend_365d,
    (p.last_day - p.first_day) / nullif(p.frequency, 0) AS avg_gap_days,
    ($d - p.last_day) / nullif((p.last_day - p.first_day) / nullif(p.frequency, 0), 0)
        AS overdue_ratio,
    coalesce(r.refunds_90d, 0) AS refunds_90d,
    coalesce(i.interactions_90d, 0) AS interactions_90d,
    coalesce(i.interactions_prev_90d, 0) AS interactions_prev_90d,
    i.days_since_interaction,
    i.days_since_follow_up,
    coalesce(s.complaints_90d, 0) AS complaints_90d,
    coalesce(s.complaints_prev_90d, 0) AS complaints_prev_90d,
    coalesce(s.open_tickets, 0) AS open_tickets,
    a.last_nps,
    a.last_csat,
    coalesce(pb.points_balance, 0) AS points_balance,
    t.tier,
    c.owner,
    c.owner_id,
    c.owner_id IS NULL AS in_pool,
    c.locked = 1 AS locked,
    $d - c.owned_since_ts // 86400 AS days_owned,
    coalesce(tl.tags, []::VARCHAR[]) AS tags,
    CASE WHEN c.birthday_ts IS NOT NULL THEN
        date_part('year', age(make_date($y, $m, $dd),
                              CAST(to_timestamp(c.birthday_ts) AS DATE)))::INTEGER
    END AS age,
    c.gender,
    c.province,
    c.city,
    mc.channel,
    c.kind,
    c.name,
    c.birthday_ts // 86400 AS birthday_day,
    c.lunar_birthday,
    c.current_grade,
    c.current_stage
FROM customers c
LEFT JOIN purchases p USING (customer_id)
LEFT JOIN refunds r USING (customer_id)
LEFT JOIN main_channel mc USING (customer_id)
LEFT JOIN contact i USING (customer_id)
LEFT JOIN service s USING (customer_id)
LEFT JOIN answers a USING (customer_id)
LEFT JOIN points_balance pb USING (customer_id)
LEFT JOIN tiers t USING (customer_id)
LEFT JOIN tag_lists tl USING (customer_id)
WHERE c.created_ts <= $cut OR r.customer_id IS NOT NULL OR i.customer_id IS NOT NULL
    OR s.customer_id IS NOT NULL OR a.customer_id IS NOT NULL OR pb.customer_id IS NOT NULL
ORDER BY c.customer_id
"""


def as_of_moment(as_of: date | datetime) -> datetime:
    """A date means the end of that day; a datetime is taken as given."""
    if isinstance(as_of, datetime):
        return as_of
    return datetime.combine(as_of, time(23, 59, 59, 999_999))


def epoch_seconds(moment: datetime) -> int:
    """Seconds since 1970-01-01 of a naive wall-clock time, the store's convention."""
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def connect(tables: dict[str, StoreTable]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding each store table, typed, under its own name."""
    con = duckdb.connect()
    for name, table in tables.items():
        # Casting on the way in: a column that was all NULL arrives untyped from Arrow.
        columns = ", ".join(
            f"CAST({column} AS {kind}) AS {column}" for column, kind in table.types.items()
        )
        con.register("incoming", table.data)
        con.execute(f"CREATE TABLE {name} AS SELECT {columns} FROM incoming")
        con.unregister("incoming")
    return con


def compute_features(
    con: duckdb.DuckDBPyConnection, as_of: date | datetime, *, table: str = "features"
) -> duckdb.DuckDBPyRelation:
    """Features as of the date, materialised as `table`; later events in `con` are ignored."""
    con.execute(f"CREATE OR REPLACE TABLE {table} AS " + FEATURES_SQL, feature_params(as_of))
    return con.table(table)


def feature_params(as_of: date | datetime) -> dict[str, int]:
    """The parameters FEATURES_SQL takes for an as-of date."""
    moment = as_of_moment(as_of)
    day = moment.date()
    return {
        "d": day_number(moment),
        "cut": epoch_seconds(moment),
        "y": day.year,
        "m": day.month,
        "dd": day.day,
    }


def day_number(as_of: date | datetime) -> int:
    """The as-of date as whole days since 1970-01-01."""
    return epoch_seconds(datetime.combine(as_of_moment(as_of).date(), time())) // SECONDS_PER_DAY


def feature_columns(
    con: duckdb.DuckDBPyConnection, table: str = "features"
) -> dict[str, np.ndarray[Any, Any]]:
    """A feature table as NumPy arrays (masked where NULL)."""
    return con.table(table).fetchnumpy()
