"""The scoring run's faster paths give exactly what the straightforward ones gave.

The holdout split read through a view over the run's orders, churn drivers built once per
distinct code and lunar birthdays converted once per distinct text are each checked value for
value against the way they were computed before (a copy of the orders into their own log, a
join per customer, a conversion per customer).
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from patron.analytics import churn, fitting, occasions
from patron.analytics.pipeline import _purchase_log
from patron.analytics.summary import OrderLog
from patron.errors import InvalidInput


def _orders(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = 4000
    # Times on both sides of 1970 and of the cut, several orders a day, refunds among them.
    return {
        "customer_id": rng.integers(1, 300, rows).astype(np.int64),
        "ts": rng.integers(-200 * 86400, 400 * 86400, rows).astype(np.int64),
        "amount": np.round(rng.gamma(2.0, 40.0, rows), 2),
        "status": rng.choice(np.array(["paid", "paid", "paid", "refunded"], dtype=object), rows),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_holdout_split_through_the_view_equals_the_copied_log(seed: int) -> None:
    orders = _orders(seed)
    con = duckdb.connect()
    con.register("incoming", orders)
    con.execute("CREATE TABLE orders AS SELECT * FROM incoming")
    moment = datetime(1970, 12, 31, 23, 59, 59, 999_999)
    cut_seconds = int((moment - datetime(1970, 1, 1)).total_seconds())
    paid = (orders["status"] == "paid") & (orders["ts"] <= cut_seconds)
    copied = OrderLog.from_arrays(
        orders["customer_id"][paid],
        orders["ts"][paid].astype("datetime64[s]"),
        orders["amount"][paid],
    )
    viewed = _purchase_log(con, moment)
    for cut in (date(1970, 3, 1), date(1970, 10, 2)):
        a, b = copied.split(moment, cut), viewed.split(moment, cut)
        for name in ("customer_id", "frequency", "recency", "T"):
            np.testing.assert_array_equal(
                getattr(a.calibration, name), getattr(b.calibration, name), err_msg=name
            )
        # DuckDB's threads may add a customer's day totals in another order: the copied log
        # itself differs from run to run in the last bit of a mean spend.
        np.testing.assert_allclose(
            a.calibration.monetary_value, b.calibration.monetary_value, rtol=1e-14, atol=0
        )
        np.testing.assert_array_equal(a.holdout_purchases, b.holdout_purchases)
        assert a.holdout_days == b.holdout_days
    assert copied.first_day(moment) == viewed.first_day(moment)


def test_drivers_equal_the_per_customer_join() -> None:
    rng = np.random.default_rng(7)
    design = rng.normal(size=(3000, len(churn.INPUT_NAMES)))
    design[:, 3] = 0.0  # a flat input: ties among the contributions
    labels = (design[:, 0] + rng.normal(size=3000) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(design, labels)
    # Rows where no input, or exactly one, pushes the risk up.
    scaler, sign = model[0], np.sign(model[-1].coef_[0])
    against = scaler.mean_ - 3 * sign * scaler.scale_
    one_up = np.tile(against, (len(sign), 1))
    one_up[np.arange(len(sign)), np.arange(len(sign))] *= -1
    design = np.vstack([design, against, one_up])
    contributions = scaler.transform(design) * model[-1].coef_[0]
    top = np.argsort(-contributions, axis=1, kind="stable")[:, : churn.TOP_DRIVERS]
    names = np.array(churn.INPUT_NAMES, dtype=object)
    positive = np.take_along_axis(contributions, top, axis=1) > 0
    chosen = np.where(positive, names[top], "")
    expected = [";".join(part for part in row if part) for row in chosen]
    assert churn._drivers(model, design).tolist() == expected
    assert {0, 2} <= {text.count(";") for text in expected if text} and "" in expected


def test_lunar_birthdays_equal_one_conversion_per_customer() -> None:
    today = date(2026, 6, 30)
    texts = np.array(
        ["08-15", None, "", "not a date", "闰04-10", "1990-08-15", "08-15", "12-30", "13-01"] * 50,
        dtype=object,
    )

    def one(text: object) -> float:
        if not text:
            return np.nan
        try:
            month, day, leap = occasions.parse_lunar(str(text))
            return float(occasions.lunar_days_until(month, day, today, leap))
        except InvalidInput:
            return np.nan

    expected = np.array([one(text) for text in texts])
    np.testing.assert_array_equal(occasions.lunar_birthdays_until(texts, today), expected)
    assert np.isnan(
        occasions.lunar_birthdays_until(np.array([None, ""], dtype=object), today)
    ).all()


def test_newton_finish_stops_at_a_bound_like_lbfgsb() -> None:
    """A parameter whose optimum lies beyond LOG_BOUND: the Newton steps hold it at the bound
    and converge on the others, instead of handing every pass back to L-BFGS-B."""
    centre = np.array([0.3, fitting.LOG_BOUND + 5.0, -1.0])
    weights = np.array([1.0, 2.0, 0.5])
    calls = {"full": 0}

    def objective(theta: np.ndarray, size: float) -> tuple[float, np.ndarray]:
        gap = theta - centre
        # A cross term so the curvature is not diagonal.
        value = -(weights @ gap**2 + 0.3 * gap[0] * gap[2]) * size
        gradient = -(2 * weights * gap + 0.3 * np.array([gap[2], 0.0, gap[0]])) * size
        return float(value), gradient

    def full(theta: np.ndarray) -> tuple[float, np.ndarray]:
        calls["full"] += 1
        return objective(theta, 1000.0)

    theta = fitting.maximise_warm(
        full,
        lambda t: objective(t, 10.0),
        np.zeros(3),
        model="test",
        size=1000.0,
        sample_size=10.0,
    )
    assert theta[1] == fitting.LOG_BOUND
    np.testing.assert_allclose(theta[[0, 2]], centre[[0, 2]], atol=1e-9)
    assert calls["full"] <= 3
