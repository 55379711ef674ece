"""Pareto/NBD against the published CDNOW fit, its integral against quadrature and 2F1."""

# T (a customer's age) keeps its name from the literature.
# ruff: noqa: N806

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from patron.analytics import pnbd
from patron.analytics.fitting import as_histories

RTOL = 1e-3


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    path = Path(__file__).parents[1] / "data" / "cdnow_customers_summary.csv"
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {"frequency": data["frequency"], "recency": data["recency"], "T": data["T"]}


@pytest.fixture(scope="module")
def fitted(cdnow: dict[str, np.ndarray]) -> pnbd.ParetoNbdParams:
    return pnbd.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_fit_reproduces_the_published_parameters(fitted: pnbd.ParetoNbdParams) -> None:
    assert fitted.r == pytest.approx(0.55328, rel=RTOL)
    assert fitted.alpha == pytest.approx(10.5776, rel=RTOL)
    assert fitted.s == pytest.approx(0.60621, rel=RTOL)
    assert fitted.beta == pytest.approx(11.6679, rel=RTOL)
    assert fitted.log_likelihood == pytest.approx(-9594.97, rel=RTOL)


def test_compressed_likelihood_equals_the_per_customer_sum(
    fitted: pnbd.ParetoNbdParams, cdnow: dict[str, np.ndarray]
) -> None:
    per_customer = pnbd.log_likelihood(fitted, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert per_customer.sum() == pytest.approx(fitted.log_likelihood, rel=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        pnbd.ParetoNbdParams(0.55, 10.58, 0.61, 11.67, np.nan),
        pnbd.ParetoNbdParams(0.2, 1.0, 0.1, 300.0, np.nan),
        pnbd.ParetoNbdParams(3.0, 400.0, 2.0, 1.0, np.nan),
    ],
)
@pytest.mark.parametrize(("x", "t"), [(0, 0.0), (0, 38.0), (2, 30.4), (50, 5.0), (500, 300.0)])
def test_tail_integral_matches_adaptive_quadrature(
    params: pnbd.ParetoNbdParams, x: int, t: float
) -> None:
    log_f, _ = pnbd._log_tail(params, np.array([float(x)]), np.array([t]))

    def scaled(u: float) -> float:
        return float(
            np.exp(
                -(params.r + x) * np.log(params.alpha + u)
                - (params.s + 1) * np.log(params.beta + u)
                - log_f[0]
            )
        )

    assert quad(scaled, t, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0] == pytest.approx(
        1, abs=1e-8
    )


def test_tail_integral_matches_the_hypergeometric_closed_form() -> None:
    params = pnbd.ParetoNbdParams(0.55, 10.58, 0.61, 11.67, np.nan)
    x, t = np.array([0.0, 1.0, 4.0]), np.array([0.0, 12.0, 30.0])
    log_f, _ = pnbd._log_tail(params, x, t)
    power = params.r + params.s + x
    # beta > alpha: Fader & Hardie's form with (beta - alpha) / (beta + t).
    closed = hyp2f1(
        power, params.r + x, power + 1, (params.beta - params.alpha) / (params.beta + t)
    )
    expected = np.log(closed) - power * np.log(params.beta + t) - np.log(power)
    assert log_f == pytest.approx(expected, rel=1e-10)


def test_analytic_gradient_matches_finite_differences(cdnow: dict[str, np.ndarray]) -> None:
    objective = pnbd._Objective(as_histories(cdnow["frequency"], cdnow["recency"], cdnow["T"]))
    theta = np.log([0.3, 5.0, 0.7, 2.1])
    numeric = approx_fprime(theta, lambda t: objective(t)[0], 1e-7)
    assert objective(theta)[1] == pytest.approx(numeric, rel=1e-4)


def test_new_customer_purchase_distribution_is_consistent(fitted: pnbd.ParetoNbdParams) -> None:
    counts = np.arange(0, 400)
    probabilities = pnbd.probability_of_purchases(fitted, counts, 39.0)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-8)
    mean = float(pnbd.expected_purchases_new(fitted, 39.0))
    assert (probabilities * counts).sum() == pytest.approx(mean, rel=1e-6)


def test_predictions_for_customer_one_are_plausible(fitted: pnbd.ParetoNbdParams) -> None:
    alive = float(pnbd.p_alive(fitted, 2, 30.43, 38.86))
    assert 0.5 < alive < 1.0
    expected = float(pnbd.expected_purchases(fitted, 39, 2, 30.43, 38.86))
    assert expected == pytest.approx(
        alive * float(pnbd.expected_purchases_alive(fitted, 39, 2, 38.86)), rel=1e-12
    )
    # A customer seen at T = 0 is a new customer.
    assert pnbd.expected_purchases(fitted, 39, 0, 0, 0) == pytest.approx(
        pnbd.expected_purchases_new(fitted, 39), rel=1e-9
    )


def test_a_customer_with_500_purchases_stays_finite(fitted: pnbd.ParetoNbdParams) -> None:
    x = np.array([500.0, 500.0, 800.0])
    t_x = np.array([38.0, 20.0, 38.86])
    T = np.array([38.86, 38.86, 38.86])
    for values in (
        pnbd.log_likelihood(fitted, x, t_x, T),
        pnbd.p_alive(fitted, x, t_x, T),
        pnbd.expected_purchases(fitted, 39.0, x, t_x, T),
    ):
        assert np.isfinite(values).all()
    alive = pnbd.p_alive(fitted, x, t_x, T)
    assert alive[2] == pytest.approx(1.0) and alive[1] < 1e-6


def test_fit_survives_heavy_buyers() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 5, 500), [500, 650]]).astype(float)
    T = np.full(len(x), 365.0)
    t_x = np.where(x > 0, rng.uniform(0, 365, len(x)).round(), 0.0)
    params = pnbd.fit(x, t_x, T)
    assert np.isfinite([params.r, params.alpha, params.s, params.beta, params.log_likelihood]).all()


@pytest.mark.parametrize(
    "params",
    [
        (0.5533, 10.578, 0.6062, 11.668),
        (1e-4, 1e-4, 1e-4, 1e-4),
        (50.0, 1e4, 1.0, 1e5),
        (0.3, 0.01, 1 + 1e-12, 0.01),
        (2.0, 5.0, 1e4, 1e-3),
        (1e3, 1e-3, 1e-3, 1e3),
    ],
)
def test_predictions_are_finite_in_extreme_regimes(params: tuple[float, ...]) -> None:
    fitted = _params(params)
    x = np.array([0.0, 0, 1, 5, 300, 800])
    t_x = np.array([0.0, 0, 0.5, 90, 9.5, 400])
    T = np.array([0.0, 548, 1, 100, 10, 400])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        alive = pnbd.p_alive(fitted, x, t_x, T)
        ahead = [pnbd.expected_purchases(fitted, t, x, t_x, T) for t in (1e-3, 90.0, 3650.0)]
    assert np.isfinite(alive).all() and (alive >= 0).all() and (alive <= 1).all()
    assert all(np.isfinite(a).all() and (a >= 0).all() for a in ahead)
    assert (np.diff(ahead, axis=0) >= 0).all()
    # Never more than the Poisson rate of a customer who stays for the whole horizon.
    ceiling = (fitted.r + x) / (fitted.alpha + T) * 3650.0
    assert (ahead[2] <= ceiling * (1 + 1e-9)).all()


def test_expected_lifetime_is_continuous_at_s_equal_to_one() -> None:
    values = [
        float(pnbd.expected_purchases_alive(pnbd.ParetoNbdParams(0.5, 10, s, 12, 0.0), 365, 3, 40))
        for s in (1 - 1e-8, 1.0, 1 + 1e-8)
    ]
    assert values[1] == pytest.approx(values[0], rel=1e-6) and values[1] == pytest.approx(
        values[2], rel=1e-6
    )


def _params(values: tuple[float, ...] | np.ndarray) -> pnbd.ParetoNbdParams:
    first, second, third, fourth = (float(v) for v in values)
    return pnbd.ParetoNbdParams(first, second, third, fourth, log_likelihood=0.0)
