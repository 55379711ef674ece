"""Bytes an orders import writes, each batch committed on its own or batches committed together.

A commit writes every page its batches changed to SQLite's write-ahead log (and a checkpoint
copies them into the database file), so the bytes written count how often the random index
pages are rewritten. Runs the import in this process on a fresh SQLite database and reads
the process's own write counters (`/proc/self/io`: `wchar` is what it handed to write calls,
`write_bytes` what reached the storage layer).

    .venv/bin/python benchmarks/import_writes.py benchmarks/data/orders_3m.csv --batch 100000
    .venv/bin/python benchmarks/import_writes.py benchmarks/data/orders_3m.csv --bulk

`orders_3m.csv` is the first 3,000,000 rows of `import_orders.py --rows 10000000`'s file:
`head -3000001 benchmarks/data/orders_10000000_500000_7.csv > benchmarks/data/orders_3m.csv`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from patron.config import Settings
from patron.db import create_db_engine
from patron.imports.service import import_file

DATABASE = Path(__file__).parent / "data" / "import_writes.db"


def _written() -> tuple[int, int]:
    """(wchar, write_bytes) of this process so far."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["wchar"]), int(fields["write_bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--commit-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--bulk", action="store_true", help="the command line's mode: batches committed together"
    )
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{DATABASE}"
    subprocess.run([sys.executable, "-m", "patron", "--db", url, "init"], check=True)
    engine = create_db_engine(url)
    settings = Settings(import_batch_size=args.batch, import_commit_rows=args.commit_rows)
    before, started, cpu = _written(), time.perf_counter(), time.process_time()
    result = import_file(
        engine=engine, kind="orders", path=args.csv, settings=settings, bulk=args.bulk
    )
    after = _written()
    print(
        json.dumps(
            {
                **result.counts.as_dict(),
                "batch": args.batch,
                "commit_rows": args.commit_rows if args.bulk else args.batch,
                "wchar_mib": round((after[0] - before[0]) / 2**20),
                "write_bytes_mib": round((after[1] - before[1]) / 2**20),
                "seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds_this_process": round(time.process_time() - cpu, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
