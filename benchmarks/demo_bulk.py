"""Time loading the demo data set at scale (1M customers / 10M orders) into SQLite or PostgreSQL.

This is `patron demo`'s own loader (`patron.demo.loader.load`, bulk COPY / executemany through
`patron.demo.bulk`) into a fresh database, without the scoring and serving around it:

    .venv/bin/python benchmarks/demo_bulk.py sqlite:///benchmarks/data/score-1m.db \
        --customers 1000000 --orders-per-customer 10 --as-of 2026-06-30

Prints one JSON line: rows per table, wall and CPU seconds, peak memory, load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from datetime import date, datetime

from sqlalchemy import text

from patron.db import create_db_engine
from patron.demo import loader
from patron.demo.generator import DemoSpec
from patron.schema import migrate


def load(url: str, customers: int, orders_per_customer: float, as_of: date, seed: int) -> None:
    """Create the schema, load the demo and print what it took."""
    engine = create_db_engine(url)
    migrate(engine)
    end = datetime.combine(as_of, datetime.max.time()).replace(microsecond=0)
    spec = DemoSpec(
        end=end, customers=customers, orders_per_customer=orders_per_customer, seed=seed
    )
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    report = loader.load(engine, spec)
    loaded = time.perf_counter() - started
    if engine.dialect.name == "postgresql":  # planner statistics for the runs that follow
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    result = {
        "database": engine.dialect.name,
        "tables": report.tables,
        "load_seconds": round(loaded, 1),
        "with_analyze_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    load(args.url, args.customers, args.orders_per_customer, args.as_of, args.seed)


if __name__ == "__main__":
    main()
