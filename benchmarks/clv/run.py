"""Time the whole CLV pipeline as separate processes on the same order logs; print a table.

    .venv/bin/python benchmarks/clv/run.py                    # everything (see --help)
    .venv/bin/python benchmarks/clv/run.py --tools patron --logs 1m

Each run is `/usr/bin/time -v <command>`: wall time, CPU time (user + sys) and peak resident
memory of the process. Logs are generated (seeded) into benchmarks/data/ when missing; the
lifetimes and pymc-marketing environments come from setup_venvs.sh. Results also go to
benchmarks/data/results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / "benchmarks" / "data"
VENVS = ROOT / "benchmarks" / ".venv-bench"
sys.path.insert(0, str(HERE))

from generate import simulate, write_csv  # noqa: E402

LOGS = {"100k": 100_000, "1m": 1_000_000, "10m": 4_350_000}
TOOLS = {
    "patron": lambda log, out: [
        str(ROOT / ".venv/bin/python"),
        "-m",
        "patron",
        "clv",
        str(log),
        "--out",
        str(out),
        "--horizon-days",
        "90",
        "--model",
        "bgnbd",
    ],
    "lifetimes": lambda log, out: [
        str(VENVS / "lifetimes/bin/python"),
        str(HERE / "run_lifetimes.py"),
        str(log),
        str(out),
    ],
    "pymc-marketing": lambda log, out: [
        str(VENVS / "pymc/bin/python"),
        str(HERE / "run_pymc.py"),
        str(log),
        str(out),
    ],
}


def ensure_log(name: str) -> tuple[Path, int]:
    """The seeded log for this size, generated on first use; its path and order count."""
    path = DATA / f"orders_{name}.csv"
    if not path.exists():
        orders = simulate(LOGS[name], seed=20240630)
        write_csv(orders, path)
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
    return path, lines - 1


def measure(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, object]:
    """Run one command under /usr/bin/time -v and read its wall, CPU and peak memory."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"status": f"timeout after {timeout:.0f} s", "wall_s": time.monotonic() - started}
    stats = done.stderr

    def field(label: str) -> str:
        match = re.search(rf"{re.escape(label)}: (.+)", stats)
        return match.group(1).strip() if match else "nan"

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    wall_s = sum(float(part) * 60**i for i, part in enumerate(reversed(wall)))
    last = next((line for line in reversed(done.stdout.strip().splitlines()) if line), "")
    # /usr/bin/time appends its report after whatever the program wrote to stderr.
    report = stats.split("\tCommand being timed")[0].strip().splitlines()
    errors = [line for line in report if not line.startswith("Command exited")] or ["no message"]
    result: dict[str, object] = {
        "status": "ok" if done.returncode == 0 else f"failed: {errors[-1][:200]}",
        "wall_s": wall_s,
        "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)")),
        "peak_mb": float(field("Maximum resident set size (kbytes)")) / 1024,
        "output": last[:300],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default="1m,10m", help="comma-separated: 100k, 1m, 10m")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    args = parser.parse_args()
    results_path = DATA / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = {"cpu": _cpu(), "cores": _cores(), "python": platform.python_version()}
    for name in args.logs.split(","):
        log, orders = ensure_log(name)
        runs: dict[str, int] = {}
        for tool in args.tools.split(","):
            # A tool named twice (say before and after the others) is timed twice: the load
            # of a shared machine changes over a run, and this shows by how much.
            runs[tool] = runs.get(tool, 0) + 1
            out = DATA / f"scores_{tool}_{name}.csv"
            print(f"{tool} on {name} ({orders:,} orders) ...", file=sys.stderr, flush=True)
            run = measure(TOOLS[tool](log, out), args.timeout)
            run.update(log=name, orders=orders, customers=LOGS[name], tool=tool)
            run["load"] = _load()
            key = f"{tool}/{name}" if runs[tool] == 1 else f"{tool}/{name}/{runs[tool]}"
            results[key] = run
            print(json.dumps(run), file=sys.stderr, flush=True)
            results_path.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict[str, dict[str, object]]) -> None:
    """The results as a Markdown table."""
    print("| log | tool | wall (s) | CPU (s) | peak memory (MB) | load after | status |")
    print("|---|---|---:|---:|---:|---:|---|")
    for key, run in results.items():
        if "/" not in key:
            continue
        label = f"{run['customers']:,} customers, {run['orders']:,} orders"
        print(
            f"| {label} | {run['tool']} | {run.get('wall_s', 0):.1f} | "
            f"{run.get('cpu_s', float('nan')):.1f} | {run.get('peak_mb', float('nan')):.0f} | "
            f"{run.get('load', '')} | {run['status']} |"
        )


def _load() -> str:
    """The machine's load average over the last minute, as /proc/loadavg gives it."""
    return Path("/proc/loadavg").read_text().split()[0]


def _cpu() -> str:
    text = Path("/proc/cpuinfo").read_text()
    match = re.search(r"model name\s*: (.+)", text)
    return match.group(1) if match else platform.processor()


def _cores() -> int:
    return len(re.findall(r"^processor\s*:", Path("/proc/cpuinfo").read_text(), re.M))


if __name__ == "__main__":
    main()
