"""Benchmark event runs: `on_event` for N customers of a scored database, p50 / p95 per event.

    .venv/bin/python benchmarks/score.py postgresql+psycopg://root@127.0.0.1:5432/patron_score_100k
    .venv/bin/python benchmarks/events.py postgresql+psycopg://root@127.0.0.1:5432/patron_score_100k

Customers are drawn with a fixed seed; each event re-evaluates one customer as of the same
moment (so a repeated customer takes no action twice). Both wall-clock and CPU time (this
process) are reported per event: on a shared machine the wall time mostly measures the queue
for a core. The first event, which opens the connections, is timed separately.

`--new-orders` times the whole new-order event instead, as `POST /api/v1/orders` runs it:
store a paid order, earn its points and refresh the tier, commit, then `on_event`. Those
orders (external ids `bench-<run>-<n>`) and their points stay in the database.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np
from sqlalchemy import Engine, select

from patron.customers.models import Customer
from patron.db import create_db_engine, session_factory, unit_of_work
from patron.rules.events import EventOutcome


def _percentiles(values: list[float]) -> dict[str, float]:
    ms = np.array(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def _new_order_event(engine: Engine, moment: datetime) -> Callable[[int], EventOutcome]:
    """The new-order event: the order, its points and tier in one transaction, then the
    warnings after the commit."""
    from patron.loyalty.service import on_new_order
    from patron.orders import service
    from patron.orders.schemas import OrderIn
    from patron.rules.events import on_event

    sessions, run, count = session_factory(engine), time.time_ns(), iter(range(10**9))

    def event(customer_id: int) -> EventOutcome:
        order = OrderIn.model_validate({
            "external_id": f"bench-{run}-{next(count)}", "customer_id": customer_id,
            "ordered_at": moment, "amount": "120.00",
        })  # fmt: skip
        with unit_of_work(sessions) as session:
            stored = service.store(session, [(order, customer_id)], moment=moment)
            on_new_order(session=session, order_id=stored.inserted[order.external_id])
        return on_event(engine=engine, customer_id=customer_id, moment=moment)

    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--moment", type=datetime.fromisoformat, default=datetime(2026, 6, 30, 18))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--new-orders", action="store_true", help="time the new-order event")
    args = parser.parse_args()

    from patron.rules.events import on_event  # imported here: start-up is not an event

    engine = create_db_engine(args.url)
    live = select(Customer.id).where(
        Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)
    )
    with engine.connect() as connection:
        ids = np.array(connection.scalars(live if args.new_orders else select(Customer.id)).all())
    chosen = np.random.default_rng(args.seed).choice(ids, size=args.events).tolist()
    event = (
        _new_order_event(engine, args.moment)
        if args.new_orders
        else lambda customer_id: on_event(
            engine=engine, customer_id=customer_id, moment=args.moment
        )
    )
    started = time.perf_counter()
    event(int(chosen[0]))
    first = time.perf_counter() - started
    walls, cpus, fired = [], [], 0
    load_before = os.getloadavg()[0]
    for customer_id in chosen:
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = event(int(customer_id))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        fired += bool(outcome.warnings)
    result = {
        "database": engine.dialect.name,
        "event": "new order" if args.new_orders else "on_event",
        "customers": len(ids),
        "events": args.events,
        "with_a_warning": fired,
        "first_event_ms": round(first * 1000, 1),
        "wall": _percentiles(walls),
        "cpu": _percentiles(cpus),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    print(json.dumps(result, indent=2))
    w, c = result["wall"], result["cpu"]
    print(
        f"| {engine.dialect.name} | {len(ids):,} | {args.events:,} | {w['p50_ms']} | "
        f"**{w['p95_ms']}** | {c['p50_ms']} | {c['p95_ms']} | {load_before:.1f} |"
    )


if __name__ == "__main__":
    main()
