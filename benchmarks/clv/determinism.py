"""Summarise one order log several times and show whether the summaries agree to the last bit.

    .venv/bin/python benchmarks/clv/determinism.py benchmarks/data/orders_1m.csv --runs 2

Each run loads the log into a fresh DuckDB connection and builds the per-customer summary
(`OrderLog.summary_table`); its rows, sorted by customer id, are hashed bit for bit. DuckDB's
threads add in whatever order they finish, so a summary that added spends as doubles could
differ in the last bits of mean spends from one run to the next.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from patron.analytics.summary import OrderLog


def summary_digest(log: Path) -> tuple[str, int]:
    """The SHA-256 of the summary's columns (sorted by customer id, doubles as their bits)."""
    orders = OrderLog.from_csv(log)
    table = orders.summary_table(orders.latest_day())
    rows = orders.connection.execute(
        f'SELECT customer_id, frequency, recency, "T", monetary_value FROM {table} '
        "ORDER BY customer_id"
    ).fetchnumpy()
    digest = hashlib.sha256()
    digest.update("\n".join(rows["customer_id"].tolist()).encode())
    for column in ("frequency", "recency", "T", "monetary_value"):
        digest.update(np.ascontiguousarray(rows[column]).tobytes())
    return digest.hexdigest(), len(rows["customer_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    digests = []
    for run in range(1, args.runs + 1):
        digest, customers = summary_digest(args.log)
        digests.append(digest)
        print(f"run {run}: {customers:,} customers, summary sha256 {digest}")
    print("bit-identical" if len(set(digests)) == 1 else "the summaries differ")


if __name__ == "__main__":
    main()
