"""`patron rules check-expr`: in process, and once through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner, Result

from patron.cli.main import app
from tests.rules.test_language import CONTRACT_EXAMPLE


def patron(*args: str) -> Result:
    """Run a command in this process; no database is needed."""
    return CliRunner().invoke(app, list(args))


def test_a_good_expression_prints_ok_and_its_normalised_form() -> None:
    done = patron("rules", "check-expr", "recency_days>90 and not in_pool")
    assert done.exit_code == 0, done.output
    assert done.stdout == "ok: recency_days > 90 AND NOT in_pool\n"


def test_json_on_success() -> None:
    done = patron("rules", "check-expr", "--json", CONTRACT_EXAMPLE)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "ok": True,
        "expression": CONTRACT_EXAMPLE,
        "features": ["orders_90d", "orders_prev_90d", "recency_days"],
    }


def test_a_bad_expression_fails_with_one_plain_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "patron", "rules", "check-expr", "1=1; DROP TABLE customers"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "DROP TABLE customers" in done.stderr and done.stderr.startswith("error: ")


def test_json_on_failure() -> None:
    done = patron("rules", "check-expr", "--json", "recency_day > 90")
    assert done.exit_code == 1
    assert json.loads(done.stdout) == {
        "ok": False,
        "error": "unknown feature 'recency_day'; did you mean 'recency_days'?",
    }


def test_extra_names_and_the_compiled_sql() -> None:
    done = patron(
        "rules", "check-expr", "--allow", "early", "--sql", "early AND HAS_TAG(tags, 'vip')"
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "ok: early AND HAS_TAG(tags, 'vip')",
        'duckdb: ("early" AND list_contains("tags", \'vip\'))',
    ]
