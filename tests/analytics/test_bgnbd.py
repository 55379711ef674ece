"""BG/NBD against Fader, Hardie & Lee (2005) on the CDNOW sample, plus stability checks."""

# T (a customer's age) keeps its name from the literature.
# ruff: noqa: N806

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from patron.analytics import bgnbd
from patron.analytics.fitting import as_histories
from patron.errors import InvalidInput

RTOL = 1e-3


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    path = Path(__file__).parents[1] / "data" / "cdnow_customers_summary.csv"
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {"frequency": data["frequency"], "recency": data["recency"], "T": data["T"]}


@pytest.fixture(scope="module")
def fitted(cdnow: dict[str, np.ndarray]) -> bgnbd.BgNbdParams:
    return bgnbd.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_fit_reproduces_the_published_parameters(fitted: bgnbd.BgNbdParams) -> None:
    assert fitted.r == pytest.approx(0.24259, rel=RTOL)
    assert fitted.alpha == pytest.approx(4.41353, rel=RTOL)
    assert fitted.a == pytest.approx(0.79289, rel=RTOL)
    assert fitted.b == pytest.approx(2.42575, rel=RTOL)
    assert fitted.log_likelihood == pytest.approx(-9582.43, rel=RTOL)


def test_compressed_likelihood_equals_the_per_customer_sum(
    fitted: bgnbd.BgNbdParams, cdnow: dict[str, np.ndarray]
) -> None:
    per_customer = bgnbd.log_likelihood(fitted, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert per_customer.shape == (2357,)
    assert per_customer.sum() == pytest.approx(fitted.log_likelihood, rel=1e-12)


def test_customer_one_predictions_match_the_paper(fitted: bgnbd.BgNbdParams) -> None:
    assert bgnbd.expected_purchases(fitted, 39, 2, 30.43, 38.86) == pytest.approx(1.226, rel=RTOL)
    assert bgnbd.p_alive(fitted, 2, 30.43, 38.86) == pytest.approx(0.7266, rel=RTOL)


def test_analytic_gradient_matches_finite_differences(cdnow: dict[str, np.ndarray]) -> None:
    objective = bgnbd._Objective(as_histories(cdnow["frequency"], cdnow["recency"], cdnow["T"]))
    theta = np.log([0.3, 5.0, 0.7, 2.1])
    numeric = approx_fprime(theta, lambda t: objective(t)[0], 1e-7)
    assert objective(theta)[1] == pytest.approx(numeric, rel=1e-4)


def test_new_customer_purchase_distribution_is_consistent(fitted: bgnbd.BgNbdParams) -> None:
    counts = np.arange(0, 400)
    probabilities = bgnbd.probability_of_purchases(fitted, counts, 39.0)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    mean = float(bgnbd.expected_purchases_new(fitted, 39.0))
    assert (probabilities * counts).sum() == pytest.approx(mean, rel=1e-6)
    # The conditional expectation of a customer with no history is the unconditional one.
    assert bgnbd.expected_purchases(fitted, 39.0, 0, 0, 0) == pytest.approx(mean, rel=1e-9)


def test_a_customer_with_500_purchases_stays_finite(fitted: bgnbd.BgNbdParams) -> None:
    x = np.array([500.0, 500.0, 800.0])
    t_x = np.array([38.0, 20.0, 38.8])
    T = np.array([38.86, 38.86, 38.86])
    for values in (
        bgnbd.log_likelihood(fitted, x, t_x, T),
        bgnbd.p_alive(fitted, x, t_x, T),
        bgnbd.expected_purchases(fitted, 39.0, x, t_x, T),
    ):
        assert np.isfinite(values).all()
    alive = bgnbd.p_alive(fitted, x, t_x, T)
    assert alive.min() >= 0.0 and alive.max() <= 1.0
    # If still active, at most the Poisson rate's worth of purchases comes (no drop-out) and,
    # with a drop-out chance near a / (a + b + 500) per purchase, most of it does.
    if_alive = float(bgnbd.expected_purchases_alive(fitted, 39.0, 500, 38.86))
    assert 200 < if_alive < (fitted.r + 500) / (fitted.alpha + 38.86) * 39.0
    assert alive[1] < 1e-6 < alive[0]


@pytest.mark.parametrize("x", [0, 1, 5, 20])
def test_expected_purchases_match_the_textbook_hypergeometric_form(
    fitted: bgnbd.BgNbdParams, x: int
) -> None:
    r, alpha, a, b = fitted.r, fitted.alpha, fitted.a, fitted.b
    t, T = 39.0, 38.86
    z = t / (alpha + T + t)
    textbook = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    assert bgnbd.expected_purchases_alive(fitted, t, x, T) == pytest.approx(textbook, rel=1e-9)


def test_fit_survives_heavy_buyers() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 5, 500), [500, 650]]).astype(float)
    T = np.full(len(x), 365.0)
    t_x = np.where(x > 0, rng.uniform(0, 365, len(x)).round(), 0.0)
    params = bgnbd.fit(x, t_x, T)
    assert np.isfinite([params.r, params.alpha, params.a, params.b, params.log_likelihood]).all()


def test_bad_histories_are_refused() -> None:
    with pytest.raises(InvalidInput, match="recency must lie between 0 and T"):
        bgnbd.fit([1, 2], [5, 3], [4, 10])
    with pytest.raises(InvalidInput, match="whole number"):
        bgnbd.fit([1.5], [1], [2])
    with pytest.raises(InvalidInput, match="no customers"):
        bgnbd.fit([], [], [])
