"""The hot queries' plans on a large PostgreSQL database (docs/scale.md, docs/benchmarks.md).

    # make (or refill) the scratch database, 10M customers, stop loading after 45 minutes
    # (a measurement, and the load runs inside PostgreSQL: take the bench lock):
    flock /tmp/patron-bench.lock .venv/bin/python benchmarks/pg_plans.py --create \
        --customers 10000000 --budget-minutes 45 --out artifacts/pg_plans_10m.md
    # only capture the plans again:
    .venv/bin/python benchmarks/pg_plans.py --out artifacts/pg_plans.md

The database is `patron_scale_10m` beside the one in --admin-url; --create drops and remakes it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from patron.db import create_db_engine
from patron.scale.postgres import HOT_QUERIES, explain, explain_text, fill, scan_kinds
from patron.schema import migrate

ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
DATABASE = "patron_scale_10m"


def _create(admin_url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()


def _plans(url: str) -> str:
    engine = create_db_engine(url)
    sections = []
    with engine.connect() as connection:
        customers = connection.execute(text("SELECT count(*) FROM customers")).scalar_one()
        orders = connection.execute(text("SELECT count(*) FROM orders")).scalar_one()
        sections.append(f"Store: {customers:,} customers, {orders:,} orders.\n")
        rows = ["| query | where Patron issues it | scans | time (ms) |", "|---|---|---|---:|"]
        texts = []
        for query in HOT_QUERIES:
            explain_text(connection, query)  # warm the cache: plans are compared hot
            plan = explain(connection, query, analyze=True)
            scans = ", ".join(sorted(f"{kind} on {name}" for kind, name in scan_kinds(plan)))
            rows.append(
                f"| {query.name} | `{query.source}` | {scans} | {plan['Execution Time']:.2f} |"
            )
            texts.append(
                f"### {query.name}\n\n```sql\n{query.sql}\n```\n\n"
                f"```\n{explain_text(connection, query)}\n```\n"
            )
        sections += ["\n".join(rows) + "\n", *texts]
    engine.dispose()
    return "\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--create", action="store_true", help="drop, migrate and fill the DB")
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--budget-minutes", type=float, default=25.0)
    parser.add_argument("--out", type=Path, default=Path("artifacts/pg_plans.md"))
    args = parser.parse_args()
    url = make_url(args.admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    if args.create:
        started = time.monotonic()
        _create(args.admin_url)
        engine = create_db_engine(url)
        migrate(engine)
        loaded = fill(
            engine, args.customers, chunk=args.chunk, budget_seconds=args.budget_minutes * 60
        )
        engine.dispose()
        print(f"{loaded:,} customers ready in {time.monotonic() - started:.0f} s")
    report = _plans(url)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report.split("\n### ")[0])


if __name__ == "__main__":
    main()
