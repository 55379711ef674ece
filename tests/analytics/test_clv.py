"""CLV from a simulated BG/NBD order log: recovery, the discounting formula and model choice."""

# T (a customer's age) keeps its name from the literature.
# ruff: noqa: N806

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from patron.analytics import bgnbd, clv
from patron.analytics.summary import CustomerSummary, OrderLog
from patron.errors import InvalidInput

START = np.datetime64("2023-01-01T00:00:00", "s")
AS_OF = date(2024, 6, 29)  # 545 days after START


def simulated_orders(customers: int, seed: int) -> dict[str, np.ndarray]:
    """Orders of BG/NBD customers (r 0.5, alpha 40, a 0.8, b 2.5 per day) with gamma spend."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, 365, customers)
    rate = rng.gamma(0.5, 1 / 40, customers)
    lives = rng.geometric(rng.beta(0.8, 2.5, customers))
    window = 545 - first
    possible = rng.poisson(rate * window)
    owner = np.repeat(np.arange(customers), possible)
    offsets = rng.uniform(0, 1, owner.size) * window[owner]
    order = np.lexsort((offsets, owner))
    owner, offsets = owner[order], offsets[order]
    rank = np.arange(owner.size) - (np.cumsum(possible) - possible)[owner]
    kept = rank < lives[owner]
    owner = np.concatenate([np.arange(customers), owner[kept]])
    days = np.concatenate([first, first[owner[customers:]] + offsets[kept]])
    nu = rng.gamma(4.0, 1 / 15.0, customers)
    return {
        "customer_id": np.array([f"C{i:06d}" for i in owner], dtype=object),
        "ordered_at": START + (days * 86_400).astype(np.int64).astype("timedelta64[s]"),
        "amount": np.round(rng.gamma(6.0, 1.0, owner.size) / nu[owner], 2) + 0.01,
    }


@pytest.fixture(scope="module")
def log() -> OrderLog:
    orders = simulated_orders(20_000, seed=11)
    return OrderLog.from_arrays(orders["customer_id"], orders["ordered_at"], orders["amount"])


@pytest.fixture(scope="module")
def summary(log: OrderLog) -> CustomerSummary:
    return log.summary(AS_OF)


def test_bgnbd_recovers_the_simulated_parameters(summary: CustomerSummary) -> None:
    params = bgnbd.fit(summary.frequency, summary.recency, summary.T)
    assert params.r == pytest.approx(0.5, rel=0.15)
    assert params.alpha == pytest.approx(40, rel=0.2)
    assert params.a == pytest.approx(0.8, rel=0.25)
    assert params.b == pytest.approx(2.5, rel=0.3)


def test_without_discount_clv_is_expected_purchases_times_value(summary: CustomerSummary) -> None:
    result = clv.score(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        horizon_days=90,
        monthly_discount=0.0,
    )
    assert result.clv == pytest.approx(result.expected_purchases * result.expected_avg_value)
    assert result.model == "bgnbd" and result.params["comparison"] is None
    assert set(result.params["purchase_params"]) == {"r", "alpha", "a", "b"}


def test_discounting_follows_the_documented_monthly_steps(summary: CustomerSummary) -> None:
    result = clv.score(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        horizon_days=100,
        monthly_discount=0.05,
    )
    params = bgnbd.BgNbdParams(**result.params["purchase_params"], log_likelihood=0.0)
    i = int(np.argmax(summary.frequency))
    x, t_x, T = summary.frequency[i], summary.recency[i], summary.T[i]
    month = 365.25 / 12
    ends = [month, 2 * month, 3 * month, 100.0]
    totals = [0.0] + [float(bgnbd.expected_purchases(params, e, x, t_x, T)) for e in ends]
    by_hand = sum((totals[k] - totals[k - 1]) / 1.05**k for k in range(1, 5))
    assert result.clv[i] == pytest.approx(by_hand * result.expected_avg_value[i], rel=1e-9)
    assert result.expected_purchases[i] == pytest.approx(totals[-1], rel=1e-9)


def test_outputs_are_aligned_and_sane(summary: CustomerSummary) -> None:
    result = clv.score(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        horizon_days=90,
        model="pnbd",
    )
    n = len(summary)
    for values in (
        result.p_alive,
        result.expected_purchases,
        result.expected_avg_value,
        result.clv,
    ):
        assert values.shape == (n,) and np.isfinite(values).all() and (values >= 0).all()
    assert result.p_alive.max() <= 1.0
    assert set(result.params["purchase_params"]) == {"r", "alpha", "s", "beta"}


def test_auto_compares_both_models_on_a_holdout_and_records_it(log: OrderLog) -> None:
    summary, result = clv.score_log(log, as_of=AS_OF, horizon_days=90, model="auto")
    comparison = result.params["comparison"]
    # The record holds the choice and the scores; the calibration fits stay out of it.
    assert set(comparison) == {"chosen", "cut", "holdout_days", "calibration_customers", "scores"}
    assert comparison["cut"] == "2024-03-31" and comparison["holdout_days"] == 90
    scores = {s["model"]: s for s in comparison["scores"]}
    assert set(scores) == {"bgnbd", "pnbd"}
    best = min(scores.values(), key=lambda s: s["mean_absolute_error"])
    assert result.model == comparison["chosen"] == best["model"]
    for s in scores.values():
        # Both models predict the holdout total of the simulated log within 10%.
        assert s["predicted_total"] == pytest.approx(s["actual_total"], rel=0.1)
    assert len(result.clv) == len(summary)


def test_the_holdout_never_takes_more_than_a_quarter(log: OrderLog) -> None:
    split = clv.holdout_split(log, AS_OF, horizon_days=365)
    assert split.holdout_days == int(545 * 0.25)


def test_auto_needs_a_holdout_and_bad_settings_are_refused(summary: CustomerSummary) -> None:
    arrays = (summary.frequency, summary.recency, summary.T, summary.monetary_value)
    with pytest.raises(InvalidInput, match="needs a calibration/holdout split"):
        clv.score(*arrays, horizon_days=90, model="auto")
    with pytest.raises(InvalidInput, match="positive number of days"):
        clv.score(*arrays, horizon_days=0)
    with pytest.raises(InvalidInput, match="discount rate"):
        clv.score(*arrays, horizon_days=30, monthly_discount=1.5)


def loyal_summary(customers: int, seed: int) -> tuple[np.ndarray, ...]:
    """Customers who never drop out: BG/NBD then fits a and b in the thousands, as on demo data."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 548, customers).astype(float)
    rate = rng.gamma(8.0, 1 / 350.0, customers)
    x = rng.poisson(rate * T).astype(float)
    # The last purchase falls within the final stretch of an always-active customer's history.
    t_x = np.where(x > 0, np.floor(T - rng.exponential(1 / rate)).clip(0, T), 0.0)
    t_x = np.where((x > 0) & (t_x == 0), 1.0, t_x).clip(0, T)
    m = np.where(x > 0, rng.gamma(5.0, 60.0, customers), 0.0)
    return x, t_x, T, m


@pytest.mark.parametrize("horizon", [90, 3650])
def test_scores_stay_finite_when_nobody_drops_out(horizon: int) -> None:
    x, t_x, T, m = loyal_summary(5000, seed=5)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = clv.score(x, t_x, T, m, horizon_days=horizon)
    assert result.params["purchase_params"]["a"] > 100  # the regime that used to give NaN
    for values in (result.p_alive, result.expected_purchases, result.clv):
        assert np.isfinite(values).all() and (values >= 0).all()
    # At most the Poisson rate (r + x) / (alpha + T) per day with no drop-out; over a quarter,
    # where few drop out, close to it.
    params = result.params["purchase_params"]
    rate = (params["r"] + x) / (params["alpha"] + T)
    assert (result.expected_purchases <= rate * horizon * (1 + 1e-9)).all()
    if horizon == 90:
        assert result.expected_purchases.sum() == pytest.approx((rate * horizon).sum(), rel=0.1)


def test_monthly_steps_are_computed_once_per_distinct_history(summary: CustomerSummary) -> None:
    params = bgnbd.fit(summary.frequency, summary.recency, summary.T)
    steps, index = clv._monthly_steps(params, 90, summary.frequency, summary.T)
    direct = bgnbd.expected_purchases_alive(params, 90, summary.frequency, summary.T)
    assert steps.shape[1] < len(summary) / 5
    assert steps.sum(axis=0)[index] == pytest.approx(direct, rel=1e-12)
