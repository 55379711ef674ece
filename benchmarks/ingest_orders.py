"""Benchmark order ingestion: `POST /api/v1/orders/bulk` against `patron serve` on PostgreSQL.

    .venv/bin/python benchmarks/ingest_orders.py                          # 200,000 orders
    .venv/bin/python benchmarks/ingest_orders.py --orders 1000000 --clients 8
    .venv/bin/python benchmarks/ingest_orders.py --new-share 0 --lines-every 0   # as the peer

Each run drops and recreates the database (default `patron_bench_ingest` on 127.0.0.1:5432),
runs `patron init`, stores `--customers` customers and an admin with an API token, and starts a
real `patron serve` on a free port. The orders (seed 7; by default every third has two
lines and a fifth name a customer not yet stored) are encoded as JSON batches of `--batch`
before the clock starts, then `--clients` httpx clients post them concurrently. The server's
own CPU time is read from /proc, so orders per server CPU second compare between runs on a
busy machine. Measured, in the same run:

1. first delivery: every order new;
2. the same batches again: every order already stored (a retried delivery must insert nothing);
3. the peer: the same rows inserted straight into PostgreSQL with psycopg `executemany`, no
   HTTP, no validation, into an emptied orders table: what the database alone costs.

Prints one Markdown row per measurement for docs/benchmarks.md ("Order ingestion API").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import PATRON, SERVER, log, percentile
from proc_cpu import cpu_seconds

from patron.api.security import issue_token
from patron.auth.models import Role, User
from patron.db import create_db_engine, session_factory

TARGET = 5_000
START = datetime(2024, 1, 1, 8, 0)


def fresh_database(name: str) -> str:
    """Drop and create the database, and bring its schema up with `patron init`."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    subprocess.run([*PATRON, "--db", url, "init"], check=True, capture_output=True)
    return url


def store_customers(name: str, count: int) -> None:
    """`count` bare customers B0000001... in one COPY."""
    with psycopg.connect(f"{SERVER}/{name}") as conn, conn.cursor() as cursor:
        columns = (
            "external_id, name, name_initials, kind, locked, consent, custom_fields, "
            "created_at, updated_at"
        )
        with cursor.copy(f"COPY customers ({columns}) FROM STDIN") as copy:
            for n in range(1, count + 1):
                key = f"B{n:07d}"
                copy.write_row((key, key, "b", "person", False, "{}", "{}", START, START))


def admin_token(url: str) -> str:
    """An API token of a new admin, issued directly in the database."""
    engine = create_db_engine(url)
    with session_factory(engine).begin() as session:
        admin = User(username="bench-ingest", display_name="bench-ingest", role=Role.admin)
        session.add(admin)
        session.flush()
        _, plain = issue_token(
            session=session, user=admin, name="bench", scopes=frozenset({"*:write"}),
            expires_at=None,
        )  # fmt: skip
    engine.dispose()
    return plain


@contextmanager
def serving(url: str, log_file: Path) -> Iterator[tuple[str, int]]:
    """`patron serve` on a free port (its log in `log_file`), stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with log_file.open("w") as output:
        process = subprocess.Popen(
            [*PATRON, "--db", url, "serve", "--port", str(port)], stdout=output, stderr=output,
            env={**os.environ, "PATRON_SECRET_KEY": "bench-ingest-secret-" + "x" * 20},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            else:
                sys.exit(f"patron serve did not answer: see {log_file}")
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def make_orders(
    count: int, customers: int, seed: int, *, new_share: float = 0.2, lines_every: int = 3
) -> list[dict[str, Any]]:
    """The orders posted: `new_share` for customers not yet stored, every `lines_every`th
    with two lines (0: none)."""
    rng = random.Random(seed)
    orders = []
    for n in range(count):
        known = rng.random() >= new_share
        customer = f"B{rng.randint(1, customers):07d}" if known else f"N{rng.randint(1, count):08d}"
        order: dict[str, Any] = {
            "external_id": f"SO{n:09d}",
            "customer_external_id": customer,
            "ordered_at": (START + timedelta(minutes=n)).isoformat(),
            "amount": f"{rng.randint(100, 500_000) / 100:.2f}",
            "channel": rng.choice(("tmall", "jd", "store", "wechat")),
        }
        if lines_every and n % lines_every == 0:
            order["lines"] = [
                {"product_id": f"SKU{rng.randint(1, 2000):05d}", "quantity": 1, "amount": "10.00"},
                {"product_id": f"SKU{rng.randint(1, 2000):05d}", "quantity": 2, "amount": "20.00"},
            ]
        orders.append(order)
    return orders


def batches(orders: list[dict[str, Any]], size: int) -> list[bytes]:
    """The request bodies, JSON-encoded before timing so the clients cost little."""
    return [json.dumps(orders[i : i + size]).encode() for i in range(0, len(orders), size)]


def post_all(
    base: str, token: str, bodies: list[bytes], clients: int
) -> tuple[float, list[float], dict[str, int]]:
    """Post every body with `clients` concurrent clients: wall seconds, per-request ms, totals."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    totals = {"inserted": 0, "existing": 0, "rejected": 0, "errors": 0}
    times: list[float] = []

    def send(client: httpx.Client, body: bytes) -> None:
        started = time.perf_counter()
        answer = client.post("/api/v1/orders/bulk", content=body, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            totals["errors"] += 1
            log(f"HTTP {answer.status_code}: {answer.text[:300]}")
            return
        result = answer.json()
        for key in ("inserted", "existing", "rejected"):
            totals[key] += result[key]

    pool = [httpx.Client(base_url=base, timeout=600) for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as executor:
        list(executor.map(lambda pair: send(pool[pair[0] % clients], pair[1]), enumerate(bodies)))
    wall = time.perf_counter() - started
    for client in pool:
        client.close()
    return wall, times, totals


def raw_insert(name: str, orders: list[dict[str, Any]]) -> float:
    """The peer: the same order rows straight into an emptied orders table (seconds)."""
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        conn.execute("TRUNCATE order_lines, orders CASCADE")
        ids = dict(conn.execute("SELECT external_id, id FROM customers").fetchall())
        rows = [
            (o["external_id"], ids[o["customer_external_id"]], o["ordered_at"], o["amount"],
             "paid", o["channel"], "CNY", "{}", START)
            for o in orders
        ]  # fmt: skip
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO orders (external_id, customer_id, ordered_at, amount, status, channel,"
                " currency, custom_fields, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
        return time.perf_counter() - started


def row(
    label: str, count: int, wall: float, times: list[float], totals: dict[str, int], cpu: float
) -> str:
    rate = count / wall
    per_cpu = f"{count / cpu:,.0f}" if cpu else "-"
    cpu_text = f"{cpu:.1f} s" if cpu else "-"
    per_batch = f"{cpu * 1000 / len(times):,.0f}" if cpu and times else "-"
    p50 = f"{statistics.median(times):,.0f}" if times else "-"
    p95 = f"{percentile(times, 0.95):,.0f}" if times else "-"
    return (
        f"| {label} | {count:,} | {wall:.1f} s | {rate:,.0f} | {cpu_text} | {per_batch} | "
        f"{per_cpu} | {p50} | {p95} | "
        f"{totals.get('inserted', 0):,} | {totals.get('existing', 0):,} | "
        f"{totals.get('errors', 0)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="patron_bench_ingest")
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--new-share", type=float, default=0.2, help="orders of new customers")
    parser.add_argument("--lines-every", type=int, default=3, help="0: no order lines")
    parser.add_argument("--server-log", default="/tmp/patron-ingest-serve.log")
    args = parser.parse_args()
    url = fresh_database(args.database)
    store_customers(args.database, args.customers)
    token = admin_token(url)
    orders = make_orders(
        args.orders, args.customers, args.seed, new_share=args.new_share,
        lines_every=args.lines_every,
    )  # fmt: skip
    bodies = batches(orders, args.batch)
    log(
        f"{args.orders:,} orders in {len(bodies)} batches of {args.batch:,}, {args.clients} clients"
    )
    results = []
    with serving(url, Path(args.server_log)) as (base, pid):
        load_before = os.getloadavg()[0]
        for label in ("API, first delivery", "API, the same batches again"):
            cpu = cpu_seconds(pid)
            wall, times, totals = post_all(base, token, bodies, args.clients)
            cpu = cpu_seconds(pid) - cpu
            results.append(row(label, args.orders, wall, times, totals, cpu))
            log(results[-1])
        load_after = os.getloadavg()[0]
    wall = raw_insert(args.database, orders)
    peer = "peer: psycopg executemany, orders only"
    results.append(row(peer, args.orders, wall, [], {"inserted": args.orders}, 0.0))
    print(f"target: {TARGET:,} orders/s; load average {load_before:.1f} -> {load_after:.1f}")
    print(
        "| run | orders | wall time | orders/s | server CPU | server CPU ms/batch "
        "| orders per server CPU s | p50 ms/batch | p95 ms/batch | inserted | existing "
        "| HTTP errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
