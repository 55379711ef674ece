"""Time the score's first step alone: reading the store as of a date into Arrow tables.

    .venv/bin/python benchmarks/store_read.py \
        postgresql+psycopg://root@127.0.0.1:5432/patron_demo_1m --as-of 2026-06-30 --repeat 3

It only reads, so it runs on the read-only demo set. Prints one JSON line per repeat: wall and
CPU seconds of the process (all threads), the rows per table and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date

from patron.analytics.features import as_of_moment
from patron.analytics.store import read_store
from patron.db import create_db_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    engine = create_db_engine(args.url)
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        tables = read_store(engine, as_of_moment(args.as_of))
        row = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "rows": {name: table.data.num_rows for name, table in tables.items()},
            "load_before": round(load, 1),
        }
        del tables
        print(json.dumps(row), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
