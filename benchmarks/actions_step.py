"""Benchmark the ACTIONS step of `patron score` alone: `rules.actions.apply_decisions`.

    # once: score up to the decisions and keep the DuckDB tables the actions read
    .venv/bin/python benchmarks/actions_step.py postgresql+psycopg://root@127.0.0.1:5432/copy \
        --saved benchmarks/data/actions-1m.duckdb --prepare
    # then, as often as needed: time only the actions, in a transaction that is rolled back
    flock /tmp/patron-bench.lock .venv/bin/python benchmarks/actions_step.py \
        postgresql+psycopg://root@127.0.0.1:5432/copy --saved benchmarks/data/actions-1m.duckdb

`--prepare` runs `patron.rules.runs.prepare` (read, features, models, rules) as the first run
on the data would, and saves `features`, `decisions` and `tags` to a DuckDB file. A timed run
loads them, opens a transaction on the store, inserts the scoring run the actions belong to,
times `apply_decisions` (wall and CPU of this process, all threads) and rolls everything back,
so the store is unchanged and the next run times the same first run again. `--reference` times
the per-row step it replaced (`tests/rules/reference_actions.py`) instead. Prints one JSON
object: the counts of what was applied, the seconds, the load average before and after.

`--explain` (PostgreSQL) has the server's `auto_explain` print the plan of every statement of
the step that takes longer than a quarter of a second, with its timings, buffers, WAL and
trigger (foreign key) times, and the wall seconds of every statement over that (COPY is not
among them); the instrumentation inflates the timings, so a run with `--explain` is for
finding where the time goes, not for its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, event, func, select

from patron.analytics.features import as_of_moment
from patron.analytics.snapshots import insert_run
from patron.customers.models import Customer
from patron.db import create_db_engine, now
from patron.orders.models import Order
from patron.rules import versions

SAVED = ("features", "decisions", "tags")


def _prepare(engine: Engine, moment: Any, saved: Path) -> None:
    from patron.rules.runs import prepare

    with engine.connect() as connection:
        _, rulebook = versions.active(connection)
    started = time.perf_counter()
    con, _ = prepare(engine, moment, 90, "auto", rulebook)
    saved.unlink(missing_ok=True)
    con.execute(f"ATTACH '{saved}' AS saved")
    for table in SAVED:
        con.execute(f"CREATE TABLE saved.{table} AS SELECT * FROM {table}")
    con.execute("DETACH saved")
    print(json.dumps({"prepared_s": round(time.perf_counter() - started, 1), "saved": str(saved)}))


def _loaded(saved: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"ATTACH '{saved}' AS saved (READ_ONLY)")
    for table in SAVED:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM saved.{table}")
    con.execute("DETACH saved")
    return con


def _size(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        customers = connection.scalar(select(func.count()).select_from(Customer)) or 0
        orders = connection.scalar(select(func.count()).select_from(Order)) or 0
    return int(customers), int(orders)


def _explain(connection: Connection) -> None:
    """Print the plans of the step's slow statements as the server logs them, and their
    seconds as this process waited for them."""
    raw: Any = connection.connection.driver_connection
    raw.add_notice_handler(lambda notice: print(notice.message_primary, file=sys.stderr))
    for setting in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 250",
        "SET auto_explain.log_analyze = on",
        "SET auto_explain.log_buffers = on",
        "SET auto_explain.log_wal = on",
        "SET auto_explain.log_triggers = on",
        "SET auto_explain.log_nested_statements = on",
        "SET client_min_messages = log",
    ):
        connection.exec_driver_sql(setting)

    @event.listens_for(connection, "before_cursor_execute")
    def started(*args: Any) -> None:
        connection.info["started"] = time.perf_counter()

    @event.listens_for(connection, "after_cursor_execute")
    def finished(_c: Any, _cursor: Any, statement: str, *args: Any) -> None:
        seconds = time.perf_counter() - connection.info["started"]
        if seconds > 0.25:
            print(f"-- {seconds:.1f} s: {' '.join(statement.split())[:160]}", file=sys.stderr)


def _timed(
    engine: Engine, moment: Any, saved: Path, reference: bool, explain: bool
) -> dict[str, Any]:
    from patron.rules import actions

    step: Any = actions.apply_decisions
    if reference:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.rules import reference_actions

        step = reference_actions.apply_decisions
    con = _loaded(saved)
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    with engine.connect() as connection:
        transaction = connection.begin()
        run_id = insert_run(
            connection,
            as_of=moment,
            horizon_days=90,
            status="finished",
            started_at=now(),
            finished_at=now(),
            rulebook_version=version,
            purchase_model=None,
            models={},
            customers=0,
        )
        if explain:
            _explain(connection)
        load_before = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        applied = step(rulebook, con, connection, run_id=run_id, version=version, moment=moment)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        load_after = os.getloadavg()[0]
        transaction.rollback()
    return {
        "step": "per-row (before)" if reference else "set-based",
        "applied": applied.as_dict(),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_average": [round(load_before, 1), round(load_after, 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--saved", type=Path, default=Path("benchmarks/data/actions.duckdb"))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--prepare", action="store_true", help="score up to the decisions")
    parser.add_argument("--reference", action="store_true", help="time the per-row step")
    parser.add_argument("--explain", action="store_true", help="print the slow statements' plans")
    args = parser.parse_args()
    engine = create_db_engine(args.url)
    moment = as_of_moment(args.as_of)
    if args.prepare:
        _prepare(engine, moment, args.saved)
        return
    customers, orders = _size(engine)
    result = {
        "database": engine.dialect.name,
        "customers": customers,
        "orders": orders,
        **_timed(engine, moment, args.saved, args.reference, args.explain),
    }
    print(json.dumps(result))
    print(
        f"| {engine.dialect.name} | {customers:,} | {result['step']} | "
        f"**{result['wall_s']:.1f}** | {result['cpu_s']:.1f} | "
        f"{result['load_average'][0]} → {result['load_average'][1]} |"
    )


if __name__ == "__main__":
    main()
