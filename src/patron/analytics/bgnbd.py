"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Each customer buys at a Poisson rate (gamma-distributed across customers with shape r and rate
alpha) and may drop out after any purchase with a probability that is beta(a, b) across
customers. Everything is computed in log space so a customer with hundreds of purchases stays
finite, and every function is vectorised over arrays of customers.
"""

# T (a customer's age at the as-of date) keeps its name from the literature and the summaries.
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaincinv, betaln, digamma, expit, gammaln, log_expit

from patron.analytics.fitting import (
    FloatArray,
    Histories,
    as_histories,
    distinct_pairs,
    group_index,
    log_pochhammer,
    maximise_sampled,
    remember_last,
    single_threaded_blas,
    stirling_rest,
    time_scale,
)

_START = np.log([0.5, 0.5, 0.5, 2.0])
# Expected purchases: the trapezoid sum reaches this far in logit(p) (e^-36 ~ 2e-16) with
# nodes this far apart, or at least this many, leaves out 1e-30 of the beta mass on each side,
# and takes customers in chunks that bound its (customers x nodes) temporaries.
_REACH = 36.0
_STEP = 0.3
_MIN_NODES = 64
_TAIL = 1e-30
_CHUNK = 4096


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


def fit(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    near: BgNbdParams | None = None,
) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood on repeat-purchase counts, recencies and ages.

    `weights` gives how many customers share each row when the histories come grouped;
    `near`, this model's fit on most of the same data, is where the search starts.
    """
    histories = as_histories(frequency, recency, T, weights)
    objective = remember_last(_Objective(histories))
    if near is None:
        # Rates start near the data's own time scale, whatever unit the ages are in.
        log_scale = np.log(time_scale(histories))
        start = _START + np.array([0.0, log_scale, 0.0, 0.0])
    else:
        start = np.log([near.r, near.alpha, near.a, near.b])
    theta = maximise_sampled(
        objective,
        start,
        lambda step: _Objective(histories.every(step)),
        histories.weight,
        model="BG/NBD",
        near=near is not None,
    )
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

    Given the drop-out chance p ~ beta(a, b + x) the expectation is g(p) = (1 - (1 + p s)^-(r+x))
    / p with s = t / alpha_t (FHL 2005, eq. 10 before integrating p out). The closed form's
    2F1 under- and overflows for large a and b, long horizons or x in the hundreds, and divides
    by a - 1, so the integral over p is computed instead: see `_beta_mean`.
    """
    x, s = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64) / alpha_t
    )
    # Customers sharing (x, s) share the answer. The distinct pairs come ordered by x, so each
    # x's pairs are a contiguous run.
    pair_x, pair_s, index = distinct_pairs(x.ravel(), s.ravel())
    xs, first = np.unique(pair_x, return_index=True)
    bounds = np.append(first, len(pair_x))
    low, high = _logit_support(params.a, params.b + xs)
    out = np.zeros(len(pair_x))
    # One pass per distinct purchase count (tens to hundreds), vectorised over its pairs.
    with single_threaded_blas():
        for i, x_i in enumerate(xs):
            for start in range(bounds[i], bounds[i + 1], _CHUNK):
                part = slice(start, min(start + _CHUNK, bounds[i + 1]))
                out[part] = _beta_mean(params, x_i, pair_s[part], low[i], high[i])
    return np.asarray(out[index].reshape(x.shape))


def _logit_support(a: float, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """logit(p) outside which beta(a, b) has less than 1e-30 of its mass, on each side."""
    low = betaincinv(a, b, _TAIL)
    high = betaincinv(b, a, _TAIL)  # 1 - p is beta(b, a)
    with np.errstate(divide="ignore"):
        return np.log(low) - np.log1p(-low), np.log1p(-high) - np.log(high)


def _beta_mean(
    params: BgNbdParams, x: float, given: FloatArray, low: float, high: float
) -> FloatArray:
    """E[g(p)] over p ~ beta(a, b + x) for each s: closed-form parts plus a trapezoid sum.

    g is split as ks (1-p)^m + g(1) p^2 + d(p), m = max((k+1)s/2, 1): the first two have
    closed-form beta means and take over g where p -> 0 and p -> 1, so d decays at least as
    fast as exp(-|logit p|) at both ends whatever a and b are. d times the beta density is
    smooth and analytic in a strip around the real logit axis, where the trapezoid rule
    converges geometrically; the nodes span where both are not negligible.
    """
    a, k, b_x = params.a, params.r + x, params.b + x
    s = np.where(given > 0, given, 1.0)  # t = 0 gives 0; s = 1 only keeps the arithmetic finite
    ks = k * s
    m = np.maximum((k + 1) * s / 2, 1.0)
    g_one = -np.expm1(-k * np.log1p(s))
    # Beyond these d is below e^-36 of the expectation; beyond low and high the density is.
    lower = max(min(-_REACH, float(np.min(-np.log(ks))) - _REACH / 2), low)
    upper = min(_REACH + max(float(np.max(np.log(ks / g_one))), 0.0), high)
    nodes = max(_MIN_NODES, math.ceil((upper - lower) / _STEP) + 1) if upper > lower else 1
    v = np.linspace(lower, upper, nodes)
    step = (upper - lower) / max(nodes - 1, 1)
    # Far out in the tails these terms underflow to 0, which is their true value to 1e-300.
    with np.errstate(under="ignore"):
        log_p, log_q = log_expit(v), log_expit(-v)
        p = np.exp(log_p)
        weight = step * np.exp(_log_beta_density(a, b_x, log_p, log_q))
        g = -np.expm1(-k * np.log1p(p * s[:, None])) / p
        d = g - ks[:, None] * np.exp(m[:, None] * log_q) - g_one[:, None] * (p * p)
        # Trapezoid weights: the end nodes lie where the integrand is already negligible.
        body = d @ weight
        # E[(1-p)^m] = B(a, b+x+m) / B(a, b+x), as Gamma ratios that shift by a, not by m.
        tail_one = np.exp(log_pochhammer(b_x, a) - log_pochhammer(b_x + m, a))
    ab = a + b_x
    parts = ks * tail_one + g_one * a * (a + 1) / (ab * (ab + 1))  # E[p^2] is exact
    return np.asarray(np.where(given > 0, parts + body, 0.0))


def _log_beta_density(a: float, b: float, log_p: FloatArray, log_q: FloatArray) -> FloatArray:
    """log of the beta(a, b) density of logit(p), p^a (1-p)^b / B(a, b), at each node.

    Written around p* = a / (a + b) so that no large ln B(a, b) is subtracted: for a and b in
    the thousands that subtraction alone would cost ~1e-10 of relative accuracy.
    """
    ab = a + b
    rest = stirling_rest(np.array([a, b, ab]))
    at_mode = 0.5 * np.log(a * b / ab / (2 * np.pi)) - rest[0] - rest[1] + rest[2]
    log_p_mode, log_q_mode = np.log(a / ab), np.log(b / ab)
    return np.asarray(a * (log_p - log_p_mode) + b * (log_q - log_q_mode) + at_mode)


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
        self.total = float(h.weight.sum())
        self.repeat = h.x > 0

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        h, xs, wx, w = self.h, self.xs, self.weight_x, self.h.weight
        log_alpha_T = np.log(alpha + self.Ts)[self.iT]
        log_alpha_t = np.log(alpha + self.ts)[self.it]
        repeat_x = xs > 0
        # At x = 0 (no repeat term; masked out) b - 1 may be 0 or, for b < 1, negative.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_b_x = np.where(repeat_x, np.log(b + xs - 1), 0.0)[self.ix]
            inv_b_x = np.where(repeat_x, 1.0 / (b + xs - 1), 0.0)[self.ix]
        rx = r + h.x
        # The bracket is alive + dropped; with diff = log(dropped / alive) its log is
        # log(alive) + softplus(diff) and the dropped share is expit(diff): two ufuncs.
        diff = np.where(
            self.repeat, np.log(a) - log_b_x - rx * (log_alpha_t - log_alpha_T), -np.inf
        )
        dropped = expit(diff)
        mix = -rx * log_alpha_T - log_expit(-diff)
        per_x = gammaln(r + xs) - gammaln(r) + betaln(a, b + xs) - betaln(a, b)
        total_w = w.sum()
        value = wx @ per_x + total_w * r * np.log(alpha) + w @ mix

        w_dropped = w * dropped
        w_alive = w - w_dropped
        ab = digamma(a + b)
        ab_x = digamma(a + b + xs)
        d_r = wx @ (digamma(r + xs) - digamma(r)) + total_w * np.log(alpha)
        d_r -= w_alive @ log_alpha_T + w_dropped @ log_alpha_t
        inv_T = (1.0 / (alpha + self.Ts))[self.iT]
        inv_t = (1.0 / (alpha + self.ts))[self.it]
        d_alpha = total_w * r / alpha - (w_alive * rx) @ inv_T - (w_dropped * rx) @ inv_t
        d_a = wx @ (ab - ab_x) + w_dropped.sum() / a
        d_b = wx @ (ab + digamma(b + xs) - digamma(b) - ab_x) - w_dropped @ inv_b_x
        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return float(value), gradient
