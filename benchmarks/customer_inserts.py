"""Time a bulk insert of new customers into a SQLite store that already holds some.

    .venv/bin/python benchmarks/customer_inserts.py --stored 200000 --new 50000 --repeat 3

This is what an import of orders or customers does for the customers it has not met
(`imports.bulk.insert_many`, rows as `references._bare_customer` makes them), each in a fresh
scratch store. Run it with another tree first on `PYTHONPATH` to compare. Prints one JSON line
per repeat: wall and CPU seconds of the insert alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime

from patron.db import create_db_engine
from patron.imports.bulk import insert_many
from patron.imports.references import _bare_customer, customers_table
from patron.schema import migrate

AT = datetime(2026, 6, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patron-customer-inserts-") as folder:
        for n in range(args.repeat):
            engine = create_db_engine(f"sqlite:///{folder}/store-{n}.db")
            migrate(engine)
            with engine.begin() as connection:
                stored = [_bare_customer(f"S{i}", AT) for i in range(args.stored)]
                insert_many(connection, customers_table, stored)
            with engine.begin() as connection:
                rows = [_bare_customer(f"N{i}", AT) for i in range(args.new)]
                wall, cpu = time.perf_counter(), time.process_time()
                insert_many(connection, customers_table, rows)
                row = {
                    "stored": args.stored,
                    "new": args.new,
                    "wall_s": round(time.perf_counter() - wall, 3),
                    "cpu_s": round(time.process_time() - cpu, 3),
                }
            engine.dispose()
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
