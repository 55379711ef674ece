"""Benchmark `patron import orders` against a plain load of the same CSV, in the same run.

    .venv/bin/python benchmarks/import_orders.py --rows 10000000
    .venv/bin/python benchmarks/import_orders.py --rows 1000000 --db postgresql
    .venv/bin/python benchmarks/import_orders.py --rows 1000000 --only patron --kpi-store

The CSV is generated once per (rows, seed) under benchmarks/data/ (git-ignored) and kept.
Patron's import goes into a fresh database; the peer loads the same file with no checks at
all into a table with the same indexes: `sqlite3 .import` on SQLite, `COPY ... (FORMAT csv)`
on PostgreSQL. The difference is what validation, ids, hashes and customers cost. With
--kpi-store the database has the KPI store built first, as one whose reports were read. Prints
rows/s (per wall-clock and per CPU second: the machine may be shared), peak memory, the
1-minute load average before and after, and Markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
CHUNK = 500_000
CHANNELS = np.array(["web", "app", "store", "wechat", "phone"])
STATUSES = np.array(["paid"] * 18 + ["refunded", "cancelled"])
START = np.datetime64("2021-01-01T00:00:00")
SPAN_SECONDS = 4 * 365 * 86_400


def generate(path: Path, *, rows: int, customers: int, seed: int) -> None:
    """Write the orders CSV in chunks, vectorised, so even 10M rows take well under a minute."""
    rng = np.random.default_rng(seed)
    partial = path.with_suffix(".part")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        handle.write("order_id,customer_id,ordered_at,amount,status,channel,product_id\n")
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            handle.write(_chunk(rng, start, size, customers))
    partial.replace(path)


def _chunk(rng: np.random.Generator, start: int, size: int, customers: int) -> str:
    ids = np.arange(start, start + size)
    who = rng.integers(0, customers, size)
    seconds = rng.integers(0, SPAN_SECONDS, size)
    moments = (START + seconds.astype("timedelta64[s]")).astype(str)
    cents = rng.lognormal(9.0, 1.0, size).astype(np.int64) + 100
    status = STATUSES[rng.integers(0, len(STATUSES), size)]
    channel = CHANNELS[rng.integers(0, len(CHANNELS), size)]
    product = rng.integers(0, 2_000, size)
    lines = [
        f"O{i:010d},C{c:07d},{m.replace('T', ' ')},{a // 100}.{a % 100:02d},{s},{ch},P{p:04d}\n"
        for i, c, m, a, s, ch, p in zip(
            ids.tolist(),
            who.tolist(),
            moments.tolist(),
            cents.tolist(),
            status.tolist(),
            channel.tolist(),
            product.tolist(),
            strict=True,
        )
    ]
    return "".join(lines)


# The KPI store's tables, indexes and triggers, as a database has them once reports were read.
KPI_STORE = """
from sqlalchemy import create_engine
from patron.analytics.kpi_store import ensure_store
engine = create_engine({url!r})
with engine.begin() as connection:
    ensure_store(connection)
"""


def run_import(csv_path: Path, url: str, *, kpi_store: bool = False) -> dict[str, float]:
    """Import into a fresh database; the summary, wall and CPU seconds, peak memory (MiB)."""
    patron = [sys.executable, "-m", "patron", "--db", url]
    subprocess.run([*patron, "init"], check=True, capture_output=True)
    if kpi_store:
        subprocess.run([sys.executable, "-c", KPI_STORE.format(url=url)], check=True)
    out, measured = _timed([*patron, "import", "orders", str(csv_path), "--json"])
    return {**json.loads(out), **measured}


# The peer's table: the file's columns as they are, with the indexes `orders` has.
PEER_TABLE = """
CREATE TABLE peer_orders (order_id TEXT, customer_id TEXT, ordered_at TEXT, amount NUMERIC,
    status TEXT, channel TEXT, product_id TEXT);
CREATE UNIQUE INDEX peer_order_id ON peer_orders (order_id);
CREATE INDEX peer_customer_at ON peer_orders (customer_id, ordered_at);
CREATE INDEX peer_at ON peer_orders (ordered_at);
CREATE INDEX peer_product ON peer_orders (product_id);
"""


def _timed(command: list[str], stdin: bytes | None = None) -> tuple[str, dict[str, float]]:
    """Run a command under GNU time; its output, wall and CPU seconds, peak memory (MiB)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", *command],
        check=True,
        capture_output=True,
        input=stdin,
    )
    seconds = time.perf_counter() - started
    user, system, peak_kib = done.stderr.decode().strip().splitlines()[-1].split()
    measured = {
        "seconds": seconds,
        "cpu_seconds": float(user) + float(system),
        "peak_mib": int(peak_kib) / 1024,
    }
    return done.stdout.decode(), measured


def sqlite_peer(csv_path: Path, database: Path) -> dict[str, float]:
    """`sqlite3 .import` of the same file, unchecked, into a table with the same indexes."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    # The page cache Patron's import connection uses (PATRON_IMPORT_CACHE_MIB's default), so
    # both keep their indexes in memory.
    script = (
        f"PRAGMA cache_size=-{2048 * 1024};\n{PEER_TABLE}\n"
        f".mode csv\n.import --skip 1 {csv_path} peer_orders\n"
    )
    return _timed(["sqlite3", str(database)], script.encode())[1]


def postgres_peer(csv_path: Path, url: str) -> dict[str, float]:
    """`COPY ... FROM STDIN (FORMAT csv)` of the same file into a table with the same indexes."""
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1]) as conn:\n"
        f"    conn.execute({PEER_TABLE!r}.replace('NUMERIC', 'NUMERIC(14, 2)'))\n"
        "    with conn.cursor().copy('COPY peer_orders FROM STDIN (FORMAT csv, HEADER)') as copy,"
        " open(sys.argv[2], 'rb') as handle:\n"
        "        while block := handle.read(1 << 20):\n"
        "            copy.write(block)\n"
    )
    return _timed([sys.executable, "-c", code, url, str(csv_path)])[1]


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _fresh_postgres(admin_url: str, name: str) -> str:
    import psycopg

    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return conninfo.rsplit("/", 1)[0] + "/" + name


def _drop_postgres(admin_url: str, name: str) -> None:
    import psycopg

    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _row(label: str, rows: int, size: float, result: dict[str, float], load: str) -> str:
    return (
        f"| {label} | {rows:,} | {size:,.0f} MiB | {result['seconds']:,.1f} s "
        f"| {rows / result['seconds']:,.0f} | {result['cpu_seconds']:,.1f} s "
        f"| {rows / result['cpu_seconds']:,.0f} | {result['peak_mib']:,.0f} MiB | {load} |"
    )


def main() -> None:
    """Generate (once), import with Patron, load with the peer, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=0, help="default: rows / 20")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://root@127.0.0.1:5432/postgres"
    )
    parser.add_argument(
        "--only",
        choices=("patron", "peer"),
        help="run one side (to run both sides at once in two processes)",
    )
    parser.add_argument(
        "--kpi-store",
        action="store_true",
        help="import into a database whose KPI store (triggers on orders) is already built",
    )
    args = parser.parse_args()
    customers = args.customers or max(args.rows // 20, 1)
    DATA.mkdir(exist_ok=True)
    csv_path = DATA / f"orders_{args.rows}_{customers}_{args.seed}.csv"
    if not csv_path.exists():
        began = time.perf_counter()
        generate(csv_path, rows=args.rows, customers=customers, seed=args.seed)
        print(f"generated {csv_path.name} in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    load_before = os.getloadavg()[0]
    zero = {"seconds": float("nan"), "cpu_seconds": float("nan"), "peak_mib": float("nan")}
    result: dict[str, float] = {"inserted": args.rows, **zero}
    peer: dict[str, float] = zero
    if args.db == "sqlite":
        if args.only != "peer":
            result = run_import(
                csv_path, _fresh_sqlite(DATA / "bench_import.db"), kpi_store=args.kpi_store
            )
        if args.only != "patron":
            peer = sqlite_peer(csv_path, DATA / "bench_peer.db")
        peer_label = "`sqlite3 .import` (no checks)"
    else:
        if args.only != "peer":
            url = _fresh_postgres(args.postgres_url, "patron_bench_import")
            result = run_import(
                csv_path,
                "postgresql+psycopg://" + url.split("://", 1)[1],
                kpi_store=args.kpi_store,
            )
            _drop_postgres(args.postgres_url, "patron_bench_import")
        if args.only != "patron":
            peer_url = _fresh_postgres(args.postgres_url, "patron_bench_peer")
            peer = postgres_peer(csv_path, peer_url)
            _drop_postgres(args.postgres_url, "patron_bench_peer")
        peer_label = "`COPY (FORMAT csv)` (no checks)"
    rows = sum(int(result.get(key, 0)) for key in ("inserted", "updated", "unchanged", "rejected"))
    size = csv_path.stat().st_size / 2**20
    load_after = os.getloadavg()[0]
    load = f"{load_before:.1f} / {load_after:.1f}"
    print(json.dumps({**result, "rows": rows, "peer": peer, "file_mib": round(size)}))
    print(_row(f"`patron import orders` ({args.db})", rows, size, result, load))
    print(_row(peer_label, rows, size, peer, load))
    print(
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {customers:,} customers, load average before / after {load}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
