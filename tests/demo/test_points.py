from __future__ import annotations

import numpy as np

from patron.demo import points
from patron.demo.generator import DemoChunk
from patron.demo.rhythm import STATUS_PAID


def test_balances_never_go_negative_and_follow_the_ledger(chunk: DemoChunk) -> None:
    ledger = points.draw_ledger(np.random.default_rng(3), chunk.orders)
    assert (ledger["balance_after"] >= 0).all()
    assert (ledger["kind"] == "redeem").sum() > 50
    who = ledger["customer"]
    # Within each customer, every balance is the previous one plus the entry's points.
    same = who[1:] == who[:-1]
    step = ledger["balance_after"][1:] - ledger["balance_after"][:-1]
    assert np.array_equal(step[same], ledger["points"][1:][same])
    first = np.concatenate(([True], ~same))
    assert np.array_equal(ledger["balance_after"][first], ledger["points"][first])
    accounts = points.accounts(ledger)
    totals = np.bincount(who, weights=ledger["points"], minlength=who.max() + 1)
    assert np.array_equal(accounts["balance"], totals[accounts["customer"]].astype(np.int64))


def test_only_paid_orders_earn_points(chunk: DemoChunk) -> None:
    ledger = points.draw_ledger(np.random.default_rng(3), chunk.orders)
    earned = ledger["kind"] == "earn"
    assert (chunk.orders["status"][ledger["order"][earned]] == STATUS_PAID).all()
    paid = chunk.orders["status"] == STATUS_PAID
    assert earned.sum() == paid.sum()
    assert np.array_equal(
        ledger["points"][earned], chunk.orders["amount_cents"][ledger["order"][earned]] // 100
    )
    assert (ledger["points"][~earned] < 0).all()
