"""Turning a run's decisions into changes in the store, each exactly once.

Every action carries an idempotency key (rule, customer, period). The key is written to
`actions_taken` first with "insert, or do nothing if it exists"; only keys that were new go
on to create their task, alert, tag or move. So a rerun, a retry after a crash or two
overlapping runs never act twice.

The step is set-based: a run at a million customers takes millions of actions, so their rows
(keys, tasks with their rendered titles and assignees, alerts, tags, releases) are made by one
DuckDB query over the run's `features` and `decisions`, copied into a temporary table of the
store (`patron_planned`) and carried out by a few `INSERT … SELECT` statements in the order
each action was planned in. Only notifications and points, which go through their own
services, are carried out one at a time; tags and releases planned before one are written
before it, so the store changes in the same order as when each action was taken on the spot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import duckdb
import pyarrow as pa
from sqlalchemy import BindParameter, Connection, DateTime, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.analytics.snapshots import local_setting
from patron.auth.models import Role, User
from patron.db import Base, now
from patron.notify import webhooks
from patron.rules.bulk_write import (
    analyze,
    drop_temp,
    fetch_into_duckdb,
    insert_query,
    is_postgres,
    moment_value,
    stamp,
    temp_table,
    typed,
)
from patron.rules.rulebook import Action, Labels, Rulebook

TITLE_LOCALE: Literal["zh_CN", "en"] = "zh_CN"
PLANNED = "patron_planned"
FRESH = "patron_fresh_keys"
SEGMENT_MOVES = "patron_segment_moves"
# Effects whose rows are written together, and those carried out one customer at a time.
BULK_CHANGES = ("tag", "clear", "release")
ON_THE_SPOT = "spot"
# PostgreSQL's work_mem while the plan is carried out: the keys are sorted into plan order and
# matched against the plan, and each released customer adds entries to three GIN indexes'
# pending lists, merged in this much memory (releasing 202k of 1M customers, measured outside
# the bench lock: 72 s with the default 4 MB, 48 s with 256 MB).
ACTIONS_WORK_MEM = "128MB"


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


def _date(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    """The number of rows of a DuckDB query (fetched to the end: DuckDB wants every result
    finished before the next statement)."""
    return int(con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0])


def _sql_int(value: int | None) -> str:
    return "NULL" if value is None else str(int(value))


# ---------------------------------------------------------------- grade and stage history


_STATE_CHANGES = """
    SELECT d.customer_id, kind, before, after, rule FROM (
        SELECT d.customer_id, 'grade' AS kind, f.current_grade AS before, d.grade AS after,
               d.grade AS rule
        FROM decisions d JOIN features f USING (customer_id)
        WHERE d.grade IS DISTINCT FROM f.current_grade
        UNION ALL
        SELECT d.customer_id, 'stage', f.current_stage, d.stage, d.stage
        FROM decisions d JOIN features f USING (customer_id)
        WHERE d.stage IS DISTINCT FROM f.current_stage
    ) d
"""


def _state_changes(
    con: duckdb.DuckDBPyConnection, connection: Connection, run_id: int, moment: datetime
) -> int:
    """The grade and stage history, in (customer, kind) order, and their webhooks."""
    with _made_once(con, "state_changes", _STATE_CHANGES) as rows:
        if not rows:
            return 0
        insert_query(
            connection,
            con,
            f"SELECT customer_id, kind, before, after, '{stamp(moment)}', {int(run_id)}, rule "
            f"FROM state_changes ORDER BY customer_id, kind",
            "state_changes",
            ("customer_id", "kind", "from_value", "to_value", "changed_at", "run_id", "rule_id"),
        )
        subscriptions = webhooks.subscribers_on(connection)
        if webhooks.wants(subscriptions, webhooks.EventType.customer_grade_changed):
            changed = con.execute(
                "SELECT * FROM state_changes WHERE kind = 'grade' ORDER BY customer_id"
            ).fetchall()
            webhooks.grades_changed(connection, changed, run_id)
        return rows


@contextmanager
def _made_once(con: duckdb.DuckDBPyConnection, name: str, query: str) -> Iterator[int]:
    """The query's rows as a DuckDB table of this name while the block runs, so they are made
    once for counting, copying and reading; yields how many there are."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
    try:
        yield _count(con, f"SELECT * FROM {name}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


# ---------------------------------------------------------------- segment tags


def _segment_tags(
    rulebook: Rulebook, con: duckdb.DuckDBPyConnection, connection: Connection, applied: Applied
) -> None:
    """Segments set their tag on members and clear it (only where a rule set it) on the rest.

    One segment after the other, adding before clearing: two segments of the same tag see each
    other's changes as they did when each was written on its own.
    """
    if not rulebook.segments:
        return
    parts = []
    for number, segment in enumerate(rulebook.segments):
        tag, source = _quoted(segment.tag), _quoted(f"rule:{segment.id}")
        members = (
            f"SELECT DISTINCT customer_id FROM decisions "
            f"WHERE list_contains(segments, {_quoted(segment.id)})"
        )
        have = f"SELECT DISTINCT customer_id FROM tags WHERE tag = {tag} AND source = {source}"
        parts.append(
            f"SELECT {number} AS segment, 'add' AS move, customer_id FROM ({members} EXCEPT {have})"
        )
        parts.append(f"SELECT {number}, 'gone', customer_id FROM ({have} EXCEPT {members})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE segment_moves AS {' UNION ALL '.join(parts)}")
    counts = dict(con.execute("SELECT move, count(*) FROM segment_moves GROUP BY move").fetchall())
    applied.tags_set += int(counts.get("add", 0))
    applied.tags_cleared += int(counts.get("gone", 0))
    if not counts:
        return
    temp_table(
        connection,
        SEGMENT_MOVES,
        (("segment", "INTEGER"), ("move", "VARCHAR(8)"), ("customer_id", "BIGINT")),
    )
    insert_query(
        connection,
        con,
        "SELECT segment, move, customer_id FROM segment_moves ORDER BY segment, move, customer_id",
        SEGMENT_MOVES,
        ("segment", "move", "customer_id"),
    )
    # Looked up by customer: the store's statistics do not know the tags just added, and a
    # plan that scanned this table once per tagged customer would take minutes.
    connection.exec_driver_sql(
        f"CREATE INDEX {SEGMENT_MOVES}_customer ON {SEGMENT_MOVES} (customer_id, segment, move)"
    )
    if is_postgres(connection):
        analyze(connection, SEGMENT_MOVES)
    moving = {
        (int(number), str(move))
        for number, move in con.execute(
            "SELECT DISTINCT segment, move FROM segment_moves"
        ).fetchall()
    }
    created = moment_value(connection, now())
    for number, segment in enumerate(rulebook.segments):
        values = {"number": number, "tag": segment.tag, "source": f"rule:{segment.id}"}
        if (number, "add") in moving:
            connection.execute(
                text(
                    f"INSERT INTO customer_tags (customer_id, tag, source, created_at) "
                    f"SELECT customer_id, :tag, :source, "
                    f"{typed(connection, 'created', 'TIMESTAMP')} FROM {SEGMENT_MOVES} "
                    f"WHERE segment = :number AND move = 'add' "
                    f"ORDER BY customer_id ON CONFLICT DO NOTHING"
                ),
                {**values, "created": created},
            )
        if (number, "gone") not in moving:
            continue
        connection.execute(
            text(
                f"DELETE FROM customer_tags WHERE tag = :tag AND source = :source "
                f"AND EXISTS (SELECT 1 FROM {SEGMENT_MOVES} m WHERE m.segment = :number "
                f"AND m.move = 'gone' AND m.customer_id = customer_tags.customer_id)"
            ),
            values,
        )
    if not is_postgres(connection):
        drop_temp(connection, SEGMENT_MOVES)


def _quoted(value: str) -> str:
    """A string literal for DuckDB (names from the rulebook)."""
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------- who gets a task


@dataclass
class Assignees:
    """Who gets a rule's task: the owner, the owner's team manager, or a named user."""

    managers_by_team: dict[str | None, int]
    team_of: dict[int, str | None]
    by_name: dict[str, int]
    first_admin: int | None

    @classmethod
    def load(cls, connection: Connection) -> Assignees:
        from sqlalchemy import select

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

    def stage_managers(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """The DuckDB table `managers` (owner_id, manager_id) of every active user; the
        manager of an owner who is not among them (or of nobody) is returned."""
        owners = list(self.team_of)
        table = pa.table(
            {
                "owner_id": pa.array(owners, type=pa.int64()),
                "manager_id": pa.array(
                    [self.resolve("manager", owner) for owner in owners], type=pa.int64()
                ),
            }
        )
        con.register("managers_rows", table)
        con.execute("CREATE OR REPLACE TEMP TABLE managers AS SELECT * FROM managers_rows")
        con.unregister("managers_rows")
        return self.managers_by_team.get(None, self.first_admin)


def _render(template: Labels, name: str | None) -> str:
    text_ = template.get(TITLE_LOCALE) or next(iter(template.values()))
    return text_.replace("{name}", name or "")


# ---------------------------------------------------------------- the plan of a run's actions


# The planned actions: DuckDB query columns and the store's temporary table, in this order.
# `effect` says what a new key does: task, alert, tag (set), clear (a tag), release (to the
# pool) or spot (notify or points, carried out one at a time).
PLANNED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "BIGINT"),
    ("key", "VARCHAR(200)"),
    ("customer_id", "BIGINT"),
    ("rule_id", "VARCHAR(64)"),
    ("action", "VARCHAR(32)"),
    ("detail", "TEXT"),
    ("effect", "VARCHAR(8)"),
    ("owner_id", "BIGINT"),
    ("task_kind", "VARCHAR(32)"),
    ("assignee_id", "BIGINT"),
    ("title", "TEXT"),
    ("due_at", "TIMESTAMP"),
    ("severity", "VARCHAR(16)"),
    ("message", "TEXT"),
    ("evidence", "TEXT"),
    ("tag", "VARCHAR(64)"),
    ("source", "VARCHAR(64)"),
    ("reason", "VARCHAR(64)"),
)


def _effect_of(action: Action) -> str:
    if action.task is not None:
        return "task"
    if action.alert:
        return "alert"
    if action.set_tag:
        return "tag"
    if action.move_to_pool:
        return "release"
    if action.clear_tag:
        return "clear"
    return ON_THE_SPOT


def _next_festival(festivals: list[str], today: date, days_ahead: int) -> date:
    from patron.analytics.occasions import festival_days_until

    days = min(d for d in (festival_days_until(f, today) for f in festivals) if d <= days_ahead)
    return today + timedelta(days=days)


RULE_ACTION_SCHEMA: tuple[tuple[str, pa.DataType], ...] = (
    ("part", pa.int32()),
    ("rule_id", pa.string()),
    ("idx", pa.int32()),
    ("action", pa.string()),
    ("effect", pa.string()),
    ("occasion", pa.string()),
    ("festival_day", pa.date32()),
    ("task_kind", pa.string()),
    ("assignee", pa.string()),
    ("assignee_id", pa.int64()),
    ("template", pa.string()),
    ("due_days", pa.int32()),
    ("severity", pa.string()),
    ("message", pa.string()),
    ("tag", pa.string()),
)


def _rule_action_rows(
    rulebook: Rulebook,
    assignees: Assignees,
    today: date,
    fired_care: set[str],
    warnings_only: bool,
) -> Iterator[tuple[Any, ...]]:
    """One row per (rule, action): everything about an action that is the same for every
    customer, rendered once (titles per locale, named assignees, festival dates)."""
    rules: list[tuple[int, str, list[Action], Labels, str, str, date | None]] = []
    for warning in rulebook.warnings:
        rules.append(
            (0, warning.id, warning.actions, warning.label, warning.severity, "warning", None)
        )
    for care in [] if warnings_only else rulebook.care:
        festival = None
        if care.occasion == "festival" and care.id in fired_care:
            festival = _next_festival(care.festivals, today, care.days_ahead)
        rules.append((1, care.id, care.actions, care.label, "low", care.occasion, festival))
    for part, rule_id, actions, label, severity, occasion, festival in rules:
        for index, action in enumerate(actions):
            task = action.task
            assignee, assignee_id, template = None, None, None
            if task is not None:
                template = _render(task.title, "{name}")
                if task.assignee in ("owner", "agent", "manager"):
                    assignee = "owner" if task.assignee == "agent" else task.assignee
                elif task.assignee in assignees.by_name:
                    assignee, assignee_id = "named", assignees.by_name[task.assignee]
                else:
                    assignee = "owner"
            yield (
                part,
                rule_id,
                index,
                action.kind,
                _effect_of(action),
                occasion,
                festival,
                task.kind if task else None,
                assignee,
                assignee_id,
                template,
                task.due_days if task else None,
                severity,
                label.get(TITLE_LOCALE, rule_id),
                action.set_tag or action.clear_tag,
            )


def _stage_rule_actions(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in RULE_ACTION_SCHEMA]
    table = pa.table(
        {
            name: pa.array(values, type=kind)
            for (name, kind), values in zip(RULE_ACTION_SCHEMA, columns, strict=True)
        }
    )
    con.register("rule_actions_rows", table)
    con.execute("CREATE OR REPLACE TEMP TABLE rule_actions AS SELECT * FROM rule_actions_rows")
    con.unregister("rule_actions_rows")


def _stage_cooldowns(
    rulebook: Rulebook,
    con: duckdb.DuckDBPyConnection,
    connection: Connection,
    today: date,
) -> None:
    """The DuckDB table `cooling` of (customer, warning) pairs still in their cooldown: last
    acted on before today and fewer than the rule's cooldown days ago."""
    cooldown = {w.id: w.cooldown_days for w in rulebook.warnings}
    schema = (("customer_id", pa.int64()), ("rule_id", pa.string()))
    if not cooldown:
        fetch_into_duckdb(connection, con, "SELECT 1 WHERE 1 = 0", {}, "cooling", schema)
        return
    few = con.execute("SELECT list(customer_id) FROM decisions HAVING count(*) <= 500").fetchall()
    customers = list(few[0][0] or []) if few else None
    if is_postgres(connection):
        today_, last = "CAST(:today AS DATE)", "CAST(max(taken_at) AS DATE)"
        ago = f"({today_} - {last})"
    else:
        today_, last = ":today", "date(max(taken_at))"
        ago = f"(julianday({today_}) - julianday({last}))"
    cases = " ".join(f"WHEN :rule{n} THEN :days{n}" for n in range(len(cooldown)))
    # Only actions since the longest cooldown began can be a pair's last one still cooling;
    # the index on (rule_id, taken_at) finds them without reading the whole history.
    since = datetime.combine(today - timedelta(days=max(cooldown.values())), datetime.min.time())
    params: dict[str, Any] = {"today": today.isoformat(), "rules": list(cooldown), "since": since}
    for n, (rule_id, days) in enumerate(cooldown.items()):
        params[f"rule{n}"], params[f"days{n}"] = rule_id, days
    expanding: list[BindParameter[Any]] = [
        bindparam("rules", expanding=True),
        bindparam("since", type_=DateTime()),
    ]
    only = ""
    if customers is not None:
        only = " AND customer_id IN :customers"
        expanding.append(bindparam("customers", expanding=True))
        params["customers"] = customers
    query = text(
        "SELECT customer_id, rule_id FROM actions_taken "
        f"WHERE rule_id IN :rules AND taken_at >= :since{only} "
        f"GROUP BY customer_id, rule_id HAVING {last} <> {today_} "
        f"AND {ago} < CASE rule_id {cases} END"
    ).bindparams(*expanding)
    fetch_into_duckdb(connection, con, query, params, "cooling", schema)


def _planned_query(
    moment: datetime, today: date, fallback_manager: int | None, warnings_only: bool
) -> str:
    """Each new action of the rules, in the order they were always taken: warnings before
    care, then by customer, rule and the action's place in the rule."""
    # Warnings still cooling are left out by an anti join of their keys alone before anything
    # else is done with them (a million fired warnings, most of them cooling); the rule's
    # values are read from the decision's JSON only for the few left.
    fired = """
        SELECT 0 AS part, w.customer_id, w.rule_id
        FROM (SELECT d.customer_id, r.rule_id
              FROM decisions d, unnest(d.warnings) AS r(rule_id)) w
        ANTI JOIN cooling s ON s.customer_id = w.customer_id AND s.rule_id = w.rule_id
    """
    if not warnings_only:
        fired += """
        UNION ALL
        SELECT 1, d.customer_id, r.rule_id FROM decisions d, unnest(d.care) AS r(rule_id)
        """
    day = _date(today)
    return f"""
        WITH candidates AS (
            SELECT c.part, c.customer_id, c.rule_id,
                   json_extract(CASE c.part WHEN 0 THEN d.warnings_values ELSE d.care_values END,
                                '$."' || c.rule_id || '"') AS v,
                   f.name, f.owner_id, f.days_to_birthday, f.days_to_anniversary
            FROM ({fired}) c JOIN features f ON f.customer_id = c.customer_id
            JOIN decisions d ON d.customer_id = c.customer_id
        ), actions AS (
            SELECT c.*, a.*, strftime(CASE a.occasion
                WHEN 'warning' THEN {day}
                WHEN 'birthday' THEN {day} + CAST(trunc(c.days_to_birthday) AS INTEGER)
                WHEN 'anniversary' THEN {day} + CAST(trunc(c.days_to_anniversary) AS INTEGER)
                ELSE a.festival_day END, '%Y-%m-%d') AS period
            FROM candidates c JOIN rule_actions a ON a.part = c.part AND a.rule_id = c.rule_id
        )
        SELECT row_number() OVER (ORDER BY a.part, a.customer_id, a.rule_id, a.idx) AS seq,
               a.rule_id || ':' || a.customer_id || ':' || a.period || ':' || a.idx AS key,
               a.customer_id, a.rule_id, a.action,
               '{{"period": "' || a.period || '"}}' AS detail,
               a.effect, a.owner_id, a.task_kind,
               CASE a.assignee
                   WHEN 'owner' THEN a.owner_id
                   WHEN 'manager' THEN CASE WHEN m.owner_id IS NULL
                       THEN {_sql_int(fallback_manager)} ELSE m.manager_id END
                   ELSE a.assignee_id END AS assignee_id,
               left(replace(a.template, '{{name}}', coalesce(a.name, '')), 300) AS title,
               strftime({_timestamp(moment)} + to_days(a.due_days), '%Y-%m-%d %H:%M:%S.%f')
                   AS due_at,
               a.severity, a.message, coalesce(CAST(a.v AS VARCHAR), '{{}}') AS evidence,
               a.tag, 'rule:' || a.rule_id AS source, a.rule_id AS reason
        FROM actions a LEFT JOIN managers m ON m.owner_id = a.owner_id
    """


def _recycling_query(today: date) -> str:
    """The pool's recycling as planned actions: a release, or a warning alert beforehand."""
    quiet = "least(coalesce(f.days_since_follow_up, f.days_owned), f.days_owned)"
    return f"""
        WITH due AS (
            SELECT d.customer_id, f.owner_id, f.name, {quiet} AS quiet_days,
                   CASE WHEN d.recycle THEN 'recycle' ELSE 'recycle_warning' END AS kind,
                   strftime({_date(today)} - CAST(trunc({quiet}) AS INTEGER), '%Y-%m-%d')
                       AS quiet_since
            FROM decisions d JOIN features f USING (customer_id)
            WHERE d.recycle OR d.recycle_soon
        )
        SELECT row_number() OVER (ORDER BY customer_id) AS seq,
               kind || ':' || customer_id || ':' || coalesce(CAST(owner_id AS VARCHAR), 'None')
                   || ':' || quiet_since AS key,
               customer_id, kind AS rule_id, kind AS action,
               '{{"owner_id": ' || coalesce(CAST(owner_id AS VARCHAR), 'null') || '}}' AS detail,
               CASE kind WHEN 'recycle' THEN 'release' ELSE 'alert' END AS effect,
               owner_id, NULL AS task_kind, NULL AS assignee_id, NULL AS title, NULL AS due_at,
               'medium' AS severity,
               coalesce(name, 'None') || ' 即将回收到公海（已 ' || CAST(quiet_days AS VARCHAR)
                   || ' 天未跟进）' AS message,
               '{{"quiet_days": ' || coalesce(CAST(to_json(quiet_days) AS VARCHAR), 'null')
                   || '}}' AS evidence,
               NULL AS tag, NULL AS source, 'pool.recycle' AS reason
        FROM due
    """


# ---------------------------------------------------------------- carrying the plan out


@dataclass(frozen=True)
class Context:
    run_id: int | None
    version: int | None
    moment: datetime
    assignees: Assignees

    def params(self, connection: Connection) -> dict[str, Any]:
        return {
            "moment": moment_value(connection, self.moment),
            "run_id": self.run_id,
            "version": self.version,
        }


def _load_plan(connection: Connection, con: duckdb.DuckDBPyConnection, query: str) -> int:
    """Copy the planned actions into the store's temporary table; how many there are."""
    with _made_once(con, "planned", query) as planned:
        if not planned:
            return 0
        postgres = is_postgres(connection)
        columns = [
            (name, "TEXT" if kind == "TIMESTAMP" and not postgres else kind)
            for name, kind in PLANNED_COLUMNS
        ]
        temp_table(connection, PLANNED, columns)
        names = [name for name, _ in PLANNED_COLUMNS]
        insert_query(connection, con, "SELECT * FROM planned ORDER BY seq", PLANNED, names)
    if not postgres:
        connection.exec_driver_sql(f"CREATE INDEX {PLANNED}_seq ON {PLANNED} (seq)")
    return planned


def _take(connection: Connection, context: Context) -> None:
    """Record the planned actions' keys; drop the planned actions whose key was taken before.

    Dropping the few taken rows of the plan, rather than marking the new ones, leaves a first
    run's plan (millions of rows, every key new) as it was loaded: no row is rewritten."""
    columns = (
        "idempotency_key, customer_id, rule_id, action, taken_at, run_id, rulebook_version, detail"
    )
    postgres = is_postgres(connection)
    detail = "CAST(detail AS JSONB)" if postgres else "detail"
    insert = (
        f"INSERT INTO actions_taken ({columns}) "
        f"SELECT key, customer_id, rule_id, action, {typed(connection, 'moment', 'TIMESTAMP')}, "
        f"{typed(connection, 'run_id', 'BIGINT')}, {typed(connection, 'version', 'INTEGER')}, "
        f"{detail} FROM {PLANNED} WHERE TRUE ORDER BY seq "
        f"ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key"
    )
    params = context.params(connection)
    if postgres:
        # Matched in the keys' own byte order (collation "C"), whatever the plan's column has.
        connection.execute(
            text(
                f"WITH taken AS ({insert}) DELETE FROM {PLANNED} p WHERE NOT EXISTS "
                f'(SELECT 1 FROM taken WHERE taken.idempotency_key = p.key COLLATE "C")'
            ),
            params,
        )
        return
    new = connection.execute(text(insert), params).all()
    temp_table(connection, FRESH, (("key", "TEXT PRIMARY KEY"),))
    for start in range(0, len(new), 10_000):
        connection.exec_driver_sql(
            f"INSERT INTO {FRESH} (key) VALUES (?)",
            [tuple(row) for row in new[start : start + 10_000]],
        )
    connection.exec_driver_sql(f"DELETE FROM {PLANNED} WHERE key NOT IN (SELECT key FROM {FRESH})")
    drop_temp(connection, FRESH)


def _counts(connection: Connection) -> dict[str, int]:
    rows = connection.exec_driver_sql(
        f"SELECT effect, count(*) FROM {PLANNED} GROUP BY effect"
    ).all()
    return {str(effect): int(n) for effect, n in rows}


def _in_range(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"{prefix}seq > :low AND {prefix}seq < :high"


def _write_changes(
    connection: Connection, context: Context, low: int, high: int, counts: dict[str, int]
) -> None:
    """Tags set and cleared, and customers released, by the new actions planned between low
    and high (exclusive), with the effect of writing each in its planned order."""
    params = {**context.params(connection), "low": low, "high": high, "now": None}
    params["now"] = moment_value(connection, now())
    moment = typed(connection, "moment", "TIMESTAMP")
    if counts.get("clear"):
        # A clear removes the tag whoever set it; a set after the last clear adds it unless
        # the customer has it already (the first set after that clear is the one that counts).
        connection.execute(
            text(
                f"DELETE FROM customer_tags WHERE (customer_id, tag) IN (SELECT customer_id, "
                f"tag FROM {PLANNED} WHERE {_in_range()} AND effect = 'clear')"
            ),
            params,
        )
    if counts.get("tag"):
        cleared_later = (
            f"AND NOT EXISTS (SELECT 1 FROM {PLANNED} c WHERE {_in_range('c')} "
            f"AND c.effect = 'clear' AND c.customer_id = p.customer_id AND c.tag = p.tag "
            f"AND c.seq > p.seq) "
            if counts.get("clear")
            else ""
        )
        connection.execute(
            text(
                f"INSERT INTO customer_tags (customer_id, tag, source, created_at) "
                f"SELECT p.customer_id, p.tag, p.source, {moment} FROM {PLANNED} p "
                f"WHERE {_in_range('p')} AND p.effect = 'tag' {cleared_later}"
                f"ORDER BY p.seq ON CONFLICT DO NOTHING"
            ),
            params,
        )
    if not counts.get("release"):
        return
    released = f"SELECT DISTINCT customer_id, owner_id FROM {PLANNED} "
    released += f"WHERE {_in_range()} AND effect = 'release'"
    # Only while the owner is still the one the decision saw: a claim in between wins.
    same_owner = (
        "customers.owner_id IS NOT DISTINCT FROM r.owner_id"
        if is_postgres(connection)
        else "customers.owner_id IS r.owner_id"
    )
    connection.execute(
        text(
            f"UPDATE customers SET owner_id = NULL, owned_since = NULL, "
            f"updated_at = {typed(connection, 'now', 'TIMESTAMP')} FROM ({released}) AS r "
            f"WHERE customers.id = r.customer_id AND {same_owner}"
        ),
        params,
    )
    connection.execute(
        text(
            f"INSERT INTO ownership_changes (customer_id, from_owner_id, to_owner_id, reason, "
            f"changed_at) SELECT customer_id, owner_id, NULL, 'recycle', {moment} "
            f"FROM {PLANNED} WHERE {_in_range()} AND effect = 'release' ORDER BY seq"
        ),
        params,
    )
    detail = (
        "jsonb_build_object('from_owner_id', owner_id, 'rule', reason)"
        if is_postgres(connection)
        else "'{\"from_owner_id\": ' || coalesce(owner_id, 'null') || ', \"rule\": ' "
        "|| json_quote(reason) || '}'"
    )
    connection.execute(
        text(
            f"INSERT INTO audit_log (at, action, entity, entity_id, detail) "
            f"SELECT {moment}, 'pool.recycle', 'customer', CAST(customer_id AS VARCHAR(80)), "
            f"{detail} FROM {PLANNED} WHERE {_in_range()} AND effect = 'release' ORDER BY seq"
        ),
        params,
    )


def _write_tasks_and_alerts(connection: Connection, context: Context) -> None:
    params = context.params(connection)
    moment = typed(connection, "moment", "TIMESTAMP")
    evidence = "CAST(evidence AS JSONB)" if is_postgres(connection) else "evidence"
    connection.execute(
        text(
            f"INSERT INTO tasks (customer_id, kind, assignee_id, title, notes, status, due_at, "
            f"source_rule, idempotency_key, created_at, updated_at) "
            f"SELECT customer_id, task_kind, assignee_id, title, '', 'open', due_at, rule_id, "
            f"key, {moment}, {moment} FROM {PLANNED} WHERE effect = 'task' "
            f"ORDER BY seq"
        ),
        params,
    )
    connection.execute(
        text(
            f"INSERT INTO alerts (customer_id, rule_id, severity, message, raised_at, run_id, "
            f"rulebook_version, idempotency_key, evidence) "
            f"SELECT customer_id, rule_id, severity, message, {moment}, "
            f"{typed(connection, 'run_id', 'BIGINT')}, {typed(connection, 'version', 'INTEGER')}, "
            f"key, {evidence} FROM {PLANNED} WHERE effect = 'alert' ORDER BY seq"
        ),
        params,
    )


@dataclass(frozen=True)
class Spot:
    """A new action carried out on its own: a notification or points."""

    seq: int
    key: str
    customer_id: int
    rule_id: str
    owner_id: int | None
    name: str | None


def _spots(connection: Connection, con: duckdb.DuckDBPyConnection) -> list[Spot]:
    rows = connection.exec_driver_sql(
        f"SELECT seq, key, customer_id, rule_id, owner_id FROM {PLANNED} "
        f"WHERE effect = '{ON_THE_SPOT}' ORDER BY seq"
    ).all()
    if not rows:
        return []
    names = dict(
        con.execute(
            "SELECT customer_id, name FROM features WHERE list_contains($ids, customer_id)",
            {"ids": sorted({row[2] for row in rows})},
        ).fetchall()
    )
    return [Spot(s, k, c, r, o, names.get(c)) for s, k, c, r, o in rows]


def _carry_out(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    context: Context,
    rules: dict[str, tuple[list[Action], Labels, str]],
    applied: Applied,
) -> dict[str, int]:
    """Every new planned action: changes in bulk between the ones taken on the spot, then
    tasks and alerts. The counts of new actions by effect."""
    counts = _counts(connection)
    bounds = connection.exec_driver_sql(
        f"SELECT min(seq), max(seq) FROM {PLANNED} WHERE effect IN "
        f"({', '.join(repr(e) for e in BULK_CHANGES)})"
    ).one()
    first, last = bounds
    if counts.get("clear") and not is_postgres(connection):
        # The clears a set is checked against are found by customer and tag.
        connection.exec_driver_sql(f"CREATE INDEX {PLANNED}_pair ON {PLANNED} (customer_id, tag)")
    written = 0
    for spot in _spots(connection, con) if counts.get(ON_THE_SPOT) else []:
        if first is not None and first < spot.seq and last > written:
            _write_changes(connection, context, written, spot.seq, counts)
        written = spot.seq
        actions, label, _ = rules[spot.rule_id]
        index = int(spot.key.rsplit(":", 1)[1])
        _act_now(actions[index], spot, label, context, connection, applied)
    if first is not None and last > written:
        _write_changes(connection, context, written, last + 1, counts)
    _write_tasks_and_alerts(connection, context)
    return counts


def _act(
    connection: Connection,
    con: duckdb.DuckDBPyConnection,
    context: Context,
    query: str,
    rules: dict[str, tuple[list[Action], Labels, str]],
    applied: Applied,
) -> dict[str, int]:
    """Take the planned actions of the query whose keys are new."""
    if not _load_plan(connection, con, query):
        return {}
    with local_setting(connection, "work_mem", ACTIONS_WORK_MEM):
        _take(connection, context)
        if is_postgres(connection):
            # After the keys: the plans that follow depend on how many actions are new.
            analyze(connection, PLANNED)
        counts = _carry_out(connection, con, context, rules, applied)
    drop_temp(connection, PLANNED)
    return counts


def _act_now(
    action: Action,
    spot: Spot,
    label: Labels,
    context: Context,
    connection: Connection,
    applied: Applied,
) -> None:
    """Notify or move points: actions carried out one customer at a time."""
    if action.notify:
        # Imported here: the notify domain reads users and customers, and rules must not
        # depend on it at import time. The message goes into this run's transaction.
        from patron.notify.service import notify_for_rule

        stand_in = context.assignees.resolve("manager", spot.owner_id)
        enqueued = notify_for_rule(
            connection,
            audience=action.notify,
            channel=action.channel,
            customer_id=spot.customer_id,
            customer_name=spot.name or "",
            user_id=spot.owner_id or stand_in,
            subject=label.get(TITLE_LOCALE, spot.rule_id),
            body=_render(action.message, spot.name) if action.message else "",
            dedupe_key=f"rule:{spot.key}",
        )
        applied.notifications += int(enqueued)
    else:
        _points(action, spot, context, connection, applied)


def _points(
    action: Action, spot: Spot, context: Context, connection: Connection, applied: Applied
) -> None:
    """Award or deduct points through the ledger; a deduction never takes a balance below 0."""
    from patron.loyalty import service as loyalty  # imported late: loyalty reads the rulebook

    reason = f"rule {spot.rule_id}"
    with Session(bind=connection) as session:
        if action.award_points:
            loyalty.earn(
                session=session,
                customer_id=spot.customer_id,
                points=action.award_points,
                reason=reason,
                moment=context.moment,
                idempotency_key=spot.key,
            )
            applied.points_awarded += action.award_points
        elif action.deduct_points:
            try:
                loyalty.redeem(
                    session=session,
                    customer_id=spot.customer_id,
                    points=action.deduct_points,
                    reason=reason,
                    moment=context.moment,
                    idempotency_key=spot.key,
                )
                applied.points_deducted += action.deduct_points
            except loyalty.InsufficientPoints:
                applied.skipped_insufficient_points += 1
        session.flush()


def _rule_actions(rulebook: Rulebook) -> dict[str, tuple[list[Action], Labels, str]]:
    rules: dict[str, tuple[list[Action], Labels, str]] = {}
    for warning in rulebook.warnings:
        rules[warning.id] = (warning.actions, warning.label, warning.severity)
    for care in rulebook.care:
        rules[care.id] = (care.actions, care.label, "low")
    return rules


def _plan_rules(
    rulebook: Rulebook,
    con: duckdb.DuckDBPyConnection,
    connection: Connection,
    context: Context,
    warnings_only: bool,
    applied: Applied,
) -> str:
    """Stage what the rules' planned actions are made of in DuckDB; the query that plans them."""
    today = context.moment.date()
    fired_care = (
        set()
        if warnings_only
        else {
            str(row[0])
            for row in con.execute(
                "SELECT DISTINCT r FROM decisions, unnest(care) AS u(r)"
            ).fetchall()
        }
    )
    rows = list(_rule_action_rows(rulebook, context.assignees, today, fired_care, warnings_only))
    _stage_rule_actions(con, rows)
    fallback = context.assignees.stage_managers(con)
    _stage_cooldowns(rulebook, con, connection, today)
    applied.skipped_cooldown += _count(
        con,
        """
        SELECT 1 FROM decisions d, unnest(d.warnings) AS r(rule_id), features f, cooling s
        WHERE f.customer_id = d.customer_id AND s.customer_id = d.customer_id
          AND s.rule_id = r.rule_id
        """,
    )
    return _planned_query(context.moment, today, fallback, warnings_only)


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
    query = _plan_rules(rulebook, con, connection, context, warnings_only, applied)
    counts = _act(connection, con, context, query, rules, applied)
    applied.tasks += counts.get("task", 0)
    applied.alerts += counts.get("alert", 0)
    applied.tags_set += counts.get("tag", 0)
    applied.tags_cleared += counts.get("clear", 0)
    applied.recycled += counts.get("release", 0)
    if not warnings_only:
        counts = _act(connection, con, context, _recycling_query(moment.date()), {}, applied)
        applied.recycled += counts.get("release", 0)
        applied.alerts += counts.get("alert", 0)
    return applied
