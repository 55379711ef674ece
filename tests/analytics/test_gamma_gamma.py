"""Gamma-Gamma against Fader & Hardie's CDNOW fit, and its refusal when q <= 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from patron.analytics import fitting, gamma_gamma
from patron.errors import InvalidInput, ModelFitError

RTOL = 1e-3


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    path = Path(__file__).parents[1] / "data" / "cdnow_customers_summary_with_transactions.csv"
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {"frequency": data["x"], "monetary_value": data["zbar"]}


def test_fit_on_the_repeat_buyers_reproduces_the_published_parameters(
    cdnow: dict[str, np.ndarray],
) -> None:
    assert int((cdnow["frequency"] > 0).sum()) == 946
    params = gamma_gamma.fit(cdnow["frequency"], cdnow["monetary_value"])
    assert params.p == pytest.approx(6.2488, rel=RTOL)
    assert params.q == pytest.approx(3.7446, rel=RTOL)
    assert params.gamma == pytest.approx(15.4477, rel=RTOL)
    assert params.log_likelihood == pytest.approx(-4055.92, rel=RTOL)
    repeat = cdnow["frequency"] > 0
    per_customer = gamma_gamma.log_likelihood(
        params, cdnow["frequency"][repeat], cdnow["monetary_value"][repeat]
    )
    assert per_customer.sum() == pytest.approx(params.log_likelihood, rel=1e-12)


def test_expected_value_shrinks_towards_the_population_mean(cdnow: dict[str, np.ndarray]) -> None:
    params = gamma_gamma.fit(cdnow["frequency"], cdnow["monetary_value"])
    population = params.p * params.gamma / (params.q - 1)
    values = gamma_gamma.expected_average_value(params, [0, 1, 50], [0, 100.0, 100.0])
    assert values[0] == pytest.approx(population)
    assert population < values[1] < values[2] < 100.0


def test_analytic_gradient_matches_finite_differences(cdnow: dict[str, np.ndarray]) -> None:
    repeat = cdnow["frequency"] > 0
    objective = gamma_gamma._Objective(cdnow["frequency"][repeat], cdnow["monetary_value"][repeat])
    theta = np.log([2.0, 3.0, 10.0])
    numeric = approx_fprime(theta, lambda t: objective(t)[0], 1e-7)
    assert objective(theta)[1] == pytest.approx(numeric, rel=1e-4)


def test_heavy_tailed_spend_with_q_at_most_one_is_refused() -> None:
    rng = np.random.default_rng(1)
    frequency = rng.integers(1, 4, 400).astype(float)
    spend = np.exp(rng.normal(3.0, 2.5, 400))
    with pytest.raises(ModelFitError, match=r"q = 0\.\d+ <= 1"):
        gamma_gamma.fit(frequency, spend)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be positive"):
        gamma_gamma.fit([1, 2, 3], [10.0, 0.0, 5.0])
    with pytest.raises(ModelFitError, match="at least two repeat buyers"):
        gamma_gamma.fit([0, 1], [0.0, 5.0])


def test_expected_value_is_finite_for_extreme_histories() -> None:
    params = gamma_gamma.GammaGammaParams(6.2488, 3.7446, 15.4477, 0.0)
    x = np.array([0.0, 1, 500, 1e6])
    m = np.array([0.0, 1e-9, 1e7, 35.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = gamma_gamma.expected_average_value(params, x, m)
    assert np.isfinite(values).all() and (values > 0).all()
    # A customer with a million repeat purchases is their own mean; none is the population's.
    assert values[3] == pytest.approx(35.0, rel=1e-4)
    assert values[0] == pytest.approx(6.2488 * 15.4477 / 2.7446)


def test_expected_value_refuses_an_unbounded_population_mean() -> None:
    with pytest.raises(InvalidInput, match="unbounded"):
        gamma_gamma.expected_average_value(gamma_gamma.GammaGammaParams(2.0, 0.9, 5.0, 0.0), 1, 10)


def test_a_warm_start_from_a_sample_reaches_the_same_fit(
    cdnow: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = gamma_gamma.fit(cdnow["frequency"], cdnow["monetary_value"])
    # With a sample of 100 the 946 repeat buyers are large enough to be started from every 9th.
    monkeypatch.setattr(fitting, "WARM_SAMPLE", 100)
    assert fitting.sample_step(946) == 9
    warm = gamma_gamma.fit(cdnow["frequency"], cdnow["monetary_value"])
    assert warm.as_dict() == pytest.approx(cold.as_dict(), rel=1e-6)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)
