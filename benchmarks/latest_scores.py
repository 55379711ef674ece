"""Time the customers' latest-scores write of a scoring run alone, on a scratch PostgreSQL store.

    flock /tmp/patron-bench.lock nice -n -15 .venv/bin/python benchmarks/latest_scores.py \
        postgresql+psycopg://root@127.0.0.1:5432/postgres --customers 500000 --repeat 2

Creates a scratch database next to the one named (dropped afterwards), fills it with
`patron.scale.postgres.fill` (the store `tests/scale/test_pg_plans.py` plans on), then per
repeat writes a score for every customer from a DuckDB table, in a transaction that is rolled
back. It runs whichever code is first on `PYTHONPATH`: `write_latest_scores` (the narrow
`customer_scores` table) or, in a tree from before it, `update_customers` (the scores on the
customer row), so two versions compare on the same data. Prints one JSON object: the fill's
seconds, wall and CPU seconds (this process) per repeat, and the load average after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from patron.analytics import snapshots
from patron.db import create_db_engine
from patron.scale.postgres import fill
from patron.schema import migrate

SCORES = (
    "CREATE TABLE scores AS SELECT range + 1 AS customer_id, "
    "['A', 'B', 'C', 'D'][1 + (hash(range) % 4)::INT] AS grade, "
    "['active', 'at_risk', 'dormant'][1 + (hash(range + 1) % 3)::INT] AS stage, "
    "'loyal' AS rfm_segment, 'high' AS value_class, (hash(range) % 100000) / 7.0 AS clv, "
    "(hash(range + 2) % 1000) / 1000.0 AS churn_risk, 0.5 AS p_alive FROM range({n})"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a PostgreSQL server's URL (any database on it)")
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    # The writer's name before the narrow table was `update_customers`.
    found = [n for n in ("write_latest_scores", "update_customers") if hasattr(snapshots, n)]
    write: Any = getattr(snapshots, found[0])
    name = f"patron_latest_scores_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(make_url(args.url).set(database=name).render_as_string(False))
    result: dict[str, Any] = {"code": write.__name__, "customers": args.customers}
    try:
        started = time.perf_counter()
        migrate(engine)
        fill(engine, args.customers, chunk=args.customers, report=lambda _: None)
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        con = duckdb.connect()
        con.execute(SCORES.format(n=args.customers))
        runs = []
        for _ in range(args.repeat):
            with engine.connect() as connection:
                transaction = connection.begin()
                wall, cpu = time.perf_counter(), time.process_time()
                write(connection, con, "SELECT * FROM scores ORDER BY customer_id", datetime.now())
                runs.append(
                    [round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)]
                )
                transaction.rollback()
        result["wall_cpu_seconds"] = runs
        result["load_average"] = round(os.getloadavg()[0], 1)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
