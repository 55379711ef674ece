"""Churn risk: the probability that a customer makes no purchase within the horizon.

Trained on the business's own history from point-in-time features: features as of
`as_of - 2h` labelled by what happened in the next h days train the model, features as of
`as_of - h` labelled up to `as_of` validate it, and the model refit on that later period scores
today. With too little history the documented heuristic `exp(-expected_purchases)` is used.
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

from patron.analytics.features import FEATURES_SQL, as_of_moment, day_number, feature_params

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


def _past_design(con: duckdb.DuckDBPyConnection, as_of: datetime, table: str) -> None:
    """The model inputs as of an earlier moment, as `table` (customer_id and one column per
    input, named after it): the feature query with only these columns kept, so DuckDB
    leaves out the tag lists, channels, points and tiers nobody reads here."""
    select = ", ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in MODEL_INPUTS)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT customer_id, {select} FROM ({FEATURES_SQL})",
        feature_params(as_of),
    )


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


def _heuristic(expected_purchases: np.ndarray[Any, Any], reason: str, rows: int) -> ChurnResult:
    expected = np.nan_to_num(np.asarray(expected_purchases, dtype=np.float64), nan=0.0)
    return ChurnResult(
        risk=np.exp(-np.clip(expected, 0, None)),
        drivers=np.full(rows, "expected_purchases", dtype=object),
        method="heuristic",
        metrics={"reason": reason, "formula": "exp(-expected_purchases)"},
    )


def churn_risk(
    con: duckdb.DuckDBPyConnection,
    as_of: date | datetime,
    horizon_days: int,
    expected_purchases: np.ndarray[Any, Any],
) -> ChurnResult:
    """Risk for every row of `features` (as of `as_of`), trained on the store's own history."""
    rows = int(con.execute("SELECT count(*) FROM features").fetchone()[0])  # type: ignore[index]
    moment = as_of_moment(as_of)
    train_cut = moment - timedelta(days=2 * horizon_days)
    valid_cut = moment - timedelta(days=horizon_days)
    _past_design(con, train_cut, "churn_train")
    _past_design(con, valid_cut, "churn_valid")
    y_train = _labels(con, "churn_train", day_number(train_cut), horizon_days)
    y_valid = _labels(con, "churn_valid", day_number(valid_cut), horizon_days)
    if not (_enough(y_train) and _enough(y_valid)):
        reason = (
            f"too little history to train on: needs {MIN_CUSTOMERS} customers and "
            f"{MIN_PER_CLASS} of each outcome in both of the last two {horizon_days}-day periods"
        )
        return _heuristic(expected_purchases, reason, rows)
    x_train, x_valid = _stored_design(con, "churn_train"), _stored_design(con, "churn_valid")
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
        "trained_as_of": train_cut.date().isoformat(),
        "validated_as_of": valid_cut.date().isoformat(),
    }
    model.fit(x_valid, y_valid)
    x_now = _design(con, "features")
    risk = model.predict_proba(x_now)[:, 1] if rows else np.zeros(0)
    return ChurnResult(risk=risk, drivers=_drivers(model, x_now), method="model", metrics=metrics)
