"""`patron rules ...` through the real command line, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.engagement.models import Task
from tests.cli.test_admin import patron
from tests.rules.scenario import RULEBOOK, shop


def test_the_default_rulebook_shows_checks_and_applies_with_history(
    db_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    shown = patron("--db", db_url, "rules", "show", "--default")
    assert shown.returncode == 0 and "grades:" in shown.stdout
    path = tmp_path / "rules.yaml"
    path.write_text(shown.stdout, encoding="utf-8")
    assert patron("rules", "check", str(path)).stdout.startswith("ok: 4 grades, 7 stages")
    first = patron("--db", db_url, "rules", "apply", str(path), "--note", "start", "--json")
    assert json.loads(first.stdout) == {"version": 1}, first.stderr
    path.write_text(RULEBOOK, encoding="utf-8")
    assert patron("--db", db_url, "rules", "apply", str(path)).returncode == 0
    assert patron("--db", db_url, "rules", "activate", "1").returncode == 0
    history = json.loads(patron("--db", db_url, "rules", "history", "--json").stdout)
    assert [(v["version"], v["active"]) for v in history["versions"]] == [(2, False), (1, True)]
    assert "# rulebook version 1" in patron("--db", db_url, "rules", "show").stdout
    with sessions() as session:
        audited = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert audited == ["rules.apply", "rules.apply", "rules.activate"]


def test_a_hostile_rulebook_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(RULEBOOK.replace('"recency_days > 90"', '"recency_days > 90; DROP TABLE x"'))
    done = patron("rules", "check", str(path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "warnings 'gone_quiet'" in done.stderr and "only one condition" in done.stderr
    missing = patron("rules", "check", str(tmp_path / "none.yaml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_dry_run_reports_and_changes_nothing(
    db_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    path = tmp_path / "proposed.yaml"
    path.write_text(RULEBOOK.replace("orders_total >= 3", "orders_total >= 4"), encoding="utf-8")
    done = patron("--db", db_url, "rules", "dry-run", str(path), "--as-of", "2025-02-04", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["customers"] == 3 and result["active_version"] == 1
    assert {"from": "A", "to": "C", "customers": 2} in result["grades"]["matrix"]
    assert result["grades"]["changed"] == 2
    assert result["warnings"] == [{"id": "gone_quiet", "active": 2, "proposed": 2}]
    assert result["actions"]["task"] == 2
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_backtest_measures_warnings_and_grades_against_what_happened(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    # As of day 250 only `quiet` (last order day 100) is flagged; it never buys again, and
    # `single` does not either, while `loyal` buys 300 in the window.
    done = patron(
        "--db",
        db_url,
        "rules",
        "backtest",
        "--as-of",
        "2024-09-07",
        "--until",
        "2025-02-04",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["as_of"], result["until"], result["customers"]) == (
        "2024-09-07",
        "2025-02-04",
        3,
    )
    assert result["base_rate"] == 0.6667
    assert result["warnings"] == [
        {"id": "gone_quiet", "flagged": 1, "precision": 1.0, "recall": 0.5, "lift": 1.5}
    ]
    assert result["grades"] == [
        {"grade": "A", "customers": 1, "future_revenue_share": 0.0},
        {"grade": "C", "customers": 2, "future_revenue_share": 1.0},
    ]


def test_explain_says_why_a_customer_has_its_grade_stage_and_warnings(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    from patron.db import create_db_engine
    from patron.rules.runs import run_scoring
    from tests.rules.scenario import AS_OF

    shop(sessions)
    assert patron("--db", db_url, "explain", "quiet").returncode == 1
    run_scoring(engine=create_db_engine(db_url), as_of=AS_OF)
    done = patron("--db", db_url, "explain", "quiet", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["grade"], result["stage"], result["warnings"]) == ("A", "lapsed", ["gone_quiet"])
    assert result["explain"]["grade"] == {"rule": "A", "values": {"orders_total": 3}}
    assert result["explain"]["warnings"] == {"gone_quiet": {"recency_days": 300}}
    human = patron("--db", db_url, "explain", "quiet").stdout
    assert "grade A: rule A because orders_total = 3" in human
