"""Repurchase cycles, each customer's expected next purchase, and products to offer.

Reads the `orders`, `products` and `features` tables of a scoring run's DuckDB.

A product's repurchase cycle is the median number of days between a customer's consecutive
purchases of it. Several purchases of a product on one day count as one: taken in order of
day, a customer's purchases of it differ by 0 days within a day and by the gap between days
from one day to the next, so the gaps are the non-zero differences (no DISTINCT pass over the
orders first). A customer is due for a product they bought when its cycle has (nearly)
passed since they last bought it; co-purchase offers are the products most often bought by
customers who bought the same products (confidence P(B | A)), not yet bought by this one.

Co-purchase offers depend only on the set of products a customer bought (the basket), so they
are counted and ranked once per distinct basket (a few hundred at most with a small catalogue)
and joined back; each customer's offers are then the top ones of their due products and their
basket's top co-purchases, ranked by (score, -product id): the same offers, in the same order,
as ranking every (customer, product) candidate. The ranking keeps only numbers per candidate
(`max` of (score, -product id, due), unique per customer as a product is either owned or a
co-purchase), and each of the top ones is looked up in the catalogue afterwards: carrying the
product's code, name and reason through the ranking took most of its time.
"""

from __future__ import annotations

import duckdb

MIN_GAPS = 5
DUE_WITHIN_DAYS = 14
OFFERS = 3

# Each of a customer's top offers, k = 1..OFFERS, looked up in the catalogue by itself: NULL
# where the customer has fewer candidates or the product is not in the catalogue.
_SLOT = (
    "CASE WHEN p{k}.product_id IS NOT NULL THEN {{'product': p{k}.product_code, "
    "'name': p{k}.product_name, 'reason': CASE WHEN r.top[{k}].due THEN 'due' "
    "ELSE 'co_purchase' END, 'score': round(r.top[{k}].score, 4)}} END"
)
_SLOTS = range(1, OFFERS + 1)

_RECOMMEND_SQL = """
CREATE OR REPLACE TABLE product_cycles AS
WITH gaps AS (
    SELECT product_id,
           day - lag(day) OVER (PARTITION BY customer_id, product_id ORDER BY day) AS gap
    FROM (
        SELECT customer_id, product_id, ts // 86400 AS day
        FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
    )
)
SELECT product_id, median(gap) AS cycle_days, count(gap) AS gaps
FROM gaps WHERE gap <> 0 GROUP BY product_id HAVING count(gap) >= $min_gaps;

CREATE OR REPLACE TABLE offers AS
WITH owned AS (
    SELECT customer_id, product_id, max(ts // 86400) AS last_day
    FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
    GROUP BY ALL
), baskets AS (
    SELECT customer_id, list_sort(list(product_id)) AS basket FROM owned GROUP BY ALL
), basket_items AS (
    SELECT basket, customers, unnest(basket) AS product_id
    FROM (SELECT basket, count(*) AS customers FROM baskets GROUP BY ALL)
), buyers AS (
    SELECT product_id, CAST(sum(customers) AS BIGINT) AS n FROM basket_items GROUP BY ALL
), pairs AS (
    SELECT a.product_id AS source, b.product_id AS target, CAST(sum(a.customers) AS BIGINT) AS n
    FROM basket_items a JOIN basket_items b
      ON a.basket = b.basket AND a.product_id <> b.product_id
    GROUP BY ALL
), confidence AS (
    SELECT p.source, p.target, p.n / buyers.n AS confidence
    FROM pairs p JOIN buyers ON buyers.product_id = p.source
), basket_offers AS (
    SELECT i.basket, cf.target AS product_id, max(cf.confidence) AS score
    FROM basket_items i JOIN confidence cf ON cf.source = i.product_id
    WHERE NOT list_contains(i.basket, cf.target)
    GROUP BY i.basket, cf.target
    QUALIFY row_number() OVER (
        PARTITION BY i.basket ORDER BY max(cf.confidence) DESC, cf.target
    ) <= $offers
), due AS (
    SELECT o.customer_id, o.product_id, 'due' AS reason,
           1 + ($d - o.last_day) / c.cycle_days AS score
    FROM owned o JOIN product_cycles c USING (product_id)
    WHERE o.last_day + c.cycle_days <= $d + $due_within
), candidates AS (
    SELECT * FROM due
    UNION ALL
    SELECT b.customer_id, o.product_id, 'co_purchase' AS reason, o.score
    FROM baskets b JOIN basket_offers o USING (basket)
), ranked AS (
    SELECT customer_id,
           max({'score': score, 'product': -product_id, 'due': reason = 'due'}, $offers) AS top
    FROM candidates GROUP BY customer_id
)
SELECT r.customer_id, list_filter([{slots}], lambda x: x IS NOT NULL) AS offers
FROM ranked r {catalogue}
WHERE {known};

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
RECOMMEND_SQL = (
    _RECOMMEND_SQL.replace("{slots}", ",\n       ".join(_SLOT.format(k=k) for k in _SLOTS))
    .replace(
        "{catalogue}",
        " ".join(
            f"LEFT JOIN products p{k} ON p{k}.product_id = -r.top[{k}].product" for k in _SLOTS
        ),
    )
    .replace("{known}", " OR ".join(f"p{k}.product_id IS NOT NULL" for k in _SLOTS))
)


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
