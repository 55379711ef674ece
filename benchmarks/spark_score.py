"""`patron score` against `patron spark score`, end to end, on two copies of one SQLite store.

    .venv/bin/python benchmarks/demo_bulk.py sqlite:////tmp/patron-spark-bench/store-100k.db \\
        --customers 100000 --orders-per-customer 10 --as-of 2026-06-30
    flock /tmp/patron-bench.lock .venv/bin/python benchmarks/spark_score.py \\
        /tmp/patron-spark-bench/store-100k.db --as-of 2026-06-30

Each run writes its run, snapshots, latest scores and actions, so each gets its own copy of
the database file (in --scratch, removed after). One copy is scored by `run_scoring` (DuckDB),
the other by `score_on_spark` in Spark local mode; the script prints each run's seconds per
step, the Spark session's start, and whether the two runs stored the same grade, stage and
warning counts and took the same actions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

from patron.db import create_db_engine
from patron.rules.runs import ScoringOutcome, run_scoring
from patron.scale.scoring import score_on_spark
from patron.scale.spark import spark_session


def _copy(source: Path, scratch: Path, name: str) -> str:
    target = scratch / name
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def _duckdb(url: str, as_of: date) -> tuple[ScoringOutcome, float]:
    engine = create_db_engine(url)
    started = time.monotonic()
    outcome = run_scoring(engine=engine, as_of=as_of)
    engine.dispose()
    return outcome, time.monotonic() - started


def _spark(url: str, as_of: date, work: Path, partitions: int) -> tuple[ScoringOutcome, float]:
    engine = create_db_engine(url)
    started = time.monotonic()
    spark = spark_session("local[*]", shuffle_partitions=partitions)
    session = time.monotonic() - started
    outcome = score_on_spark(engine=engine, spark=spark, work=work, as_of=as_of)
    spark.stop()
    engine.dispose()
    outcome.timings["spark session"] = session
    return outcome, time.monotonic() - started


def _stored(outcome: ScoringOutcome) -> dict[str, Any]:
    return {
        "customers": outcome.customers,
        "grades": outcome.grades,
        "stages": outcome.stages,
        "warnings": outcome.warnings,
        "applied": outcome.applied,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path, help="a SQLite store (left untouched)")
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/patron-spark-score"))
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    args = parser.parse_args()
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    load_before = os.getloadavg()
    try:
        duck, duck_total = _duckdb(_copy(args.database, args.scratch, "duckdb.db"), args.as_of)
        spark, spark_total = _spark(
            _copy(args.database, args.scratch, "spark.db"),
            args.as_of,
            args.scratch / "work",
            args.shuffle_partitions,
        )
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
    report = {
        "duckdb": {"total": round(duck_total, 1), **_rounded(duck.timings)},
        "spark": {"total": round(spark_total, 1), **_rounded(spark.timings)},
        "same_outcome": _stored(duck) == _stored(spark),
        "outcome": _stored(duck),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {step: round(value, 1) for step, value in seconds.items()}


if __name__ == "__main__":
    main()
