"""BG/NBD against Fader, Hardie & Lee (2005) on the CDNOW sample, plus stability checks."""

# T (a customer's age) keeps its name from the literature.
# ruff: noqa: N803, N806

from __future__ import annotations

from pathlib import Path

import mpmath
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


def _reference_expected(params: tuple[float, ...], t: float, x: float, T: float) -> float:
    """E[purchases in (T, T+t] | alive] by mpmath quadrature over p ~ beta(a, b + x), 40 digits.

    Independent of Patron's formula: it integrates g(p) = (1 - (1 + p s)^-(r+x)) / p against the
    beta density in logit(p), with breakpoints at the density's mode and where g bends.
    """
    r, alpha, a, b = (mpmath.mpf(v) for v in params)
    k, b_x, s = r + x, b + x, mpmath.mpf(t) / (alpha + T)
    log_norm = mpmath.log(mpmath.beta(a, b_x))

    def integrand(v: mpmath.mpf) -> mpmath.mpf:
        log_p, log_q = -mpmath.log1p(mpmath.exp(-v)), -mpmath.log1p(mpmath.exp(v))
        p = mpmath.exp(log_p)
        g = -mpmath.expm1(-k * mpmath.log1p(p * s)) / p
        return g * mpmath.exp(a * log_p + b_x * log_q - log_norm)

    mode = mpmath.log(a / b_x)
    spread = mpmath.sqrt(mpmath.psi(1, a) + mpmath.psi(1, b_x))
    bends = [mode + c * spread for c in (-20, -3, 0, 3, 20)] + [
        -mpmath.log(s) + c for c in (-5, 0, 5)
    ]
    with mpmath.workdps(40):
        return float(mpmath.quad(integrand, [-mpmath.inf, *sorted([*bends, 0]), mpmath.inf]))


# (r, alpha, a, b): CDNOW, a demo-data fit with a and b in the thousands (its 2F1 over- and
# underflowed to NaN), a < 1 with b large, a = 1 exactly (the closed form divides by a - 1),
# tiny alpha, a and b both tiny, and a huge with b tiny.
REGIMES = [
    (0.2426, 4.4135, 0.7929, 2.4258),
    (8.9093, 376.21, 3349.4, 153264.5),
    (0.3, 0.01, 0.4, 50.0),
    (0.3, 5.0, 1.0, 2.0),
    (0.5, 1e-4, 0.05, 0.01),
    (1e-4, 1e-4, 1e-4, 1e-4),
    (2.0, 10.0, 1e5, 1e-3),
]
# (t, x, T): a long horizon for a customer of age 0, hundreds of purchases, tiny t and T.
HISTORIES = [
    (90.0, 0, 0.0),
    (3650.0, 0, 0.0),
    (3650.0, 5, 100.0),
    (3650.0, 300, 10.0),
    (1.0, 800, 400.0),
    (365.0, 20, 0.5),
    (1e-3, 0, 548.0),
    (3650.0, 2, 1e-3),
]


@pytest.mark.parametrize("params", REGIMES)
def test_expected_purchases_match_high_precision_quadrature(params: tuple[float, ...]) -> None:
    fitted = _params(params)
    t, x, T = (np.array(column) for column in zip(*HISTORIES, strict=True))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = bgnbd.expected_purchases_alive(fitted, t, x, T)
    want = [_reference_expected(params, *history) for history in HISTORIES]
    assert got == pytest.approx(want, rel=1e-9)


def test_expected_purchases_are_finite_and_bounded_in_every_regime() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([[0, 0, 900], rng.integers(0, 60, 397)]).astype(float)
    T = np.concatenate([[0.0, 1e-6], rng.uniform(0, 600, 398)])
    for params in [*REGIMES, *np.exp(rng.uniform(-8, 10, (20, 4)))]:
        fitted = _params(params)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            months = [bgnbd.expected_purchases_alive(fitted, t, x, T) for t in (30.0, 90.0, 3650.0)]
        assert all(np.isfinite(m).all() for m in months)
        # Never negative, never more than the Poisson rate with no drop-out, growing with t.
        assert (months[0] >= 0).all() and (np.diff(months, axis=0) >= -1e-9 * months[2]).all()
        ceiling = (fitted.r + x) / (fitted.alpha + T) * 3650.0
        assert (months[2] <= ceiling * (1 + 1e-9)).all()


def test_a_equal_to_one_is_continuous() -> None:
    at = [bgnbd.BgNbdParams(0.3, 5.0, a, 2.0, 0.0) for a in (1 - 1e-7, 1.0, 1 + 1e-7)]
    below, exact, above = (float(bgnbd.expected_purchases_alive(p, 365, 3, 40)) for p in at)
    assert min(below, above) - 1e-6 <= exact <= max(below, above) + 1e-6


def _params(values: tuple[float, ...] | np.ndarray) -> bgnbd.BgNbdParams:
    first, second, third, fourth = (float(v) for v in values)
    return bgnbd.BgNbdParams(first, second, third, fourth, log_likelihood=0.0)
