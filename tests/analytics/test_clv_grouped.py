"""Scoring and model choice on distinct histories equal the per-customer way, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from patron.analytics import clv
from patron.analytics.summary import OrderLog
from patron.errors import InvalidInput
from tests.analytics.test_clv import AS_OF, simulated_orders


@pytest.fixture(scope="module")
def log() -> OrderLog:
    orders = simulated_orders(8_000, seed=5)
    return OrderLog.from_arrays(orders["customer_id"], orders["ordered_at"], orders["amount"])


def test_holdout_scores_equal_those_of_per_customer_fits(log: OrderLog) -> None:
    split = clv.holdout_split(log, AS_OF, horizon_days=90)
    calibration, actual = split.calibration, split.holdout_purchases
    x, t_x, ages = calibration.frequency, calibration.recency, calibration.T
    comparison = clv.compare_models(split)
    assert len(np.unique(np.stack([x, t_x, ages]), axis=1)[0]) < len(x)
    for score in comparison.scores:
        params = clv.fit_purchase_model(score.model, x, t_x, ages)
        alive = clv.p_alive(params, x, t_x, ages)
        predicted = alive * clv.expected_purchases_alive(params, split.holdout_days, x, ages)
        assert score.mean_absolute_error == float(np.abs(predicted - actual).mean())
        assert score.predicted_total == float(predicted.sum())


@pytest.mark.parametrize("model", ["bgnbd", "pnbd"])
def test_scores_equal_those_of_a_per_customer_fit(log: OrderLog, model: clv.PurchaseModel) -> None:
    summary = log.summary(AS_OF)
    x, t_x, ages = summary.frequency, summary.recency, summary.T
    result = clv.score(x, t_x, ages, summary.monetary_value, horizon_days=180, model=model)
    params = clv.fit_purchase_model(model, x, t_x, ages)
    outlook = clv.purchase_outlook(params, x, t_x, ages, 180, clv.DEFAULT_MONTHLY_DISCOUNT)
    assert result.params["purchase_params"] == params.as_dict()
    assert result.params["purchase_log_likelihood"] == params.log_likelihood
    assert np.array_equal(result.p_alive, outlook.p_alive)
    assert np.array_equal(result.expected_purchases, outlook.expected_purchases)
    assert np.array_equal(result.clv, outlook.clv_per_spend * result.expected_avg_value)


def test_histories_of_different_lengths_are_refused() -> None:
    with pytest.raises(InvalidInput, match="same length"):
        clv.score([1.0, 2.0], [1.0], [3.0, 4.0], [5.0, 6.0], horizon_days=30)
