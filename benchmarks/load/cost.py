"""CPU per request of each kind of the load test: the server's and PostgreSQL's, one at a time.

    .venv/bin/python benchmarks/load/cost.py                       # 200 of each kind
    .venv/bin/python benchmarks/load/cost.py --requests 50 --only customer
    .venv/bin/python benchmarks/load/cost.py --py-spy /tmp/pyspy/bin/py-spy   # and profiles
    .venv/bin/python benchmarks/load/cost.py --concurrent 16   # the agents' reads, 16 at once

The load test (benchmarks/load/run.py) is closed-loop and CPU-bound, so what decides its
latency is how much CPU each request costs, server and database together. This sends the
load test's requests one after the other (one keep-alive client, nothing else running on
the server) to a `patron serve` on the load test's database and reads, per kind, the CPU
the server process used (/proc) and the CPU of the PostgreSQL backends serving it
(`pg_stat_activity` pids, /proc), divided by the requests. Prints a Markdown table. With
`--py-spy`, each kind is then sent as often again while py-spy samples the server (not
while it is measured), its stacks kept as `<out>/<kind>.py-spy.txt` (py-spy's raw format,
one stack and its count per line, for a flame graph or a grep). With `--concurrent N`, N
clients instead send the agents' reads (a customer, a timeline, their list by CLV, a name
search, chosen at random) at once for `--seconds`, and it prints the server CPU per request
of the middle of that time: the cost with requests overlapping in the server, as under load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from pages import SERVER  # noqa: E402
from run import CUSTOMERS, cpu_seconds, ensure_database, issue_tokens, sample, serving  # noqa: E402

API = "/api/v1"
Send = Callable[[httpx.Client], httpx.Response]


def backend_cpu(database: str) -> float:
    """User + system CPU seconds of the PostgreSQL backends connected to `database`."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a backend that ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def kinds(fixture: dict[str, Any], batch: int) -> dict[str, Send]:
    """The load test's requests (benchmarks/load/locustfile.py), by the names it gives them."""
    agent = fixture["agents"][0]
    auth = {"Authorization": f"Bearer {agent['tokens'][0]}"}
    manager = {"Authorization": f"Bearer {fixture['manager'][0]}"}
    ingest = {"Authorization": f"Bearer {fixture['ingest'][0]}"}
    own = agent["customers"]
    numbers = itertools.count()

    def get(params: dict[str, str], headers: dict[str, str] = auth) -> Send:
        return lambda client: client.get(f"{API}/customers", params=params, headers=headers)

    def one(client: httpx.Client) -> httpx.Response:
        return client.get(f"{API}/customers/{random.choice(own)}", headers=auth)

    def timeline(client: httpx.Client) -> httpx.Response:
        return client.get(f"{API}/customers/{random.choice(own)}/timeline", headers=auth)

    def task(client: httpx.Client) -> httpx.Response:
        draft = {"title": "cost call back", "customer_id": random.choice(own)}
        created = client.post(f"{API}/tasks", json=draft, headers=auth)
        done = {"outcome": "reached", "interaction_kind": "call", "summary": "cost"}
        client.post(f"{API}/tasks/{created.json()['id']}/complete", json=done, headers=auth)
        return created

    def bulk(client: httpx.Client) -> httpx.Response:
        prefix = f"{fixture['run']}-cost-{next(numbers)}-"
        moment = time.strftime("%Y-%m-%dT%H:%M:%S")
        orders = [
            {"external_id": f"{prefix}{i}",
             "customer_external_id": random.choice(fixture["external_ids"]),
             "ordered_at": moment, "channel": "load-test",
             "amount": f"{random.randint(20, 2000)}.{random.randint(0, 99):02d}"}
            for i in range(batch)
        ]  # fmt: skip
        headers = {**ingest, "Content-Type": "application/json"}
        return client.post(f"{API}/orders/bulk", content=json.dumps(orders), headers=headers)

    return {
        "customer: one": one,
        "customer: timeline": timeline,
        "list: mine by CLV": get({"owner": "me", "sort": "-clv"}),
        "list: city": lambda c: get({"city": random.choice(fixture["cities"])})(c),
        "list: grade+warning": get({"grade": "B", "has_warning": "true"}),
        "list: churn risk": get({"churn_min": "0.6", "sort": "-churn_risk"}),
        "search: name": lambda c: get({"q": random.choice(fixture["names"])})(c),
        "search: initials": lambda c: get({"q": random.choice(fixture["initials"])})(c),
        "search: phone": lambda c: get({"q": random.choice(fixture["phones"])})(c),
        "manager: team tasks": lambda c: c.get(
            f"{API}/tasks", params={"scope": "team", "status": "open"}, headers=manager
        ),
        "manager: at-risk list": get({"stage": "at_risk", "sort": "-churn_risk"}, manager),
        "task: create + complete": task,
        f"orders: bulk ({batch:,} orders)": bulk,
    }


def measure(
    client: httpx.Client, send: Send, count: int, pid: int, database: str
) -> tuple[float, float, float]:
    """Server CPU ms, database CPU ms and wall ms per request, over `count` requests."""
    for _ in range(min(5, count)):
        send(client).raise_for_status()
    time.sleep(0.3)  # background tasks of the warm-up finish
    server, db, wall = cpu_seconds(pid), backend_cpu(database), time.perf_counter()
    for _ in range(count):
        send(client).raise_for_status()
    wall = time.perf_counter() - wall
    time.sleep(0.3)
    server, db = cpu_seconds(pid) - server, backend_cpu(database) - db
    return server * 1000 / count, db * 1000 / count, wall * 1000 / count


def profile(
    client: httpx.Client,
    send: Send,
    count: int,
    pid: int,
    py_spy: str,
    target: Path,
    gil: bool = False,
) -> None:
    """py-spy's samples of the server (its non-idle stacks, 200 a second; with `gil`, only
    the thread holding the interpreter lock: where its CPU goes) while `count` requests of
    a kind are sent."""
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         *(["--gil"] if gil else []), "--output", str(target)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)  # py-spy attaches
    for _ in range(count):
        send(client).raise_for_status()
    spy.send_signal(2)  # py-spy writes its file when interrupted
    spy.wait(timeout=60)


def concurrent(
    base: str, sends: list[Send], clients: int, seconds: float, pid: int, database: str
) -> str:
    """Server and PostgreSQL CPU per request while `clients` send `sends` at random, read
    over the middle of `seconds` (a fifth each side left out: start and stop)."""
    done, failed, stop = [0], [0], time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            while time.monotonic() < stop:
                if random.choice(sends)(http).status_code != 200:
                    failed[0] += 1
                done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 5)
    server, db, count = cpu_seconds(pid), backend_cpu(database), done[0]
    time.sleep(seconds * 3 / 5)
    server, db = cpu_seconds(pid) - server, backend_cpu(database) - db
    count = done[0] - count
    for thread in threads:
        thread.join()
    if failed[0]:
        sys.exit(f"{failed[0]} requests failed")
    return (
        f"{clients} clients: {count} requests in {seconds * 3 / 5:.0f} s, server CPU "
        f"{server * 1000 / count:.2f} ms and PostgreSQL CPU {db * 1000 / count:.2f} ms per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="patron_load_1m")
    parser.add_argument("--source", default="patron_bench_1m")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--requests", type=int, default=200, help="Of each kind.")
    parser.add_argument("--bulk-requests", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--only", default="", help="Kinds whose name contains this (or one of a,b,c)."
    )
    parser.add_argument("--py-spy", default="", help="py-spy's path: profile each kind too.")
    parser.add_argument(
        "--gil", action="store_true", help="With --py-spy: sample only the lock's holder."
    )
    parser.add_argument("--concurrent", type=int, default=0, help="Clients at once (reads).")
    parser.add_argument("--seconds", type=float, default=25, help="With --concurrent.")
    parser.add_argument("--out", type=Path, default=Path("/tmp/patron-load-cost"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    random.seed(7)

    url = ensure_database(args.database, args.source, 0, args.customers)
    tokens = issue_tokens(url, 1)
    fixture = {**tokens, **sample(args.database, tokens["agents"])}
    fixture["run"] = f"cost{int(time.time())}"
    rows = []
    load = os.getloadavg()[0]
    if args.concurrent:
        reads = ("customer: one", "customer: timeline", "list: mine by CLV", "search: name")
        every = kinds(fixture, args.batch)
        with serving(url, args.out / "serve.log", 1) as (base, pid):
            print(concurrent(base, [every[name] for name in reads], args.concurrent,
                             args.seconds, pid, args.database))  # fmt: skip
        return
    with (
        serving(url, args.out / "serve.log", 1) as (base, pid),
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        for name, send in kinds(fixture, args.batch).items():
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            count = args.bulk_requests if name.startswith("orders") else args.requests
            server, db, wall = measure(client, send, count, pid, args.database)
            print(f"{name:<32} server {server:8.2f} ms  db {db:8.2f} ms  wall {wall:8.2f} ms",
                  file=sys.stderr, flush=True)  # fmt: skip
            rows.append((name, count, server, db, wall))
            if args.py_spy:
                target = args.out / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.py-spy.txt"
                profile(client, send, count, pid, args.py_spy, target, args.gil)
    print(f"\nload average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("| request | requests | server CPU ms | PostgreSQL CPU ms | wall ms |")
    print("|---|---:|---:|---:|---:|")
    for name, count, server, db, wall in rows:
        print(f"| {name} | {count} | {server:.2f} | {db:.2f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
