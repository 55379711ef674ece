"""The scoring SQL (features, then grades, stages, segments, warnings) on DuckDB and on Spark.

    .venv/bin/python benchmarks/spark.py --customers 1000000 --orders-per-customer 10

Both engines read the same Parquet store tables (made here by SQL from a fixed formula, so any
run rebuilds the same store), run the same statements (FEATURES_SQL, and the default rulebook's
decisions as `patron.scale.spark` builds them; Spark gets them transpiled by sqlglot) and write
features and decisions back to Parquet. Model outputs (clv, churn_risk) are a fixed formula
too: the NumPy models are not part of what moves to Spark. The two results are compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import date
from pathlib import Path

import duckdb

from patron.analytics.features import FEATURES_SQL, feature_params
from patron.rules.rulebook import default
from patron.scale import spark as on_spark

AS_OF = date(2026, 6, 30)
DAY = 86_400
# Epoch seconds of the as-of day's start; events spread over the three years before it.
END = (AS_OF - date(1970, 1, 1)).days * DAY
SPAN = 3 * 365 * DAY

STORE_SQL = {
    "customers": """
        SELECT i AS customer_id, 'C' || i AS external_id, '客户' || i AS name,
            {end} - CAST(hash(i, 1) % {span} AS BIGINT) AS created_ts,
            CASE WHEN i % 10 = 0 THEN 'company' ELSE 'person' END AS kind,
            CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS gender, '广东' AS province,
            (['广州', '深圳', '杭州', '成都'])[i % 4 + 1] AS city,
            CASE WHEN i % 5 = 0 THEN NULL ELSE i % 200 + 1 END AS owner_id,
            CASE WHEN i % 5 = 0 THEN NULL ELSE 'agent' || (i % 200 + 1) END AS owner,
            CASE WHEN i % 5 = 0 THEN NULL ELSE {end} - CAST(hash(i, 2) % {span} AS BIGINT) END
                AS owned_since_ts,
            CAST(i % 50 = 0 AS BIGINT) AS locked,
            CASE WHEN i % 3 = 0 THEN CAST(hash(i, 3) % (60 * 365) AS BIGINT) * 86400
                - 20 * 365 * 86400 END AS birthday_ts,
            CAST(NULL AS VARCHAR) AS lunar_birthday, CAST(NULL AS VARCHAR) AS current_grade,
            CAST(NULL AS VARCHAR) AS current_stage
        FROM range(1, {customers} + 1) AS t(i)
    """,
    "tags": """
        SELECT i AS customer_id, (['vip', 'b2b', 'wx'])[i % 3 + 1] AS tag, 'manual' AS source
        FROM range(1, {customers} + 1, 4) AS t(i)
    """,
    "orders": """
        SELECT CAST(hash(j, 1) % {customers} + 1 AS BIGINT) AS customer_id,
            {end} - CAST(hash(j, 2) % {span} AS BIGINT) AS ts,
            CAST(hash(j, 3) % 50000 AS DOUBLE) / 100 + 1 AS amount,
            CASE WHEN j % 20 = 0 THEN 'refunded' ELSE 'paid' END AS status,
            (['store', 'online', 'wechat'])[CAST(hash(j, 4) % 3 AS BIGINT) + 1] AS channel,
            CAST(hash(j, 5) % 500 AS BIGINT) AS product_id
        FROM range(0, {orders}) AS t(j)
    """,
    "interactions": """
        SELECT CAST(hash(j, 6) % {customers} + 1 AS BIGINT) AS customer_id,
            {end} - CAST(hash(j, 7) % {span} AS BIGINT) AS ts,
            CAST(j % 3 = 0 AS BIGINT) AS is_follow_up
        FROM range(0, {customers}) AS t(j)
    """,
    "tickets": """
        SELECT CAST(hash(j, 8) % {customers} + 1 AS BIGINT) AS customer_id,
            {end} - CAST(hash(j, 9) % {span} AS BIGINT) AS ts,
            CASE WHEN j % 3 = 0 THEN 'complaint' ELSE 'inquiry' END AS kind,
            CASE WHEN j % 4 > 0 THEN {end} - CAST(hash(j, 9) % {span} AS BIGINT) + 86400 END
                AS resolved_ts,
            CAST(NULL AS BIGINT) AS closed_ts
        FROM range(0, {customers} // 5) AS t(j)
    """,
    "responses": """
        SELECT CAST(hash(j, 10) % {customers} + 1 AS BIGINT) AS customer_id,
            {end} - CAST(hash(j, 11) % {span} AS BIGINT) AS ts,
            CASE WHEN j % 2 = 0 THEN 'nps' ELSE 'csat' END AS kind,
            CAST(hash(j, 12) % 11 AS BIGINT) AS score
        FROM range(0, {customers} // 5) AS t(j)
    """,
    "points": """
        SELECT CAST(hash(j, 13) % {customers} + 1 AS BIGINT) AS customer_id,
            {end} - CAST(hash(j, 14) % {span} AS BIGINT) AS ts,
            CAST(hash(j, 15) % 300 AS BIGINT) - 50 AS points
        FROM range(0, {customers} // 2) AS t(j)
    """,
    "tier_changes": """
        SELECT i AS customer_id, {end} - CAST(hash(i, 16) % {span} AS BIGINT) AS ts,
            'gold' AS tier
        FROM range(1, {customers} + 1, 10) AS t(i)
    """,
}
MODEL_OUTPUTS = """
    SELECT customer_id,
        CASE WHEN orders_total > 0 THEN monetary_total * 1.7 + customer_id % 7 END AS clv,
        (customer_id % 10) / 10.0 AS churn_risk
    FROM features
"""


def make_store(folder: Path, customers: int, orders: int) -> None:
    """Write the synthetic store tables to `folder` as Parquet (skipped if already there)."""
    if (folder / "done").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name, sql in STORE_SQL.items():
        query = sql.format(end=END, span=SPAN, customers=customers, orders=orders)
        con.execute(f"COPY ({query}) TO '{folder / name}.parquet'")
    con.execute(
        f"CREATE VIEW features AS SELECT * FROM '{folder}/customers.parquet' c JOIN "
        f"(SELECT customer_id, count(*) AS orders_total, sum(amount) AS monetary_total "
        f"FROM '{folder}/orders.parquet' WHERE status = 'paid' GROUP BY ALL) USING (customer_id)"
    )
    con.execute(f"COPY ({MODEL_OUTPUTS}) TO '{folder / 'model_outputs.parquet'}'")
    (folder / "done").write_text("", encoding="utf-8")


def run_duckdb(store: Path, out: Path) -> dict[str, float]:
    """The scoring SQL in DuckDB over the Parquet store; seconds per step."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect()
    for name in [*on_spark.STORE_TABLES, "model_outputs"]:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM '{store / name}.parquet'")
    steps["load"] = time.perf_counter() - started
    con.execute("CREATE TABLE features AS " + FEATURES_SQL, feature_params(AS_OF))
    con.execute(f"COPY features TO '{out / 'features.parquet'}'")
    steps["features"] = time.perf_counter() - started - steps["load"]
    con.execute(
        "CREATE VIEW scored AS SELECT * FROM features JOIN model_outputs USING (customer_id)"
    )
    sql = on_spark.decisions_duckdb(default())
    con.execute(f"COPY ({sql}) TO '{out / 'decisions.parquet'}'")
    steps["total"] = time.perf_counter() - started
    steps["decisions"] = steps["total"] - steps["load"] - steps["features"]
    con.close()
    return steps


def run_spark(store: Path, out: Path, master: str, partitions: int) -> dict[str, float]:
    """The same steps as `patron.scale.spark.run`, timed one by one."""
    clock = time.perf_counter()
    steps: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        steps[name] = time.perf_counter() - clock
        clock = time.perf_counter()

    spark = on_spark.spark_session(master, shuffle_partitions=partitions)
    lap("session")
    on_spark.load_store(spark, store)
    lap("load")
    on_spark.compute_features(spark, AS_OF).write.parquet(str(out / "features"))
    spark.read.parquet(str(out / "features")).createOrReplaceTempView("features")
    lap("features")
    on_spark.decide(spark, default(), store).write.parquet(str(out / "decisions"))
    lap("decisions")
    spark.stop()
    steps["total"] = sum(steps.values())
    return steps


def _compare(duck: Path, spark: Path) -> str:
    con = duckdb.connect()
    query = (
        "SELECT grade, stage, count(*) AS n FROM '{}' GROUP BY ALL "
        "EXCEPT ALL SELECT grade, stage, count(*) FROM '{}' GROUP BY ALL"
    )
    duck_file, spark_files = duck / "decisions.parquet", spark / "decisions/*.parquet"
    left = con.execute(query.format(duck_file, spark_files)).fetchall()
    right = con.execute(query.format(spark_files, duck_file)).fetchall()
    [(rows,)] = con.execute(f"SELECT count(*) FROM '{duck_file}'").fetchall()
    return f"{rows:,} customers; grade x stage counts equal: {not left and not right}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=int, default=10)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data"))
    args = parser.parse_args()
    orders = args.customers * args.orders_per_customer
    store = args.data / f"spark-store-{args.customers}-{orders}"
    started = time.perf_counter()
    make_store(store, args.customers, orders)
    made = time.perf_counter() - started
    print(f"store: {args.customers:,} customers, {orders:,} orders ({made:.0f} s)")
    out = args.data / "spark-out"
    shutil.rmtree(out, ignore_errors=True)
    (out / "duckdb").mkdir(parents=True)
    duck = run_duckdb(store, out / "duckdb")
    print(f"DuckDB: {duck}", flush=True)
    spark = run_spark(store, out / "spark", args.master, args.partitions)
    print(f"Spark: {spark}", flush=True)
    print(f"Spark: {spark}", flush=True)
    print(f"cores: {os.cpu_count()}; {_compare(out / 'duckdb', out / 'spark')}")
    print("| engine | load (s) | features (s) | decisions (s) | session start (s) | total (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| DuckDB | {duck['load']:.1f} | {duck['features']:.1f} | {duck['decisions']:.1f} "
        f"| - | {duck['total']:.1f} |"
    )
    print(
        f"| Spark {args.master} | {spark['load']:.1f} | {spark['features']:.1f} "
        f"| {spark['decisions']:.1f} | {spark['session']:.1f} | {spark['total']:.1f} |"
    )


if __name__ == "__main__":
    main()
