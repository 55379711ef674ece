"""The set-based actions step writes exactly the rows the per-row step wrote.

`reference_actions` is the actions step as it was (Candidate objects, one dict per row,
executemany). Each test loads the same demo shop twice, scores it three times (a first run, the
same date again, and ten days later when some cooldowns have run out) once with the reference
and once with the real step, and compares every row the actions write or change.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.db import Base, unit_of_work
from patron.demo import loader
from patron.demo.generator import DemoSpec
from patron.rules import runs, versions
from tests.conftest import _empty_all_tables
from tests.rules import reference_actions

END = datetime(2026, 6, 30, 23, 59, 59)
# Every table the actions step writes or changes; columns stamped with the wall clock left out.
COMPARED = (
    "customers",
    "customer_tags",
    "ownership_changes",
    "audit_log",
    "tasks",
    "alerts",
    "actions_taken",
    "state_changes",
    "outbox_messages",
    "in_app_notifications",
    "loyalty_accounts",
    "points_ledger",
    "tier_changes",
)
CLOCK_COLUMNS = {"updated_at", "created_at", "scored_at", "available_at", "next_attempt_at"}

# Warnings that use every kind of action on the same customers, in an order that shows: a tag
# set, cleared by a later rule and set again by a third; releases by two rules and by the pool;
# points, a notification, tasks for the owner, the manager, a named user and an unknown name.
EXTRA_WARNINGS: list[dict[str, Any]] = [
    {
        "id": "a_quiet",
        "label": {"zh_CN": "沉默", "en": "quiet"},
        "severity": "high",
        "when": "recency_days > 120",
        "cooldown_days": 5,
        "actions": [
            {"set_tag": "沉睡"},
            {"set_tag": "watch"},
            {"move_to_pool": True},
            {"alert": True},
            {"task": {"assignee": "manager", "due_days": 3, "title": {"en": "Call {name}"}}},
            {"task": {"assignee": "boss", "due_days": 1, "title": {"zh_CN": "看看 {name}"}}},
            {"task": {"assignee": "nobody", "due_days": 2, "title": {"zh_CN": "x" * 320}}},
        ],
    },
    {
        "id": "b_single",
        "label": {"en": "single"},
        "when": "orders_total <= 2",
        "actions": [
            {"clear_tag": "沉睡"},
            {"move_to_pool": True},
            {"set_tag": "single"},
            {"award_points": 5},
        ],
    },
    {
        "id": "c_again",
        "label": {"zh_CN": "又沉默"},
        "when": "recency_days > 300",
        "cooldown_days": 30,
        "actions": [
            {"set_tag": "沉睡"},
            {
                "notify": "owner",
                "channel": "in_app",
                "message": {"zh_CN": "{name} 沉默了", "en": "{name} is quiet"},
            },
            {"alert": True},
        ],
    },
    {
        "id": "d_big",
        "label": {"en": "big"},
        "when": "orders_total >= 8",
        "actions": [{"deduct_points": 3}, {"set_tag": "big"}],
    },
]


def _default_rulebook() -> dict[str, Any]:
    text = resources.files("patron.rules").joinpath("default.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _every_action_rulebook() -> dict[str, Any]:
    rulebook = _default_rulebook()
    rulebook["warnings"] = rulebook["warnings"] + EXTRA_WARNINGS
    return rulebook


def _shop(db: Engine, sessions: sessionmaker[Session], rulebook: dict[str, Any]) -> None:
    _empty_all_tables(db)
    loader.load(db, DemoSpec(end=END, customers=400, seed=7))
    with unit_of_work(sessions) as session:
        session.add(User(username="boss", role=Role.manager, team=None))
        session.flush()
        versions.apply(session.connection(), yaml.safe_dump(rulebook, allow_unicode=True))


def _rows(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with db.connect() as connection:
        for name in COMPARED:
            table: Table = Base.metadata.tables[name]
            columns = [c for c in table.columns if c.name not in CLOCK_COLUMNS]
            order = list(table.primary_key.columns)
            found[name] = [tuple(r) for r in connection.execute(select(*columns).order_by(*order))]
    return found


def _three_runs(
    db: Engine, sessions: sessionmaker[Session], rulebook: dict[str, Any]
) -> list[dict[str, list[tuple[Any, ...]]]]:
    """Rows after a first run, a rerun of the same date and a run ten days later."""
    _shop(db, sessions, rulebook)
    states = []
    for as_of in (END, END, END + timedelta(days=10)):
        outcome = runs.run_scoring(engine=db, as_of=as_of)
        rows = _rows(db)
        rows["applied"] = [tuple(sorted(outcome.applied.items()))]
        states.append(rows)
    return states


def _compare(
    db: Engine,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    rulebook: dict[str, Any],
) -> list[dict[str, list[tuple[Any, ...]]]]:
    with monkeypatch.context() as patched:
        patched.setattr(runs, "apply_decisions", reference_actions.apply_decisions)
        expected = _three_runs(db, sessions, rulebook)
    found = _three_runs(db, sessions, rulebook)
    for number, (want, got) in enumerate(zip(expected, found, strict=True), start=1):
        for name in want:
            assert _same(got[name], want[name]), f"run {number}: {name} differs"
    return found


def _same(found: Any, wanted: Any) -> bool:
    """Equal, but for the last bits of floats: the two runs score the shop independently, and
    DuckDB's threads add a customer's spends in no fixed order, so a model output (a churn
    risk on the customer row, the risk quoted in an alert's evidence) can differ there."""
    if isinstance(found, float) and isinstance(wanted, float):
        return math.isclose(found, wanted, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(found, dict) and isinstance(wanted, dict):
        return found.keys() == wanted.keys() and all(_same(found[k], wanted[k]) for k in found)
    if isinstance(found, list | tuple) and isinstance(wanted, list | tuple):
        return len(found) == len(wanted) and all(map(_same, found, wanted))
    return bool(found == wanted)


def test_the_demo_rulebook_acts_exactly_as_the_per_row_step_did(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, again, later = _compare(db, sessions, monkeypatch, _default_rulebook())
    applied = dict(first["applied"][0])
    assert applied["tasks"] and applied["alerts"] and applied["state_changes"]
    assert first["actions_taken"] and first["state_changes"] and first["tasks"]
    # The same date again acts on nothing: every key is taken.
    assert dict(again["applied"][0])["tasks"] == 0
    assert len(again["tasks"]) == len(first["tasks"])
    assert len(later["actions_taken"]) > len(again["actions_taken"])


def test_every_kind_of_action_acts_exactly_as_the_per_row_step_did(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, again, later = _compare(db, sessions, monkeypatch, _every_action_rulebook())
    applied = dict(first["applied"][0])
    for kind in ("tasks", "alerts", "tags_set", "tags_cleared", "recycled", "points_awarded"):
        assert applied[kind], kind
    assert first["ownership_changes"] and first["audit_log"] and first["points_ledger"]
    assert any(row[1] == "single" for row in first["customer_tags"])
    assert dict(again["applied"][0])["recycled"] == 0
    assert dict(later["applied"][0])["skipped_cooldown"]
