"""What the purchase and spend models share: input checks, row compression and the optimiser."""

# T (a customer's age at the as-of date) keeps its name from the literature and the summaries.
# ruff: noqa: N803

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import gammaln
from threadpoolctl import ThreadpoolController, threadpool_limits

from patron.errors import InvalidInput, ModelFitError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
# Returns the weighted log-likelihood and its gradient with respect to the log-parameters.
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

# Log-parameters stay inside exp(-LOG_BOUND)..exp(LOG_BOUND): wide enough for any real data
# set, narrow enough that a flat direction cannot run off to infinity.
LOG_BOUND = 12.0
# Data sets this many times larger than WARM_SAMPLE rows are fitted on a sample first.
WARM_SAMPLE = 25_000
NEWTON_STEPS = 12
# Stop where every per-customer gradient component is below this (as L-BFGS-B's gtol).
GRADIENT_TOLERANCE = 1e-9
# A log-likelihood over a million customers is a sum whose last digits are rounding noise: a
# change smaller than this, relative to it, cannot be told from noise.
ROUNDING = 1e-13
# Whole numbers below this (days, purchase counts) are grouped by counting instead of sorting.
COUNTING_LIMIT = 1 << 22
# ln Γ's Stirling series with five terms is exact to ~1e-17 from here on.
_STIRLING_FROM = 20.0
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class Histories:
    """Purchase histories (x, t_x, T) with identical rows merged and counted in `weight`."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weight: FloatArray

    def every(self, step: int) -> Histories:
        """Every step-th history with its count: a sample for a warm start."""
        return Histories(self.x[::step], self.t_x[::step], self.T[::step], self.weight[::step])


def as_histories(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> Histories:
    """Check purchase histories and merge identical ones, which makes fitting much faster.

    `weights` counts the customers behind each row when the rows are already grouped.
    """
    x, t_x, big_t = (np.asarray(v, dtype=np.float64).ravel() for v in (frequency, recency, T))
    check_histories(x, t_x, big_t)
    (ux, ut, ages), index, counts = unique_rows(x, t_x, big_t)
    if weights is not None:
        counts = _customer_counts(weights, index, len(ux), len(x))
    return Histories(ux, ut, ages, counts)


def _customer_counts(weights: ArrayLike, index: IntArray, rows: int, size: int) -> FloatArray:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != size:
        raise InvalidInput("weights must give one count per purchase history")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise InvalidInput("weights must be positive numbers of customers")
    return np.bincount(index, weights=w, minlength=rows).astype(np.float64)


def time_scale(h: Histories) -> float:
    """Mean age over mean repeat purchases: the order of 1 / purchase rate, for starting points."""
    ages = float(h.weight @ h.T) / float(h.weight.sum())
    repeats = float(h.weight @ h.x) / float(h.weight.sum())
    return max(ages, 1e-6) / max(repeats, 1e-3)


def unique_rows(*columns: FloatArray) -> tuple[list[FloatArray], IntArray, FloatArray]:
    """Distinct rows of aligned columns: the columns, each row's position, each one's count."""
    bits = 63 // len(columns)
    whole = all(
        len(c) == 0 or (c.min() >= 0 and c.max() < 2**bits and (np.floor(c) == c).all())
        for c in columns
    )
    spans = [int(c.max()) + 1 for c in columns] if whole and len(columns[0]) else []
    # A table of every combination is worth it while it is not much larger than the rows.
    if spans and math.prod(spans) <= min(COUNTING_LIMIT, 4 * len(columns[0])):
        return _count_rows(columns, spans)
    if whole:
        # Whole days pack into one int64 key, and sorting one key is much faster than rows.
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for column in columns:
            key = (key << bits) | column.astype(np.int64)
        if (key[1:] > key[:-1]).all():
            # Already distinct and in order (histories grouped once before): no sort.
            keys, inverse, counts = key, np.arange(len(key)), np.ones_like(key)
        else:
            keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        mask = (1 << bits) - 1
        shifts = range(bits * (len(columns) - 1), -1, -bits)
        unique = [((keys >> shift) & mask).astype(np.float64) for shift in shifts]
    else:
        rows, inverse, counts = np.unique(
            np.stack(columns, axis=1), axis=0, return_inverse=True, return_counts=True
        )
        unique = [rows[:, i] for i in range(len(columns))]
    return unique, inverse.ravel().astype(np.intp), counts.astype(np.float64)


def _count_rows(
    columns: tuple[FloatArray, ...], spans: list[int]
) -> tuple[list[FloatArray], IntArray, FloatArray]:
    """`unique_rows` of whole numbers whose combinations fit in a table: counted, not sorted.

    The rows come in the same order (by the first column, then the next), as when sorted.
    """
    key = np.zeros(len(columns[0]), dtype=np.intp)
    for column, span in zip(columns, spans, strict=True):
        key = key * span + column.astype(np.intp)
    counts = np.bincount(key, minlength=math.prod(spans))
    present = counts > 0
    position = np.cumsum(present, dtype=np.intp) - 1
    keys = np.flatnonzero(present)
    unique = []
    for span in reversed(spans):
        keys, value = np.divmod(keys, span)
        unique.append(value.astype(np.float64))
    return unique[::-1], position[key], counts[present].astype(np.float64)


def check_histories(x: FloatArray, t_x: FloatArray, T: FloatArray) -> None:
    """Refuse histories no purchase model can describe, naming what is wrong."""
    if not (len(x) == len(t_x) == len(T)):
        raise InvalidInput("frequency, recency and T must have the same length")
    if len(x) == 0:
        raise InvalidInput("there are no customers to fit the model on")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise InvalidInput("frequency, recency and T must be finite numbers")
    if (x < 0).any() or (np.floor(x) != x).any():
        raise InvalidInput("frequency must be a whole number of repeat purchases, 0 or more")
    if (t_x < 0).any() or (t_x > T).any():
        raise InvalidInput("recency must lie between 0 and T for every customer")
    if ((x == 0) & (t_x != 0)).any():
        raise InvalidInput("a customer without repeat purchases must have recency 0")


def sample_step(size: int) -> int | None:
    """Every how many rows a warm-start sample takes, or None when the data is small."""
    step = size // WARM_SAMPLE
    return step if step >= 4 else None


def remember_last(objective: Objective) -> Objective:
    """The objective, answering from memory when asked at the same point twice in a row: a fit
    reads the log-likelihood at the optimum, which its last Newton pass has just evaluated."""
    last: dict[bytes, tuple[float, FloatArray]] = {}

    def remembered(theta: FloatArray) -> tuple[float, FloatArray]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in last:
            last.clear()
            last[key] = objective(theta)
        value, gradient = last[key]
        return value, gradient.copy()

    return remembered


def maximise_sampled(
    objective: Objective,
    start: FloatArray,
    sample: Callable[[int], Objective],
    weight: FloatArray,
    *,
    model: str,
    near: bool = False,
) -> FloatArray:
    """Maximise with L-BFGS-B, or, over many rows, on every n-th row first (`maximise_warm`).

    `weight` counts the customers behind each row; `sample(step)` is the objective on every
    step-th row; `near` says the start is already close to the optimum (see `maximise_warm`).
    """
    size = float(weight.sum())
    step = sample_step(len(weight))
    if step is None:
        return maximise(objective, start, model=model, size=size)
    sample_size = float(weight[::step].sum())
    return maximise_warm(
        objective,
        sample(step),
        start,
        model=model,
        size=size,
        sample_size=sample_size,
        near=near,
    )


def maximise_warm(
    objective: Objective,
    sample: Objective,
    start: FloatArray,
    *,
    model: str,
    size: float,
    sample_size: float,
    near: bool = False,
) -> FloatArray:
    """Maximise on a sample first, then finish on all the data with Newton steps.

    The sample's optimum lies near the full one and its curvature (by finite differences of
    the analytic gradient) is close to the full data's, so Newton steps with that fixed
    curvature converge in about five passes over all the data where L-BFGS-B, which learns
    the curvature as it goes, needs twenty. If they do not converge, L-BFGS-B finishes.
    A start `near` the optimum already (the same model's fit on most of the same data) is
    taken as it is: the Newton steps start there, with the sample's curvature at it.
    """
    theta, hessian = np.clip(start, -LOG_BOUND, LOG_BOUND), None
    if near:
        hessian = _curvature(sample, theta, sample_size)
    if hessian is None:  # not near, or not near enough to curve like a maximum
        theta = maximise(sample, start, model=model, size=sample_size)
        hessian = _curvature(sample, theta, sample_size)
        if hessian is None:
            # Not a maximum of the sample's likelihood: plain gradient steps, which the check
            # on each step's value and the L-BFGS-B fallback make safe.
            hessian = np.eye(len(theta))
    inverse = np.linalg.inv(hessian)
    best, best_value, expected = theta, -np.inf, np.inf
    with single_threaded_blas():
        for _ in range(NEWTON_STEPS):
            value, gradient = objective(theta)
            finite = np.isfinite(value) and np.isfinite(gradient).all()
            # A step that loses more than rounding noise means the curvature misled it,
            # unless the gain it was expected to make was within that noise too: then the
            # loss is noise and the point before it is the optimum as far as the sum can
            # tell. (Over a million customers with a parameter at its bound the gradient's
            # own noise kept it from GRADIENT_TOLERANCE, and L-BFGS-B then went round in
            # circles for thirty passes over all the data.)
            if not finite or value < best_value - ROUNDING * abs(best_value):
                if finite and expected <= ROUNDING * abs(best_value):
                    return best
                break
            # A parameter held at its bound with the gradient pushing outwards is done, as
            # in L-BFGS-B's projected gradient; the step moves the others only.
            free = _free(theta, gradient)
            if np.abs(gradient[free]).max(initial=0.0) <= GRADIENT_TOLERANCE * size:
                return theta
            best, best_value = theta, value
            step = _newton_step(hessian, inverse, gradient / size, free)
            # A parameter at its bound that the step would carry beyond it is held as well
            # and the others stepped without it: clipping the step instead left them moved
            # as if it had gone on (a flat direction, s and beta at 1M, then never converged).
            beyond = ((theta >= LOG_BOUND) & (step > 0)) | ((theta <= -LOG_BOUND) & (step < 0))
            if beyond.any():
                step = _newton_step(hessian, inverse, gradient / size, free & ~beyond)
            # What the step gains where the curvature is right (Newton's quadratic model).
            expected = float(gradient @ step) / 2
            theta = np.clip(theta + step, -LOG_BOUND, LOG_BOUND)
    return maximise(objective, best, model=model, size=size)


def _newton_step(
    hessian: FloatArray,
    inverse: NDArray[np.floating[Any]],
    gradient: FloatArray,
    free: NDArray[np.bool_],
) -> FloatArray:
    """The Newton step of the free log-parameters (the others stay where they are)."""
    if free.all():
        return np.asarray(inverse @ gradient)
    step = np.zeros_like(gradient)
    if free.any():
        step[free] = np.linalg.solve(hessian[np.ix_(free, free)], gradient[free])
    return step


def _free(theta: FloatArray, gradient: FloatArray) -> NDArray[np.bool_]:
    """The log-parameters not held at a bound by a gradient pushing beyond it."""
    held = ((theta >= LOG_BOUND) & (gradient > 0)) | ((theta <= -LOG_BOUND) & (gradient < 0))
    return np.asarray(~held)


def _curvature(objective: Objective, theta: FloatArray, size: float) -> FloatArray | None:
    """Minus the per-customer log-likelihood's Hessian at theta (central differences of the
    analytic gradient); None where that is not a maximum."""
    step = 1e-5
    hessian = np.empty((len(theta), len(theta)))
    for i in range(len(theta)):
        shift = np.zeros_like(theta)
        shift[i] = step
        ahead, behind = objective(theta + shift)[1], objective(theta - shift)[1]
        hessian[:, i] = (behind - ahead) / (2 * step * size)
    hessian = (hessian + hessian.T) / 2
    if not (np.isfinite(hessian).all() and (np.linalg.eigvalsh(hessian) > 0).all()):
        return None
    return hessian


def single_threaded_blas() -> threadpool_limits:
    """BLAS on one thread: the vector products here are memory-bound, and OpenBLAS's threads
    spinning for work made fits 5-10x slower on a busy two-core machine."""
    return _blas_controller().limit(limits=1, user_api="blas")


@cache
def _blas_controller() -> ThreadpoolController:
    # Finding the loaded BLAS libraries takes tens of milliseconds: do it once per process.
    return ThreadpoolController()


def maximise(objective: Objective, start: FloatArray, *, model: str, size: float) -> FloatArray:
    """Maximise a log-likelihood over log-parameters with L-BFGS-B; the best log-parameters."""

    def negative(theta: FloatArray) -> tuple[float, FloatArray]:
        value, gradient = objective(theta)
        if not np.isfinite(value) or not np.isfinite(gradient).all():
            return np.inf, np.zeros_like(theta)
        # Per-customer scale keeps the optimiser's tolerances meaningful for any data size.
        return -value / size, -gradient / size

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    with single_threaded_blas():
        result = minimize(
            negative,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": GRADIENT_TOLERANCE},
        )
    if not np.isfinite(result.fun) or not np.isfinite(result.x).all():
        raise ModelFitError(f"the {model} fit did not converge: {result.message}")
    return np.asarray(result.x, dtype=np.float64)


def group_index(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct values and, for each element, the position of its value among them."""
    if _countable(values):
        # Whole numbers of days or purchases: a table of the values present gives what
        # np.unique gives, without its sort (a tenth of the time on 300,000 histories).
        whole = values.astype(np.intp)
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[whole] = True
        position = np.cumsum(present, dtype=np.intp) - 1
        return np.flatnonzero(present).astype(np.float64), position[whole]
    distinct, index = np.unique(values, return_inverse=True)
    return distinct, index.astype(np.intp)


def _countable(values: FloatArray) -> bool:
    """Whole numbers from 0 to COUNTING_LIMIT, none of them -0 (np.unique could keep -0)."""
    if len(values) == 0 or not (values.min() >= 0 and values.max() < COUNTING_LIMIT):
        return False
    return bool((np.floor(values) == values).all() and not np.signbit(values).any())


def stirling_rest(y: ArrayLike) -> FloatArray:
    """ln Γ(y) minus its Stirling main part (y - 1/2) ln y - y + ln(2π)/2; small for large y.

    Differences of ln Γ at large arguments cancel in floating point (ln Γ(1e5) ~ 1e6 carries
    an error of ~1e-10); written with this remainder they stay accurate to ~1e-16.
    """
    y = np.asarray(y, dtype=np.float64)
    big = np.maximum(y, _STIRLING_FROM)
    inv, inv2 = 1.0 / big, 1.0 / big**2
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188))))
    small = np.minimum(y, _STIRLING_FROM)
    direct = gammaln(small) - ((small - 0.5) * np.log(small) - small + _HALF_LOG_2PI)
    return np.asarray(np.where(y >= _STIRLING_FROM, series, direct))


def log_pochhammer(x: ArrayLike, m: ArrayLike) -> FloatArray:
    """ln Γ(x + m) - ln Γ(x) for x, m > 0, accurate for large x where the difference cancels."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    return np.asarray(
        (x - 0.5) * np.log1p(m / x)
        + m * np.log(x + m)
        - m
        + stirling_rest(x + m)
        - stirling_rest(x)
    )


def distinct_pairs(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Distinct (x, y) pairs ordered by x then y, and each element's pair: three 1-D sorts."""
    xs, ix = np.unique(x, return_inverse=True)
    ys, iy = np.unique(y, return_inverse=True)
    keys, index = np.unique(ix.astype(np.int64) * len(ys) + iy, return_inverse=True)
    return xs[keys // len(ys)], ys[keys % len(ys)], index.astype(np.intp)
