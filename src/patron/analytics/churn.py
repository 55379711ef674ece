"""Churn risk: the probability that a customer makes no purchase within the horizon.

Trained on the business's own history from point-in-time features: features as of
`as_of - 2h` labelled by what happened in the next h days train the model, features as of
`as_of - h` labelled up to `as_of` validate it, and the model refit on that later period scores
today. With too little history the documented heuristic `exp(-expected_purchases)` is used.

The two earlier moments' inputs come from one pass over the store (`_PAST_HISTORY_SQL`), a
twin of the feature query's columns they use: `tests/analytics/test_compute_fast_paths.py`
checks them value for value against `FEATURES_SQL` as of each moment, so a change to the
feature query fails that test until its twin here follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from patron.analytics.features import as_of_moment, day_number, feature_params
from patron.analytics.fitting import single_threaded_blas

MIN_CUSTOMERS = 200
MIN_PER_CLASS = 20
TOP_DRIVERS = 3

# Each model input: the feature it explains (shown as a driver) and its SQL over `features`.
MODEL_INPUTS: list[tuple[str, str]] = [
    ("recency_days", "ln(1 + coalesce(recency_days, tenure_days, 0))"),
    ("frequency", "ln(1 + frequency)"),
    ("tenure_days", "ln(1 + coalesce(tenure_days, 0))"),
    ("monetary_avg", "ln(1 + monetary_avg)"),
    ("monetary_total", "ln(1 + monetary_total)"),
    ("orders_90d", "ln(1 + orders_90d)"),
    ("orders_prev_90d", "ln(1 + orders_prev_90d)"),
    ("overdue_ratio", "least(coalesce(overdue_ratio, 0), 10)"),
    ("interactions_90d", "ln(1 + interactions_90d)"),
    ("days_since_interaction", "ln(1 + coalesce(days_since_interaction, 3650))"),
    ("complaints_90d", "complaints_90d"),
    ("open_tickets", "open_tickets"),
    ("refunds_90d", "refunds_90d"),
    ("last_nps", "coalesce(CAST(last_nps <= 6 AS INTEGER), 0)"),
    ("last_csat", "coalesce(CAST(last_csat <= 2 AS INTEGER), 0)"),
    ("orders_total", "CAST(orders_total = 0 AS INTEGER)"),
]
INPUT_NAMES = [name for name, _ in MODEL_INPUTS]


@dataclass(frozen=True)
class ChurnResult:
    """Risk per customer (in the feature table's order), the main drivers, and how it was made."""

    risk: np.ndarray[Any, np.dtype[np.float64]]
    drivers: np.ndarray[Any, np.dtype[np.object_]]
    method: str
    metrics: dict[str, Any] = field(default_factory=dict)


def _design(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray[Any, Any]:
    select = ", ".join(f"CAST({sql} AS DOUBLE)" for _, sql in MODEL_INPUTS)
    rows = con.execute(f"SELECT {select} FROM {table} ORDER BY customer_id").fetchnumpy()
    return np.column_stack([np.asarray(column, dtype=np.float64) for column in rows.values()])


# The model inputs' features as of two earlier moments in one pass over the store: each
# aggregate of FEATURES_SQL is taken twice, filtered to the rows on or before each cut, so
# the values (and their types) are those the feature query gives as of either cut. Paid
# orders are summed per day once for both cuts (a day's sum as of each); exact decimal sums
# regrouped by day are the same sums. `_PAST_FEATURES` picks one cut's columns out of it.
_PAST_HISTORY_SQL = """
CREATE OR REPLACE TEMP TABLE churn_history AS
WITH
daily AS (
    SELECT customer_id, ts // 86400 AS day,
           count(*) FILTER (WHERE ts <= $cut1) AS n1,
           sum(CAST(amount AS DECIMAL(38, 6))) FILTER (WHERE ts <= $cut1) AS amount1,
           count(*) AS n2,
           sum(CAST(amount AS DECIMAL(38, 6))) AS amount2
    FROM orders WHERE status = 'paid' AND ts <= $cut2
    GROUP BY ALL
),
purchases AS (
    SELECT customer_id,
           min(day) FILTER (WHERE n1 > 0) AS first_day1,
           max(day) FILTER (WHERE n1 > 0) AS last_day1,
           count(*) FILTER (WHERE n1 > 0) AS days1,
           sum(amount1) AS amount_sum1,
           arg_min(amount1, day) FILTER (WHERE n1 > 0) AS first_amount1,
           CAST(sum(n1) AS BIGINT) AS orders_total1,
           CAST(sum(n1) FILTER (WHERE $d1 - day < 90) AS BIGINT) AS orders_90d1,
           CAST(sum(n1) FILTER (WHERE $d1 - day >= 90 AND $d1 - day < 180) AS BIGINT)
               AS orders_prev_90d1,
           min(day) AS first_day2,
           max(day) AS last_day2,
           count(*) AS days2,
           sum(amount2) AS amount_sum2,
           arg_min(amount2, day) AS first_amount2,
           CAST(sum(n2) AS BIGINT) AS orders_total2,
           CAST(sum(n2) FILTER (WHERE $d2 - day < 90) AS BIGINT) AS orders_90d2,
           CAST(sum(n2) FILTER (WHERE $d2 - day >= 90 AND $d2 - day < 180) AS BIGINT)
               AS orders_prev_90d2
    FROM daily GROUP BY ALL
),
other_orders AS (
    SELECT customer_id, min(ts) AS first_ts,
           count(*) FILTER (
               WHERE ts <= $cut1 AND status = 'refunded' AND $d1 - ts // 86400 < 90
           ) AS refunds_90d1,
           count(*) FILTER (WHERE status = 'refunded' AND $d2 - ts // 86400 < 90) AS refunds_90d2
    FROM orders WHERE status IS DISTINCT FROM 'paid' AND ts <= $cut2
    GROUP BY ALL
),
contact AS (
    SELECT customer_id, min(ts) AS first_ts,
           count(*) FILTER (WHERE ts <= $cut1 AND $d1 - ts // 86400 < 90) AS interactions_90d1,
           $d1 - max(ts // 86400) FILTER (WHERE ts <= $cut1) AS days_since_interaction1,
           count(*) FILTER (WHERE $d2 - ts // 86400 < 90) AS interactions_90d2,
           $d2 - max(ts // 86400) AS days_since_interaction2
    FROM interactions WHERE ts <= $cut2
    GROUP BY ALL
),
service AS (
    SELECT customer_id, min(ts) AS first_ts,
           count(*) FILTER (
               WHERE ts <= $cut1 AND kind = 'complaint' AND $d1 - ts // 86400 < 90
           ) AS complaints_90d1,
           count(*) FILTER (
               WHERE ts <= $cut1 AND coalesce(resolved_ts > $cut1, TRUE)
                 AND coalesce(closed_ts > $cut1, TRUE)
           ) AS open_tickets1,
           count(*) FILTER (WHERE kind = 'complaint' AND $d2 - ts // 86400 < 90)
               AS complaints_90d2,
           count(*) FILTER (
               WHERE coalesce(resolved_ts > $cut2, TRUE) AND coalesce(closed_ts > $cut2, TRUE)
           ) AS open_tickets2
    FROM tickets WHERE ts <= $cut2
    GROUP BY ALL
),
answers AS (
    SELECT customer_id, min(ts) AS first_ts,
           arg_max(score, ts) FILTER (WHERE ts <= $cut1 AND kind = 'nps') AS last_nps1,
           arg_max(score, ts) FILTER (WHERE ts <= $cut1 AND kind = 'csat') AS last_csat1,
           arg_max(score, ts) FILTER (WHERE kind = 'nps') AS last_nps2,
           arg_max(score, ts) FILTER (WHERE kind = 'csat') AS last_csat2
    FROM responses WHERE ts <= $cut2
    GROUP BY ALL
),
points_seen AS (
    SELECT customer_id, min(ts) AS first_ts FROM points WHERE ts <= $cut2 GROUP BY ALL
)
SELECT c.customer_id, c.created_ts, p.*  EXCLUDE (customer_id),
       o.first_ts AS orders_first_ts, o.refunds_90d1, o.refunds_90d2,
       i.first_ts AS contact_first_ts, i.* EXCLUDE (customer_id, first_ts),
       s.first_ts AS service_first_ts, s.* EXCLUDE (customer_id, first_ts),
       a.first_ts AS answers_first_ts, a.* EXCLUDE (customer_id, first_ts),
       pt.first_ts AS points_first_ts
FROM customers c
LEFT JOIN purchases p USING (customer_id)
LEFT JOIN other_orders o USING (customer_id)
LEFT JOIN contact i USING (customer_id)
LEFT JOIN service s USING (customer_id)
LEFT JOIN answers a USING (customer_id)
LEFT JOIN points_seen pt USING (customer_id)
WHERE c.created_ts <= $cut2 OR p.customer_id IS NOT NULL OR o.customer_id IS NOT NULL
   OR i.customer_id IS NOT NULL OR s.customer_id IS NOT NULL OR a.customer_id IS NOT NULL
   OR pt.customer_id IS NOT NULL
"""

# One cut's features (`{k}` 1 or 2) as FEATURES_SQL names them, for the customers it keeps:
# those created by then or with any order, interaction, ticket, answer or points by then.
_PAST_FEATURES = """
SELECT customer_id,
       $d{k} - last_day{k} AS recency_days,
       coalesce(nullif(days{k}, 0) - 1, 0) AS frequency,
       $d{k} - least(first_day{k}, created_ts // 86400) AS tenure_days,
       coalesce(
           CAST(amount_sum{k} - first_amount{k} AS DOUBLE) / nullif(days{k} - 1, 0), 0
       ) AS monetary_avg,
       coalesce(CAST(amount_sum{k} AS DOUBLE), 0) AS monetary_total,
       coalesce(orders_total{k}, 0) AS orders_total,
       coalesce(orders_90d{k}, 0) AS orders_90d,
       coalesce(orders_prev_90d{k}, 0) AS orders_prev_90d,
       ($d{k} - last_day{k})
           / nullif((last_day{k} - first_day{k}) / nullif(days{k} - 1, 0), 0) AS overdue_ratio,
       coalesce(refunds_90d{k}, 0) AS refunds_90d,
       coalesce(interactions_90d{k}, 0) AS interactions_90d,
       days_since_interaction{k} AS days_since_interaction,
       coalesce(complaints_90d{k}, 0) AS complaints_90d,
       coalesce(open_tickets{k}, 0) AS open_tickets,
       last_nps{k} AS last_nps,
       last_csat{k} AS last_csat
FROM churn_history
WHERE created_ts <= $cut{k} OR days{k} > 0 OR orders_first_ts <= $cut{k}
   OR contact_first_ts <= $cut{k} OR service_first_ts <= $cut{k}
   OR answers_first_ts <= $cut{k} OR points_first_ts <= $cut{k}
"""


def _past_designs(con: duckdb.DuckDBPyConnection, train_cut: datetime, valid_cut: datetime) -> None:
    """The model inputs as of the two earlier moments, as `churn_train` and `churn_valid`
    (customer_id and one column per input, named after it), from one pass over the store:
    the same values as the feature query as of each moment (only these columns kept)."""
    early, late = feature_params(train_cut), feature_params(valid_cut)
    if not early["cut"] < late["cut"]:
        raise ValueError("the training cut must come before the validation cut")
    params = {"cut1": early["cut"], "d1": early["d"], "cut2": late["cut"], "d2": late["d"]}
    con.execute(_PAST_HISTORY_SQL, params)
    select = ", ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in MODEL_INPUTS)
    for k, table in ((1, "churn_train"), (2, "churn_valid")):
        features = _PAST_FEATURES.replace("{k}", str(k))
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT customer_id, {select} FROM ({features})",
            {f"cut{k}": params[f"cut{k}"], f"d{k}": params[f"d{k}"]},
        )
    con.execute("DROP TABLE churn_history")


def _stored_design(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray[Any, Any]:
    rows = con.execute(
        f"SELECT {', '.join(INPUT_NAMES)} FROM {table} ORDER BY customer_id"
    ).fetchnumpy()
    return np.column_stack([np.asarray(column, dtype=np.float64) for column in rows.values()])


def _labels(
    con: duckdb.DuckDBPyConnection, table: str, start_day: int, days: int
) -> np.ndarray[Any, Any]:
    """1 where the customer has no paid order in the `days` days after `start_day`."""
    sql = f"""
        SELECT CAST(count(o.customer_id) = 0 AS INTEGER) AS churned
        FROM {table} f LEFT JOIN orders o
          ON o.customer_id = f.customer_id AND o.status = 'paid'
         AND o.ts // 86400 > $start AND o.ts // 86400 <= $start + $days
        GROUP BY f.customer_id ORDER BY f.customer_id
    """
    result = con.execute(sql, {"start": start_day, "days": days}).fetchnumpy()
    return np.asarray(result["churned"], dtype=np.int64)


def _enough(labels: np.ndarray[Any, Any]) -> bool:
    positives = int(labels.sum())
    return len(labels) >= MIN_CUSTOMERS and min(positives, len(labels) - positives) >= MIN_PER_CLASS


def _calibration(
    labels: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any]
) -> list[dict[str, float]]:
    """Mean predicted vs observed churn in ten equal-count bins of the prediction."""
    order = np.argsort(predicted, kind="stable")
    return [
        {
            "predicted": round(float(predicted[part].mean()), 4),
            "observed": round(float(labels[part].mean()), 4),
            "customers": len(part),
        }
        for part in np.array_split(order, 10)
        if len(part)
    ]


def _drivers(model: Any, design: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The inputs pushing each customer's risk up most, as `;`-separated feature names.

    Each customer's (top inputs, which push up) is coded as one integer; the text is built
    once per distinct code (a few hundred at most) and gathered back.
    """
    scaler, regression = model[0], model[-1]
    contributions = scaler.transform(design) * regression.coef_[0]
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :TOP_DRIVERS]
    positive = np.take_along_axis(contributions, top, axis=1) > 0
    # Digit k (base len + 1) is the k-th input's position plus one, or 0 when it does not push.
    base = len(INPUT_NAMES) + 1
    digits = np.where(positive, top + 1, 0).astype(np.int64)
    codes = digits @ base ** np.arange(digits.shape[1], dtype=np.int64)
    distinct, index = np.unique(codes, return_inverse=True)
    texts = np.array([_driver_text(int(code), base) for code in distinct], dtype=object)
    return np.asarray(texts[index.ravel()], dtype=object)


def _driver_text(code: int, base: int) -> str:
    names = []
    for _ in range(TOP_DRIVERS):
        code, digit = divmod(code, base)
        if digit:
            names.append(INPUT_NAMES[digit - 1])
    return ";".join(names)


def heuristic_risk(expected_purchases: np.ndarray[Any, Any], horizon_days: int) -> ChurnResult:
    """The risk `exp(-expected_purchases)`, for a store with too little history to train on."""
    expected = np.nan_to_num(np.asarray(expected_purchases, dtype=np.float64), nan=0.0)
    reason = (
        f"too little history to train on: needs {MIN_CUSTOMERS} customers and "
        f"{MIN_PER_CLASS} of each outcome in both of the last two {horizon_days}-day periods"
    )
    return ChurnResult(
        risk=np.exp(-np.clip(expected, 0, None)),
        drivers=np.full(len(expected), "expected_purchases", dtype=object),
        method="heuristic",
        metrics={"reason": reason, "formula": "exp(-expected_purchases)"},
    )


@dataclass(frozen=True)
class ChurnInputs:
    """What the churn model is trained, validated and applied on, read from the run's DuckDB."""

    x_train: np.ndarray[Any, Any]
    y_train: np.ndarray[Any, Any]
    x_valid: np.ndarray[Any, Any]
    y_valid: np.ndarray[Any, Any]
    x_now: np.ndarray[Any, Any]
    train_cut: datetime
    valid_cut: datetime


def model_inputs(
    con: duckdb.DuckDBPyConnection, as_of: date | datetime, horizon_days: int
) -> ChurnInputs | None:
    """The churn model's designs and labels for every row of `features` (as of `as_of`) and
    the two earlier moments; None with too little history to train on. DuckDB alone: a run
    reads them beside the purchase models' fits."""
    moment = as_of_moment(as_of)
    train_cut = moment - timedelta(days=2 * horizon_days)
    valid_cut = moment - timedelta(days=horizon_days)
    _past_designs(con, train_cut, valid_cut)
    y_train = _labels(con, "churn_train", day_number(train_cut), horizon_days)
    y_valid = _labels(con, "churn_valid", day_number(valid_cut), horizon_days)
    if not (_enough(y_train) and _enough(y_valid)):
        return None
    return ChurnInputs(
        x_train=_stored_design(con, "churn_train"),
        y_train=y_train,
        x_valid=_stored_design(con, "churn_valid"),
        y_valid=y_valid,
        x_now=_design(con, "features"),
        train_cut=train_cut,
        valid_cut=valid_cut,
    )


def train(inputs: ChurnInputs) -> ChurnResult:
    """Fit on the earlier period, validate on the later one, refit on it and score today.

    BLAS is kept to one thread: the regressions' products of a million rows by 16 inputs are
    memory-bound, and two threads took twice the CPU for the same coefficients. The limit is
    the process's, so no other BLAS work may run meanwhile (a run trains after the fits)."""
    with single_threaded_blas():
        return _train(inputs)


def _train(inputs: ChurnInputs) -> ChurnResult:
    x_train, y_train, x_valid, y_valid = (
        inputs.x_train,
        inputs.y_train,
        inputs.x_valid,
        inputs.y_valid,
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    predicted = model.predict_proba(x_valid)[:, 1]
    recency_only = x_valid[:, INPUT_NAMES.index("recency_days")]
    metrics = {
        "auc": round(float(roc_auc_score(y_valid, predicted)), 4),
        "auc_recency_only": round(float(roc_auc_score(y_valid, recency_only)), 4),
        "brier": round(float(brier_score_loss(y_valid, predicted)), 4),
        "calibration": _calibration(y_valid, predicted),
        "train_customers": len(y_train),
        "validation_customers": len(y_valid),
        "base_rate": round(float(y_valid.mean()), 4),
        "trained_as_of": inputs.train_cut.date().isoformat(),
        "validated_as_of": inputs.valid_cut.date().isoformat(),
    }
    model.fit(x_valid, y_valid)
    x_now = inputs.x_now
    risk = model.predict_proba(x_now)[:, 1] if len(x_now) else np.zeros(0)
    return ChurnResult(risk=risk, drivers=_drivers(model, x_now), method="model", metrics=metrics)


def model_risk(
    con: duckdb.DuckDBPyConnection, as_of: date | datetime, horizon_days: int
) -> ChurnResult | None:
    """Risk for every row of `features` (as of `as_of`) from a model trained on the store's
    own history; None with too little history to train on (`heuristic_risk` applies then).
    It needs nothing from the purchase model: a run reads its inputs (`model_inputs`) beside
    that model's fits and trains (`train`) after them."""
    inputs = model_inputs(con, as_of, horizon_days)
    return None if inputs is None else train(inputs)
