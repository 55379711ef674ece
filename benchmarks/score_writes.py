"""Benchmark the two writing steps of `patron score`: the snapshots and the latest scores.

    # once: everything up to the decisions, saved as DuckDB tables (reads the store only)
    .venv/bin/python benchmarks/score_writes.py prepare --model bgnbd \
        postgresql+psycopg://root@127.0.0.1:5432/patron_demo_1m \
        benchmarks/data/score_writes_1m.duckdb
    # on a copy of that database (each repeat is rolled back, so it can be repeated)
    createdb -h 127.0.0.1 -U root -T patron_demo_1m patron_score_writes
    flock /tmp/patron-bench.lock .venv/bin/python benchmarks/score_writes.py time \
        postgresql+psycopg://root@127.0.0.1:5432/patron_score_writes \
        benchmarks/data/score_writes_1m.duckdb --repeat 2 --digest

`prepare` runs `patron.rules.runs.prepare` (read, features, models, rules) as of the date and
saves the DuckDB tables `features` and `decisions`. `time` opens them and, per repeat, in one
transaction on the database: adds a run row, times `insert_snapshots` (the run's snapshot
query) and `write_latest_scores` (the latest scores), optionally digests what was written (a hash
of every snapshot row of the run and of every customer's score columns, as the database gives
them back as text, so two versions of the code can show they store the same), then rolls back.
`--prime` first commits the latest scores once, so the timed runs are reruns in which no
customer's scores change. Prints one JSON object: wall and CPU seconds (this process, all
threads, then the PostgreSQL server process of its connection when the server runs on this
machine) per step and repeat, and the load average before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
from proc_cpu import cpu_seconds
from sqlalchemy import Connection, Engine

from patron.analytics.features import as_of_moment
from patron.analytics.snapshots import insert_run, insert_snapshots, write_latest_scores
from patron.db import create_db_engine
from patron.rules import versions
from patron.rules.runs import _LATEST_SCORES, _snapshot_query, prepare

# The JSON columns as values (`jsonb` text on PostgreSQL), whether stored as `json` or `jsonb`.
SNAPSHOT_DIGEST = (
    "SELECT customer_id, grade, stage, rfm_segment, value_class, clv, p_alive, churn_risk, "
    "warnings, {features}, {explain} FROM score_snapshots WHERE run_id = {run}"
)
# Written by the code before the narrow score table as "SELECT id, grade, … FROM customers":
# the same rows as text, so digests of both compare.
CUSTOMER_DIGEST = (
    "SELECT customer_id, grade, stage, rfm_segment, value_class, clv, churn_risk, p_alive, "
    "scored_at FROM customer_scores"
)


def _prepare(args: argparse.Namespace) -> None:
    engine = create_db_engine(args.url)
    with engine.connect() as connection:
        _version, rulebook = versions.active(connection)
    started = time.perf_counter()
    con, computed = prepare(engine, as_of_moment(args.as_of), 90, args.model, rulebook)
    Path(args.tables).unlink(missing_ok=True)
    con.execute(f"ATTACH '{args.tables}' AS saved")
    con.execute("CREATE TABLE saved.features AS SELECT * FROM features")
    con.execute("CREATE TABLE saved.decisions AS SELECT * FROM decisions")
    con.execute("DETACH saved")
    print(
        json.dumps(
            {
                "customers": computed.customers,
                "purchase_model": computed.purchase_model,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


def _digest(connection: Connection, sql: str) -> str:
    """An order-independent hash of the rows, each as the database gives it back as text."""
    if connection.dialect.name == "postgresql":
        # Summed per-row hashes computed by the server: a million rows never reach Python.
        total = connection.exec_driver_sql(
            "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint"
            f"::numeric), 0) FROM ({sql}) t"
        ).one()
        return f"{total[0]}:{total[1]}"
    count, summed = 0, 0
    result = connection.exec_driver_sql(sql)
    while rows := result.fetchmany(50_000):
        for row in rows:
            count += 1
            text = "|".join("" if value is None else str(value) for value in row)
            summed += int(hashlib.md5(text.encode()).hexdigest()[:15], 16)
    return f"{count}:{summed}"


def _backend(connection: Connection) -> int | None:
    """The PostgreSQL server process of the connection, when it runs on this machine."""
    if connection.dialect.name != "postgresql":
        return None
    pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def _server_cpu(pid: int | None) -> float:
    """CPU seconds (user and system) the server process has used so far; 0 without one."""
    return 0.0 if pid is None else cpu_seconds(pid)


def _once(
    engine: Engine, con: duckdb.DuckDBPyConnection, moment: datetime, digest: bool, commit: bool
) -> dict[str, Any]:
    with engine.connect() as connection:
        transaction = connection.begin()
        version, _rulebook = versions.active(connection)
        run_id = insert_run(
            connection,
            as_of=moment,
            horizon_days=90,
            status="finished",
            started_at=moment,
            finished_at=moment,
            rulebook_version=version,
            purchase_model=None,
            models={},
            customers=0,
        )
        timings: dict[str, Any] = {}
        backend = _backend(connection)
        if not commit:
            wall, cpu, server = time.perf_counter(), time.process_time(), _server_cpu(backend)
            insert_snapshots(connection, con, _snapshot_query(con, run_id, version))
            timings["snapshots"] = [
                time.perf_counter() - wall,
                time.process_time() - cpu,
                _server_cpu(backend) - server,
            ]
        wall, cpu, server = time.perf_counter(), time.process_time(), _server_cpu(backend)
        write_latest_scores(connection, con, _LATEST_SCORES, moment)
        timings["latest scores"] = [
            time.perf_counter() - wall,
            time.process_time() - cpu,
            _server_cpu(backend) - server,
        ]
        if digest and not commit:
            values = {
                name: f"CAST({name} AS jsonb)" if connection.dialect.name == "postgresql" else name
                for name in ("features", "explain")
            }
            timings["snapshot digest"] = _digest(
                connection, SNAPSHOT_DIGEST.format(run=run_id, **values)
            )
            timings["customer digest"] = _digest(connection, CUSTOMER_DIGEST)
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    return {
        key: [round(v, 2) for v in value] if isinstance(value, list) else value
        for key, value in timings.items()
    }


def _time(args: argparse.Namespace) -> None:
    con = duckdb.connect(args.tables, read_only=True)
    con.execute("SET enable_progress_bar = false")
    engine = create_db_engine(args.url)
    moment = as_of_moment(args.as_of)
    if args.prime:
        _once(engine, con, moment, digest=False, commit=True)
    load_before = os.getloadavg()
    repeats = [
        _once(engine, con, moment, digest=args.digest, commit=False) for _ in range(args.repeat)
    ]
    load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "customers": con.execute("SELECT count(*) FROM decisions").fetchone()[0],  # type: ignore[index]
                "primed": args.prime,
                "repeats (wall s, cpu s, server cpu s)": repeats,
                "load_average": [round(load_before[0], 2), round(load_after[0], 2)],
            },
            ensure_ascii=False,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepared = commands.add_parser("prepare", help="save the run's DuckDB tables")
    prepared.add_argument("url")
    prepared.add_argument("tables")
    prepared.add_argument("--model", default="auto", choices=["auto", "bgnbd", "pnbd"])
    timed = commands.add_parser("time", help="time the snapshot and latest-score writes")
    timed.add_argument("url")
    timed.add_argument("tables")
    timed.add_argument("--repeat", type=int, default=2)
    timed.add_argument("--digest", action="store_true")
    timed.add_argument("--prime", action="store_true")
    for sub in (prepared, timed):
        sub.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    args = parser.parse_args()
    (_prepare if args.command == "prepare" else _time)(args)


if __name__ == "__main__":
    main()
