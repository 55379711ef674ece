"""`patron export KIND FILE`: stream a table to CSV or XLSX, written atomically."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from patron.errors import InvalidInput
from patron.exports.tables import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    SCORE_COLUMNS,
    TASK_COLUMNS,
    TICKET_COLUMNS,
    Table,
    customer_rows,
    order_rows,
    score_rows,
    task_rows,
    ticket_rows,
)
from patron.exports.writers import FORMATS, atomic_path, write_csv, write_xlsx

EXPORTS = {
    "customers": Table(CUSTOMER_COLUMNS, customer_rows),
    "orders": Table(ORDER_COLUMNS, order_rows),
    "scores": Table(SCORE_COLUMNS, score_rows),
    "tasks": Table(TASK_COLUMNS, task_rows),
    "tickets": Table(TICKET_COLUMNS, ticket_rows),
}
LOCALES = ("zh_CN", "en")


def export_file(*, engine: Engine, kind: str, path: Path, locale: str) -> int:
    """Write every row of `kind` to `path` (.csv or .xlsx); returns how many rows."""
    table = EXPORTS.get(kind)
    if table is None:
        raise InvalidInput(f"'{kind}' is not an export kind (use one of: {', '.join(EXPORTS)})")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"{path.name}: the export file must end in .csv or .xlsx")
    if locale not in LOCALES:
        raise InvalidInput(f"'{locale}' is not a locale (use zh_CN or en)")
    write = write_csv if suffix == ".csv" else write_xlsx
    # One transaction for the whole export, so it shows one consistent state.
    with engine.connect() as conn, conn.begin():
        rows = table.rows(conn)
        # The first row is fetched before the file is created, so a failing query (no
        # scores yet) leaves no half-made file behind.
        first = next(rows, None)
        with atomic_path(path) as temporary:
            return write(temporary, table.headers(locale), _chain(first, rows))


def _chain(first: list[Any] | None, rest: Iterator[list[Any]]) -> Iterator[list[Any]]:
    if first is not None:
        yield first
        yield from rest
