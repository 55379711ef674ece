"""Writing the demo data set as CSV files in Patron's import formats, chunk by chunk.

DuckDB formats and writes each chunk (ids, decimals, quoting), so a million customers and ten
million orders stream to disk without ever being in memory all at once.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np

from patron.demo.generator import AGENTS, DemoChunk, DemoSpec, generate
from patron.demo.rhythm import STATUSES
from patron.demo.vocabulary import vocabulary
from patron.errors import InvalidInput

Table = dict[str, np.ndarray]
FILES = ("customers", "orders", "interactions", "tickets", "responses")


def _id(prefix: str, width: int, column: str) -> str:
    return f"'{prefix}' || lpad(CAST({column} + 1 AS VARCHAR), {width}, '0')"


CUSTOMER_ID = _id("DEMO-C", 8, "customer_number") + " AS customer_id"
QUERIES = {
    "customers": f"""SELECT {_id("DEMO-C", 8, "number")} AS customer_id, name, kind, phone,
        NULLIF(email, '') AS email, NULLIF(gender, '') AS gender, CAST(birthday AS DATE)
        AS birthday,
        NULLIF(lunar_birthday, '') AS lunar_birthday, province, city, address,
        NULLIF(industry, '') AS industry, NULLIF(company, '') AS company,
        NULLIF(credit_code, '') AS credit_code, source, NULLIF(owner, '') AS owner,
        tags, created_at, profile AS demo_profile
        FROM chunk_table LEFT JOIN (
            SELECT customer_number, string_agg(tag, ';' ORDER BY tag) AS tags
            FROM chunk_tags GROUP BY customer_number
        ) AS joined_tags ON joined_tags.customer_number = chunk_table.number
        ORDER BY number""",
    "orders": f"""SELECT {_id("DEMO-O", 10, "number")} AS order_id, {CUSTOMER_ID}, ordered_at,
        CAST(amount_cents / 100 AS DECIMAL(14, 2)) AS amount, s.label AS status,
        c.label AS channel, quantity, p.product_id, p.label AS product_name, currency
        FROM chunk_table
        JOIN status_labels AS s ON s.code = chunk_table.status
        JOIN channel_labels AS c ON c.code = chunk_table.channel
        JOIN product_labels AS p ON p.code = chunk_table.product
        CROSS JOIN currency ORDER BY number""",
    "interactions": f"""SELECT {_id("DEMO-I", 10, "number")} AS interaction_id, {CUSTOMER_ID},
        kind, direction, is_follow_up, occurred_at, "user", summary
        FROM chunk_table ORDER BY number""",
    "tickets": f"""SELECT {_id("DEMO-T", 10, "number")} AS ticket_id, {CUSTOMER_ID}, kind,
        channel, priority, status, subject, category, assignee, opened_at, first_response_at,
        resolved_at, closed_at
        FROM chunk_table ORDER BY number""",
    "responses": f"""SELECT {_id("DEMO-R", 10, "number")} AS response_id, {CUSTOMER_ID}, kind,
        score, CASE WHEN ticket_number >= 0 THEN {_id("DEMO-T", 10, "ticket_number")} END
        AS ticket_id, NULLIF(comment, '') AS comment, answered_at
        FROM chunk_table ORDER BY number""",
}


def _usernames(agent: np.ndarray) -> np.ndarray:
    """Agent indexes as usernames; -1 (the public pool) as an empty cell."""
    return np.asarray(np.array([*AGENTS, ""])[agent])


def _lookup(labels: list[str], **extra: list[str]) -> Table:
    """A small code -> label table to join coded columns against."""
    columns = {"code": np.arange(len(labels), dtype=np.int8), "label": np.array(labels, object)}
    return columns | {name: np.array(values, object) for name, values in extra.items()}


def lookups(spec: DemoSpec) -> dict[str, Table]:
    """The labels behind the orders' status, channel and product codes."""
    words = vocabulary(spec.locale)
    return {
        "status_labels": _lookup(list(STATUSES)),
        "channel_labels": _lookup(list(words.channels)),
        "product_labels": _lookup(
            [name for name, _, _ in words.products],
            product_id=[f"DEMO-P{i + 1:02d}" for i in range(len(words.products))],
        ),
    }


def _as_objects(table: Table) -> Table:
    """NumPy fixed-width strings as Python strings, which DuckDB reads many times faster."""
    return {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in table.items()}


def _prepare(chunk: DemoChunk) -> dict[str, Table]:
    """The columns each file needs, with customer numbers and agent names resolved."""
    numbers = chunk.customers["number"]
    # DuckDB reads NumPy datetimes in seconds, not days; the query casts birthdays back to dates.
    customers = dict(
        chunk.customers,
        owner=_usernames(chunk.customers["agent"]),
        birthday=chunk.customers["birthday"].astype("datetime64[s]"),
    )
    interactions = dict(chunk.interactions, user=_usernames(chunk.interactions["agent"]))
    tickets = dict(chunk.tickets, assignee=_usernames(chunk.tickets["agent"]))
    tables = {
        "customers": customers,
        "orders": dict(chunk.orders),
        "interactions": interactions,
        "tickets": tickets,
        "responses": dict(chunk.responses),
        "tags": dict(chunk.tags),
    }
    for name, table in tables.items():
        if name != "customers":
            table["customer_number"] = numbers[table.pop("customer")]
    return {name: _as_objects(table) for name, table in tables.items()}


def _relation(
    connection: duckdb.DuckDBPyConnection, name: str, tables: dict[str, Table]
) -> duckdb.DuckDBPyRelation:
    """One file's rows for this chunk, as a DuckDB relation over the NumPy columns."""
    connection.register("chunk_table", tables[name])
    connection.register("chunk_tags", tables["tags"])
    return connection.sql(QUERIES[name])


def _append(relation: duckdb.DuckDBPyRelation, target: Path, part: Path) -> None:
    """Write one chunk's rows to a part file and add them to the end of the target file."""
    relation.write_csv(str(part), header=False)
    with part.open("rb") as source, target.open("ab") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)


def export_csv(
    spec: DemoSpec, folder: Path, *, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write customers.csv, orders.csv ... to a folder (replacing them); return rows per file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the folder {folder}: {exc.strerror}") from exc
    counts = dict.fromkeys(FILES, 0)
    connection = duckdb.connect()
    for name, table in lookups(spec).items():
        connection.register(name, table)
    connection.register(
        "currency", {"currency": np.array(["CNY" if spec.locale == "zh_CN" else "USD"], object)}
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".demo-") as scratch:
        part = Path(scratch) / "part.csv"
        for index, chunk in enumerate(generate(spec)):
            tables = _prepare(chunk)
            for name in FILES:
                relation = _relation(connection, name, tables)
                target = folder / f"{name}.csv"
                if index == 0:
                    target.write_text(",".join(relation.columns) + "\n", encoding="utf-8")
                _append(relation, target, part)
                counts[name] += int(tables[name]["number"].size)
            if progress is not None:
                progress(int(chunk.customers["number"].size))
    connection.close()
    return counts
