"""Benchmark `patron import orders`: a seeded N-row orders CSV into a fresh SQLite file.

    .venv/bin/python benchmarks/import_orders.py --rows 10000000

The CSV is generated once per (rows, seed) under benchmarks/data/ (git-ignored) and kept.
Prints rows/s (per wall-clock and per CPU second: the machine may be shared), the import
process's peak memory, and a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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


def run_import(csv_path: Path, database: Path) -> dict[str, float]:
    """Import into a fresh SQLite file; the summary, wall and CPU seconds, peak memory (MiB)."""
    database.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    patron = [sys.executable, "-m", "patron", "--db", url]
    subprocess.run([*patron, "init"], check=True, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*patron, "import", "orders", str(csv_path), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of waited-for children is the largest of them: here the import (KiB on Linux).
    return {
        **json.loads(done.stdout),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mib": after.ru_maxrss / 1024,
    }


def main() -> None:
    """Generate (once), import, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=0, help="default: rows / 20")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    customers = args.customers or max(args.rows // 20, 1)
    DATA.mkdir(exist_ok=True)
    csv_path = DATA / f"orders_{args.rows}_{customers}_{args.seed}.csv"
    if not csv_path.exists():
        began = time.perf_counter()
        generate(csv_path, rows=args.rows, customers=customers, seed=args.seed)
        print(f"generated {csv_path.name} in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    result = run_import(csv_path, DATA / "bench_import.db")
    rows = sum(int(result[key]) for key in ("inserted", "updated", "unchanged", "rejected"))
    size = csv_path.stat().st_size / 2**20
    load = os.getloadavg()[0]
    print(json.dumps({**result, "rows": rows, "file_mib": round(size), "load_average": load}))
    print(
        f"| {rows:,} | {customers:,} | {size:,.0f} MiB | {result['seconds']:,.1f} s "
        f"| {rows / result['seconds']:,.0f} | {result['cpu_seconds']:,.1f} s "
        f"| {rows / result['cpu_seconds']:,.0f} | {result['peak_mib']:,.0f} MiB | {load:.1f} |"
    )
    print(
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
