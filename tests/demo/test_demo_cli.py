from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from patron.demo.generator import AGENTS

FILES = ("customers", "orders", "interactions", "tickets", "responses")
# Each test runs the whole command line several times (demo, scoring, imports).
pytestmark = pytest.mark.slow


def patron(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", *args], capture_output=True, text=True, check=False
    )


def test_demo_loads_scores_and_prints_logins_then_is_safe_to_rerun(db_url: str) -> None:
    args = ("--db", db_url, "demo", "--customers", "300", "--no-serve", "--as-of", "2025-06-30")
    done = patron(*args, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "loaded"
    assert result["tables"]["customers"] == 300 and result["tables"]["orders"] > 1_000
    assert sum(result["profiles"].values()) == 300
    assert len(result["logins"]) == 6 and all(len(x["password"]) >= 12 for x in result["logins"])
    assert result["scoring"] is not None or "scoring is not available yet" in done.stderr
    again = patron(*args)
    assert again.returncode == 0, again.stderr
    assert "already loaded and was kept" in again.stdout
    assert "demo-admin" in again.stdout and "customers per profile" in again.stdout


def test_demo_refuses_bad_options_in_one_line(db_url: str) -> None:
    done = patron("--db", db_url, "demo", "--customers", "0", "--no-serve")
    assert done.returncode != 0
    assert done.stderr.strip() == "error: --customers must be between 1 and 20,000,000"
    late = patron("--db", db_url, "demo", "--as-of", "30/06/2025", "--no-serve")
    assert late.returncode != 0 and "is not a date" in late.stderr


def test_demo_files_import_without_rejects(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = patron("demo", "--customers", "150", "--out", str(out), "--seed", "3", "--json")
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)["files"]
    assert files["customers.csv"] == 150
    assert patron("--db", db_url, "init").returncode == 0
    for agent in AGENTS:  # the files name the demo agents as owners
        assert patron("--db", db_url, "user", "add", agent, "--role", "agent").returncode == 0
    for kind in FILES:
        imported = patron("--db", db_url, "import", kind, str(out / f"{kind}.csv"), "--json")
        assert imported.returncode == 0, imported.stderr
        summary = json.loads(imported.stdout)
        assert summary["rejected"] == 0, (kind, summary)
        assert summary["inserted"] == files[f"{kind}.csv"]
