"""Repurchase cycles, next-purchase expectations and offers on a hand-made order table."""

from __future__ import annotations

import duckdb

from patron.analytics.recommend import recommend

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
