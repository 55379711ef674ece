"""The analytics of a scoring run: features, purchase, spend and churn models, RFM, occasions.

`compute` works in DuckDB and NumPy on tables read from the store and writes nothing;
`patron.rules.runs` adds the rulebook and stores the run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import numpy as np

from patron.analytics import clv as clv_model
from patron.analytics import occasions
from patron.analytics.churn import heuristic_risk, model_inputs, train
from patron.analytics.features import as_of_moment, compute_features, day_number, epoch_seconds
from patron.analytics.recommend import recommend
from patron.analytics.rfm import score_rfm
from patron.analytics.summary import OrderLog
from patron.analytics.timing import Stopwatch
from patron.errors import InvalidInput, ModelFitError

ModelChoice = clv_model.ModelChoice


@dataclass
class Computed:
    """What `compute` learnt: the row count and each model's parameters and diagnostics."""

    customers: int
    purchase_model: str | None
    models: dict[str, Any] = field(default_factory=dict)


# The feature columns `add_models` reads.
_MODEL_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "purchase_span_days",
    "days_since_first_purchase",
    "monetary_avg",
    "monetary_total",
    "birthday_day",
    "lunar_birthday",
)


def _purchase_log(con: duckdb.DuckDBPyConnection, moment: datetime) -> OrderLog:
    """The paid orders up to the moment as an order log: a view over the run's `orders`, so
    the ten million rows are neither copied nor turned into NumPy arrays."""
    cut = int((moment - datetime(1970, 1, 1)).total_seconds())
    # epoch_ms gives a plain TIMESTAMP: the same wall-clock time the store holds.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW purchase_log AS "
        "SELECT customer_id, epoch_ms(ts * 1000) AS ordered_at, amount FROM orders "
        f"WHERE status = 'paid' AND ts <= {cut}"
    )
    return OrderLog.from_view(con, "purchase_log", "the paid orders")


def _value_models(
    con: duckdb.DuckDBPyConnection,
    columns: dict[str, Any],
    moment: datetime,
    horizon_days: int,
    model: ModelChoice,
) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, Any]]:
    """P(alive), expected purchases, expected spend and CLV for purchasers; NULL for prospects."""
    rows = len(columns["customer_id"])
    outputs = {
        name: np.full(rows, np.nan)
        for name in ("p_alive", "expected_purchases", "expected_avg_value", "clv")
    }
    bought = ~np.ma.getmaskarray(columns["recency_days"])
    if not bought.any():
        return outputs, {"skipped": "no customer has a purchase yet"}
    try:
        holdout = None
        if model == "auto":
            holdout = clv_model.holdout_split(_purchase_log(con, moment), moment, horizon_days)
        result = clv_model.score(
            np.asarray(columns["frequency"])[bought],
            np.ma.filled(columns["purchase_span_days"], 0)[bought],
            np.ma.filled(columns["days_since_first_purchase"], 0)[bought],
            np.asarray(columns["monetary_avg"])[bought],
            horizon_days=horizon_days,
            model=model,
            holdout=holdout,
        )
    except (ModelFitError, InvalidInput) as exc:
        return outputs, {"failed": exc.message}
    outputs["p_alive"][bought] = result.p_alive
    outputs["expected_purchases"][bought] = result.expected_purchases
    outputs["expected_avg_value"][bought] = result.expected_avg_value
    outputs["clv"][bought] = result.clv
    outputs["expected_purchases"][~bought] = 0.0
    outputs["clv"][~bought] = 0.0
    return outputs, result.params


def _occasions(columns: dict[str, Any], today: date) -> dict[str, np.ndarray[Any, Any]]:
    """Days to each customer's next birthday (lunar where given) and purchase anniversary."""
    solar = occasions.solar_days_until(
        np.ma.filled(np.ma.asarray(columns["birthday_day"], dtype=np.float64), np.nan), today
    )
    lunar = occasions.lunar_birthdays_until(
        np.asarray(columns["lunar_birthday"], dtype=object), today
    )
    first_day = occasions.day_number(today) - np.ma.filled(
        np.ma.asarray(columns["days_since_first_purchase"], dtype=np.float64), np.nan
    )
    return {
        "days_to_birthday": np.where(np.isnan(lunar), solar, lunar),
        "days_to_anniversary": occasions.solar_days_until(first_day, today),
    }


def compute(
    con: duckdb.DuckDBPyConnection,
    as_of: date | datetime,
    *,
    horizon_days: int = 90,
    model: ModelChoice = "auto",
    clock: Stopwatch | None = None,
) -> Computed:
    """Features, model outputs and RFM for every customer, as the DuckDB table `features`."""
    if horizon_days < 1:
        raise InvalidInput("the horizon must be at least one day")
    clock = clock or Stopwatch()
    compute_features(con, as_of_moment(as_of))
    clock.lap("features")
    return add_models(con, as_of, horizon_days=horizon_days, model=model, clock=clock)


def add_models(
    con: duckdb.DuckDBPyConnection,
    as_of: date | datetime,
    *,
    horizon_days: int = 90,
    model: ModelChoice = "auto",
    clock: Stopwatch | None = None,
) -> Computed:
    """Model outputs, RFM, occasions and offers joined to an existing `features` table: the
    part of `compute` after the feature SQL, for features computed elsewhere (on Spark)."""
    if horizon_days < 1:
        raise InvalidInput("the horizon must be at least one day")
    clock = clock or Stopwatch()
    moment = as_of_moment(as_of)
    # Only the columns the models read: the whole table would make Python objects of every
    # name, tag list and text column of a million customers.
    columns = con.execute(
        f"SELECT {', '.join(_MODEL_COLUMNS)} FROM features ORDER BY customer_id"
    ).fetchnumpy()
    # The churn model's inputs, then the offers, are computed in DuckDB on a second connection
    # (one worker, in that order) while the purchase models are fitted (mostly one core of
    # NumPy): neither needs the purchase model. The churn model is trained after the fits,
    # while the offers may still run ("churn model": the wait and the training), as its BLAS
    # limit is the whole process's and the fits' products keep their own threads.
    with con.cursor() as second, ThreadPoolExecutor(max_workers=1) as pool:
        churn_inputs = pool.submit(model_inputs, second, moment, horizon_days)
        offers = pool.submit(recommend, second, day=day_number(moment), cut=epoch_seconds(moment))
        outputs, value_params = _value_models(con, columns, moment, horizon_days, model)
        clock.lap("purchase and spend models")
        inputs = churn_inputs.result()
        expected = outputs["expected_purchases"]
        churn = train(inputs) if inputs else heuristic_risk(expected, horizon_days)
        offers.result()
    clock.lap("churn model")
    rfm = score_rfm(
        np.ma.filled(np.ma.asarray(columns["recency_days"], dtype=np.float64), np.nan),
        np.asarray(columns["frequency"], dtype=np.float64),
        np.asarray(columns["monetary_total"], dtype=np.float64),
    )
    occasions = _occasions(columns, moment.date())
    scored = {
        "customer_id": np.asarray(columns["customer_id"]),
        "r_score": rfm.r_score.astype(np.int64),
        "f_score": rfm.f_score.astype(np.int64),
        "m_score": rfm.m_score.astype(np.int64),
        "rfm_segment": rfm.segment.astype(object),
        "value_class": rfm.value_class.astype(object),
        **outputs,
        "churn_risk": churn.risk,
        "churn_drivers": churn.drivers,
        **occasions,
    }
    con.register("model_outputs", scored)
    # NaN marks "no value" in NumPy; in the feature table it must be NULL for rules.
    as_null = ", ".join(
        f"nullif({name}, 'NaN'::DOUBLE) AS {name}" for name in (*outputs, *occasions)
    )
    con.execute(
        f"CREATE OR REPLACE TABLE features AS SELECT f.*, "
        f"m.* EXCLUDE (customer_id) REPLACE ({as_null}), "
        "n.days_to_next_purchase, coalesce(o.offers, []) AS offers "
        "FROM features f JOIN model_outputs m USING (customer_id) "
        "JOIN next_purchase n USING (customer_id) LEFT JOIN offers o USING (customer_id) "
        "ORDER BY customer_id"
    )
    con.unregister("model_outputs")
    clock.lap("rfm, occasions, offers")
    return Computed(
        customers=len(scored["customer_id"]),
        purchase_model=value_params.get("purchase_model"),
        models={"value": value_params, "churn": {"method": churn.method, **churn.metrics}},
    )
