"""`patron clv` on an order log: per-customer work in DuckDB, the models per distinct history.

With days as the unit a million customers share a few hundred thousand purchase histories
(x, t_x, T). The summary stays in DuckDB; the purchase model is fitted on the distinct histories
weighted by their customers, and P(alive), expected purchases and discounted purchases are
computed once per history. While the models are fitted, DuckDB sorts the customers by id, with
each one's history index, into an Arrow table; the outlooks are then laid out in that order
beside it and DuckDB adds each customer's expected spend and CLV and writes the file. Only the
repeat buyers' spends, which the Gamma-Gamma fit needs one by one, come into Python per customer.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from patron.analytics import clv, gamma_gamma
from patron.analytics.fitting import FloatArray, single_threaded_blas
from patron.analytics.summary import OrderLog
from patron.errors import FileUnreadable, InvalidInput

# The customers in the file's order (by id), each with the index of its history in the arrays
# the models work on. Built while the models are fitted: DuckDB uses the core the fits leave.
_ORDER_SQL = """
SELECT s.customer_id, s.frequency, s.recency, s."T", s.monetary_value, k.history
FROM {summary} s JOIN history_keys k USING (frequency, recency, "T")
ORDER BY s.customer_id
"""

# The scores file, in the contract's column order. Expected spend per purchase is the
# Gamma-Gamma posterior mean p (gamma + x m) / (p x + q - 1) (`gamma_gamma.expected_average_value`,
# the same operations in the same order); CLV is that times the discounted purchases. Each
# customer's history outlook sits in the same row of `customer_scores` (an Arrow table: DuckDB
# scans it on all its threads in order, where a POSITIONAL JOIN of two tables, the way before,
# runs on one), so the file needs neither a join nor a sort here.
_WRITE_SQL = """
COPY (
    SELECT
        customer_id, frequency, recency, "T", monetary_value, p_alive, expected_purchases,
        {p} * ({gamma} + frequency * greatest(monetary_value, 0.0))
            / ({p} * frequency + {q} - 1) AS expected_avg_value,
        clv_per_spend * expected_avg_value AS clv
    FROM customer_scores
) TO '{path}' (HEADER, DELIMITER ',')
"""


@dataclass(frozen=True)
class LogScores:
    """What a scoring of an order log produced, besides the file."""

    customers: int
    total_clv: float
    model: clv.PurchaseModel
    params: dict[str, Any]


def score_log_to_csv(
    log: OrderLog,
    out: Path,
    *,
    as_of: date | datetime,
    horizon_days: float,
    model: clv.ModelChoice = "bgnbd",
    monthly_discount: float = clv.DEFAULT_MONTHLY_DISCOUNT,
) -> LogScores:
    """Score every customer of the log as of a date and write one CSV row per customer."""
    clv.check_horizon(horizon_days, monthly_discount)
    summary = log.summary_table(as_of)
    histories = _histories(log.connection, summary)
    if len(histories["customers"]) == 0:
        raise InvalidInput(f"no orders on or before {as_of}")
    holdout = clv.holdout_split(log, as_of, horizon_days) if model == "auto" else None
    chosen, comparison = clv.choose_model(model, holdout)
    x, t_x, big_t = histories["frequency"], histories["recency"], histories["T"]
    customers = histories["customers"]
    con = log.connection
    [(keep_order,)] = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()
    # While the purchase model is fitted, two threads fetch the repeat buyers' spends, then fit
    # the spend model on them and put the customers in the file's order: NumPy and SciPy
    # release the interpreter in their loops over large arrays, DuckDB in its queries, so the
    # work shares two cores. The connection serves one query at a time: the ordering starts
    # once the spends are in. BLAS stays on one thread throughout, whichever fit ends first
    # (its sums' order, so their last bits, would change with its thread count).
    try:
        with ThreadPoolExecutor(max_workers=2) as pool, single_threaded_blas():
            spends = pool.submit(_repeat_spends, con, summary)
            ordered = pool.submit(_order_customers, con, summary, histories, after=spends)
            spend_fit = pool.submit(_fit_spend, spends)
            near = comparison.near(chosen) if comparison is not None else None
            purchase = clv.fit_purchase_model(chosen, x, t_x, big_t, customers, near)
            outlook = clv.purchase_outlook(purchase, x, t_x, big_t, horizon_days, monthly_discount)
            spend = spend_fit.result()
            customers_by_id = ordered.result()
        # Expected spend is linear in a customer's mean spend, so a history's total is the
        # expectation at its customers' mean spend times their number.
        spend_total = customers * gamma_gamma.expected_average_value(
            spend, x, histories["spend"] / customers
        )
        _write(log.connection, out, customers_by_id, outlook, spend)
    finally:
        con.execute(f"SET preserve_insertion_order = {str(bool(keep_order)).lower()}")
    count = int(customers.sum())
    return LogScores(
        customers=count,
        total_clv=float(outlook.clv_per_spend @ spend_total),
        model=chosen,
        params=clv.run_params(purchase, spend, horizon_days, monthly_discount, count, comparison),
    )


def _histories(con: duckdb.DuckDBPyConnection, summary: str) -> dict[str, FloatArray]:
    """The distinct (x, t_x, T), their customers and the sum of those customers' mean spends."""
    rows = con.execute(
        f'SELECT frequency, recency, "T", count(*) AS customers, '
        f"sum(greatest(monetary_value, 0.0)) AS spend FROM {summary} GROUP BY ALL"
    ).fetchnumpy()
    return {name: np.asarray(values, dtype=np.float64) for name, values in rows.items()}


def _repeat_spends(con: duckdb.DuckDBPyConnection, summary: str) -> tuple[FloatArray, FloatArray]:
    """Repeat buyers with a positive mean spend (refund-only days carry none): x and m.

    Sorted, so the fit (whose warm start samples every n-th buyer) does not depend on the
    order DuckDB's threads happen to produce.
    """
    rows = con.execute(
        f"SELECT frequency, monetary_value FROM {summary} "
        "WHERE frequency > 0 AND monetary_value > 0 ORDER BY frequency, monetary_value"
    ).fetchnumpy()
    return (
        np.asarray(rows["frequency"], dtype=np.float64),
        np.asarray(rows["monetary_value"], dtype=np.float64),
    )


def _fit_spend(spends: Future[tuple[FloatArray, FloatArray]]) -> gamma_gamma.GammaGammaParams:
    return gamma_gamma.fit(*spends.result())


def _order_customers(
    con: duckdb.DuckDBPyConnection,
    summary: str,
    histories: dict[str, FloatArray],
    *,
    after: Future[Any],
) -> pa.Table:
    """The customers sorted by id, each with its summary and history index, as an Arrow table.

    Runs once `after`, the connection's previous query, has ended.
    """
    keys = {
        "frequency": histories["frequency"].astype(np.int64),
        "recency": histories["recency"].astype(np.int64),
        "T": histories["T"].astype(np.int64),
        "history": np.arange(len(histories["frequency"]), dtype=np.int64),
    }
    after.result()
    con.register("history_keys", keys)
    try:
        return con.sql(_ORDER_SQL.format(summary=summary)).to_arrow_table()
    finally:
        con.unregister("history_keys")


def _write(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    customers_by_id: pa.Table,
    outlook: clv.PurchaseOutlook,
    spend: gamma_gamma.GammaGammaParams,
) -> None:
    """Write the scores file from the sorted customers and their histories' outlooks.

    Insertion order is kept from the Arrow table to the file: DuckDB's threads format chunks
    of it in parallel and write them in the table's order.
    """
    history = np.asarray(customers_by_id.column("history").to_numpy(), dtype=np.intp)
    scores = customers_by_id.drop_columns("history")
    for name in ("p_alive", "expected_purchases", "clv_per_spend"):
        scores = scores.append_column(name, pa.array(getattr(outlook, name)[history]))
    sql = _WRITE_SQL.format(
        path=str(out).replace("'", "''"),
        # Written as text and cast, so DuckDB reads back exactly the fitted doubles.
        **{name: f"CAST('{value!r}' AS DOUBLE)" for name, value in spend.as_dict().items()},
    )
    con.execute("SET preserve_insertion_order = true")
    con.register("customer_scores", scores)
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise FileUnreadable(f"cannot write {out}: {str(exc).splitlines()[0]}") from exc
    finally:
        con.unregister("customer_scores")
