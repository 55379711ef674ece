"""A scoring run whose feature and decision SQL runs on Spark, stored as `patron score` stores
its runs: the same snapshots, latest scores and actions, written by `rules.runs.record`.

The driver (the machine running `patron spark score`) keeps what must stay with Patron: it
reads the store as of the run's moment, exports it as Parquet for Spark, fits the NumPy models
(which read the order log) between Spark's two steps, and stores the run. Spark computes the
features and the rulebook's grades, stages, segments and warnings. The rule engine then reads
Spark's features back in DuckDB and derives from them what Spark does not produce, the values
each rule read (a snapshot's explanation) and the care and pool decisions; it decides grades,
stages, segments and warnings too, and a customer on whom it and Spark disagree stops the run
before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from patron.analytics.features import FEATURES_SQL, as_of_moment, connect, feature_params
from patron.analytics.pipeline import Computed, ModelChoice, add_models
from patron.analytics.store import read_store
from patron.analytics.timing import Stopwatch
from patron.db import now
from patron.errors import PatronError
from patron.rules import versions
from patron.rules.engine import evaluate
from patron.rules.rulebook import Rulebook
from patron.rules.runs import ScoringOutcome, record
from patron.scale import spark as on_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from sqlalchemy import Engine


class EnginesDisagree(PatronError):
    """Spark and the rule engine decided some customer differently: nothing is stored."""

    code = "engines_disagree"
    status = 500


@dataclass(frozen=True)
class Work:
    """Where a run keeps its Parquet: the store Spark reads and the results Spark writes."""

    folder: Path

    @property
    def store(self) -> Path:
        return self.folder / "store"

    @property
    def results(self) -> Path:
        return self.folder / "results"


def score_on_spark(
    *,
    engine: Engine,
    spark: SparkSession,
    work: Path,
    as_of: date | datetime | None = None,
    horizon_days: int = 90,
    model: ModelChoice = "auto",
) -> ScoringOutcome:
    """Score every customer as of the date with the active rulebook, the feature and decision
    SQL on `spark`, and store the run as `rules.runs.run_scoring` does. `work` is a folder both
    this machine and Spark's executors reach (local mode: any local folder)."""
    moment = as_of_moment(as_of) if as_of is not None else now()
    clock = Stopwatch()
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    con, computed = prepare(
        engine, spark, Work(work.resolve()), moment, horizon_days, model, rulebook, clock
    )
    return record(
        engine,
        con,
        computed,
        moment=moment,
        horizon_days=horizon_days,
        version=version,
        rulebook=rulebook,
        clock=clock,
    )


def prepare(
    engine: Engine,
    spark: SparkSession,
    work: Work,
    moment: datetime,
    horizon_days: int,
    model: ModelChoice,
    rulebook: Rulebook,
    clock: Stopwatch,
) -> tuple[duckdb.DuckDBPyConnection, Computed]:
    """`rules.runs.prepare` with the features and decisions computed on Spark: DuckDB ends
    with the tables `features` and `decisions` that `record` stores. Changes nothing."""
    tables = read_store(engine, moment)
    on_spark.export_store(tables, work.store)
    con = connect(tables)
    del tables
    clock.lap("read")
    features = on_spark.write_features(spark, work.store, work.results, moment)
    clock.lap("features")
    read_features(con, moment, features)
    spark_columns = set(con.table("features").columns)
    computed = add_models(con, moment, horizon_days=horizon_days, model=model, clock=clock)
    added = [c for c in con.table("features").columns if c not in spark_columns]
    model_outputs = work.store / "model_outputs.parquet"
    con.execute(f"COPY (SELECT customer_id, {', '.join(added)} FROM features) TO '{model_outputs}'")
    decisions = on_spark.write_decisions(spark, work.store, work.results, rulebook)
    clock.lap("decisions")
    evaluate(rulebook, con, moment.date())
    check_agreement(con, decisions)
    clock.lap("rules")
    return con, computed


def read_features(con: duckdb.DuckDBPyConnection, moment: datetime, folder: str) -> None:
    """Spark's features as the DuckDB table `features`, with the columns, order and types
    DuckDB's own feature SQL gives them (the snapshot's features JSON follows them)."""
    con.execute(
        f"CREATE OR REPLACE TABLE features AS SELECT * FROM ({FEATURES_SQL}) LIMIT 0",
        feature_params(moment),
    )
    con.execute(
        f"INSERT INTO features BY NAME SELECT * FROM read_parquet('{folder}/*.parquet') "
        "ORDER BY customer_id"
    )


_DISAGREEMENTS = """
    SELECT coalesce(d.customer_id, s.customer_id) AS customer_id,
           d.grade, s.grade, d.stage, s.stage, d.segments, s.segments, d.warnings, s.warnings
    FROM decisions d FULL JOIN read_parquet('{folder}/*.parquet') s
        ON s.customer_id = d.customer_id
    WHERE d.customer_id IS NULL OR s.customer_id IS NULL
        OR d.grade IS DISTINCT FROM s.grade OR d.stage IS DISTINCT FROM s.stage
        OR d.segments IS DISTINCT FROM s.segments OR d.warnings IS DISTINCT FROM s.warnings
    ORDER BY 1
"""


def check_agreement(con: duckdb.DuckDBPyConnection, folder: str) -> None:
    """Raise `EnginesDisagree`, naming the first customer, unless Spark's decisions in `folder`
    equal the rule engine's table `decisions` customer by customer."""
    rows = con.execute(_DISAGREEMENTS.format(folder=folder)).fetchall()
    if not rows:
        return
    first = rows[0]
    raise EnginesDisagree(
        f"Spark and the rule engine decided {len(rows)} customer(s) differently, so nothing "
        f"was stored; first, customer {first[0]}: grade {first[1]}/{first[2]}, stage "
        f"{first[3]}/{first[4]}, segments {first[5]}/{first[6]}, warnings {first[7]}/{first[8]} "
        "(rule engine/Spark)"
    )
