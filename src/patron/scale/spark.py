"""The scoring SQL on Apache Spark: features and the rulebook's grades, stages, segments and
warnings, transpiled from Patron's DuckDB SQL by sqlglot and run over Parquet store tables.

The same module runs in local mode (`spark_session()`) and on a cluster through
`spark-submit src/patron/scale/spark.py` (see docs/scale.md). Inputs are the store tables as
Parquet (`export_store` writes them from `analytics.store.read_store`), plus optional model
outputs (clv, churn_risk, ...) as `model_outputs.parquet`; results are written as Parquet.

Where sqlglot's Spark output differs in meaning from DuckDB's, a small textual rewrite below
fixes it; each is named in `REWRITES` and explained there.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import sqlglot

from patron.analytics.features import FEATURES_SQL, feature_params
from patron.analytics.store import StoreTable
from patron.errors import InvalidInput
from patron.rules.engine import compile_rulebook, grade_conditions
from patron.rules.rulebook import Rulebook, default, parse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STORE_TABLES = (
    "customers",
    "tags",
    "orders",
    "interactions",
    "tickets",
    "responses",
    "points",
    "tier_changes",
)

# DuckDB: year(as-of) - year(birthday), less one before this year's birthday. Spark has no
# age(); this is the same count of whole years (docs/scale.md, "Transpilation").
_AGE_SPARK = (
    "CASE WHEN NOT c.birthday_ts IS NULL THEN CAST("
    "year(make_date(:y, :m, :dd)) - year(CAST(from_unixtime(c.birthday_ts) AS DATE))"
    " - CASE WHEN (:m * 100 + :dd) < (month(CAST(from_unixtime(c.birthday_ts) AS DATE)) * 100"
    " + day(CAST(from_unixtime(c.birthday_ts) AS DATE))) THEN 1 ELSE 0 END AS INT) END AS age"
)


@dataclass(frozen=True)
class Rewrite:
    """One fix to sqlglot's Spark output: what it wrote, what it should be, and why."""

    why: str
    written: str
    meant: str


REWRITES = (
    Rewrite(
        "DuckDB's list(tag ORDER BY tag) loses its ORDER BY as COLLECT_LIST; sort the array",
        "COLLECT_LIST(tag)",
        "ARRAY_SORT(COLLECT_LIST(tag))",
    ),
    Rewrite(
        "Spark has no age(): whole years between birthday and as-of date, computed directly",
        "SENTINEL-AGE",
        _AGE_SPARK,
    ),
)


def _age_expression(spark_sql: str) -> str:
    """Replace the transpiled age expression (CASE ... AGE(...) ... END AS age) whole."""
    end = spark_sql.index(" AS age")
    start = spark_sql.rindex("CASE WHEN", 0, end)
    return spark_sql[:start] + "SENTINEL-AGE" + spark_sql[end + len(" AS age") :]


def to_spark(sql: str, *, features: bool = False) -> str:
    """DuckDB SQL in Spark's dialect, with `REWRITES` applied (the age one to the features)."""
    spark_sql: str = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
    if features:
        spark_sql = _age_expression(spark_sql)
    for rewrite in REWRITES:
        spark_sql = spark_sql.replace(rewrite.written, rewrite.meant)
    return spark_sql


def features_sql() -> str:
    """Patron's FEATURES_SQL for Spark; parameters are `:d`, `:cut`, `:y`, `:m`, `:dd`."""
    return to_spark(FEATURES_SQL, features=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def decisions_sql(rulebook: Rulebook, source: str = "scored") -> str:
    """Spark SQL deciding grade, stage, segments and warnings per customer from `source`."""
    return to_spark(decisions_duckdb(rulebook, source))


def decisions_duckdb(rulebook: Rulebook, source: str = "scored") -> str:
    """The decisions as DuckDB SQL, built from the rulebook's compiled conditions as
    `rules.engine` builds them: grades first (a quantile grade ranks by cume_dist among the
    eligible rows), then stages, which may read the grade; segments and warnings read both."""
    compiled = compile_rulebook(rulebook)
    conditions, windows = grade_conditions(rulebook, compiled)
    grade_cases = " ".join(
        f"WHEN {c} THEN {_quote(r.id)}" for r, c in zip(compiled.grades, conditions, strict=True)
    )
    stage_cases = " ".join(f"WHEN {r.sql} THEN {_quote(r.id)}" for r in compiled.stages)
    window_sql = (", " + ", ".join(windows)) if windows else ""
    graded = f"SELECT *, CASE {grade_cases} END AS grade FROM (SELECT *{window_sql} FROM {source})"
    staged = f"SELECT *, CASE {stage_cases} END AS stage FROM ({graded})"
    fired = [
        f"{_fired_list([r.id for r in rules], [r.sql for r in rules])} AS {name}"
        for name, rules in (("segments", compiled.segments), ("warnings", compiled.warnings))
    ]
    return (
        f"SELECT customer_id, grade, stage, {', '.join(fired)} FROM ({staged}) ORDER BY customer_id"
    )


def _fired_list(ids: list[str], conditions: list[str]) -> str:
    if not ids:
        return "CAST([] AS VARCHAR[])"
    cases = ", ".join(
        f"CASE WHEN {c} THEN {_quote(i)} END" for i, c in zip(ids, conditions, strict=True)
    )
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def export_store(tables: dict[str, StoreTable], folder: Path) -> None:
    """Write each store table to `folder/<name>.parquet`, typed as the features expect."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name, table in tables.items():
        columns = ", ".join(f"CAST({c} AS {kind}) AS {c}" for c, kind in table.types.items())
        con.register("incoming", table.data)
        con.execute(f"COPY (SELECT {columns} FROM incoming) TO '{folder / name}.parquet'")
        con.unregister("incoming")
    con.close()


def spark_session(
    master: str | None = None, *, shuffle_partitions: int | None = None, app: str = "patron-scoring"
) -> SparkSession:
    """A Spark session: local mode on all cores unless `master` (or spark-submit) says where.

    `shuffle_partitions` suits the partition count to the data: Spark's default of 200 costs
    more than it gains on one machine or a small store.
    """
    from pyspark.sql import SparkSession

    # Store times are epoch seconds of wall-clock time: read them in UTC, as DuckDB does.
    builder = SparkSession.builder.appName(app).config("spark.sql.session.timeZone", "UTC")
    if master is not None:
        builder = builder.master(master)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return builder.getOrCreate()


def _at(folder: str | Path, name: str) -> str:
    """A file in a local folder or under a cluster URI (hdfs://, s3a://, file://)."""
    return f"{str(folder).rstrip('/')}/{name}"


def _read(spark: SparkSession, location: str) -> DataFrame | None:
    """The Parquet data at `location`, or None where there is none."""
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(location)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            return None
        raise


def load_store(spark: SparkSession, folder: str | Path) -> None:
    """Register every store table's Parquet file in `folder` as a temporary view."""
    for name in STORE_TABLES:
        location = _at(folder, f"{name}.parquet")
        table = _read(spark, location)
        if table is None:
            raise InvalidInput(f"the store table {name} is missing: expected {location}")
        table.createOrReplaceTempView(name)


def compute_features(spark: SparkSession, as_of: date) -> DataFrame:
    """The feature table as of the date, registered as the view `features`."""
    params: dict[str, Any] = dict(feature_params(as_of))
    features = spark.sql(features_sql(), args=params)
    features.createOrReplaceTempView("features")
    return features


def decide(spark: SparkSession, rulebook: Rulebook, folder: str | Path) -> DataFrame:
    """Decisions over `features`, joined to `folder/model_outputs.parquet` where it exists
    (model scores such as clv and churn_risk, for the rules that read them)."""
    outputs = _read(spark, _at(folder, "model_outputs.parquet"))
    if outputs is not None:
        outputs.createOrReplaceTempView("model_outputs")
        scored = spark.sql("SELECT * FROM features JOIN model_outputs USING (customer_id)")
    else:
        scored = spark.table("features")
    scored.createOrReplaceTempView("scored")
    return spark.sql(decisions_sql(rulebook))


def write_features(spark: SparkSession, store: str | Path, out: str | Path, as_of: date) -> str:
    """Features from the Parquet store in `store`, written to `out/features`; returns where."""
    load_store(spark, store)
    location = _at(out, "features")
    compute_features(spark, as_of).write.mode("overwrite").parquet(location)
    return location


def write_decisions(
    spark: SparkSession, store: str | Path, out: str | Path, rulebook: Rulebook
) -> str:
    """Decisions over the features in `out/features` (and `store/model_outputs.parquet`),
    written to `out/decisions`; returns where."""
    # Read back what was written: the decisions start from stored features, not a re-run.
    spark.read.parquet(_at(out, "features")).createOrReplaceTempView("features")
    location = _at(out, "decisions")
    decide(spark, rulebook, store).write.mode("overwrite").parquet(location)
    return location


def run(
    spark: SparkSession, store: str | Path, out: str | Path, as_of: date, rulebook: Rulebook
) -> int:
    """Features and decisions from the Parquet store in `store`, written to `out` as Parquet;
    returns the number of customers decided."""
    write_features(spark, store, out, as_of)
    return int(spark.read.parquet(write_decisions(spark, store, out, rulebook)).count())


def main() -> None:
    """`spark-submit .../patron/scale/spark.py STORE OUT --as-of DATE [--rulebook FILE]`."""
    parser = argparse.ArgumentParser(description="Patron's scoring SQL on Spark")
    parser.add_argument("store", help="folder or URI of the store tables as Parquet")
    parser.add_argument("out", help="folder or URI for features/ and decisions/")
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--rulebook", type=Path, help="a rulebook YAML; Patron's default if none")
    parser.add_argument("--master", help="local[*], spark://..., yarn; spark-submit sets it")
    args = parser.parse_args()
    spark = spark_session(args.master)
    rulebook = parse(args.rulebook.read_text("utf-8")) if args.rulebook else default()
    rows = run(spark, args.store, args.out, args.as_of, rulebook)
    print(f"{rows} customers decided; results in {args.out}")
    spark.stop()


if __name__ == "__main__":
    main()
