"""Benchmark `patron score` end to end, step by step, on a loaded database.

    .venv/bin/python benchmarks/demo_bulk.py sqlite:///benchmarks/data/score-1m.db
    .venv/bin/python benchmarks/score.py sqlite:///benchmarks/data/score-1m.db --as-of 2026-06-30

Runs the same `run_scoring` as `patron score` in this process and prints one JSON object:
the wall-clock seconds of each step (read, features, models, rules, snapshot write, customers'
latest scores, actions, commit), the whole run's wall and CPU time (all threads), the peak
resident memory and the load average, plus a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from datetime import date

from sqlalchemy import func, select

from patron.customers.models import Customer
from patron.db import create_db_engine
from patron.orders.models import Order

STEPS = (
    "read",
    "features",
    "purchase and spend models",
    "churn model",
    "rfm, occasions, offers",
    "rules",
    "snapshots",
    "customers' latest scores",
    "actions",
    "commit",
)


def _size(url: str) -> tuple[int, int]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        customers = connection.scalar(select(func.count()).select_from(Customer)) or 0
        orders = connection.scalar(select(func.count()).select_from(Order)) or 0
    engine.dispose()
    return int(customers), int(orders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--model", default="auto", choices=["auto", "bgnbd", "pnbd"])
    args = parser.parse_args()

    from patron.rules.runs import run_scoring  # imported here: start-up is not scoring

    customers, orders = _size(args.url)
    engine = create_db_engine(args.url)
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    outcome = run_scoring(engine=engine, as_of=args.as_of, model=args.model)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = {step: round(outcome.timings.get(step, 0.0), 2) for step in STEPS}
    cpu_steps = {step: round(outcome.cpu_timings.get(step, 0.0), 2) for step in STEPS}
    result = {
        "database": engine.dialect.name,
        "customers": customers,
        "orders": orders,
        "scored": outcome.customers,
        "purchase_model": outcome.purchase_model,
        "steps": steps,
        "cpu_steps": cpu_steps,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_mb": round(peak_mb),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "applied": outcome.applied,
    }
    print(json.dumps(result, indent=2))
    cells = " | ".join(f"{steps[step]:.1f} ({cpu_steps[step]:.1f})" for step in STEPS)
    print(
        f"| {engine.dialect.name} | {customers:,} | {orders:,} | {cells} | **{wall:.1f}** | "
        f"{cpu:.1f} | {peak_mb:,.0f} | {load_before:.1f} |"
    )


if __name__ == "__main__":
    main()
