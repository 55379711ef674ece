from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest import approx
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from tests.analytics.kpi_shop import build_shop

HEADLINE_KEYS = {
    "active_customers",
    "new_customers",
    "returning_customers",
    "retention_rate",
    "churn_rate",
    "repurchase_rate",
    "average_order_value",
    "purchase_frequency",
    "nps",
    "csat",
    "average_clv",
    "from",
    "to",
}
JANUARY = ("--from", "2024-01-01", "--to", "2024-01-31")


def patron(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", "--db", db_url, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def kpi_json(db_url: str, *args: str) -> dict[str, Any]:
    done = patron(db_url, "kpi", "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    with unit_of_work(sessions) as session:
        return build_shop(session)


def test_kpi_json_headline(db_url: str, shop: dict[str, int]) -> None:
    result = kpi_json(db_url, *JANUARY)
    assert set(result) >= HEADLINE_KEYS
    assert (result["from"], result["to"]) == ("2024-01-01", "2024-01-31")
    assert result["active_customers"] == 4 and result["new_customers"] == 2
    assert result["returning_customers"] == 2
    assert result["retention_rate"] == approx(1 / 3) and result["churn_rate"] == approx(2 / 3)
    assert result["repurchase_rate"] == approx(0.25)
    assert result["average_order_value"] == approx(580 / 6)
    assert result["purchase_frequency"] == approx(1.5)
    assert result["nps"] == approx(100 / 6) and result["csat"] == approx(0.5)
    assert result["average_clv"] == approx(200)
    assert not any(key.startswith("by_") for key in result) and "cohorts" not in result


def test_kpi_json_breakdowns_and_cohorts(db_url: str, shop: dict[str, int]) -> None:
    result = kpi_json(
        db_url, "--from", "2023-12-01", "--to", "2024-01-31",
        "--by", "grade", "--by", "agent", "--by", "month", "--cohorts",
    )  # fmt: skip
    assert [row["grade"] for row in result["by_grade"]] == ["A", "B", None]
    assert [row["username"] for row in result["by_agent"]] == ["alice", "bob", None]
    assert [row["month"] for row in result["by_month"]] == ["2023-12", "2024-01"]
    assert result["by_month"][1]["active_customers"] == 4
    assert [row["cohort"] for row in result["cohorts"]] == ["2023-12", "2024-01"]
    assert result["cohorts"][0]["retention"] == [1.0, approx(1 / 3)]
    table = patron(db_url, "kpi", *JANUARY, "--by", "channel")
    assert table.returncode == 0, table.stderr
    assert "Active customers" in table.stdout and "Retention rate" in table.stdout
    assert "33.3%" in table.stdout and "By channel" in table.stdout


def test_kpi_default_period_ends_today(db_url: str) -> None:
    result = kpi_json(db_url)
    assert result["active_customers"] == 0 and result["retention_rate"] is None
    assert result["from"] < result["to"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2024-02-01", "--to", "2024-01-01"), "error: the period is empty"),
        (("--from", "01/02/2024"), "error: --from '01/02/2024' is not a date"),
    ],
)
def test_kpi_bad_period_is_one_plain_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # The period is checked before the database is opened, so no database is needed.
    done = patron(f"sqlite:///{tmp_path / 'none.db'}", "kpi", *args)
    assert done.returncode != 0
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
