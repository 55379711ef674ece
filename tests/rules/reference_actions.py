"""The per-row actions step as it was before it became set-based: the oracle that
`test_actions_columnar` compares the set-based step against, row for row.

Turning a run's decisions into changes in the store, each exactly once.

Every action carries an idempotency key (rule, customer, period). The key is written to
`actions_taken` first with "insert, or do nothing if it exists"; only keys that were new go
on to create their task, alert, tag or move. So a rerun, a retry after a crash or two
overlapping runs never act twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import duckdb
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.auth.models import Role, User
from patron.customers.models import Customer, CustomerTag
from patron.db import Base
from patron.engagement.models import Task
from patron.notify import webhooks
from patron.pool.models import OwnershipChange
from patron.rules.models import ActionTaken, Alert, StateChange
from patron.rules.rulebook import Action, Labels, Rulebook

TITLE_LOCALE: Literal["zh_CN", "en"] = "zh_CN"


@dataclass
class Applied:
    """Counts of what a run changed."""

    state_changes: int = 0
    tasks: int = 0
    alerts: int = 0
    tags_set: int = 0
    tags_cleared: int = 0
    recycled: int = 0
    notifications: int = 0
    points_awarded: int = 0
    points_deducted: int = 0
    skipped_insufficient_points: int = 0
    skipped_cooldown: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def insert_ignoring_conflicts(
    connection: Connection, model: type[Base], rows: list[dict[str, Any]], returning: Any = None
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    if not rows:
        return []
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).on_conflict_do_nothing()
    if returning is None:
        connection.execute(statement, rows)
        return []
    return list(connection.execute(statement.returning(returning), rows).scalars())


def _state_changes(
    con: duckdb.DuckDBPyConnection, connection: Connection, run_id: int, moment: datetime
) -> int:
    rows = con.execute(
        """
        SELECT d.customer_id, kind, before, after, rule FROM (
            SELECT d.customer_id, 'grade' AS kind, f.current_grade AS before, d.grade AS after,
                   d.grade AS rule
            FROM decisions d JOIN features f USING (customer_id)
            WHERE d.grade IS DISTINCT FROM f.current_grade
            UNION ALL
            SELECT d.customer_id, 'stage', f.current_stage, d.stage, d.stage
            FROM decisions d JOIN features f USING (customer_id)
            WHERE d.stage IS DISTINCT FROM f.current_stage
        ) d ORDER BY customer_id, kind
        """
    ).fetchall()
    connection.execute(
        insert(StateChange),
        [
            {
                "customer_id": c,
                "kind": k,
                "from_value": b,
                "to_value": a,
                "changed_at": moment,
                "run_id": run_id,
                "rule_id": r,
            }
            for c, k, b, a, r in rows
        ],
    ) if rows else None
    webhooks.grades_changed(connection, rows, run_id)
    return len(rows)


def _segment_tags(
    rulebook: Rulebook, con: duckdb.DuckDBPyConnection, connection: Connection, applied: Applied
) -> None:
    """Segments set their tag on members and clear it (only where a rule set it) on the rest."""
    for segment in rulebook.segments:
        source = f"rule:{segment.id}"
        members = con.execute(
            "SELECT customer_id FROM decisions WHERE list_contains(segments, $id)",
            {"id": segment.id},
        ).fetchall()
        current = con.execute(
            "SELECT customer_id FROM tags WHERE tag = $tag AND source = $source",
            {"tag": segment.tag, "source": source},
        ).fetchall()
        wanted = {row[0] for row in members}
        have = {row[0] for row in current}
        insert_ignoring_conflicts(
            connection,
            CustomerTag,
            [
                {"customer_id": c, "tag": segment.tag, "source": source}
                for c in sorted(wanted - have)
            ],
        )
        gone = sorted(have - wanted)
        for start in range(0, len(gone), 500):
            connection.execute(
                delete(CustomerTag).where(
                    CustomerTag.tag == segment.tag,
                    CustomerTag.source == source,
                    CustomerTag.customer_id.in_(gone[start : start + 500]),
                )
            )
        applied.tags_set += len(wanted - have)
        applied.tags_cleared += len(gone)


@dataclass(frozen=True)
class Candidate:
    """A rule that fired for a customer, with the period its key is made of."""

    customer_id: int
    rule_id: str
    period: str
    name: str
    owner_id: int | None
    evidence: dict[str, Any]


def _last_taken(
    connection: Connection, rule_ids: list[str], customers: list[int] | None
) -> dict[tuple[int, str], date]:
    """When each rule last acted on each customer (`customers` None: all of them)."""
    if not rule_ids:
        return {}
    query = select(ActionTaken.customer_id, ActionTaken.rule_id, ActionTaken.taken_at).where(
        ActionTaken.rule_id.in_(rule_ids)
    )
    if customers is not None:
        query = query.where(ActionTaken.customer_id.in_(customers))
    rows = connection.execute(query).all()
    last: dict[tuple[int, str], date] = {}
    for customer_id, rule_id, taken_at in rows:
        key = (customer_id, rule_id)
        if key not in last or taken_at.date() > last[key]:
            last[key] = taken_at.date()
    return last


def _fired(con: duckdb.DuckDBPyConnection, column: str) -> list[tuple[Any, ...]]:
    return con.execute(
        f"""
        SELECT d.customer_id, r.rule_id, f.name, f.owner_id, f.days_to_birthday,
               f.days_to_anniversary, json_extract(d.{column}_values, '$."' || r.rule_id || '"')
        FROM decisions d, unnest(d.{column}) AS r(rule_id), features f
        WHERE f.customer_id = d.customer_id
        ORDER BY d.customer_id, r.rule_id
        """
    ).fetchall()


def _candidates(
    rulebook: Rulebook,
    con: duckdb.DuckDBPyConnection,
    connection: Connection,
    today: date,
    applied: Applied,
) -> list[Candidate]:
    import json

    cooldown = {w.id: w.cooldown_days for w in rulebook.warnings}
    few = con.execute("SELECT list(customer_id) FROM decisions HAVING count(*) <= 500").fetchone()
    last = _last_taken(connection, list(cooldown), list(few[0] or []) if few else None)
    found: list[Candidate] = []
    for customer_id, rule_id, name, owner_id, _, _, values in _fired(con, "warnings"):
        taken = last.get((customer_id, rule_id))
        if taken is not None and taken != today and (today - taken).days < cooldown[rule_id]:
            applied.skipped_cooldown += 1
            continue
        found.append(
            Candidate(
                customer_id,
                rule_id,
                today.isoformat(),
                name,
                owner_id,
                json.loads(values) if values else {},
            )
        )
    care = {c.id: c for c in rulebook.care}
    for customer_id, rule_id, name, owner_id, to_birthday, to_anniversary, values in _fired(
        con, "care"
    ):
        rule = care[rule_id]
        if rule.occasion == "birthday":
            when = today + timedelta(days=int(to_birthday))
        elif rule.occasion == "anniversary":
            when = today + timedelta(days=int(to_anniversary))
        else:
            when = _next_festival(rule.festivals, today, rule.days_ahead)
        found.append(
            Candidate(
                customer_id,
                rule_id,
                when.isoformat(),
                name,
                owner_id,
                json.loads(values) if values else {},
            )
        )
    return found


def _next_festival(festivals: list[str], today: date, days_ahead: int) -> date:
    from patron.analytics.occasions import festival_days_until

    days = min(d for d in (festival_days_until(f, today) for f in festivals) if d <= days_ahead)
    return today + timedelta(days=days)


@dataclass
class Assignees:
    """Who gets a rule's task: the owner, the owner's team manager, or a named user."""

    managers_by_team: dict[str | None, int]
    team_of: dict[int, str | None]
    by_name: dict[str, int]
    first_admin: int | None

    @classmethod
    def load(cls, connection: Connection) -> Assignees:
        users = connection.execute(
            select(User.id, User.username, User.role, User.team)
            .where(User.active.is_(True))
            .order_by(User.id)
        ).all()
        managers: dict[str | None, int] = {}
        for user_id, _, role, team in users:
            if role == Role.manager and team not in managers:
                managers[team] = user_id
        admins = [u[0] for u in users if u[2] == Role.admin]
        return cls(
            managers,
            {u[0]: u[3] for u in users},
            {u[1]: u[0] for u in users},
            admins[0] if admins else None,
        )

    def resolve(self, assignee: str, owner_id: int | None) -> int | None:
        if assignee in ("owner", "agent"):
            return owner_id
        if assignee == "manager":
            team = self.team_of.get(owner_id) if owner_id is not None else None
            return self.managers_by_team.get(team, self.first_admin)
        return self.by_name.get(assignee, owner_id)


def _render(template: Labels, candidate: Candidate) -> str:
    text = template.get(TITLE_LOCALE) or next(iter(template.values()))
    return text.replace("{name}", candidate.name or "")


@dataclass(frozen=True)
class Context:
    run_id: int | None
    version: int | None
    moment: datetime
    assignees: Assignees
    # Tasks and alerts to insert, written in one executemany each once every key is known.
    tasks: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # Tags to set and customers to release, written in one statement each (not one per
    # customer); flushed before any action that is carried out on the spot, so the store
    # changes in the same order as when every action was written at once.
    tags: list[dict[str, Any]] = field(default_factory=list)
    releases: list[tuple[int, int | None, str]] = field(default_factory=list)

    def flush_changes(self, connection: Connection) -> None:
        """Set the pending tags and release the pending customers."""
        insert_ignoring_conflicts(connection, CustomerTag, self.tags)
        if self.releases:
            _release(connection, self.releases, self.moment)
        self.tags.clear()
        self.releases.clear()

    def flush(self, connection: Connection) -> None:
        """Write everything pending: tags and releases, then tasks and alerts."""
        self.flush_changes(connection)
        if self.tasks:
            connection.execute(insert(Task), self.tasks)
        if self.alerts:
            connection.execute(insert(Alert), self.alerts)
        self.tasks.clear()
        self.alerts.clear()


def _effect(
    action: Action,
    candidate: Candidate,
    key: str,
    label: Labels,
    severity: str,
    context: Context,
    connection: Connection,
    applied: Applied,
) -> None:
    """Carry out one action whose key was new."""
    moment = context.moment
    if action.task is not None:
        task = action.task
        context.tasks.append(
            {
                "customer_id": candidate.customer_id,
                "kind": task.kind,
                "assignee_id": context.assignees.resolve(task.assignee, candidate.owner_id),
                "title": _render(task.title, candidate)[:300],
                "notes": "",
                "status": "open",
                "due_at": moment + timedelta(days=task.due_days),
                "source_rule": candidate.rule_id,
                "idempotency_key": key,
                "created_at": moment,
                "updated_at": moment,
            }
        )
        applied.tasks += 1
    elif action.alert:
        context.alerts.append(
            {
                "customer_id": candidate.customer_id,
                "rule_id": candidate.rule_id,
                "severity": severity,
                "message": label.get(TITLE_LOCALE, candidate.rule_id),
                "raised_at": moment,
                "run_id": context.run_id,
                "rulebook_version": context.version,
                "idempotency_key": key,
                "evidence": candidate.evidence,
            }
        )
        applied.alerts += 1
    elif action.set_tag:
        context.tags.append(
            {
                "customer_id": candidate.customer_id,
                "tag": action.set_tag,
                "source": f"rule:{candidate.rule_id}",
                "created_at": moment,
            }
        )
        applied.tags_set += 1
    elif action.move_to_pool:
        context.releases.append((candidate.customer_id, candidate.owner_id, candidate.rule_id))
        applied.recycled += 1
    else:
        context.flush_changes(connection)
        _act_now(action, candidate, key, label, context, connection, applied)


def _act_now(
    action: Action,
    candidate: Candidate,
    key: str,
    label: Labels,
    context: Context,
    connection: Connection,
    applied: Applied,
) -> None:
    """Clear a tag, notify or move points: actions carried out one customer at a time."""
    if action.clear_tag:
        connection.execute(
            delete(CustomerTag).where(
                CustomerTag.customer_id == candidate.customer_id,
                CustomerTag.tag == action.clear_tag,
            )
        )
        applied.tags_cleared += 1
    elif action.notify:
        # Imported here: the notify domain reads users and customers, and rules must not
        # depend on it at import time. The message goes into this run's transaction.
        from patron.notify.service import notify_for_rule

        stand_in = context.assignees.resolve("manager", candidate.owner_id)
        enqueued = notify_for_rule(
            connection,
            audience=action.notify,
            channel=action.channel,
            customer_id=candidate.customer_id,
            customer_name=candidate.name or "",
            user_id=candidate.owner_id or stand_in,
            subject=label.get(TITLE_LOCALE, candidate.rule_id),
            body=_render(action.message, candidate) if action.message else "",
            dedupe_key=f"rule:{key}",
        )
        applied.notifications += int(enqueued)
    else:
        _points(action, candidate, key, context, connection, applied)


def _points(
    action: Action,
    candidate: Candidate,
    key: str,
    context: Context,
    connection: Connection,
    applied: Applied,
) -> None:
    """Award or deduct points through the ledger; a deduction never takes a balance below 0."""
    from patron.loyalty import service as loyalty  # imported late: loyalty reads the rulebook

    reason = f"rule {candidate.rule_id}"
    with Session(bind=connection) as session:
        if action.award_points:
            loyalty.earn(
                session=session,
                customer_id=candidate.customer_id,
                points=action.award_points,
                reason=reason,
                moment=context.moment,
                idempotency_key=key,
            )
            applied.points_awarded += action.award_points
        elif action.deduct_points:
            try:
                loyalty.redeem(
                    session=session,
                    customer_id=candidate.customer_id,
                    points=action.deduct_points,
                    reason=reason,
                    moment=context.moment,
                    idempotency_key=key,
                )
                applied.points_deducted += action.deduct_points
            except loyalty.InsufficientPoints:
                applied.skipped_insufficient_points += 1
        session.flush()


def _release(
    connection: Connection, moves: list[tuple[int, int | None, str]], moment: datetime
) -> None:
    """Put customers back in the public pool, with an ownership record and an audit entry each.

    Each move is (customer, the owner the decision saw, the rule that released them).
    """
    # Only while the owner is still the one the decision saw: a claim in between wins.
    released = update(Customer).values(owner_id=None, owned_since=None)
    owned = [{"who": c, "owner": o} for c, o, _ in moves if o is not None]
    unowned = [{"who": c} for c, o, _ in moves if o is None]
    if owned:
        connection.execute(
            released.where(
                Customer.id == bindparam("who"), Customer.owner_id == bindparam("owner")
            ),
            owned,
        )
    if unowned:
        connection.execute(
            released.where(Customer.id == bindparam("who"), Customer.owner_id.is_(None)), unowned
        )
    connection.execute(
        insert(OwnershipChange),
        [
            {
                "customer_id": c,
                "from_owner_id": o,
                "to_owner_id": None,
                "reason": "recycle",
                "changed_at": moment,
            }
            for c, o, _ in moves
        ],
    )
    connection.execute(
        insert(AuditEntry),
        [
            {
                "at": moment,
                "action": "pool.recycle",
                "entity": "customer",
                "entity_id": str(c),
                "detail": {"from_owner_id": o, "rule": reason},
            }
            for c, o, reason in moves
        ],
    )


def _take(
    connection: Connection,
    context: Context,
    planned: list[tuple[str, Candidate, str, dict[str, Any]]],
) -> set[str]:
    """Record planned actions; return the keys that were not taken before."""
    rows = [
        {
            "idempotency_key": key,
            "customer_id": c.customer_id,
            "rule_id": c.rule_id,
            "action": kind,
            "taken_at": context.moment,
            "run_id": context.run_id,
            "rulebook_version": context.version,
            "detail": detail,
        }
        for key, c, kind, detail in planned
    ]
    new: set[str] = set()
    for start in range(0, len(rows), 2_000):
        new.update(
            insert_ignoring_conflicts(
                connection,
                ActionTaken,
                rows[start : start + 2_000],
                ActionTaken.idempotency_key,
            )
        )
    return new


def _rule_actions(rulebook: Rulebook) -> dict[str, tuple[list[Action], Labels, str]]:
    rules: dict[str, tuple[list[Action], Labels, str]] = {}
    for warning in rulebook.warnings:
        rules[warning.id] = (warning.actions, warning.label, warning.severity)
    for care in rulebook.care:
        rules[care.id] = (care.actions, care.label, "low")
    return rules


def _recycling(
    con: duckdb.DuckDBPyConnection, connection: Connection, context: Context, applied: Applied
) -> None:
    rows = con.execute(
        """
        SELECT d.customer_id, f.owner_id, d.recycle, f.name,
               least(coalesce(f.days_since_follow_up, f.days_owned), f.days_owned) AS quiet_days
        FROM decisions d JOIN features f USING (customer_id)
        WHERE d.recycle OR d.recycle_soon ORDER BY d.customer_id
        """
    ).fetchall()
    today = context.moment.date()
    planned = []
    for customer_id, owner_id, recycle, name, quiet_days in rows:
        quiet_since = (today - timedelta(days=int(quiet_days))).isoformat()
        kind = "recycle" if recycle else "recycle_warning"
        candidate = Candidate(
            customer_id, kind, quiet_since, name, owner_id, {"quiet_days": quiet_days}
        )
        planned.append(
            (
                f"{kind}:{customer_id}:{owner_id}:{quiet_since}",
                candidate,
                kind,
                {"owner_id": owner_id},
            )
        )
    new = _take(connection, context, planned)
    moves = [
        (c.customer_id, c.owner_id, "pool.recycle")
        for key, c, kind, _ in planned
        if key in new and kind == "recycle"
    ]
    if moves:
        _release(connection, moves, context.moment)
        applied.recycled += len(moves)
    for key, candidate, kind, _ in planned:
        if key in new and kind == "recycle_warning":
            context.alerts.append(
                {
                    "customer_id": candidate.customer_id,
                    "rule_id": "recycle_warning",
                    "severity": "medium",
                    "message": f"{candidate.name} 即将回收到公海"
                    f"（已 {candidate.evidence['quiet_days']} 天未跟进）",
                    "raised_at": context.moment,
                    "run_id": context.run_id,
                    "rulebook_version": context.version,
                    "idempotency_key": key,
                    "evidence": candidate.evidence,
                }
            )
            applied.alerts += 1
    context.flush(connection)


def apply_decisions(
    rulebook: Rulebook,
    con: duckdb.DuckDBPyConnection,
    connection: Connection,
    *,
    run_id: int | None,
    version: int | None,
    moment: datetime,
    warnings_only: bool = False,
) -> Applied:
    """Record grade and stage changes, set segment tags, and take each rule's actions once.

    `warnings_only` (an event run) takes the warnings' actions and nothing else.
    """
    applied = Applied()
    context = Context(run_id, version, moment, Assignees.load(connection))
    if not warnings_only:
        assert run_id is not None, "a batch run has a run id"
        applied.state_changes = _state_changes(con, connection, run_id, moment)
        _segment_tags(rulebook, con, connection, applied)
    rules = _rule_actions(rulebook)
    warning_ids = {w.id for w in rulebook.warnings}
    planned = []
    found = _candidates(rulebook, con, connection, moment.date(), applied)
    for candidate in found if not warnings_only else [c for c in found if c.rule_id in warning_ids]:
        actions, _, _ = rules[candidate.rule_id]
        for index, action in enumerate(actions):
            key = f"{candidate.rule_id}:{candidate.customer_id}:{candidate.period}:{index}"
            planned.append((key, candidate, action.kind, {"period": candidate.period}))
    new = _take(connection, context, planned)
    for key, candidate, _, _ in planned:
        if key in new:
            actions, label, severity = rules[candidate.rule_id]
            index = int(key.rsplit(":", 1)[1])
            _effect(actions[index], candidate, key, label, severity, context, connection, applied)
    context.flush(connection)
    if not warnings_only:
        _recycling(con, connection, context, applied)
    return applied
