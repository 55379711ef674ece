"""The loyalty points ledger: earned on paid orders, sometimes redeemed, never overdrawn."""

from __future__ import annotations

import numpy as np

from patron.demo.rhythm import STATUS_PAID, group_cumsum

Table = dict[str, np.ndarray]
REDEEM_SHARE = 0.08  # of paid orders, the customer also spends points at checkout
REDEEM_STEP = 100  # points are redeemed in hundreds


def _group_sizes(sorted_keys: np.ndarray) -> np.ndarray:
    """Sizes of runs of equal values in a sorted array."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.flatnonzero(np.diff(sorted_keys)) + 1
    return np.diff(np.concatenate(([0], edges, [sorted_keys.size])))


def _previous_in_group(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The previous row's value when it belongs to the same key, else 0."""
    previous = np.concatenate(([0], values[:-1]))
    same = np.concatenate(([False], keys[1:] == keys[:-1]))
    return np.where(same, previous, 0)


def draw_ledger(rng: np.random.Generator, orders: Table) -> Table:
    """Earn and redeem entries with a running balance, ordered by customer and time.

    A redemption spends at most what was earned since the previous one, so the balance
    can never fall below zero.
    """
    paid = np.flatnonzero(orders["status"] == STATUS_PAID)
    order_index = paid[np.lexsort((orders["ordered_at"][paid], orders["customer"][paid]))]
    customer = orders["customer"][order_index]
    earned = orders["amount_cents"][order_index] // 100
    running = group_cumsum(earned.astype(np.float64), _group_sizes(customer)).astype(np.int64)
    redeem_at = np.flatnonzero(rng.random(order_index.size) < REDEEM_SHARE)
    since = running[redeem_at] - _previous_in_group(running[redeem_at], customer[redeem_at])
    share = rng.uniform(0.3, 1.0, redeem_at.size)
    redeemed = (np.floor(share * since / REDEEM_STEP) * REDEEM_STEP).astype(np.int64)
    redeem_at, redeemed = redeem_at[redeemed > 0], redeemed[redeemed > 0]
    # Earn rows first, then each redemption right after its order (stable sort keeps that).
    rows = np.concatenate([np.arange(order_index.size), redeem_at])
    points = np.concatenate([earned, -redeemed])
    order = np.argsort(rows, kind="stable")
    rows, points = rows[order], points[order]
    who = customer[rows]
    balance = group_cumsum(points.astype(np.float64), _group_sizes(who)).astype(np.int64)
    is_earn = np.concatenate([np.ones(earned.size, bool), np.zeros(redeemed.size, bool)])[order]
    return {
        "customer": who,
        "order": order_index[rows],
        "kind": np.where(is_earn, "earn", "redeem"),
        "points": points,
        "balance_after": balance,
        "occurred_at": orders["ordered_at"][order_index[rows]]
        + np.where(is_earn, 0, 60).astype("timedelta64[s]"),
    }


def accounts(ledger: Table) -> Table:
    """Each customer's final balance: the last running balance in the ledger."""
    who = ledger["customer"]
    if who.size == 0:
        return {"customer": who, "balance": who}
    last = np.flatnonzero(np.concatenate((who[1:] != who[:-1], [True])))
    return {"customer": who[last], "balance": ledger["balance_after"][last]}
