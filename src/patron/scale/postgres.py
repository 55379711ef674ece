"""PostgreSQL at scale: a large synthetic store made in SQL, and the plans of the hot queries.

`fill` writes customers, orders, tasks, tickets, outbox messages and tags with
`INSERT ... SELECT generate_series`, a chunk of customers at a time, with the secondary indexes
dropped during the load and rebuilt after it (a bulk load's usual order: building an index
once is many times cheaper than keeping it up to date row by row). `HOT_QUERIES` are the
statements behind the busiest screens and workers, written as the repositories issue them;
`explain` returns PostgreSQL's plan for each, and `scan_kinds` the access methods a plan uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Index, text

from patron.db import Base

LOADED_TABLES = (
    "customers",
    "customer_scores",
    "orders",
    "tasks",
    "tickets",
    "outbox_messages",
    "customer_tags",
)
OWNERS = 200
MOMENT = "TIMESTAMP '2026-06-30 12:00:00'"

# Per chunk of customers [lo, hi): each statement is one INSERT ... SELECT generate_series.
# Names are 客户<n>, initials kh<n>, so a pinyin prefix like 'kh12345' matches a few rows.
_FILL = {
    "customers": """
        INSERT INTO customers (id, external_id, kind, name, name_initials, phone, email, gender,
            province, city, owner_id, owned_since, locked, consent, custom_fields, deleted_at,
            created_at, updated_at)
        SELECT n, 'C' || n, CASE WHEN n % 10 = 0 THEN 'company' ELSE 'person' END,
            '客户' || n, 'kh' || n, '138' || lpad((n % 100000000)::text, 8, '0'),
            'c' || n || '@example.com', CASE WHEN n % 2 = 0 THEN 'F' ELSE 'M' END,
            (ARRAY['广东','浙江','江苏','北京','上海','四川'])[n % 6 + 1],
            (ARRAY['广州','杭州','南京','北京','上海','成都','深圳','苏州'])[n % 8 + 1],
            CASE WHEN n % 5 = 0 THEN NULL ELSE n % :owners + 1 END,
            CASE WHEN n % 5 = 0 THEN NULL ELSE {moment} - (n % 700) * INTERVAL '1 day' END,
            n % 50 = 0, '{{}}'::jsonb, '{{}}'::jsonb,
            CASE WHEN n % 200 = 0 THEN {moment} END,
            {moment} - (n % 1500) * INTERVAL '1 day', {moment}
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1) AS n
    """,
    # Each customer's score row is made by the database on its insert; the scores go onto it.
    "customer_scores": """
        UPDATE customer_scores SET
            grade = (ARRAY['A','B','B','C','C','C','D','D','D','D'])[n % 10 + 1],
            stage = (ARRAY['active','at_risk','dormant','churned','new','prospect'])[n % 6 + 1],
            rfm_segment = (ARRAY['champions','loyal','at_risk','hibernating','new'])[n % 5 + 1],
            value_class = (ARRAY['high','medium','low'])[n % 3 + 1],
            clv = round(((n * 7919) % 100000)::numeric / 10, 2),
            churn_risk = ((n * 104729) % 1000) / 1000.0,
            p_alive = ((n * 15485863) % 1000) / 1000.0
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1) AS n WHERE customer_id = n
    """,
    "orders": """
        INSERT INTO orders (external_id, customer_id, ordered_at, amount, status, channel,
            currency, quantity, custom_fields, created_at)
        SELECT 'O' || n, (n * 7) % (:hi - :lo) + :lo, {moment} - (n % 1000) * INTERVAL '1 day',
            (n % 997) + 9.9, CASE WHEN n % 20 = 0 THEN 'refunded' ELSE 'paid' END,
            (ARRAY['store','online','wechat'])[n % 3 + 1], 'CNY', 1, '{{}}'::jsonb, {moment}
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1) AS n
    """,
    "tasks": """
        INSERT INTO tasks (customer_id, assignee_id, kind, title, notes, status, due_at,
            idempotency_key, created_at, updated_at)
        SELECT n, n % :owners + 1, 'follow_up', '回访 客户' || n, '',
            (ARRAY['open','open','snoozed','done','done','done','cancelled'])[n % 7 + 1],
            {moment} + ((n % 60) - 30) * INTERVAL '1 day', 'task-' || n, {moment}, {moment}
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1, 20) AS n
    """,
    "tickets": """
        INSERT INTO tickets (customer_id, kind, channel, priority, status, subject, description,
            root_causes, assignee_id, opened_at, resolved_at, closed_at, resolution_due_at,
            paused_hours, resolutions, created_at, updated_at)
        SELECT n, (ARRAY['inquiry','aftersale','complaint'])[n % 3 + 1], 'phone', 'normal',
            (ARRAY['new','assigned','in_progress','resolved','closed','closed',
                   'closed'])[n % 7 + 1],
            '工单 ' || n, '', '[]'::jsonb, n % :owners + 1,
            {moment} - (n % 400) * INTERVAL '1 day',
            CASE WHEN n % 7 >= 3 THEN {moment} - (n % 300) * INTERVAL '1 day' END,
            CASE WHEN n % 7 >= 4 THEN {moment} - (n % 300) * INTERVAL '1 day' END,
            {moment} + ((n % 10) - 5) * INTERVAL '1 day', 0, 0, {moment}, {moment}
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1, 20) AS n
    """,
    "outbox_messages": """
        INSERT INTO outbox_messages (channel, recipient, subject, body, payload, customer_id,
            dedupe_key, status, attempts, next_attempt_at, created_at, sent_at)
        SELECT 'sms', '138' || n, '', '祝您生日快乐', '{{}}'::jsonb, n, 'msg-' || n,
            CASE WHEN n % 1000 = 1 THEN 'pending' ELSE 'sent' END, 1,
            {moment} - (n % 30) * INTERVAL '1 minute', {moment},
            CASE WHEN n % 1000 = 1 THEN NULL ELSE {moment} END
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1, 10) AS n
    """,
    "customer_tags": """
        INSERT INTO customer_tags (customer_id, tag, source, created_at)
        SELECT n, (ARRAY['高价值','高频','近期投诉','流失预警','VIP'])[n % 5 + 1], 'rule', {moment}
        FROM generate_series(CAST(:lo AS BIGINT), :hi - 1, 5) AS n
    """,
}

_USERS = """
    INSERT INTO users (id, username, display_name, role, active, failed_logins, created_at,
        updated_at)
    SELECT n, 'agent' || n, '销售' || n, CASE WHEN n = 1 THEN 'manager' ELSE 'agent' END, TRUE, 0,
        {moment}, {moment}
    FROM generate_series(1, :owners) AS n ON CONFLICT DO NOTHING
"""

_JOBS = """
    INSERT INTO job_locks (name, next_due_at, runs)
    SELECT 'job_' || n, {moment}, 0 FROM generate_series(1, 20) AS n ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class HotQuery:
    """One statement behind a busy screen or worker, and where Patron issues it."""

    name: str
    source: str
    sql: str


# The WHERE and ORDER BY of each statement follow the named function (lists sort as
# api.pagination.paginate does: a nullable column `DESC NULLS LAST`, then the id). Attributes above
# are drawn by modulo, so they correlate: agent 7 owns 1 in 200 customers, all of them grade D;
# agent 22 holds 1 in 10 of the tasks; every tag row is 高频. The parameters pick rows that
# exist, in realistic numbers (tens of thousands of an agent's customers at 10M, a few hundred
# due messages).
HOT_QUERIES = (
    HotQuery(
        "customer list: an agent's C/D customers by CLV",
        "api.customer_search.customer_query + customers.api.list_customers",
        "SELECT c.id, c.name, s.grade, s.stage, s.clv FROM customers c JOIN customer_scores s"
        " ON s.customer_id = c.id WHERE c.owner_id = 7 AND c.deleted_at IS NULL"
        " AND c.merged_into_id IS NULL AND s.grade IN ('C', 'D')"
        " ORDER BY s.clv DESC NULLS LAST, c.id DESC LIMIT 51",
    ),
    HotQuery(
        "customer list: everyone's, by CLV (manager)",
        "api.customer_search.customer_query + customers.api.list_customers",
        "SELECT c.id, c.name, s.grade, s.stage, s.clv FROM customers c JOIN customer_scores s"
        " ON s.customer_id = c.id WHERE c.deleted_at IS NULL AND c.merged_into_id IS NULL"
        " ORDER BY s.clv DESC NULLS LAST, c.id DESC LIMIT 51",
    ),
    HotQuery(
        "customer list: one stage, filtered by tag",
        "api.customer_search.customer_query (stage, tags)",
        "SELECT c.id, c.name FROM customers c JOIN customer_scores s ON s.customer_id = c.id"
        " WHERE c.deleted_at IS NULL AND c.merged_into_id IS NULL AND s.stage = 'at_risk'"
        " AND EXISTS (SELECT 1 FROM"
        " customer_tags t WHERE t.customer_id = c.id AND t.tag = '高频')"
        " ORDER BY c.id, c.id LIMIT 51",
    ),
    HotQuery(
        "pinyin search: initials prefix",
        "api.customer_search.text_search (name_initials LIKE 'kh12345%')",
        "SELECT id, name FROM customers WHERE deleted_at IS NULL AND merged_into_id IS NULL"
        " AND name_initials LIKE 'kh12345%' ORDER BY id, id LIMIT 51",
    ),
    HotQuery(
        "name search: text or pinyin initials",
        "api.customer_search.text_search (name ILIKE '%..%' OR name_initials LIKE '..%')",
        "SELECT id, name FROM customers WHERE deleted_at IS NULL AND merged_into_id IS NULL"
        " AND (name ILIKE '%客户12345%' OR name_initials LIKE '客户12345%')"
        " ORDER BY id, id LIMIT 51",
    ),
    HotQuery(
        "customer 360: the customer and the last orders",
        "customers.repository.get + the customer page's order history",
        "SELECT o.id, o.ordered_at, o.amount, o.status FROM customers c JOIN orders o"
        " ON o.customer_id = c.id WHERE c.id = 4242 ORDER BY o.ordered_at DESC LIMIT 20",
    ),
    HotQuery(
        "task inbox: an agent's live tasks, soonest due",
        "web.work_queries.inbox",
        "SELECT id, title, due_at FROM tasks WHERE status IN ('open', 'snoozed')"
        " AND assignee_id = 22 ORDER BY _due IS NULL, _due, id LIMIT 50".replace(
            "_due",
            "(CASE WHEN status = 'snoozed' THEN coalesce(snoozed_until, due_at) ELSE due_at END)",
        ),
    ),
    HotQuery(
        "ticket board: one column, soonest resolution due",
        "web.work_queries.board",
        "SELECT id, subject, resolution_due_at FROM tickets WHERE status = 'in_progress'"
        " ORDER BY resolution_due_at IS NULL, resolution_due_at, id LIMIT 50",
    ),
    HotQuery(
        "outbox claim: due messages for a worker",
        "notify.worker.claim",
        "SELECT id FROM outbox_messages WHERE (status IN ('pending', 'failed')"
        f" AND next_attempt_at <= {MOMENT}) OR (status = 'sending' AND lease_until < {MOMENT}"
        " AND attempts < 5) ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED",
    ),
    HotQuery(
        "job lock: take a due job",
        "worker.locks.acquire",
        "UPDATE job_locks SET locked_by = 'w1', runs = runs + 1 WHERE name = 'job_3'"
        f" AND (lease_until IS NULL OR lease_until < {MOMENT})"
        f" AND (next_due_at IS NULL OR next_due_at <= {MOMENT})",
    ),
)


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(1, total + 1, size):
        yield lo, min(lo + size, total + 1)


def _secondary_indexes() -> list[Index]:
    return [
        index
        for table in Base.metadata.sorted_tables
        if table.name in LOADED_TABLES
        for index in table.indexes
    ]


def _statement(sql: str) -> Any:
    return text(sql.format(moment=MOMENT))


def fill(
    engine: Engine,
    customers: int,
    *,
    chunk: int = 1_000_000,
    budget_seconds: float | None = None,
    report: Callable[[str], None] = print,
) -> int:
    """Load `customers` customers (and their orders, tasks, tickets, outbox, tags) into an
    empty migrated database; stop early after `budget_seconds`. Returns the customers loaded."""
    started = time.monotonic()
    loaded = 0
    with engine.begin() as connection:
        connection.execute(_statement(_USERS), {"owners": OWNERS})
        connection.execute(_statement(_JOBS))
        for index in _secondary_indexes():
            index.drop(connection, checkfirst=True)
    for lo, hi in _chunks(customers, chunk):
        with engine.begin() as connection:
            for sql in _FILL.values():
                connection.execute(_statement(sql), {"lo": lo, "hi": hi, "owners": OWNERS})
        loaded = hi - 1
        report(f"loaded {loaded:,} customers in {time.monotonic() - started:.0f} s")
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            report("time budget spent: stopping the load here")
            break
    _finish(engine, report)
    return loaded


def _finish(engine: Engine, report: Callable[[str], None]) -> None:
    """Rebuild the dropped indexes, move the id sequences past the loaded ids, analyse."""
    with engine.begin() as connection:
        connection.execute(text("SET maintenance_work_mem = '512MB'"))
        for index in _secondary_indexes():
            index.create(connection, checkfirst=True)
        for table in ("users", "customers"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    report("indexes rebuilt")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # The generated names and initials are sequential ("客户12345", "kh12345"): from the
        # default sample of 30,000 rows the planner now and then misjudged how few names a
        # search prefix matches and walked the primary key instead of the search indexes.
        connection.execute(
            text(
                "ALTER TABLE customers ALTER COLUMN name SET STATISTICS 1000,"
                " ALTER COLUMN name_initials SET STATISTICS 1000"
            )
        )
        connection.execute(text("VACUUM ANALYZE"))
    report("vacuumed and analysed")


def explain(connection: Connection, query: HotQuery, *, analyze: bool = False) -> dict[str, Any]:
    """PostgreSQL's JSON plan for the statement (executed, with buffers, when `analyze`); any
    write the statement makes is rolled back."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    transaction = connection.begin_nested()
    try:
        raw = connection.execute(text(f"EXPLAIN ({options}) {query.sql}")).scalar_one()
    finally:
        transaction.rollback()
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    return plan


def explain_text(connection: Connection, query: HotQuery) -> str:
    """The EXPLAIN (ANALYZE, BUFFERS) text of the statement; writes are rolled back."""
    transaction = connection.begin_nested()
    try:
        rows = connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {query.sql}")).scalars()
        return "\n".join(rows)
    finally:
        transaction.rollback()


def scan_kinds(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (node type, relation) pair that reads a table or an index in the plan."""
    found: set[tuple[str, str]] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node or "Index Name" in node:
            found.add((node["Node Type"], node.get("Relation Name", node.get("Index Name", ""))))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return found
