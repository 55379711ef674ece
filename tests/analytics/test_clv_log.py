"""Scoring an order log straight to a file gives what scoring its summary in memory gives."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from patron.analytics import bgnbd, clv, pnbd
from patron.analytics.clv_log import score_log_to_csv
from patron.analytics.summary import OrderLog
from patron.errors import FileUnreadable, InvalidInput
from tests.analytics.test_clv import AS_OF, simulated_orders


@pytest.fixture(scope="module")
def log() -> OrderLog:
    orders = simulated_orders(8_000, seed=23)
    return OrderLog.from_arrays(orders["customer_id"], orders["ordered_at"], orders["amount"])


def read_scores(path: Path) -> dict[str, np.ndarray]:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    ids = np.array(columns.pop("customer_id"))
    return {"customer_id": ids} | {k: np.array(v, dtype=np.float64) for k, v in columns.items()}


@pytest.mark.parametrize("model", ["bgnbd", "pnbd"])
def test_the_file_matches_scoring_the_summary_in_memory(
    log: OrderLog, tmp_path: Path, model: clv.PurchaseModel
) -> None:
    out = tmp_path / "scores.csv"
    scores = score_log_to_csv(log, out, as_of=AS_OF, horizon_days=90, model=model)
    summary = log.summary(AS_OF)
    expected = clv.score(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        horizon_days=90,
        model=model,
    )
    written = read_scores(out)
    assert list(written["customer_id"]) == list(summary.customer_id)
    for name in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(written[name], getattr(summary, name))
    # DuckDB's threads add up a customer's spends in no fixed order: the last bit may differ.
    np.testing.assert_allclose(written["monetary_value"], summary.monetary_value, rtol=1e-14)
    for name in ("p_alive", "expected_purchases"):
        np.testing.assert_allclose(written[name], getattr(expected, name), rtol=1e-12, atol=0)
    # The file path fits Gamma-Gamma on the repeat buyers sorted by (x, m), the in-memory one
    # in customer order: the sums run in another order, and L-BFGS-B, stopping when a step
    # gains less than 1e-14 of the likelihood, stops up to ~1e-6 apart in the parameters.
    for name in ("expected_avg_value", "clv"):
        np.testing.assert_allclose(written[name], getattr(expected, name), rtol=1e-6, atol=0)
    assert scores.customers == len(summary) and scores.model == model
    assert scores.total_clv == pytest.approx(float(expected.clv.sum()), rel=1e-6)
    assert scores.params["purchase_params"] == pytest.approx(
        expected.params["purchase_params"], rel=1e-9
    )


def test_the_same_log_gives_the_same_scores(log: OrderLog, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    score_log_to_csv(log, first, as_of=AS_OF, horizon_days=60)
    score_log_to_csv(log, second, as_of=AS_OF, horizon_days=60)
    a, b = read_scores(first), read_scores(second)
    assert list(a["customer_id"]) == list(b["customer_id"])
    for name in a:
        if name != "customer_id":
            np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=0)


def test_the_summary_table_holds_the_summary(log: OrderLog) -> None:
    table = log.summary_table(AS_OF)
    rows = log.connection.execute(
        f'SELECT customer_id, frequency, recency, "T", monetary_value FROM {table} '
        "ORDER BY customer_id"
    ).fetchnumpy()
    summary = log.summary(AS_OF)
    assert list(rows["customer_id"]) == list(summary.customer_id)
    for name in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(rows[name], getattr(summary, name))
    np.testing.assert_allclose(rows["monetary_value"], summary.monetary_value, rtol=1e-14)


@pytest.mark.parametrize("module", [bgnbd, pnbd])
def test_grouped_histories_fit_as_the_customers_do(log: OrderLog, module: object) -> None:
    summary = log.summary(AS_OF)
    keys = np.stack([summary.frequency, summary.recency, summary.T], axis=1)
    rows, counts = np.unique(keys, axis=0, return_counts=True)
    shuffled = np.random.default_rng(3).permutation(len(rows))
    fit = module.fit  # type: ignore[attr-defined]
    grouped = fit(*rows[shuffled].T, counts[shuffled])
    each = fit(summary.frequency, summary.recency, summary.T)
    assert grouped.as_dict() == pytest.approx(each.as_dict(), rel=1e-9)
    assert grouped.log_likelihood == pytest.approx(each.log_likelihood, rel=1e-12)


def test_bad_weights_and_settings_are_refused(log: OrderLog, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="one count per purchase history"):
        bgnbd.fit([1, 0], [3, 0], [5, 4], [1])
    with pytest.raises(InvalidInput, match="positive numbers of customers"):
        bgnbd.fit([1, 0], [3, 0], [5, 4], [1, 0])
    with pytest.raises(InvalidInput, match="horizon must be a positive"):
        score_log_to_csv(log, tmp_path / "o.csv", as_of=AS_OF, horizon_days=0)
    with pytest.raises(FileUnreadable, match="cannot write"):
        score_log_to_csv(log, tmp_path / "absent" / "o.csv", as_of=AS_OF, horizon_days=30)
