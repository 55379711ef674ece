"""A log of several DuckDB row groups is written in id order, each customer with its own outlook."""

from __future__ import annotations

from pathlib import Path

import duckdb

from patron.analytics.clv_log import score_log_to_csv
from patron.analytics.summary import OrderLog
from tests.analytics.test_clv import AS_OF, simulated_orders

# Over two of DuckDB's 122,880-row groups, so the sort, the table made from it and the write
# run on several threads.
CUSTOMERS = 300_000


def test_many_customers_are_written_in_id_order_with_their_own_outlook(tmp_path: Path) -> None:
    orders = simulated_orders(CUSTOMERS, seed=41)
    log = OrderLog.from_arrays(orders["customer_id"], orders["ordered_at"], orders["amount"])
    out = tmp_path / "scores.csv"
    scores = score_log_to_csv(log, out, as_of=AS_OF, horizon_days=90)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE written AS SELECT *, row_number() OVER () AS line "
        "FROM read_csv($path, header = true, types = {'customer_id': 'VARCHAR'})",
        {"path": str(out)},
    )
    count, out_of_order = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE customer_id <= previous) FROM "
        "(SELECT customer_id, lag(customer_id) OVER (ORDER BY line) AS previous FROM written)"
    ).fetchall()[0]
    assert count == scores.customers == len(log.summary(AS_OF)) and out_of_order == 0
    # Every customer carries their history's outlook: one value per (x, t_x, T).
    mixed = con.execute(
        'SELECT count(*) FROM (SELECT frequency, recency, "T" FROM written GROUP BY ALL '
        "HAVING count(DISTINCT p_alive) > 1 OR count(DISTINCT expected_purchases) > 1)"
    ).fetchall()
    assert mixed == [(0,)]
    # And their own summary.
    summary = log.summary(AS_OF)
    con.register(
        "summary",
        {
            "customer_id": summary.customer_id,
            "frequency": summary.frequency,
            "recency": summary.recency,
            "T": summary.T,
            "monetary_value": summary.monetary_value,
        },
    )
    differing = con.execute(
        "SELECT count(*) FROM written w JOIN summary s USING (customer_id) WHERE w.frequency <> "
        's.frequency OR w.recency <> s.recency OR w."T" <> s."T" '
        "OR w.monetary_value <> s.monetary_value"
    ).fetchall()
    assert differing == [(0,)]
