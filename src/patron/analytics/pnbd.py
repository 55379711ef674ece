"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005).

Each customer buys at a Poisson rate lambda ~ gamma(r, alpha) and stays for an exponential
lifetime with rate mu ~ gamma(s, beta). The likelihood is written in its integral form,

    L = G(r+x)/G(r) a^r b^s [ (a+T)^-(r+x) (b+T)^-s + s * I ],
    I = F(x, t_x) - F(x, T),   F(x, t) = integral over (t, inf) of (a+u)^-(r+x) (b+u)^-(s+1) du,

(a = alpha, b = beta, u the moment of dropping out). F is the Gauss hypergeometric term of the
usual closed form; it is computed here in log space by double-exponential quadrature, which stays
accurate for customers with hundreds of purchases where the hypergeometric series overflows.
F depends on (x, t) only, so it is evaluated once per distinct (x, t_x) and (x, T) pair.
"""

# T (a customer's age at the as-of date) keeps its name from the literature and the summaries.
# ruff: noqa: N803, N806

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln, logsumexp, roots_legendre

from patron.analytics.bgnbd import log_nbd_pmf
from patron.analytics.fitting import (
    FloatArray,
    Histories,
    IntArray,
    as_histories,
    group_index,
    maximise_sampled,
    remember_last,
    time_scale,
    unique_rows,
)

_START = np.log([0.5, 0.5, 0.5, 0.5])
# exp-sinh nodes for (t, inf): u = t + L exp(pi/2 sinh v), L the decay length. The upper end
# reaches e^520 decay lengths, so an integrand decaying as u^-(1.07) or faster loses < e^-35;
# the lower end starts e^-70 decay lengths after t.
_STEP = 1.0 / 10.0
_V = np.arange(-4.5, 6.5 + _STEP / 2, _STEP)
_EXP_E = np.exp(np.pi / 2 * np.sinh(_V))
_LOG_JACOBIAN = np.pi / 2 * np.sinh(_V) + np.log(np.pi / 2 * np.cosh(_V) * _STEP)
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = roots_legendre(64)
_CHUNK = 2048
# e^-746 is under half the least subnormal number: exp gives exactly 0 from here down.
_UNDERFLOW = -746.0


@dataclass(frozen=True)
class ParetoNbdParams:
    """Fitted Pareto/NBD parameters and the log-likelihood they reach."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float

    def as_dict(self) -> dict[str, float]:
        """The parameters by their names in the literature."""
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}


def fit(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    near: ParetoNbdParams | None = None,
) -> ParetoNbdParams:
    """Fit Pareto/NBD by maximum likelihood on repeat-purchase counts, recencies and ages.

    `weights` gives how many customers share each row when the histories come grouped;
    `near`, this model's fit on most of the same data, is where the search starts.
    """
    histories = as_histories(frequency, recency, T, weights)
    objective = remember_last(_Objective(histories))
    if near is None:
        # Rates start near the data's own time scale, whatever unit the ages are in.
        log_scale = np.log(time_scale(histories))
        start = _START + np.array([0.0, log_scale, 0.0, log_scale])
    else:
        start = np.log([near.r, near.alpha, near.s, near.beta])
    theta = maximise_sampled(
        objective,
        start,
        lambda step: _Objective(histories.every(step)),
        histories.weight,
        model="Pareto/NBD",
        near=near is not None,
    )
    r, alpha, s, beta = np.exp(theta)
    value, _ = objective(theta)
    return ParetoNbdParams(float(r), float(alpha), float(s), float(beta), float(value))


def log_likelihood(
    params: ParetoNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Each customer's log-likelihood under the given parameters."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive, log_dropped = _log_terms(params, x, t_x, big_t)
    return np.asarray(common + np.logaddexp(log_alive, log_dropped))


def p_alive(
    params: ParetoNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """The probability that each customer is still active at T."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    log_alive, log_dropped = _log_terms(params, x, t_x, big_t)
    return np.asarray(np.exp(log_alive - np.logaddexp(log_alive, log_dropped)))


def expected_purchases(
    params: ParetoNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected purchases in (T, T + t] given each customer's history."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    total = expected_purchases_alive(params, t, x, big_t)
    return np.asarray(total * p_alive(params, x, t_x, big_t))


def expected_purchases_alive(
    params: ParetoNbdParams, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected purchases in (T, T + t] for a customer known to be active at T."""
    x = np.asarray(frequency, dtype=np.float64)
    big_t = np.asarray(T, dtype=np.float64)
    horizon = np.asarray(t, dtype=np.float64)
    rate = (params.r + x) / (params.alpha + big_t)
    return np.asarray(rate * _expected_lifetime(params.s, params.beta + big_t, horizon))


def expected_purchases_new(params: ParetoNbdParams, t: ArrayLike) -> FloatArray:
    """Expected purchases in (0, t] for a customer just acquired."""
    horizon = np.asarray(t, dtype=np.float64)
    return np.asarray(params.r / params.alpha * _expected_lifetime(params.s, params.beta, horizon))


def probability_of_purchases(params: ParetoNbdParams, n: ArrayLike, t: ArrayLike) -> FloatArray:
    """P(X(t) = n): the chance a new customer makes exactly n purchases in (0, t]."""
    count, horizon = np.broadcast_arrays(
        np.asarray(n, dtype=np.float64), np.asarray(t, dtype=np.float64)
    )
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    survived = log_nbd_pmf(count, r, alpha, horizon) + s * (np.log(beta) - np.log(beta + horizon))
    # Dropped out at u in (0, t): Gauss-Legendre over u of the lifetime density times the
    # chance of n purchases by then.
    u = (horizon[..., None] / 2) * (_LEGENDRE_NODES + 1)
    log_density = np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + u)
    with np.errstate(divide="ignore"):
        log_count = log_nbd_pmf(count[..., None], r, alpha, u)
        log_weights = np.log(_LEGENDRE_WEIGHTS) + np.log(horizon[..., None] / 2)
    dropped = logsumexp(log_density + log_count + log_weights, axis=-1)
    return np.asarray(np.exp(np.logaddexp(survived, dropped)))


def _expected_lifetime(s: float, beta_t: FloatArray | float, t: FloatArray) -> FloatArray:
    """E[time alive within the next t] for a customer alive now, beta_t = beta + T."""
    shrink = np.log1p(t / beta_t)
    if abs(s - 1.0) < 1e-9:
        return np.asarray(beta_t * shrink)
    return np.asarray(beta_t * -np.expm1(-(s - 1) * shrink) / (s - 1))


def _arrays(*values: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in values)
    return x, t_x, big_t


def _log_terms(
    params: ParetoNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Log of the 'alive at T' and 's * I' terms of the likelihood, without common factors."""
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    size = x.size
    (pair_x, pair_t), index, _ = unique_rows(
        np.concatenate([x.ravel(), x.ravel()]), np.concatenate([t_x.ravel(), T.ravel()])
    )
    log_f, _ = _log_tail(params, pair_x, pair_t)
    log_gap = _log_difference(log_f[index[:size]], log_f[index[size:]]).reshape(x.shape)
    log_alive = -(params.r + x) * np.log(params.alpha + T) - params.s * np.log(params.beta + T)
    return log_alive, np.log(params.s) + log_gap


def _log_difference(log_big: FloatArray, log_small: FloatArray) -> FloatArray:
    """log(exp(log_big) - exp(log_small)), -inf where they are equal."""
    with np.errstate(divide="ignore"):
        return np.asarray(log_big + np.log1p(-np.exp(np.minimum(log_small - log_big, 0.0))))


def _log_tail(
    params: ParetoNbdParams, x: FloatArray, t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log F(x, t) and its gradient in (r, alpha, s, beta), one row per (x, t) pair."""
    log_f = np.empty(len(x))
    gradient = np.empty((len(x), 4))
    # Chunks of (pairs x nodes) small enough for the core's cache, worked in place in buffers
    # made once per call: fresh chunk-sized temporaries cost more in page faults and memory
    # traffic than the arithmetic.
    work = _TailWork(min(len(x), _CHUNK))
    for start in range(0, len(x), _CHUNK):
        part = slice(start, start + _CHUNK)
        work.fill(params, x[part], t[part], log_f[part], gradient[part])
    return log_f, gradient


class _TailWork:
    """Buffers for one chunk of `_log_tail`: the nodes a + u and b + u, their logs, the terms."""

    def __init__(self, rows: int) -> None:
        self.a_u, self.b_u, self.log_a_u, self.log_b_u, self.mass, self.scratch = (
            np.empty((rows, len(_V))) for _ in range(6)
        )
        self.below = np.empty((rows, len(_V)), dtype=bool)

    def fill(
        self,
        params: ParetoNbdParams,
        x: FloatArray,
        t: FloatArray,
        log_f: FloatArray,
        gradient: FloatArray,
    ) -> None:
        """log F and its gradient for these pairs, written into `log_f` and `gradient`."""
        r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
        rows = len(x)
        a_u, b_u, log_a_u, log_b_u, mass, scratch = (
            b[:rows]
            for b in (self.a_u, self.b_u, self.log_a_u, self.log_b_u, self.mass, self.scratch)
        )
        # The integrand's decay length at u = t puts the nodes where its mass is.
        scale = 1.0 / ((r + x) / (alpha + t) + (s + 1) / (beta + t))
        step = np.multiply(scale[:, None], _EXP_E, out=scratch)
        np.add((alpha + t)[:, None], step, out=a_u)
        np.add((beta + t)[:, None], step, out=b_u)
        np.log(a_u, out=log_a_u)
        np.log(b_u, out=log_b_u)
        terms = np.multiply(-(r + x)[:, None], log_a_u, out=mass)
        terms -= np.multiply(s + 1, log_b_u, out=scratch)
        terms += _LOG_JACOBIAN
        top = terms.max(axis=1)
        terms -= top[:, None]
        # Below _UNDERFLOW e^v rounds to 0, which exp reaches by a slow path (a third of the
        # nodes at 1M): those are set to 0 without it.
        below = np.less(terms, _UNDERFLOW, out=self.below[:rows])
        np.exp(terms, out=mass, where=~below)
        np.copyto(mass, 0.0, where=below)
        total = mass.sum(axis=1)
        log_f[:] = top + np.log(total) + np.log(scale)
        mass /= total[:, None]
        np.divide(1.0, a_u, out=a_u)
        np.divide(1.0, b_u, out=b_u)
        gradient[:, 0] = -np.einsum("ij,ij->i", mass, log_a_u)
        gradient[:, 1] = -(r + x) * np.einsum("ij,ij->i", mass, a_u)
        gradient[:, 2] = -np.einsum("ij,ij->i", mass, log_b_u)
        gradient[:, 3] = -(s + 1) * np.einsum("ij,ij->i", mass, b_u)


class _Objective:
    """The weighted log-likelihood and its analytic gradient in log-parameters."""

    def __init__(self, h: Histories) -> None:
        self.h = h
        self.xs, self.ix = group_index(h.x)
        self.Ts, self.iT = group_index(h.T)
        self.weight_x = np.bincount(self.ix, weights=h.weight, minlength=len(self.xs))
        self.gap = h.t_x < h.T
        (self.pair_x, self.pair_t), index, _ = unique_rows(
            np.concatenate([h.x, h.x]), np.concatenate([h.t_x, h.T])
        )
        self.i_t: IntArray = index[: len(h.x)]
        self.i_T: IntArray = index[len(h.x) :]
        # Each pass's per-history gradient goes here: a fresh array this size cost more in
        # page faults than filling it.
        self.grad_mix = np.empty((len(h.x), 4))

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = np.exp(theta)
        params = ParetoNbdParams(r, alpha, s, beta, np.nan)
        h, xs, wx, w = self.h, self.xs, self.weight_x, self.h.weight
        total_w = w.sum()
        log_f, grad_f = _log_tail(params, self.pair_x, self.pair_t)
        log_f_t, log_f_T = log_f[self.i_t], log_f[self.i_T]
        log_gap = _log_difference(log_f_t, log_f_T)
        log_a_T = np.log(alpha + self.Ts)[self.iT]
        log_b_T = np.log(beta + self.Ts)[self.iT]
        log_alive = -(r + h.x) * log_a_T - s * log_b_T
        log_dropped = np.log(s) + log_gap
        mix = np.logaddexp(log_alive, log_dropped)
        per_x = gammaln(r + xs) - gammaln(r)
        value = wx @ per_x + total_w * (r * np.log(alpha) + s * np.log(beta)) + w @ mix

        dropped = np.exp(log_dropped - mix)
        alive = 1.0 - dropped
        ratio = np.exp(log_f_T - log_f_t)
        rest = 1.0 - ratio
        grad_alive = (-log_a_T, -(r + h.x) / (alpha + h.T), -log_b_T, -s / (beta + h.T))
        # One parameter at a time on whole columns: (histories x 4) arrays against a
        # (histories x 1) one ran inner loops four elements long.
        grad_mix = self.grad_mix
        for i, (pair_grad, alive_grad) in enumerate(zip(grad_f.T, grad_alive, strict=True)):
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_gap = (pair_grad[self.i_t] - ratio * pair_grad[self.i_T]) / rest
            grad_gap = np.where(self.gap, grad_gap, 0.0)
            grad_mix[:, i] = alive * alive_grad + dropped * grad_gap
        grad_mix[:, 2] += dropped / s
        common = np.array(
            [
                wx @ (digamma(r + xs) - digamma(r)) + total_w * np.log(alpha),
                total_w * r / alpha,
                total_w * np.log(beta),
                total_w * s / beta,
            ]
        )
        gradient = (common + w @ grad_mix) * np.array([r, alpha, s, beta])
        return float(value), gradient
