"""Time `patron clv` of two source trees alternately, with lifetimes in the same run.

    mkdir /tmp/before && git archive <rev> src | tar -x -C /tmp/before
    flock /tmp/patron-bench.lock nice -n -15 .venv/bin/python benchmarks/clv/paired.py \\
        --before /tmp/before/src --rounds 3 --lifetimes

Each run is `/usr/bin/time -v` around `python -m patron clv LOG --out ... --horizon-days 90
--model bgnbd` (the `before` tree, and `--after` if given, by PYTHONPATH), in the order
before, after, before, after, ...; lifetimes (run_lifetimes.py) runs once between the first and
second pair when asked. The SHA-256 of every file written is shown: both trees must write the
same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DATA, TOOLS, _load, ensure_log, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the older tree's src/")
    parser.add_argument("--after", type=Path, help="the newer tree's src/ (default: this one)")
    parser.add_argument("--log", default="1m", help="100k, 1m or 10m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lifetimes", action="store_true", help="run lifetimes once too")
    args = parser.parse_args()
    log, orders = ensure_log(args.log)
    print(f"{args.log}: {orders:,} orders; load {_load()}", file=sys.stderr)
    print("| run | wall (s) | CPU (s) | peak memory (MB) | load | file |")
    print("|---|---:|---:|---:|---:|---|")
    digests: set[str] = set()
    for round_ in range(args.rounds):
        for side in ("before", "after"):
            out = DATA / f"scores_paired_{side}.csv"
            env = dict(os.environ)
            tree = args.before if side == "before" else args.after
            if tree is not None:
                env["PYTHONPATH"] = str(tree.resolve())
            else:
                env.pop("PYTHONPATH", None)
            run = measure(TOOLS["patron"](log, out), 600.0, env=env)
            digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12] if out.exists() else "-"
            digests.add(digest)
            _row(f"Patron {side}", run, digest)
        if round_ == 0 and args.lifetimes:
            out = DATA / f"scores_lifetimes_{args.log}.csv"
            _row("lifetimes 0.11.3", measure(TOOLS["lifetimes"](log, out), 1800.0), "")
    print(f"\nfiles written: {len(digests)} distinct ({', '.join(sorted(digests))})")


def _row(label: str, run: dict[str, object], digest: str) -> None:
    if run["status"] != "ok":
        print(f"| {label} | {run['status']} | | | | |", flush=True)
        return
    print(
        f"| {label} | {run['wall_s']:.2f} | {run['cpu_s']:.2f} | {run['peak_mb']:.0f} | "
        f"{_load()} | {digest} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
