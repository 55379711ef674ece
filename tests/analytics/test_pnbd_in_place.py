"""Pareto/NBD's likelihood worked in place and by column equals the plain formulas, bit for bit."""

# T (a customer's age) keeps its name from the literature.
# ruff: noqa: N806

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from patron.analytics import pnbd
from patron.analytics.fitting import as_histories

PARAMS = pnbd.ParetoNbdParams(0.9, 35.0, 1.7, 60.0, np.nan)


def _histories(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 2_000, size).astype(np.float64)
    x = rng.poisson(3.0, size).astype(np.float64)
    t_x = np.where(x > 0, np.floor(T * rng.uniform(0, 1, size)), 0.0)
    # Some customers bought again on the last day: no gap between t_x and T.
    t_x[::17] = np.where(x[::17] > 0, T[::17], 0.0)
    return x, t_x, T


def _plain_log_tail(
    params: pnbd.ParetoNbdParams, x: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The quadrature over all pairs at once, with a fresh array for every step."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    scale = 1.0 / ((r + x) / (alpha + t) + (s + 1) / (beta + t))
    step = scale[:, None] * pnbd._EXP_E
    a_u = (alpha + t)[:, None] + step
    b_u = (beta + t)[:, None] + step
    log_a_u, log_b_u = np.log(a_u), np.log(b_u)
    terms = -(r + x)[:, None] * log_a_u - (s + 1) * log_b_u + pnbd._LOG_JACOBIAN
    top = terms.max(axis=1)
    mass = np.exp(terms - top[:, None])
    total = mass.sum(axis=1)
    log_f = top + np.log(total) + np.log(scale)
    mass /= total[:, None]
    gradient = np.stack(
        [
            -np.einsum("ij,ij->i", mass, log_a_u),
            -(r + x) * np.einsum("ij,ij->i", mass, 1.0 / a_u),
            -np.einsum("ij,ij->i", mass, log_b_u),
            -(s + 1) * np.einsum("ij,ij->i", mass, 1.0 / b_u),
        ],
        axis=1,
    )
    return log_f, gradient


def test_exp_is_zero_where_the_tail_leaves_it_out() -> None:
    below = np.linspace(-2_000.0, pnbd._UNDERFLOW, 1_000_001)
    assert not np.exp(below).any()


def test_tail_in_chunks_equals_the_whole_array_formula() -> None:
    x, t_x, T = _histories(2 * pnbd._CHUNK + 123, seed=1)
    # Heavy buyers: their integrand falls off steeply, below e^-746 at most nodes.
    x[::50] = 300.0
    x, t = np.concatenate([x, x]), np.concatenate([t_x, T])
    log_f, gradient = pnbd._log_tail(PARAMS, x, t)
    plain_f, plain_gradient = _plain_log_tail(PARAMS, x, t)
    assert np.array_equal(log_f, plain_f)
    assert np.array_equal(gradient, plain_gradient)


def _plain_gradient(objective: pnbd._Objective, theta: np.ndarray) -> np.ndarray:
    """The objective's gradient with (histories x 4) arrays, as first written."""
    r, alpha, s, beta = np.exp(theta)
    params = pnbd.ParetoNbdParams(r, alpha, s, beta, np.nan)
    h, o, w = objective.h, objective, objective.h.weight
    total_w = w.sum()
    log_f, grad_f = pnbd._log_tail(params, o.pair_x, o.pair_t)
    log_f_t, log_f_T = log_f[o.i_t], log_f[o.i_T]
    log_a_T = np.log(alpha + o.Ts)[o.iT]
    log_b_T = np.log(beta + o.Ts)[o.iT]
    log_alive = -(r + h.x) * log_a_T - s * log_b_T
    log_dropped = np.log(s) + pnbd._log_difference(log_f_t, log_f_T)
    mix = np.logaddexp(log_alive, log_dropped)
    dropped = np.exp(log_dropped - mix)
    alive = 1.0 - dropped
    ratio = np.exp(log_f_T - log_f_t)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        grad_gap = (grad_f[o.i_t] - ratio * grad_f[o.i_T]) / (1.0 - ratio)
    grad_gap = np.where(o.gap[:, None], grad_gap, 0.0)
    grad_alive = np.stack(
        [-log_a_T, -(r + h.x) / (alpha + h.T), -log_b_T, -s / (beta + h.T)], axis=1
    )
    grad_mix = alive[:, None] * grad_alive + dropped[:, None] * grad_gap
    grad_mix[:, 2] += dropped / s
    common = np.array(
        [
            o.weight_x @ (digamma(r + o.xs) - digamma(r)) + total_w * np.log(alpha),
            total_w * r / alpha,
            total_w * np.log(beta),
            total_w * s / beta,
        ]
    )
    value = (
        o.weight_x @ (gammaln(r + o.xs) - gammaln(r))
        + total_w * (r * np.log(alpha) + s * np.log(beta))
        + w @ mix
    )
    assert np.isfinite(value)
    return np.asarray((common + w @ grad_mix) * np.array([r, alpha, s, beta]))


def test_objective_gradient_by_column_equals_the_plain_formula() -> None:
    x, t_x, T = _histories(30_000, seed=2)
    objective = pnbd._Objective(as_histories(x, t_x, T))
    assert not objective.gap.all()
    for theta in (np.log([0.9, 35.0, 1.7, 60.0]), np.log([3.0, 400.0, 0.4, 9.0])):
        # Twice at each point: the reused per-history buffer must not carry anything over.
        for _ in range(2):
            _, gradient = objective(theta)
            assert np.array_equal(gradient, _plain_gradient(objective, theta))
