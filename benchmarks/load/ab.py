"""Server CPU per request of two revisions of Patron side by side: both serve at once, and
each request goes to one then the other, one at a time.

    export PYTHONPATH=/tmp/x-OLD/src
    .venv/bin/python benchmarks/load/ab.py --a /tmp/x-OLD/src --b /tmp/x-NEW/src
    .venv/bin/python benchmarks/load/ab.py --a ... --b ... --only customer --requests 100

(The script brings the load test's database up to its own code's schema, as cost.py does:
run it with the PYTHONPATH of a revision both servers can start on.)

On a shared machine the CPU an instruction costs changes from minute to minute (other work,
the other hyperthread of a core), more than a change to a request's code does; measured one
after the other (cost.py), two revisions meet different conditions. Here the two servers
(`patron serve`, one process each, the load test's database and requests: cost.py's kinds)
take turns request by request, so both meet the same conditions; each one's CPU comes from
/proc. Prints, per kind, the server CPU ms per request of A and B and B's change.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from cost import kinds  # noqa: E402
from run import CUSTOMERS, cpu_seconds, ensure_database, issue_tokens, sample, serving  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="PYTHONPATH of revision A (its src).")
    parser.add_argument("--b", required=True, help="PYTHONPATH of revision B (its src).")
    parser.add_argument("--database", default="patron_load_1m")
    parser.add_argument("--source", default="patron_bench_1m")
    parser.add_argument("--requests", type=int, default=200, help="Of each kind, to each.")
    parser.add_argument("--only", default="customer,list,search,manager",
                        help="Kinds whose name contains one of these (a,b,c).")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("/tmp/patron-load-ab"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    random.seed(7)
    url = ensure_database(args.database, args.source, 0, CUSTOMERS)
    tokens = issue_tokens(url, 1)
    fixture = {**tokens, **sample(args.database, tokens["agents"])}
    fixture["run"] = f"ab{int(time.time())}"
    with ExitStack() as stack:
        servers = []
        for name, path in (("a", args.a), ("b", args.b)):
            base, pid = stack.enter_context(
                serving(url, args.out / f"serve-{name}.log", 1, python_path=path)
            )
            client = stack.enter_context(httpx.Client(base_url=base, timeout=120))
            servers.append((client, pid))
        print("| request | requests | A server CPU ms | B server CPU ms | B against A |")
        print("|---|---:|---:|---:|---:|")
        total = [0.0, 0.0]
        for name, send in kinds(fixture, 5000).items():
            if not any(part in name for part in args.only.split(",")):
                continue
            for client, _ in servers:
                for _ in range(5):
                    send(client).raise_for_status()
            time.sleep(0.3)
            before = [cpu_seconds(pid) for _, pid in servers]
            for _ in range(args.requests):
                for client, _ in servers:
                    send(client).raise_for_status()
            time.sleep(0.3)
            used = [(cpu_seconds(pid) - start) * 1000 / args.requests
                    for (_, pid), start in zip(servers, before, strict=True)]  # fmt: skip
            total = [t + u for t, u in zip(total, used, strict=True)]
            change = 100 * (used[1] - used[0]) / used[0]
            print(f"| {name} | {args.requests} | {used[0]:.2f} | {used[1]:.2f} | {change:+.0f}% |",
                  flush=True)  # fmt: skip
        change = 100 * (total[1] - total[0]) / total[0]
        print(f"| sum of the kinds | | {total[0]:.2f} | {total[1]:.2f} | {change:+.0f}% |")


if __name__ == "__main__":
    main()
