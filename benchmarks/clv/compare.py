"""How closely the tools' scores agree, customer by customer, on one log.

    .venv/bin/python benchmarks/clv/compare.py 1m

Reads benchmarks/data/scores_<tool>_<log>.csv written by run.py and prints, against Patron's,
the largest differences in the summary and P(alive) and expected purchases, and the totals.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

DATA = Path(__file__).resolve().parents[1] / "data"


def compare(log: str, tool: str) -> None:
    """Print how one tool's scores differ from Patron's on the same log."""
    other = DATA / f"scores_{tool}_{log}.csv"
    if not other.exists():
        print(f"{tool}: no scores for {log}")
        return
    rows = duckdb.sql(
        f"""
        SELECT count(*),
            max(abs(p.frequency - o.frequency) + abs(p.recency - o.recency) + abs(p.T - o.T)),
            max(abs(p.p_alive - o.p_alive)),
            max(abs(p.expected_purchases - o.expected_purchases)),
            sum(p.clv), sum(o.clv)
        FROM read_csv('{DATA / f"scores_patron_{log}.csv"}') p
        JOIN read_csv('{other}') o USING (customer_id)
        """
    ).fetchall()
    customers, summary, alive, purchases, ours, theirs = rows[0]
    print(
        f"{tool} vs patron on {log}: {customers:,} customers; summary max diff {summary}; "
        f"P(alive) max diff {alive:.2e}; expected purchases max diff {purchases:.2e}; "
        f"total CLV {ours:,.0f} (patron) vs {theirs:,.0f}"
    )


if __name__ == "__main__":
    for name in ("lifetimes", "pymc-marketing"):
        compare(sys.argv[1], name)
