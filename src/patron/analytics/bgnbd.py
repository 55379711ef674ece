"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Each customer buys at a Poisson rate (gamma-distributed across customers with shape r and rate
alpha) and may drop out after any purchase with a probability that is beta(a, b) across
customers. Everything is computed in log space so a customer with hundreds of purchases stays
finite, and every function is vectorised over arrays of customers.
"""

# T (a customer's age at the as-of date) keeps its name from the literature and the summaries.
# ruff: noqa: N803, N806

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, digamma, gammaln, hyp2f1

from patron.analytics.fitting import (
    FloatArray,
    Histories,
    as_histories,
    group_index,
    maximise,
    time_scale,
)

_START = np.log([0.5, 0.5, 0.5, 2.0])


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters and the log-likelihood they reach."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def as_dict(self) -> dict[str, float]:
        """The parameters by their names in the literature."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def fit(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood on repeat-purchase counts, recencies and ages."""
    histories = as_histories(frequency, recency, T)
    objective = _Objective(histories)
    # Rates start near the data's own time scale, whatever unit the ages are in.
    log_scale = np.log(time_scale(histories))
    start = _START + np.array([0.0, log_scale, 0.0, 0.0])
    theta = maximise(objective, start, model="BG/NBD", size=float(histories.weight.sum()))
    r, alpha, a, b = np.exp(theta)
    value, _ = objective(theta)
    return BgNbdParams(float(r), float(alpha), float(a), float(b), float(value))


def log_likelihood(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Each customer's log-likelihood under the given parameters."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    log_alive, log_dropped = _log_terms(params, x, t_x, big_t)
    return _log_common(params, x) + np.logaddexp(log_alive, log_dropped)


def p_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """The probability that each customer is still active at T."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    log_alive, log_dropped = _log_terms(params, x, t_x, big_t)
    return np.asarray(np.exp(log_alive - np.logaddexp(log_alive, log_dropped)))


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected purchases in (T, T + t] given each customer's history (FHL 2005, eq. 10)."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    total = expected_purchases_alive(params, t, x, big_t)
    return np.asarray(total * p_alive(params, x, t_x, big_t))


def expected_purchases_alive(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected purchases in (T, T + t] for a customer known to be active at T."""
    x = np.asarray(frequency, dtype=np.float64)
    big_t = np.asarray(T, dtype=np.float64)
    horizon = np.asarray(t, dtype=np.float64)
    return _expected_from(params, horizon, x, big_t + params.alpha)


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """Expected purchases in (0, t] for a customer just acquired (FHL 2005, eq. 7)."""
    horizon = np.asarray(t, dtype=np.float64)
    return np.asarray(_expected_from(params, horizon, np.zeros_like(horizon), params.alpha))


def probability_of_purchases(params: BgNbdParams, n: ArrayLike, t: ArrayLike) -> FloatArray:
    """P(X(t) = n): the chance a new customer makes exactly n purchases in (0, t] (eq. 8)."""
    count = np.asarray(n, dtype=np.float64)
    horizon = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    alive = np.exp(betaln(a, b + count) - betaln(a, b) + log_nbd_pmf(count, r, alpha, horizon))
    # Dropped out after the n-th purchase: needs at least n purchases from the Poisson process,
    # whose chance is the regularised incomplete beta I_{t/(alpha+t)}(n, r).
    with np.errstate(invalid="ignore", divide="ignore"):
        at_least = betainc(np.maximum(count, 1.0), r, horizon / (alpha + horizon))
        dropped = np.exp(betaln(a + 1, b + count - 1) - betaln(a, b)) * at_least
    return np.asarray(alive + np.where(count > 0, dropped, 0.0))


def log_nbd_pmf(n: FloatArray, r: float, alpha: float, t: FloatArray) -> FloatArray:
    """log P(N = n) for Poisson counts over t with a gamma(r, alpha) rate (the NBD)."""
    return np.asarray(
        gammaln(r + n)
        - gammaln(r)
        - gammaln(n + 1)
        + r * (np.log(alpha) - np.log(alpha + t))
        + n * (np.log(t) - np.log(alpha + t))
    )


def _expected_from(
    params: BgNbdParams, t: FloatArray, x: FloatArray, alpha_t: FloatArray | float
) -> FloatArray:
    """E[purchases in the next t] for a customer still alive, with alpha_t = alpha + T.

    The textbook term ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) is rewritten with
    Euler's transformation as (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the same number, but
    its series no longer overflows when x is in the hundreds.
    """
    r, a, b = params.r, params.a, params.b
    z = t / (alpha_t + t)
    tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return np.asarray((a + b + x - 1) / (a - 1) * (1 - tail))


def _arrays(*values: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in values)
    return x, t_x, big_t


def _log_common(params: BgNbdParams, x: FloatArray) -> FloatArray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    return np.asarray(
        gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    )


def _log_terms(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Log of the 'still alive at T' and 'dropped out after the last purchase' terms."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_alive = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_dropped = np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x)
    return log_alive, np.where(repeat, log_dropped, -np.inf)


class _Objective:
    """The weighted log-likelihood and its analytic gradient in log-parameters.

    Terms that depend on x, t_x or T alone are computed once per distinct value and gathered,
    so each evaluation costs a few array operations per distinct history.
    """

    def __init__(self, h: Histories) -> None:
        self.h = h
        self.xs, self.ix = group_index(h.x)
        self.ts, self.it = group_index(h.t_x)
        self.Ts, self.iT = group_index(h.T)
        self.weight_x = np.bincount(self.ix, weights=h.weight, minlength=len(self.xs))
        self.repeat = h.x > 0

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        h, xs, wx = self.h, self.xs, self.weight_x
        log_alpha_T = np.log(alpha + self.Ts)[self.iT]
        log_alpha_t = np.log(alpha + self.ts)[self.it]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_b_x = np.where(xs > 0, np.log(b + xs - 1), 0.0)[self.ix]
        rx = r + h.x
        log_alive = -rx * log_alpha_T
        log_dropped = np.where(self.repeat, np.log(a) - log_b_x - rx * log_alpha_t, -np.inf)
        mix = np.logaddexp(log_alive, log_dropped)
        dropped = np.exp(log_dropped - mix)
        alive = 1.0 - dropped
        per_x = gammaln(r + xs) - gammaln(r) + betaln(a, b + xs) - betaln(a, b)
        total_w = h.weight.sum()
        value = wx @ per_x + total_w * r * np.log(alpha) + h.weight @ mix

        ab = digamma(a + b)
        ab_x = digamma(a + b + xs)
        d_r = wx @ (digamma(r + xs) - digamma(r)) + total_w * np.log(alpha)
        d_r -= h.weight @ (alive * log_alpha_T + dropped * log_alpha_t)
        d_alpha = total_w * r / alpha - h.weight @ (
            rx * (alive / (alpha + h.T) + dropped / (alpha + h.t_x))
        )
        d_a = wx @ (ab - ab_x) + h.weight @ dropped / a
        with np.errstate(divide="ignore"):
            inv_b_x = np.where(self.repeat, 1.0 / (b + h.x - 1), 0.0)
        d_b = wx @ (ab + digamma(b + xs) - digamma(b) - ab_x) - h.weight @ (dropped * inv_b_x)
        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return float(value), gradient
