"""Time the compute steps of `patron score` (everything up to the decisions) on a loaded store.

    flock /tmp/patron-bench.lock .venv/bin/python benchmarks/score_compute.py \
        postgresql+psycopg://root@127.0.0.1:5432/patron_demo_1m --as-of 2026-06-30

Runs `patron.rules.runs.prepare` (read the store, features, purchase and spend models, churn
model, RFM / occasions / offers, the rule step) in this process; it writes nothing to the
store, so a read-only demo database will do. Prints one JSON object (wall and CPU seconds per
step, all threads; the whole call's wall and CPU; peak resident memory; the load average
before and after) and a Markdown row for docs/benchmarks.md.

`--save DIR` also writes the run's `features` and `decisions` tables (Parquet, ordered by
customer) and the models' record (JSON), so two runs can be compared value for value.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from datetime import date
from pathlib import Path

STEPS = (
    "read",
    "features",
    "purchase and spend models",
    "churn model",
    "rfm, occasions, offers",
    "rules",
)


def _save(con: object, models: dict[str, object], directory: Path) -> None:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    directory.mkdir(parents=True, exist_ok=True)
    for table in ("features", "decisions"):
        target = str(directory / f"{table}.parquet")
        con.execute(
            f"COPY (SELECT * FROM {table} ORDER BY customer_id) TO '{target}' (FORMAT parquet)"
        )
    (directory / "models.json").write_text(json.dumps(models, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--model", default="auto", choices=["auto", "bgnbd", "pnbd"])
    parser.add_argument("--save", type=Path, help="write features, decisions and models here")
    parser.add_argument("--label", default="", help="first cell of the Markdown row")
    args = parser.parse_args()

    # Imported here: start-up is not scoring.
    from patron.analytics.features import as_of_moment
    from patron.analytics.snapshots import plain
    from patron.analytics.timing import Stopwatch
    from patron.db import create_db_engine
    from patron.rules import versions
    from patron.rules.runs import prepare

    engine = create_db_engine(args.url)
    with engine.connect() as connection:
        _, rulebook = versions.active(connection)
    moment = as_of_moment(args.as_of)
    load_before = os.getloadavg()[0]
    clock = Stopwatch()
    started, cpu = time.perf_counter(), time.process_time()
    con, computed = prepare(engine, moment, args.horizon_days, args.model, rulebook, clock)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()[0]
    steps = {step: round(clock.seconds.get(step, 0.0), 2) for step in STEPS}
    cpu_steps = {step: round(clock.cpu_seconds.get(step, 0.0), 2) for step in STEPS}
    models = plain(computed.models)
    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "customers": computed.customers,
                "purchase_model": computed.purchase_model,
                "steps": steps,
                "cpu_steps": cpu_steps,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "peak_mb": round(peak_mb),
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "models": models,
            },
            indent=2,
            default=str,
        )
    )
    if args.save:
        _save(con, models, args.save)
    cells = " | ".join(f"{steps[step]:.1f} ({cpu_steps[step]:.1f})" for step in STEPS)
    print(
        f"| {args.label or engine.dialect.name} | {computed.customers:,} | {cells} | "
        f"**{wall:.1f}** | {cpu:.1f} | {peak_mb:,.0f} | {load_before:.1f} / {load_after:.1f} |"
    )


if __name__ == "__main__":
    main()
