"""Repurchase cycles, each customer's expected next purchase, and products to offer.

Reads the `orders`, `products` and `features` tables of a scoring run's DuckDB.

A product's repurchase cycle is the median number of days between a customer's consecutive
purchases of it. A customer is due for a product they bought when its cycle has (nearly)
passed since they last bought it; co-purchase offers are the products most often bought by
customers who bought the same products (confidence P(B | A)), not yet bought by this one.
"""

from __future__ import annotations

import duckdb

MIN_GAPS = 5
DUE_WITHIN_DAYS = 14
OFFERS = 3

RECOMMEND_SQL = """
CREATE OR REPLACE TABLE product_cycles AS
WITH bought AS (
    SELECT DISTINCT customer_id, product_id, ts // 86400 AS day
    FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
), gaps AS (
    SELECT product_id,
           day - lag(day) OVER (PARTITION BY customer_id, product_id ORDER BY day) AS gap
    FROM bought
)
SELECT product_id, median(gap) AS cycle_days, count(gap) AS gaps
FROM gaps WHERE gap IS NOT NULL GROUP BY product_id HAVING count(gap) >= $min_gaps;

CREATE OR REPLACE TABLE offers AS
WITH owned AS (
    SELECT customer_id, product_id, max(ts // 86400) AS last_day
    FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
    GROUP BY ALL
), buyers AS (
    SELECT product_id, count(*) AS n FROM owned GROUP BY ALL
), pairs AS (
    SELECT a.product_id AS source, b.product_id AS target, count(*) AS n
    FROM owned a JOIN owned b ON a.customer_id = b.customer_id AND a.product_id <> b.product_id
    GROUP BY ALL
), confidence AS (
    SELECT p.source, p.target, p.n / buyers.n AS confidence
    FROM pairs p JOIN buyers ON buyers.product_id = p.source
), due AS (
    SELECT o.customer_id, o.product_id, 'due' AS reason,
           1 + ($d - o.last_day) / c.cycle_days AS score
    FROM owned o JOIN product_cycles c USING (product_id)
    WHERE o.last_day + c.cycle_days <= $d + $due_within
), cross_sell AS (
    SELECT o.customer_id, cf.target AS product_id, 'co_purchase' AS reason,
           max(cf.confidence) AS score
    FROM owned o JOIN confidence cf ON cf.source = o.product_id
    ANTI JOIN owned mine ON mine.customer_id = o.customer_id AND mine.product_id = cf.target
    GROUP BY ALL
), ranked AS (
    SELECT * FROM (SELECT * FROM due UNION ALL SELECT * FROM cross_sell)
    QUALIFY row_number() OVER (
        PARTITION BY customer_id ORDER BY score DESC, product_id
    ) <= $offers
)
SELECT r.customer_id,
       list({'product': p.product_code, 'name': p.product_name, 'reason': r.reason,
             'score': round(r.score, 4)} ORDER BY r.score DESC, r.product_id) AS offers
FROM ranked r JOIN products p USING (product_id)
GROUP BY r.customer_id;

CREATE OR REPLACE TABLE next_purchase AS
WITH last_product AS (
    SELECT customer_id, arg_max(product_id, ts) AS product_id
    FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
    GROUP BY ALL
)
SELECT f.customer_id,
       CASE WHEN f.recency_days IS NULL THEN NULL
            WHEN f.avg_gap_days IS NOT NULL THEN f.avg_gap_days - f.recency_days
            ELSE c.cycle_days - f.recency_days END AS days_to_next_purchase
FROM features f
LEFT JOIN last_product lp USING (customer_id)
LEFT JOIN product_cycles c USING (product_id);
"""


def recommend(con: duckdb.DuckDBPyConnection, *, day: int, cut: int) -> None:
    """Build `product_cycles`, `offers` (up to three products per customer, with reasons) and
    `next_purchase` (expected days to the next purchase: own rhythm, else the cycle of the
    last product bought; negative when overdue)."""
    params = {
        "d": day,
        "cut": cut,
        "min_gaps": MIN_GAPS,
        "due_within": DUE_WITHIN_DAYS,
        "offers": OFFERS,
    }
    for statement in filter(str.strip, RECOMMEND_SQL.split(";")):
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used)
