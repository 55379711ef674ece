"""The Gamma-Gamma spend model (Fader & Hardie, "The Gamma-Gamma model of monetary value").

A customer's spend per purchase is gamma(p, nu) around their own mean, and nu is gamma(q, gamma)
across customers. It is fitted on repeat buyers only: their mean repeat spend and its count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from patron.analytics.fitting import (
    FloatArray,
    group_index,
    maximise_sampled,
    remember_last,
)
from patron.errors import InvalidInput, ModelFitError

_START = np.log([1.0, 3.0, 1.0])


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters and the log-likelihood they reach."""

    p: float
    q: float
    gamma: float
    log_likelihood: float

    def as_dict(self) -> dict[str, float]:
        """The parameters by their names in the literature."""
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


def fit(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParams:
    """Fit on the repeat buyers (frequency > 0); raise ModelFitError when q <= 1."""
    x, m = _repeat_buyers(frequency, monetary_value)
    objective = remember_last(_Objective(x, m))
    # Start with the population mean p*gamma/(q-1) at the data's mean spend.
    start = _START + np.array([0.0, 0.0, np.log(2.0 * float(m.mean()))])
    theta = maximise_sampled(
        objective,
        start,
        lambda step: _Objective(x[::step], m[::step]),
        np.ones(len(x)),
        model="Gamma-Gamma",
    )
    p, q, gamma = np.exp(theta)
    value, _ = objective(theta)
    if q <= 1.0:
        raise ModelFitError(
            f"the Gamma-Gamma fit gave q = {q:.3f} <= 1, so the expected spend per purchase is "
            "unbounded: the spend data is too heavy-tailed or too small for this model"
        )
    return GammaGammaParams(float(p), float(q), float(gamma), float(value))


def log_likelihood(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Each repeat buyer's log-likelihood of their mean spend (frequency must be > 0)."""
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    p, q, gamma = params.p, params.q, params.gamma
    return np.asarray(
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + m * x)
    )


def expected_average_value(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """E[spend per purchase | history]; the population mean for customers with no repeats."""
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    p, q, gamma = params.p, params.q, params.gamma
    if not q > 1.0:
        raise InvalidInput(f"q = {q:.3f} <= 1 makes the expected spend per purchase unbounded")
    # A weighted mean of the population mean p*gamma/(q-1) and the customer's own mean.
    return np.asarray(p * (gamma + x * m) / (p * x + q - 1))


def _repeat_buyers(
    frequency: ArrayLike, monetary_value: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(frequency, dtype=np.float64).ravel()
    m = np.asarray(monetary_value, dtype=np.float64).ravel()
    if len(x) != len(m):
        raise InvalidInput("frequency and monetary_value must have the same length")
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise InvalidInput("frequency and monetary_value must be finite numbers")
    repeat = x > 0
    if ((m[repeat]) <= 0).any():
        raise InvalidInput("every repeat buyer's monetary_value must be positive")
    if repeat.sum() < 2:
        raise ModelFitError("the Gamma-Gamma model needs at least two repeat buyers")
    return x[repeat], m[repeat]


class _Objective:
    """The log-likelihood and its analytic gradient in log-parameters."""

    def __init__(self, x: FloatArray, m: FloatArray) -> None:
        self.x = x
        self.spent = m * x  # a buyer's total repeat spend: the only per-buyer term gamma meets
        self.xs, self.ix = group_index(x)
        self.count_x = np.bincount(self.ix, minlength=len(self.xs)).astype(np.float64)
        log_m = np.log(m)
        self.sum_x_log_m = float(x @ log_m)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_x = float(x @ np.log(x))

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = np.exp(theta)
        x, xs, cx, n = self.x, self.xs, self.count_x, float(len(self.x))
        # Each buyer's (p x + q) log(gamma + x m) and its derivatives, as sums weighted by x
        # and by 1: four passes over the buyers per evaluation.
        shifted = gamma + self.spent
        log_shifted = np.log(shifted)
        x_log, sum_log = float(x @ log_shifted), float(log_shifted.sum())
        inverse = 1.0 / shifted
        x_inverse, sum_inverse = float(x @ inverse), float(inverse.sum())
        value = (
            cx @ (gammaln(p * xs + q) - gammaln(p * xs))
            - n * gammaln(q)
            + n * q * np.log(gamma)
            + p * self.sum_x_log_m
            - self.sum_log_m
            + p * self.sum_x_log_x
            - (p * x_log + q * sum_log)
        )
        psi_pq = digamma(p * xs + q)
        d_p = cx @ (xs * (psi_pq - digamma(p * xs))) + self.sum_x_log_m + self.sum_x_log_x - x_log
        d_q = cx @ psi_pq - n * digamma(q) + n * np.log(gamma) - sum_log
        d_gamma = n * q / gamma - (p * x_inverse + q * sum_inverse)
        return float(value), np.array([d_p * p, d_q * q, d_gamma * gamma])
