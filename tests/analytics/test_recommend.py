"""Repurchase cycles, next-purchase expectations and offers on a hand-made order table."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from patron.analytics.recommend import DUE_WITHIN_DAYS, MIN_GAPS, OFFERS, recommend

DAY = 86_400


def _shop() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE orders (customer_id BIGINT, ts BIGINT, status VARCHAR, product_id BIGINT)"
    )
    con.execute(
        "CREATE TABLE products (product_id BIGINT, product_code VARCHAR, product_name VARCHAR)"
    )
    con.execute(
        "INSERT INTO products VALUES (1, 'TEA', '绿茶'), (2, 'POT', '茶壶'), (3, 'CUP', '茶杯')"
    )
    rows = []
    # Customers 1-5 buy tea every 30 days (5 gaps of 30); each also bought a pot once.
    for customer in range(1, 6):
        rows += [(customer, day * DAY, "paid", 1) for day in (0, 30)]
        rows.append((customer, 5 * DAY, "paid", 2))
    rows.append((6, 10 * DAY, "paid", 2))  # customer 6 bought only a pot
    rows.append((7, 0, "refunded", 1))  # a refund is not a purchase
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE features AS SELECT * FROM "
        "(VALUES (1, 25, 30.0), (6, 45, NULL), (8, NULL, NULL)) "
        "AS t(customer_id, recency_days, avg_gap_days)"
    )
    return con


def test_cycles_due_products_and_co_purchases() -> None:
    con = _shop()
    recommend(con, day=55, cut=55 * DAY)
    assert con.execute("SELECT * FROM product_cycles").fetchall() == [(1, 30.0, 5)]
    offers = dict(con.execute("SELECT customer_id, offers FROM offers ORDER BY 1").fetchall())
    # Tea was last bought on day 30 with a 30-day cycle: due on day 60, within 14 days of 55.
    assert [(o["product"], o["reason"]) for o in offers[1]] == [("TEA", "due")]
    # Five of the six pot buyers also bought tea: offer tea to customer 6 with confidence 5/6.
    assert [(o["product"], o["reason"], o["score"]) for o in offers[6]] == [
        ("TEA", "co_purchase", 0.8333)
    ]
    assert 7 not in offers
    nxt = dict(con.execute("SELECT * FROM next_purchase ORDER BY 1").fetchall())
    assert nxt == {1: 5.0, 6: None, 8: None}


# The offers as they were computed before they were grouped by basket: every (customer,
# product) row joined to every co-purchase confidence, the owned targets removed by an anti
# join, the candidates ranked per customer and the top ones joined to the products.
_OFFERS_PER_CUSTOMER = """
CREATE OR REPLACE TABLE offers_reference AS
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
GROUP BY r.customer_id
"""


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_offers_grouped_by_basket_equal_the_per_customer_ranking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    rows = 6000
    products = 12
    # Product 13 has no row in `products` (it is ranked, then left out, as before); few
    # products and customers make many equal confidences, so the tie order is tested too.
    orders = {
        "customer_id": rng.integers(1, 700, rows).astype(np.int64),
        "ts": rng.integers(0, 400 * DAY, rows).astype(np.int64),
        "status": rng.choice(np.array(["paid", "paid", "paid", "refunded"], dtype=object), rows),
        "product_id": rng.integers(1, products + 2, rows).astype(np.int64),
    }
    con.register("incoming", orders)
    con.execute(
        "CREATE TABLE orders AS SELECT customer_id, ts, status, "
        "CASE WHEN product_id = 1 AND ts % 7 = 0 THEN NULL ELSE product_id END AS product_id "
        "FROM incoming"
    )
    # Customer 9999 has bought every known product the day before: the only offer left is
    # the unknown product 13, so the customer has no offers at all.
    con.execute(
        f"INSERT INTO orders SELECT 9999, 299 * 86400, 'paid', i FROM range(1, {products + 1}) t(i)"
    )
    con.execute(
        "CREATE TABLE products AS SELECT i AS product_id, 'P' || i AS product_code, "
        f"'product ' || i AS product_name FROM range(1, {products + 1}) t(i)"
    )
    con.execute(
        "CREATE TABLE features AS SELECT DISTINCT customer_id, 1 AS recency_days, "
        "NULL::DOUBLE AS avg_gap_days FROM orders"
    )
    day = 300
    recommend(con, day=day, cut=day * DAY + DAY - 1)
    params = {"d": day, "cut": day * DAY + DAY - 1, "due_within": DUE_WITHIN_DAYS, "offers": OFFERS}
    con.execute(_OFFERS_PER_CUSTOMER, params)
    new = con.execute("SELECT customer_id, offers FROM offers ORDER BY 1").fetchall()
    old = con.execute("SELECT customer_id, offers FROM offers_reference ORDER BY 1").fetchall()
    assert len(new) > 500
    assert any(len(offers) == OFFERS for _, offers in new)
    assert {o["reason"] for _, offers in new for o in offers} == {"due", "co_purchase"}
    assert new == old
    assert 9999 not in dict(new)
    assert (
        con.execute("SELECT typeof(offers) FROM offers LIMIT 1").fetchone()
        == con.execute("SELECT typeof(offers) FROM offers_reference LIMIT 1").fetchone()
    )


# The repurchase cycles as they were computed before: the distinct purchase days of each
# customer and product first, then the gaps between them.
_CYCLES_OF_DISTINCT_DAYS = """
CREATE OR REPLACE TABLE cycles_reference AS
WITH bought AS (
    SELECT DISTINCT customer_id, product_id, ts // 86400 AS day
    FROM orders WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut
), gaps AS (
    SELECT product_id,
           day - lag(day) OVER (PARTITION BY customer_id, product_id ORDER BY day) AS gap
    FROM bought
)
SELECT product_id, median(gap) AS cycle_days, count(gap) AS gaps
FROM gaps WHERE gap IS NOT NULL GROUP BY product_id HAVING count(gap) >= $min_gaps
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cycles_equal_the_gaps_between_distinct_purchase_days(seed: int) -> None:
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    rows = 8000
    # Few customers, products and days: many purchases of one product on one day, at
    # several times of the day, and some after the cut.
    orders = {
        "customer_id": rng.integers(1, 40, rows).astype(np.int64),
        "ts": (rng.integers(-10, 30, rows) * DAY + rng.integers(0, DAY, rows)).astype(np.int64),
        "status": rng.choice(np.array(["paid", "paid", "paid", "refunded"], dtype=object), rows),
        "product_id": rng.integers(1, 9, rows).astype(np.int64),
    }
    con.register("incoming", orders)
    con.execute(
        "CREATE TABLE orders AS SELECT customer_id, ts, status, "
        "CASE WHEN product_id = 8 THEN NULL ELSE product_id END AS product_id FROM incoming"
    )
    con.execute(
        "CREATE TABLE products (product_id BIGINT, product_code VARCHAR, product_name VARCHAR)"
    )
    con.execute(
        "CREATE TABLE features (customer_id BIGINT, recency_days BIGINT, avg_gap_days DOUBLE)"
    )
    cut = 20 * DAY + DAY // 2
    recommend(con, day=20, cut=cut)
    con.execute(_CYCLES_OF_DISTINCT_DAYS, {"cut": cut, "min_gaps": MIN_GAPS})
    new = con.execute("SELECT * FROM product_cycles ORDER BY product_id").fetchall()
    old = con.execute("SELECT * FROM cycles_reference ORDER BY product_id").fetchall()
    same_day = con.execute(
        "SELECT count(*) - count(DISTINCT (customer_id, product_id, ts // 86400)) FROM orders "
        "WHERE status = 'paid' AND product_id IS NOT NULL AND ts <= $cut",
        {"cut": cut},
    ).fetchone()
    assert same_day is not None and same_day[0] > 500
    assert len(new) == 7
    assert new == old
    assert (
        con.execute("SELECT typeof(COLUMNS(*)) FROM product_cycles LIMIT 1").fetchone()
        == con.execute("SELECT typeof(COLUMNS(*)) FROM cycles_reference LIMIT 1").fetchone()
    )
