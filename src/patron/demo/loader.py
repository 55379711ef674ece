"""Loading the demo data set into the database in one transaction, in bulk.

Re-running is safe: a database that already holds the demo keeps it (the demo users get fresh
passwords), `replace=True` clears it and loads afresh, and a database holding any customer
that is not demo data is never touched. The rows go in column by column through
`patron.demo.bulk` (COPY on PostgreSQL, executemany on SQLite), so a million customers and
ten million orders load in minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, select

from patron import background
from patron.customers.normalise import initials
from patron.db import rollback_journal
from patron.demo import bulk, generator, points
from patron.demo.bulk import table
from patron.demo.generator import (
    AGENTS,
    DEMO_CUSTOMER_PREFIX,
    DemoChunk,
    DemoSpec,
    end_moment,
    external_ids,
    generate,
)
from patron.demo.reference import ensure_products, ensure_surveys
from patron.demo.rhythm import STATUSES
from patron.demo.users import Login, ensure_users
from patron.demo.vocabulary import vocabulary
from patron.errors import Conflict
from patron.models import Base

COUNTED = (
    "users",
    "customers",
    "customer_tags",
    "orders",
    "points_ledger",
    "loyalty_accounts",
    "interactions",
    "tickets",
    "survey_responses",
)
# The tables the demo fills, in load order; those with an id column get explicit ids.
LOADED = [name for name in COUNTED if name != "users"]
WITH_IDS = ("customers", "orders", "points_ledger", "interactions", "tickets", "survey_responses")


@dataclass
class LoadReport:
    """What `patron demo` did: loaded or kept, rows per table and customers per profile."""

    status: str
    tables: dict[str, int] = field(default_factory=dict)
    profiles: dict[str, int] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)


def optional(values: np.ndarray) -> np.ndarray:
    """Empty strings as NULLs."""
    result = values.astype(object)
    result[values == ""] = None
    return result


def linked_ids(ids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Database ids for row indexes, NULL where the index is -1 (no link)."""
    found = ids[np.clip(index, 0, None)] if ids.size else np.zeros(index.size, dtype=np.int64)
    result = found.astype(object)
    result[index < 0] = None
    return result


def json_texts(values: np.ndarray, make: Callable[[str], object]) -> np.ndarray:
    """JSON text for each value, serialised once per distinct value (values repeat)."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([json.dumps(make(str(v))) for v in distinct], dtype=object)[inverse]


def _name_initials(names: np.ndarray) -> np.ndarray:
    """Pinyin initials, computed once per distinct name (names repeat from Faker's pool)."""
    distinct, inverse = np.unique(names, return_inverse=True)
    return np.array([initials(str(n)) for n in distinct], dtype=object)[inverse]


@dataclass(frozen=True)
class _Plan:
    """Everything encoding the rows needs besides the generator: the database's ids and kind."""

    spec: DemoSpec
    dialect: str
    agents: np.ndarray
    product_ids: np.ndarray
    surveys: dict[str, int]
    last_ids: dict[str, int]  # each table's highest id before the load


class _Ids:
    """The next free ids of each table, handed out in row order (the load holds the tables)."""

    def __init__(self, last: dict[str, int]) -> None:
        self.last = dict(last)

    def take(self, name: str, count: int) -> np.ndarray:
        first = self.last[name] + 1
        self.last[name] += count
        return np.arange(first, first + count, dtype=np.int64)


def _customers(chunk: DemoChunk, owners: np.ndarray) -> bulk.Columns:
    c = chunk.customers
    return {
        "external_id": external_ids("customers", c["number"]),
        "kind": c["kind"],
        "name": c["name"],
        "name_initials": _name_initials(c["name"]),
        "phone": c["phone"],
        "email": optional(c["email"]),
        "gender": optional(c["gender"]),
        "birthday": c["birthday"],
        "lunar_birthday": optional(c["lunar_birthday"]),
        "province": c["province"],
        "city": c["city"],
        "address": c["address"],
        "industry": optional(c["industry"]),
        "company": optional(c["company"]),
        "credit_code": optional(c["credit_code"]),
        "source": c["source"],
        "owner_id": linked_ids(owners, c["agent"]),
        "owned_since": c["owned_since"],
        "created_at": c["created_at"],
        "updated_at": c["created_at"],
        "consent": "{}",
        "custom_fields": json_texts(c["profile"], lambda p: {"demo_profile": p}),
    }


def _orders(
    spec: DemoSpec, chunk: DemoChunk, customer_ids: np.ndarray, product_ids: np.ndarray
) -> bulk.Columns:
    o = chunk.orders
    words = vocabulary(spec.locale)
    return {
        "external_id": external_ids("orders", o["number"]),
        "customer_id": customer_ids[o["customer"]],
        "ordered_at": o["ordered_at"],
        "amount": o["amount_cents"] / 100,
        "status": np.array(STATUSES)[o["status"]],
        "channel": np.array(words.channels)[o["channel"]],
        "currency": "CNY" if spec.locale == "zh_CN" else "USD",
        "quantity": o["quantity"],
        "product_id": product_ids[o["product"]],
        "custom_fields": "{}",
        "created_at": o["ordered_at"],
    }


def _points(
    spec: DemoSpec,
    ledger: points.Table,
    chunk: DemoChunk,
    customer_ids: np.ndarray,
    order_ids: np.ndarray,
) -> bulk.Columns:
    order_ext = external_ids("orders", chunk.orders["number"][ledger["order"]])
    zh = spec.locale == "zh_CN"
    reason = np.where(
        ledger["kind"] == "earn",
        "订单积分" if zh else "Points for an order",
        "积分抵扣" if zh else "Redeemed at checkout",
    )
    return {
        "customer_id": customer_ids[ledger["customer"]],
        "kind": ledger["kind"],
        "points": ledger["points"],
        "balance_after": ledger["balance_after"],
        "reason": reason,
        "order_id": order_ids[ledger["order"]],
        "occurred_at": ledger["occurred_at"],
        "idempotency_key": np.strings.add(
            np.strings.add("demo:", ledger["kind"]), np.strings.add(":", order_ext)
        ),
    }


def _accounts(spec: DemoSpec, ledger: points.Table, customer_ids: np.ndarray) -> bulk.Columns:
    balances = points.accounts(ledger)
    return {
        "customer_id": customer_ids[balances["customer"]],
        "balance": balances["balance"],
        "updated_at": end_moment(spec),
    }


def _interactions(chunk: DemoChunk, customer_ids: np.ndarray, agents: np.ndarray) -> bulk.Columns:
    i = chunk.interactions
    return {
        "external_id": external_ids("interactions", i["number"]),
        "customer_id": customer_ids[i["customer"]],
        "kind": i["kind"],
        "direction": i["direction"],
        "is_follow_up": i["is_follow_up"],
        "summary": i["summary"],
        "user_id": agents[i["agent"]],
        "occurred_at": i["occurred_at"],
    }


def _tickets(chunk: DemoChunk, customer_ids: np.ndarray, agents: np.ndarray) -> bulk.Columns:
    t = chunk.tickets
    latest = np.fmax(
        np.fmax(t["opened_at"], t["first_response_at"]), np.fmax(t["resolved_at"], t["closed_at"])
    )
    # A complaint names its category as the root cause; other tickets name none.
    causes = np.where(t["kind"] == "complaint", t["category"], "")
    return {
        "external_id": external_ids("tickets", t["number"]),
        "customer_id": customer_ids[t["customer"]],
        "kind": t["kind"],
        "channel": t["channel"],
        "priority": t["priority"],
        "status": t["status"],
        "subject": t["subject"],
        "description": "",
        "category": t["category"],
        "root_causes": json_texts(causes, lambda c: [c] if c else []),
        "assignee_id": agents[t["agent"]],
        "opened_at": t["opened_at"],
        "first_response_at": t["first_response_at"],
        "resolved_at": t["resolved_at"],
        "closed_at": t["closed_at"],
        "response_due_at": t["response_due_at"],
        "resolution_due_at": t["resolution_due_at"],
        "created_at": t["opened_at"],
        "updated_at": latest,
    }


def _responses(
    chunk: DemoChunk,
    customer_ids: np.ndarray,
    ticket_ids: np.ndarray,
    surveys: dict[str, int],
) -> bulk.Columns:
    r = chunk.responses
    survey_ids = np.array([surveys["nps"], surveys["csat"]])
    return {
        "external_id": external_ids("responses", r["number"]),
        "survey_id": survey_ids[(r["kind"] == "csat").astype(np.int64)],
        "customer_id": customer_ids[r["customer"]],
        "ticket_id": linked_ids(ticket_ids, r["ticket"]),
        "kind": r["kind"],
        "score": r["score"],
        "answers": "{}",
        "comment": r["comment"],
        "answered_at": r["answered_at"],
    }


def _tags(chunk: DemoChunk, customer_ids: np.ndarray, end: np.datetime64) -> bulk.Columns:
    return {
        "customer_id": customer_ids[chunk.tags["customer"]],
        "tag": chunk.tags["tag"],
        "source": "demo",
        "created_at": end,  # as of the data's end, so the same spec gives the same rows
    }


def _chunk_tables(
    plan: _Plan, ids: _Ids, index: int, chunk: DemoChunk
) -> Iterator[tuple[str, bulk.Columns]]:
    """One chunk's rows, table by table in load order, with the ids they get."""
    spec = plan.spec
    customer_ids = ids.take("customers", chunk.customers["number"].size)
    yield "customers", {"id": customer_ids, **_customers(chunk, plan.agents)}
    order_ids = ids.take("orders", chunk.orders["number"].size)
    yield "orders", {"id": order_ids, **_orders(spec, chunk, customer_ids, plan.product_ids)}
    ledger = points.draw_ledger(np.random.default_rng([spec.seed, index, 1]), chunk.orders)
    entries = _points(spec, ledger, chunk, customer_ids, order_ids)
    yield "points_ledger", {"id": ids.take("points_ledger", ledger["kind"].size), **entries}
    yield "loyalty_accounts", _accounts(spec, ledger, customer_ids)
    interactions = _interactions(chunk, customer_ids, plan.agents)
    size = chunk.interactions["number"].size
    yield "interactions", {"id": ids.take("interactions", size), **interactions}
    ticket_ids = ids.take("tickets", chunk.tickets["number"].size)
    yield "tickets", {"id": ticket_ids, **_tickets(chunk, customer_ids, plan.agents)}
    responses = _responses(chunk, customer_ids, ticket_ids, plan.surveys)
    size = chunk.responses["number"].size
    yield "survey_responses", {"id": ids.take("survey_responses", size), **responses}
    yield "customer_tags", _tags(chunk, customer_ids, end_moment(spec))


def _batches(plan: _Plan) -> Iterator[bulk.Batch | int]:
    """The whole demo encoded for the database, table by table; after each chunk its size."""
    ids = _Ids(plan.last_ids)
    for index, chunk in enumerate(generate(plan.spec)):
        for name, columns in _chunk_tables(plan, ids, index, chunk):
            yield bulk.encode(plan.dialect, name, columns)
        yield int(chunk.customers["number"].size)


def _demo_state(connection: Connection) -> tuple[int, int]:
    """How many customers are demo data, and how many are not."""
    customers = table("customers")
    is_demo = customers.c.external_id.like(f"{DEMO_CUSTOMER_PREFIX}%")
    demo = connection.scalar(select(func.count()).where(is_demo)) or 0
    other = connection.scalar(select(func.count()).select_from(customers).where(~is_demo)) or 0
    return int(demo), int(other)


def _clear(connection: Connection) -> None:
    """Delete the customers, the scoring runs and every row that refers to either."""
    doomed = {table("customers"), table("scoring_runs")}
    ordered = Base.metadata.sorted_tables
    grew = True
    while grew:
        found = {
            t
            for t in ordered
            if t not in doomed and any(fk.column.table in doomed for fk in t.foreign_keys)
        }
        doomed |= found
        grew = bool(found)
    for target in reversed(ordered):
        if target in doomed:
            connection.execute(delete(target))


def _summary(connection: Connection) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per demo table and demo customers per profile, as the database holds them."""
    tables = {
        name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
        for name in COUNTED
    }
    profile = table("customers").c.custom_fields["demo_profile"].as_string()
    rows = connection.execute(select(profile, func.count()).group_by(profile)).all()
    return tables, {str(p): int(n) for p, n in rows if p is not None}


def load(
    engine: Engine,
    spec: DemoSpec,
    *,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load the demo in one transaction: a failure leaves the database as it was."""
    with engine.connect() as connection, rollback_journal(connection), connection.begin():
        demo, other = _demo_state(connection)
        if other:
            raise Conflict(
                f"this database already holds {other:,} customers that are not demo data; "
                "load the demo into an empty database (for example --db sqlite:///demo.db)"
            )
        user_ids, logins = ensure_users(connection, spec.locale)
        status = "kept" if demo and not replace else "loaded"
        if status == "loaded":
            if demo:
                _clear(connection)
            _load_chunks(connection, spec, user_ids, progress)
        tables, profiles = _summary(connection)
    return LoadReport(status, tables, profiles, logins)


def _load_chunks(
    connection: Connection,
    spec: DemoSpec,
    user_ids: dict[str, int],
    progress: Callable[[int], None] | None,
) -> None:
    plan = _Plan(
        spec=spec,
        dialect=connection.dialect.name,
        agents=np.array([user_ids[name] for name in AGENTS], dtype=np.int64),
        product_ids=ensure_products(connection, spec.locale),
        surveys=ensure_surveys(connection, spec.locale),
        last_ids={name: bulk.last_id(connection, name) for name in WITH_IDS},
    )
    # More than one chunk: a second process generates and encodes the next rows while this
    # one (and the database server) writes the current ones.
    several = spec.customers > generator.CHUNK_CUSTOMERS
    with bulk.bulk_load(connection, LOADED), background.items(_batches(plan), several) as items:
        for item in items:
            if isinstance(item, bulk.Batch):
                bulk.write_batch(connection, item)
            elif progress is not None:
                progress(item)
    bulk.reset_sequences(connection, list(WITH_IDS))
