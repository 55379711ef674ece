"""Generate a seeded order log with BG/NBD purchase histories and Gamma-Gamma spend.

    python benchmarks/clv/generate.py --customers 1000000 --out benchmarks/data/orders_1m.csv

Each customer's first order falls in the first year of an 18-month window; after it they buy
at a Poisson rate lambda ~ gamma(0.5, 90) and drop out after each repeat purchase with
probability p ~ beta(0.8, 2.5). Order amounts are gamma(6, nu) with nu ~ gamma(4, 15), as
in Gamma-Gamma.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np

START = np.datetime64("2023-01-01T00:00:00", "s")
WINDOW_DAYS = 546
ACQUISITION_DAYS = 365


def simulate(customers: int, seed: int) -> dict[str, np.ndarray]:
    """Customer ids, order times and amounts, one entry per order, in no particular order."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, ACQUISITION_DAYS, customers)
    rate = rng.gamma(shape=0.5, scale=1 / 90, size=customers)
    drop = rng.beta(0.8, 2.5, size=customers)
    lives = rng.geometric(drop)
    window = WINDOW_DAYS - first
    possible = rng.poisson(rate * window)
    repeats = np.minimum(possible, lives)
    # The first `repeats` of `possible` uniform points are the repeat purchases' times.
    owner = np.repeat(np.arange(customers), possible)
    offsets = rng.uniform(0, 1, owner.size) * window[owner]
    order = np.lexsort((offsets, owner))
    owner, offsets = owner[order], offsets[order]
    starts = np.cumsum(possible) - possible
    rank = np.arange(owner.size) - starts[owner]
    kept = rank < repeats[owner]
    owner = np.concatenate([np.arange(customers), owner[kept]])
    days = np.concatenate([first, first[owner[customers:]] + offsets[kept]])
    nu = rng.gamma(shape=4.0, scale=1 / 15.0, size=customers)
    amount = np.round(rng.gamma(shape=6.0, scale=1.0, size=owner.size) / nu[owner], 2)
    seconds = (days * 86_400).astype(np.int64)
    return {
        "customer_id": np.char.add("C", np.char.zfill(owner.astype(str), 7)),
        "ordered_at": START + seconds.astype("timedelta64[s]"),
        "amount": np.maximum(amount, 0.01),
    }


def write_csv(orders: dict[str, np.ndarray], path: Path) -> None:
    """Write customer_id, ordered_at (ISO), amount with DuckDB, in time order like a real export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("orders", orders)
    con.execute(
        "COPY (SELECT customer_id, strftime(ordered_at, '%Y-%m-%dT%H:%M:%S') AS ordered_at, "
        f"amount FROM orders ORDER BY ordered_at) TO '{path}' (HEADER, DELIMITER ',')"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240630)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    orders = simulate(args.customers, args.seed)
    write_csv(orders, args.out)
    print(f"{args.out}: {len(orders['amount']):,} orders for {args.customers:,} customers")


if __name__ == "__main__":
    main()
