"""Customer lifetime value: a purchase model (BG/NBD or Pareto/NBD) times Gamma-Gamma spend.

CLV over a horizon of H days is summed over monthly steps (a month is 365.25 / 12 days):

    CLV = sum over k = 1..ceil(H / month) of
          (E[Y(t_k)] - E[Y(t_(k-1))]) * E[spend per purchase] / (1 + d)^k,   t_k = min(k month, H)

where E[Y(t)] is the customer's expected purchases in the next t days and d the monthly
discount rate. With model `auto` both purchase models are fitted on a calibration period and
the one whose predictions match the holdout period best is refitted on all the data.
"""

# T (a customer's age at the as-of date) keeps its name from the literature and the summaries.
# ruff: noqa: N803

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from patron.analytics import bgnbd, gamma_gamma, pnbd
from patron.analytics.fitting import FloatArray, IntArray, check_histories, unique_rows
from patron.analytics.summary import CustomerSummary, HoldoutSplit, OrderLog
from patron.errors import InvalidInput, ModelFitError

PurchaseModel = Literal["bgnbd", "pnbd"]
ModelChoice = Literal["bgnbd", "pnbd", "auto"]
PurchaseParams = bgnbd.BgNbdParams | pnbd.ParetoNbdParams

MONTH_DAYS = 365.25 / 12
DEFAULT_MONTHLY_DISCOUNT = 0.01
# The holdout is the last horizon of the log, but never more than this share of it.
HOLDOUT_SHARE = 0.25
MODELS: tuple[PurchaseModel, ...] = ("bgnbd", "pnbd")


@dataclass(frozen=True)
class HoldoutScore:
    """How one purchase model fitted on the calibration period predicted the holdout period."""

    model: PurchaseModel
    mean_absolute_error: float | None
    predicted_total: float | None
    actual_total: float
    failure: str | None = None


@dataclass(frozen=True)
class ModelComparison:
    """The `auto` choice: the holdout it was judged on, each model's score, the winner."""

    chosen: PurchaseModel
    cut: str
    holdout_days: int
    calibration_customers: int
    scores: tuple[HoldoutScore, ...]
    # Each model's fit on the calibration period, where its fit on all the data starts.
    fitted: dict[PurchaseModel, PurchaseParams] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record for a scoring run."""
        record = asdict(self)
        del record["fitted"]
        return record

    def near(self, model: PurchaseModel) -> PurchaseParams | None:
        """The model's calibration fit, if it had one: close to its fit on all the data."""
        return self.fitted.get(model)


@dataclass(frozen=True)
class ClvResult:
    """Per-customer model outputs (aligned with the input arrays) and what produced them."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    expected_avg_value: FloatArray
    clv: FloatArray
    model: PurchaseModel
    params: dict[str, Any]


def fit_purchase_model(
    model: PurchaseModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    near: PurchaseParams | None = None,
) -> PurchaseParams:
    """Fit BG/NBD or Pareto/NBD by name (`weights`: customers per row of grouped histories;
    `near`: the same model's fit on most of the same data, where the search starts)."""
    if model == "bgnbd":
        bg_near = near if isinstance(near, bgnbd.BgNbdParams) else None
        return bgnbd.fit(frequency, recency, T, weights, near=bg_near)
    if model == "pnbd":
        pnbd_near = near if isinstance(near, pnbd.ParetoNbdParams) else None
        return pnbd.fit(frequency, recency, T, weights, near=pnbd_near)
    raise InvalidInput(f"unknown purchase model '{model}' (use bgnbd, pnbd or auto)")


def p_alive(
    params: PurchaseParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive) under whichever purchase model the parameters belong to."""
    if isinstance(params, bgnbd.BgNbdParams):
        return bgnbd.p_alive(params, frequency, recency, T)
    return pnbd.p_alive(params, frequency, recency, T)


def expected_purchases_alive(
    params: PurchaseParams, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected purchases in the next t days for customers known to be active."""
    if isinstance(params, bgnbd.BgNbdParams):
        return bgnbd.expected_purchases_alive(params, t, frequency, T)
    return pnbd.expected_purchases_alive(params, t, frequency, T)


def score(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon_days: float,
    model: ModelChoice = "bgnbd",
    monthly_discount: float = DEFAULT_MONTHLY_DISCOUNT,
    holdout: HoldoutSplit | None = None,
) -> ClvResult:
    """Fit the models on these customers and score each: P(alive), purchases, spend, CLV.

    `auto` needs `holdout` (see `holdout_split`) to choose between BG/NBD and Pareto/NBD.
    """
    check_horizon(horizon_days, monthly_discount)
    x, t_x, big_t, m = (
        np.asarray(v, dtype=np.float64) for v in (frequency, recency, T, monetary_value)
    )
    chosen, comparison = choose_model(model, holdout)
    # The fit and the outlook see each distinct history once (the fit with its count of
    # customers): sorted once here instead of once in each.
    check_histories(x, t_x, big_t)
    (xs, recencies, ages), rows, customers = unique_rows(x, t_x, big_t)
    near = comparison.near(chosen) if comparison is not None else None
    purchase = fit_purchase_model(chosen, xs, recencies, ages, customers, near)
    spend = _fit_spend(x, m)
    values = gamma_gamma.expected_average_value(spend, x, np.maximum(m, 0.0))
    outlook = purchase_outlook(purchase, xs, recencies, ages, horizon_days, monthly_discount)
    clv = outlook.clv_per_spend[rows] * values
    params = run_params(purchase, spend, horizon_days, monthly_discount, len(x), comparison)
    return ClvResult(
        outlook.p_alive[rows], outlook.expected_purchases[rows], values, clv, chosen, params
    )


def choose_model(
    model: ModelChoice, holdout: HoldoutSplit | None
) -> tuple[PurchaseModel, ModelComparison | None]:
    """The purchase model to use; for `auto`, the holdout comparison that picked it."""
    if model != "auto":
        return model, None
    if holdout is None:
        raise InvalidInput("model 'auto' needs a calibration/holdout split of the order log")
    comparison = compare_models(holdout)
    return comparison.chosen, comparison


@dataclass(frozen=True)
class PurchaseOutlook:
    """What the purchase model says of each history; CLV is `clv_per_spend` times the spend."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    clv_per_spend: FloatArray


def purchase_outlook(
    purchase: PurchaseParams,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    horizon_days: float,
    monthly_discount: float,
) -> PurchaseOutlook:
    """P(alive), expected purchases over the horizon and discounted purchases per history."""
    # P(alive) depends on (x, t_x, T) alone: computed once per distinct history, gathered.
    (xs, recencies, ages), rows, _ = unique_rows(x, t_x, T)
    alive = p_alive(purchase, xs, recencies, ages)[rows]
    steps, index = _monthly_steps(purchase, horizon_days, x, T)
    discount = (1.0 + monthly_discount) ** -np.arange(1, len(steps) + 1)
    expected = steps.sum(axis=0)[index] * alive
    return PurchaseOutlook(alive, expected, (discount @ steps)[index] * alive)


def run_params(
    purchase: PurchaseParams,
    spend: gamma_gamma.GammaGammaParams,
    horizon_days: float,
    monthly_discount: float,
    customers: int,
    comparison: ModelComparison | None,
) -> dict[str, Any]:
    """The record of what produced the scores: both fits, the settings, the model choice."""
    return {
        "purchase_model": "bgnbd" if isinstance(purchase, bgnbd.BgNbdParams) else "pnbd",
        "purchase_params": purchase.as_dict(),
        "purchase_log_likelihood": purchase.log_likelihood,
        "spend_params": spend.as_dict(),
        "spend_log_likelihood": spend.log_likelihood,
        "horizon_days": horizon_days,
        "monthly_discount": monthly_discount,
        "customers": customers,
        "comparison": comparison.as_dict() if comparison else None,
    }


def score_log(
    log: OrderLog,
    *,
    as_of: date | datetime,
    horizon_days: float,
    model: ModelChoice = "bgnbd",
    monthly_discount: float = DEFAULT_MONTHLY_DISCOUNT,
) -> tuple[CustomerSummary, ClvResult]:
    """Summarise an order log as of a date and score every customer in it."""
    summary = log.summary(as_of)
    if len(summary) == 0:
        raise InvalidInput(f"no orders on or before {as_of}")
    holdout = holdout_split(log, as_of, horizon_days) if model == "auto" else None
    result = score(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        horizon_days=horizon_days,
        model=model,
        monthly_discount=monthly_discount,
        holdout=holdout,
    )
    return summary, result


def holdout_split(log: OrderLog, as_of: date | datetime, horizon_days: float) -> HoldoutSplit:
    """Split at the start of the last horizon, or of the last quarter if that is shorter."""
    as_of_day = as_of.date() if isinstance(as_of, datetime) else as_of
    first = log.first_day(as_of)
    if first is None:
        raise InvalidInput(f"no orders on or before {as_of_day}")
    span = (as_of_day - first).days
    days = min(math.ceil(horizon_days), math.floor(span * HOLDOUT_SHARE))
    if days < 1:
        raise InvalidInput(
            f"the order log spans {span} day(s), too short to hold some out to choose a model"
        )
    return log.split(as_of, as_of_day - timedelta(days=days))


def compare_models(holdout: HoldoutSplit) -> ModelComparison:
    """Fit each purchase model on the calibration period; pick the lower per-customer error."""
    calibration = holdout.calibration
    actual = holdout.holdout_purchases
    # Both models are fitted and judged on each distinct history once, gathered per customer.
    check_histories(calibration.frequency, calibration.recency, calibration.T)
    histories = unique_rows(calibration.frequency, calibration.recency, calibration.T)
    fits = {name: _holdout_score(name, histories, actual, holdout.holdout_days) for name in MODELS}
    scores = tuple(score for score, _ in fits.values())
    usable = [s for s in scores if s.mean_absolute_error is not None]
    if not usable:
        reasons = "; ".join(f"{s.model}: {s.failure}" for s in scores)
        raise ModelFitError(
            f"neither purchase model could be fitted on the calibration period ({reasons})"
        )
    best = min(usable, key=lambda s: (s.mean_absolute_error, MODELS.index(s.model)))
    return ModelComparison(
        chosen=best.model,
        cut=calibration.as_of.isoformat(),
        holdout_days=holdout.holdout_days,
        calibration_customers=len(calibration),
        scores=scores,
        fitted={name: params for name, (_, params) in fits.items() if params is not None},
    )


def _holdout_score(
    model: PurchaseModel,
    histories: tuple[list[FloatArray], IntArray, FloatArray],
    actual: FloatArray,
    days: int,
) -> tuple[HoldoutScore, PurchaseParams | None]:
    (x, t_x, ages), rows, customers = histories
    try:
        params = fit_purchase_model(model, x, t_x, ages, customers)
    except ModelFitError as exc:
        return HoldoutScore(model, None, None, float(actual.sum()), failure=exc.message), None
    alive = p_alive(params, x, t_x, ages)[rows]
    predicted = alive * expected_purchases_alive(params, days, x, ages)[rows]
    score = HoldoutScore(
        model=model,
        mean_absolute_error=float(np.abs(predicted - actual).mean()),
        predicted_total=float(predicted.sum()),
        actual_total=float(actual.sum()),
    )
    return score, params


def _fit_spend(x: FloatArray, m: FloatArray) -> gamma_gamma.GammaGammaParams:
    """Gamma-Gamma on repeat buyers with a positive mean spend (refund-only days carry none)."""
    usable = (x > 0) & (m > 0)
    return gamma_gamma.fit(x[usable], m[usable])


def _monthly_steps(
    params: PurchaseParams, horizon_days: float, x: FloatArray, T: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Expected purchases (if active now) in each month of the horizon, one row per month.

    The expectation depends on (x, T) only and many customers share a pair, so the columns
    are the distinct pairs, computed once; the index gives each customer's column.
    """
    months = max(1, math.ceil(horizon_days / MONTH_DAYS - 1e-9))
    ends = np.minimum(np.arange(1, months + 1) * MONTH_DAYS, horizon_days)
    (xs, ages), index, _ = unique_rows(x, T)
    totals = expected_purchases_alive(params, ends[:, None], xs[None, :], ages[None, :])
    return np.diff(totals, axis=0, prepend=0.0), index


def check_horizon(horizon_days: float, monthly_discount: float) -> None:
    """Refuse a horizon or discount rate that would make the CLV meaningless."""
    if not horizon_days > 0:
        raise InvalidInput(f"the horizon must be a positive number of days, not {horizon_days}")
    if not 0 <= monthly_discount < 1:
        raise InvalidInput(f"the monthly discount rate must be in [0, 1), not {monthly_discount}")
