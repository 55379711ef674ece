"""Benchmark the main pages' server time with 1M customers in PostgreSQL.

    .venv/bin/python benchmarks/pages.py              # builds patron_bench_1m once, then measures
    .venv/bin/python benchmarks/pages.py --rounds 50  # more requests per page
    .venv/bin/python benchmarks/pages.py --fresh      # drop the database and generate it again

The database (default `patron_bench_1m` on 127.0.0.1:5432) is generated once by
benchmarks/pages_data.py and kept for reruns. A real `patron serve` answers signed-in httpx
requests on loopback; each page is requested a few times to warm up, then `--rounds` times,
one at a time. Prints p50/p95 per page, the load average, and Markdown rows for
docs/benchmarks.md ("Pages at 1M customers").
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from alembic import command
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages_data import generate, generate_trend_records

from patron.analytics.dashboard_summary import stored_figures, write_summary
from patron.analytics.dashboard_trends import stored_trends, write_trends
from patron.analytics.kpi import latest_run_id
from patron.analytics.kpi_store import ensure_store
from patron.api.security import CSRF_COOKIE, SESSION_COOKIE, start_session
from patron.auth.models import User
from patron.config import Settings
from patron.db import create_db_engine, session_factory
from patron.models import Base
from patron.schema import alembic_config

SERVER = "postgresql://root@127.0.0.1:5432"
TARGET_MS = 300
WARM_UP = 3
PATRON = [sys.executable, "-m", "patron"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_database(name: str, *, customers: int, orders_per_customer: float, fresh: bool) -> str:
    """The benchmark database, created, migrated and filled unless it already holds the set."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    migrated = subprocess.run([*PATRON, "--db", url, "init"], capture_output=True, text=True)
    if "Can't locate revision" in migrated.stderr:
        catch_up(url)
    elif migrated.returncode != 0:
        sys.exit(f"patron init failed on {name}: {migrated.stderr.strip()}")
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        present = conn.execute("SELECT count(*) FROM customers").fetchone()[0]  # type: ignore[index]
    if present == 0:
        log(f"generating {customers:,} customers in {name} (kept for reruns)")
        generate(f"{SERVER}/{name}", customers=customers,
                 orders_per_customer=orders_per_customer, log=log)  # fmt: skip
    elif present < customers:
        sys.exit(f"{name} holds {present:,} customers, not {customers:,}: run with --fresh")
    add_trend_records(name)
    store_dashboard_figures(url)
    store_dashboard_trends(url)
    build_kpi_store(url)
    return url


def build_kpi_store(url: str) -> None:
    """The KPI store (first purchases, paid-order indexes, triggers) as the first KPI
    request would build it, timed here instead of inside a measured page."""
    engine = create_db_engine(url)
    with engine.connect() as connection:
        started = time.perf_counter()
        ensure_store(connection)
        log(f"KPI store ready in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def add_trend_records(name: str) -> None:
    """Alerts and survey answers for the dashboard's trends, once: a database generated
    before they were part of the set has none."""
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        query = "SELECT EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM survey_responses)"
        found = conn.execute(query).fetchone()[0]  # type: ignore[index]
    if not found:
        log(f"adding alerts and survey answers to {name} (kept for reruns)")
        generate_trend_records(f"{SERVER}/{name}", alerts_per_customer=0.6,
                               answers_per_customer=0.3, log=log)  # fmt: skip


def store_dashboard_trends(url: str) -> None:
    """The dashboard trends of the generated run, as `patron score` stores them at its end,
    unless already stored."""
    engine = create_db_engine(url)
    with engine.begin() as connection:
        run_id = latest_run_id(connection)
        if run_id is not None and not stored_trends(connection, run_id):
            started = time.perf_counter()
            write_trends(connection, run_id)
            log(f"dashboard trends of run {run_id} stored in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def store_dashboard_figures(url: str) -> None:
    """The dashboard figures of the generated run, as `patron score` stores them at its end
    (the generator writes the run directly), unless already stored."""
    engine = create_db_engine(url)
    with engine.begin() as connection:
        run_id = latest_run_id(connection)
        if run_id is not None and not stored_figures(connection, run_id):
            started = time.perf_counter()
            write_summary(connection, run_id)
            log(
                f"dashboard figures of run {run_id} stored in {time.perf_counter() - started:.1f} s"
            )
    engine.dispose()


def catch_up(url: str) -> None:
    """Bring a kept database to the current models after the project rebuilt its one initial
    migration: new tables and indexes are created, then the revision is stamped. A changed
    column is not handled: `--fresh` regenerates the database then."""
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                index.create(connection, checkfirst=True)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.stamp(config, "head", purge=True)
    engine.dispose()
    log("caught up with the current models (new tables and indexes), revision stamped")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(url: str, secret: str) -> Iterator[str]:
    """`patron serve` on a free port, stopped afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [*PATRON, "--db", url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PATRON_SECRET_KEY": secret},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def clients(url: str, base: str, secret: str, usernames: dict[str, str]) -> dict[str, httpx.Client]:
    """One signed-in client per role, its session started directly in the database."""
    engine = create_db_engine(url)
    settings = Settings(secret_key=secret)
    result = {}
    with session_factory(engine).begin() as session:
        for role, username in usernames.items():
            user = session.scalars(select(User).where(User.username == username)).one()
            started = start_session(session=session, user=user, settings=settings)
            cookies = {SESSION_COOKIE: started.cookie, CSRF_COOKIE: started.csrf_token}
            result[role] = httpx.Client(base_url=base, cookies=cookies, timeout=120)
    engine.dispose()
    return result


def pick_customers(name: str) -> dict[str, int]:
    """A customer with orders and tasks owned by bench-agent01, for Customer 360."""
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        row = conn.execute(
            "SELECT t.customer_id FROM tasks t JOIN users u ON u.id = t.assignee_id "
            "WHERE u.username = 'bench-agent01' ORDER BY t.customer_id LIMIT 1"
        ).fetchone()
    assert row is not None, "the benchmark database has no task for bench-agent01"
    return {"own": int(row[0])}


def pages(customer: int) -> list[tuple[str, str, str]]:
    """(page, role, path) measured."""
    return [
        ("dashboard", "admin", "/"),
        ("dashboard", "agent", "/"),
        ("dashboard: KPI cards (loaded after the page)", "admin", "/dashboard/kpis"),
        ("dashboard: KPI cards (loaded after the page)", "manager", "/dashboard/kpis"),
        ("dashboard: KPI cards (loaded after the page)", "agent", "/dashboard/kpis"),
        ("dashboard: cohort heatmap (loaded after the page)", "admin", "/dashboard/cohorts"),
        ("dashboard: cohort heatmap (loaded after the page)", "agent", "/dashboard/cohorts"),
        ("customers list", "admin", "/customers"),
        ("customers list, grade A in one city", "admin", "/customers?grade=A&city=城市7"),
        ("customers list, pinyin search `zwm`", "admin", "/customers?q=zwm"),
        ("customers list, pinyin search `zwm`", "agent", "/customers?q=zwm"),
        ("customers list, name search `伟明`", "manager", "/customers?q=伟明"),
        ("customer 360", "admin", f"/customers/{customer}"),
        ("customer 360", "agent", f"/customers/{customer}"),
        ("tasks", "agent", "/tasks"),
        ("tickets", "agent", "/tickets"),
        ("reports", "admin", "/reports"),
        ("reports: KPIs by month (6)", "admin", "/reports/periods"),
        ("reports: KPIs by month (6)", "manager", "/reports/periods"),
        ("reports: by grade", "admin", "/reports/breakdown/grade"),
        ("reports: by grade", "agent", "/reports/breakdown/grade"),
        ("reports: by owner", "manager", "/reports/breakdown/owner"),
        ("reports: KPIs by month (6)", "agent", "/reports/periods"),
        ("reports: cohorts (12 months)", "admin", "/reports/cohorts"),
        ("reports: cohorts (12 months)", "manager", "/reports/cohorts"),
        ("reports: cohorts (12 months)", "agent", "/reports/cohorts"),
    ]


def measure(
    client: httpx.Client, path: str, rounds: int, warm_up: int = WARM_UP
) -> tuple[int, list[float]]:
    """The status and the milliseconds of each measured request."""
    status = 0
    for _ in range(warm_up):
        status = client.get(path).status_code
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        status = client.get(path).status_code
        times.append((time.perf_counter() - started) * 1000)
    return status, times


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="patron_bench_1m")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--only", default="", help="Measure only pages whose name contains this.")
    parser.add_argument("--warm-up", type=int, default=WARM_UP)
    parser.add_argument("--skip", default="", help="Leave out pages whose name contains this.")
    args = parser.parse_args()
    url = ensure_database(
        args.database,
        customers=args.customers,
        orders_per_customer=args.orders_per_customer,
        fresh=args.fresh,
    )
    secret = secrets.token_urlsafe(32)
    usernames = {"admin": "bench-admin", "manager": "bench-manager", "agent": "bench-agent01",
                 "analyst": "bench-analyst"}  # fmt: skip
    customer = pick_customers(args.database)["own"]
    rows = []
    with serving(url, secret) as base:
        signed_in = clients(url, base, secret, usernames)
        load_before = os.getloadavg()[0]
        for page, role, path in pages(customer):
            if (args.only and args.only not in page) or (args.skip and args.skip in page):
                continue
            status, times = measure(signed_in[role], path, args.rounds, args.warm_up)
            p50, p95 = statistics.median(times), percentile(times, 0.95)
            log(f"{page:<40} {role:<8} {status} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
            rows.append((page, role, path, status, p50, p95))
        load_after = os.getloadavg()[0]
    print(f"\nload average {load_before:.1f} before, {load_after:.1f} after; {args.rounds} rounds")
    print("| page | role | request | status | p50 (ms) | p95 (ms) | under 300 ms |")
    print("|---|---|---|---|---|---|---|")
    for page, role, path, status, p50, p95 in rows:
        ok = "yes" if status == 200 and p95 < TARGET_MS else "no"
        print(f"| {page} | {role} | `GET {path}` | {status} | {p50:.0f} | {p95:.0f} | {ok} |")


if __name__ == "__main__":
    main()
