"""The 1M-customer PostgreSQL database the page benchmark reads, generated in the database.

Rows are made by set-based `INSERT ... SELECT generate_series` statements (seeded with
`setseed`), so a million customers, three million orders, a scoring run's snapshots, tasks
and tickets take minutes rather than the hours a row-by-row load would. The shapes follow
the demo set: Chinese names with their pinyin initials, 70% of customers owned by twenty
agents in two teams, the rest in the pool, grades A–D, stages, RFM segments and warnings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from patron.customers.normalise import initials

TEAMS = ("华东组", "华南组")
AGENTS = 20
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力飞鹏宇晨浩然欣怡"
# The same initials the app stores for a name, one letter per character here.
SURNAME_INITIALS = "".join(initials(ch) for ch in SURNAMES)
GIVEN_INITIALS = "".join(initials(ch) for ch in GIVEN)
SEGMENTS = (
    "champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost",
)  # fmt: skip
STAGES = ("new", "active", "active", "active", "at_risk", "dormant", "churned", "won_back")
VALUE_CLASSES = ("important_value", "important_retain", "general_develop", "general_winback")
Log = Callable[[str], None]

USERS = """
INSERT INTO users (username, display_name, role, team, active, failed_logins, created_at,
                   updated_at)
SELECT name, name, role, team, true, 0, now(), now()
FROM (VALUES ('bench-admin', 'admin', NULL), ('bench-manager', 'manager', %(east)s),
             ('bench-analyst', 'analyst', NULL)) AS u(name, role, team)
UNION ALL
SELECT 'bench-agent' || lpad(a::text, 2, '0'), 'bench-agent' || lpad(a::text, 2, '0'), 'agent',
       CASE WHEN a <= %(agents)s / 2 THEN %(east)s ELSE %(south)s END, true, 0, now(), now()
FROM generate_series(1, %(agents)s) AS a
"""

CUSTOMERS = """
INSERT INTO customers (external_id, kind, name, name_initials, phone, gender, province, city,
    owner_id, owned_since, locked, consent, custom_fields, created_at, updated_at)
SELECT 'BENCH' || lpad(g::text, 8, '0'), 'person',
    substr(%(surnames)s, 1 + g %% 24, 1) || substr(%(given)s, 1 + (g / 24) %% 40, 1)
        || substr(%(given)s, 1 + (g / 960) %% 40, 1),
    substr(%(surname_initials)s, 1 + g %% 24, 1)
        || substr(%(given_initials)s, 1 + (g / 24) %% 40, 1)
        || substr(%(given_initials)s, 1 + (g / 960) %% 40, 1),
    '13' || lpad(((g::bigint * 7919) %% 1000000000)::text, 9, '0'),
    CASE WHEN g %% 2 = 0 THEN 'F' ELSE 'M' END, '省' || (g %% 30), '城市' || (g %% 300),
    CASE WHEN r1 < 0.7 THEN (%(agent_ids)s::bigint[])[1 + (g %% %(agents)s)] END,
    now() - interval '200 days', false, '{}', '{}',
    now() - (g %% 1400) * interval '1 day', now()
FROM (SELECT g, random() AS r1 FROM generate_series(1, %(customers)s) AS g) AS drawn
"""

# The database made each customer's empty score row; the scores go onto them.
SCORES = """
UPDATE customer_scores s SET
    grade = (ARRAY['A','B','B','C','C','C','C','D'])[1 + floor(r2 * 8)::int],
    stage = (%(stages)s::text[])[1 + floor(r3 * 8)::int],
    rfm_segment = (%(segments)s::text[])[1 + floor(r1 * 11)::int],
    value_class = (%(value_classes)s::text[])[1 + floor(r2 * 4)::int],
    clv = round((exp(r3 * 9))::numeric, 2), churn_risk = r4, p_alive = 1 - r4, scored_at = now()
FROM (SELECT id, random() AS r1, random() AS r2, random() AS r3, random() AS r4
      FROM customers WHERE external_id LIKE 'BENCH%%') AS drawn
WHERE s.customer_id = drawn.id
"""

ORDERS = """
INSERT INTO orders (external_id, customer_id, ordered_at, amount, status, channel, currency,
                    quantity, custom_fields, created_at)
SELECT 'BO' || lpad(g::text, 10, '0'), %(first_id)s + floor(random() * %(customers)s)::bigint,
    now()::timestamp - random() * interval '1460 days', round((20 + random() * 2000)::numeric, 2),
    (ARRAY['paid','paid','paid','paid','paid','paid','paid','paid','paid','paid','paid',
           'refunded','cancelled'])[1 + floor(random() * 13)::int],
    (ARRAY['web','app','store','wechat','phone'])[1 + floor(random() * 5)::int], 'CNY', 1, '{}',
    now()
FROM generate_series(1, %(orders)s) AS g
"""

RUN = """
INSERT INTO scoring_runs (as_of, horizon_days, status, started_at, finished_at, purchase_model,
                          models, customers)
VALUES (now(), 90, 'finished', now(), now(), 'bgnbd', '{}', %(customers)s) RETURNING id
"""

SNAPSHOTS = """
INSERT INTO score_snapshots (run_id, customer_id, grade, stage, rfm_segment, value_class, clv,
    p_alive, churn_risk, warnings, r_score, f_score, features, explain)
SELECT %(run_id)s, customer_id, grade, stage, rfm_segment, value_class, clv::float, p_alive,
    churn_risk,
    CASE WHEN churn_risk > 0.85 THEN 'high_churn_risk' WHEN churn_risk > 0.75 THEN 'declining'
         ELSE '' END,
    1 + customer_id %% 5, 1 + (customer_id / 5) %% 5,
    jsonb_build_object('r_score', 1 + customer_id %% 5, 'f_score', 1 + (customer_id / 5) %% 5,
        'recency_days', customer_id %% 700, 'frequency', customer_id %% 9,
        'monetary_total', clv),
    jsonb_build_object('grade', jsonb_build_object('rule', grade, 'values',
        jsonb_build_object('clv', clv)))
FROM customer_scores
"""

TASKS = """
INSERT INTO tasks (customer_id, assignee_id, kind, title, notes, status, due_at, created_at,
                   updated_at)
SELECT c.id, c.owner_id, 'follow_up', c.name || ': 回访', '',
    (ARRAY['open','open','done','snoozed'])[1 + (c.id %% 4)::int],
    now() + ((c.id %% 60) - 30) * interval '1 day', now(), now()
FROM customers c WHERE c.owner_id IS NOT NULL AND c.id %% 5 = 0
"""

TICKETS = """
INSERT INTO tickets (customer_id, kind, channel, priority, status, subject, description,
    root_causes, assignee_id, opened_at, response_due_at, resolution_due_at, paused_hours,
    resolutions, created_at, updated_at)
SELECT c.id, (ARRAY['inquiry','presale','aftersale','complaint'])[1 + (c.id %% 4)::int], 'phone',
    'normal', (ARRAY['new','assigned','in_progress','resolved','closed'])[1 + (c.id %% 5)::int],
    '咨询 ' || c.name, '', '[]', c.owner_id, now() - (c.id %% 30) * interval '1 day',
    now() + interval '4 hours', now() + interval '2 days', 0, 0, now(), now()
FROM customers c WHERE c.id %% 10 = 3
"""


# Warnings raised and survey answers over the year before the run, for the dashboard's trends.
ALERTS = """
INSERT INTO alerts (customer_id, rule_id, severity, message, raised_at, idempotency_key, evidence)
SELECT c, (%(rules)s::text[])[k], (%(severities)s::text[])[k], '',
    %(as_of)s - random() * interval '365 days', 'bench:' || g || ':' || c, '{}'
FROM (SELECT g, %(first_id)s + floor(random() * %(customers)s)::bigint AS c,
             1 + floor(random() * 5)::int AS k
      FROM generate_series(1, %(alerts)s) AS g) AS drawn
"""

ANSWERS = """
INSERT INTO survey_responses (customer_id, kind, score, answers, comment, answered_at)
SELECT c, kind, CASE WHEN kind = 'nps' THEN floor(random() * 11)::int
                     ELSE 1 + floor(random() * 5)::int END,
    '{}', '', %(as_of)s - random() * interval '365 days'
FROM (SELECT %(first_id)s + floor(random() * %(customers)s)::bigint AS c,
             CASE WHEN random() < 0.6 THEN 'nps' ELSE 'csat' END AS kind
      FROM generate_series(1, %(answers)s)) AS drawn
"""
TREND_RULES = (
    "high_churn_risk",
    "spend_drop",
    "frequency_drop",
    "valuable_quiet",
    "complaints_rising",
)
TREND_SEVERITIES = ("high", "medium", "high", "critical", "high")


def _step(conn: psycopg.Connection, log: Log, label: str, sql: str, params: dict) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    conn.execute(sql, params)
    conn.commit()
    log(f"{label}: {time.perf_counter() - started:.0f} s")


def generate(conninfo: str, *, customers: int, orders_per_customer: float, log: Log) -> None:
    """Fill an empty, migrated database with the benchmark's users, customers and activity."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT setseed(0.42)")
        _step(conn, log, "users", USERS, {"agents": AGENTS, "east": TEAMS[0], "south": TEAMS[1]})
        agent_ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM users WHERE username LIKE 'bench-agent%%' ORDER BY id"
            )
        ]
        names = {
            "surnames": SURNAMES, "given": GIVEN, "surname_initials": SURNAME_INITIALS,
            "given_initials": GIVEN_INITIALS,
        }  # fmt: skip
        _step(conn, log, "customers", CUSTOMERS, {
            **names, "agent_ids": agent_ids, "agents": AGENTS, "customers": customers,
        })  # fmt: skip
        _step(conn, log, "customer scores", SCORES, {
            "stages": list(STAGES), "segments": list(SEGMENTS),
            "value_classes": list(VALUE_CLASSES),
        })  # fmt: skip
        first_id = conn.execute("SELECT min(id) FROM customers").fetchone()[0]  # type: ignore[index]
        total_orders = int(customers * orders_per_customer)
        _step(conn, log, "orders", ORDERS, {
            "first_id": first_id, "customers": customers, "orders": total_orders,
        })  # fmt: skip
        run_id = conn.execute(RUN, {"customers": customers}).fetchone()[0]  # type: ignore[index]
        _step(conn, log, "score snapshots", SNAPSHOTS, {"run_id": run_id})
        _step(conn, log, "tasks", TASKS, {})
        _step(conn, log, "tickets", TICKETS, {})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        log(f"vacuum analyze: {time.perf_counter() - started:.0f} s")


def generate_trend_records(conninfo: str, *, alerts_per_customer: float,
                           answers_per_customer: float, log: Log) -> None:  # fmt: skip
    """Alerts and survey answers spread over the year before the latest run, added to a
    generated database that has none (the first generator made neither)."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT setseed(0.43)")
        first_id, customers = conn.execute("SELECT min(id), count(*) FROM customers").fetchone()  # type: ignore[misc]
        as_of = conn.execute("SELECT as_of FROM scoring_runs ORDER BY id DESC LIMIT 1").fetchone()[
            0
        ]  # type: ignore[index]
        common = {"first_id": first_id, "customers": customers, "as_of": as_of}
        _step(conn, log, "alerts", ALERTS, {
            **common, "alerts": int(customers * alerts_per_customer), "rules": list(TREND_RULES),
            "severities": list(TREND_SEVERITIES),
        })  # fmt: skip
        _step(conn, log, "survey answers", ANSWERS, {
            **common, "answers": int(customers * answers_per_customer),
        })  # fmt: skip
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE alerts")
        conn.execute("ANALYZE survey_responses")
