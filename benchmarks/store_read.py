"""Time the score's first step alone: reading the store as of a date into Arrow tables.

    .venv/bin/python benchmarks/store_read.py \
        postgresql+psycopg://root@127.0.0.1:5432/patron_demo_1m --as-of 2026-06-30 --repeat 3

It only reads, so it runs on the read-only demo set. Prints one JSON line per repeat: wall and
CPU seconds of the process (all threads), the CPU seconds of the server processes that served
the read (on PostgreSQL, from /proc when the server runs on this machine), the rows per table
and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from typing import Any

from proc_cpu import cpu_seconds

from patron.analytics import store
from patron.analytics.features import as_of_moment
from patron.analytics.store import read_store
from patron.db import create_db_engine


def _process_cpu(pid: int) -> float | None:
    """CPU seconds of a server process, None when it does not run on this machine."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return None


class _Measured:
    """An ADBC connection that notes its server process's CPU seconds just before it closes
    (the process ends with the connection, and its /proc entry with it)."""

    def __init__(self, connection: Any, server_cpu: list[float | None]) -> None:
        self._connection = connection
        self._server_cpu = server_cpu
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (self._pid,) = cursor.fetchone()

    def cursor(self) -> Any:
        return self._connection.cursor()

    def __enter__(self) -> _Measured:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server_cpu.append(_process_cpu(self._pid))
        self._connection.__exit__(*exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    engine = create_db_engine(args.url)
    server_cpu: list[float | None] = []
    opened = store._adbc_connection
    # The benchmark's only hook into the read: each connection it opens reports its server
    # process's CPU. A connection's process starts with it, so its total is the read's share.
    store._adbc_connection = lambda engine: _Measured(opened(engine), server_cpu)  # type: ignore[assignment]
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        server_cpu.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        tables = read_store(engine, as_of_moment(args.as_of))
        row = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "server_cpu_s": (
                round(sum(s for s in server_cpu if s is not None), 2)
                if server_cpu and None not in server_cpu
                else None
            ),
            "rows": {name: table.data.num_rows for name, table in tables.items()},
            "load_before": round(load, 1),
        }
        del tables
        print(json.dumps(row), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
