"""Load the demo data set fast, for benchmarks: the demo generator, written with COPY / executemany.

`patron demo` inserts through SQLAlchemy Core, which takes hours at a million customers on a
shared 2-core machine. This writes the very same generated rows (same seed, same columns,
same ids in the same order) with PostgreSQL's COPY or SQLite's executemany on plain tuples.

    .venv/bin/python benchmarks/demo_bulk.py sqlite:///benchmarks/data/score-1m.db \
        --customers 1000000 --orders-per-customer 10 --as-of 2026-06-30

Benchmark-only: the product's own loader stays `patron demo`.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Engine, Table, text

from patron.db import create_db_engine
from patron.demo import loader
from patron.demo.generator import DemoSpec
from patron.models import Base
from patron.schema import migrate


def _stamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _column_values(column: Any, size: int, kind: Any, dialect: str) -> list[Any]:
    """One column as DB-ready Python values (datetimes as the text SQLAlchemy stores)."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "M":
        unit = "D" if isinstance(kind, Date) else "us"
        texts = np.datetime_as_string(column, unit=unit)
        values = [None if t == "NaT" else t.replace("T", " ") for t in texts.tolist()]
        return values
    if isinstance(column, np.ndarray):
        values = column.tolist()
    elif isinstance(column, list):
        values = list(column)
    else:
        values = [column] * size
    if isinstance(kind, JSON):
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    if isinstance(kind, (DateTime, Date)):
        return [_stamp(v) for v in values]
    if dialect == "sqlite" and values and isinstance(values[0], Decimal):
        return [None if v is None else float(v) for v in values]
    if isinstance(kind, Boolean):
        return [None if v is None else bool(v) for v in values]
    return values


def _defaults(target: Table, given: set[str]) -> dict[str, Any]:
    """Python-side defaults of the columns the demo leaves out (Core would fill these in)."""
    found: dict[str, Any] = {}
    for column in target.columns:
        if column.name in given or column.primary_key or column.default is None:
            continue
        default: Any = column.default
        found[column.name] = default.arg(None) if callable(default.arg) else default.arg
    return found


def fast_insert(
    connection: Connection, name: str, columns: dict[str, Any], *, ids: bool = False
) -> np.ndarray:
    """Stand-in for the demo loader's insert: explicit ids, then one COPY or executemany."""
    target = loader.table(name)
    dialect = connection.dialect.name
    size = next(len(c) for c in columns.values() if isinstance(c, np.ndarray | list))
    if size == 0:
        return np.array([], dtype=np.int64)
    columns = {**_defaults(target, set(columns)), **columns}
    new_ids = np.array([], dtype=np.int64)
    if ids:
        first = int(connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar())
        new_ids = np.arange(first + 1, first + 1 + size, dtype=np.int64)
        columns = {"id": new_ids, **columns}
    lists = [
        _column_values(value, size, target.c[column].type, dialect)
        for column, value in columns.items()
    ]
    rows = list(zip(*lists, strict=True))
    raw: Any = connection.connection.driver_connection
    names = ", ".join(columns)
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
        raw.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)
    else:
        with raw.cursor().copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return new_ids


def _reset_sequences(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for target in Base.metadata.sorted_tables:
            if "id" in target.c and target.c.id.primary_key:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{target.name}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {target.name}), 0) + 1, false)"
                    )
                )


def load(url: str, customers: int, orders_per_customer: float, as_of: date, seed: int) -> float:
    """Create the schema and load the demo; return the seconds it took."""
    engine = create_db_engine(url)
    migrate(engine)
    loader._insert = fast_insert  # type: ignore[assignment]
    end = datetime.combine(as_of, datetime.max.time()).replace(microsecond=0)
    spec = DemoSpec(
        end=end, customers=customers, orders_per_customer=orders_per_customer, seed=seed
    )
    started = time.perf_counter()
    report = loader.load(engine, spec)
    _reset_sequences(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    elapsed = time.perf_counter() - started
    print(json.dumps({"tables": report.tables, "seconds": round(elapsed, 1)}))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    load(args.url, args.customers, args.orders_per_customer, args.as_of, args.seed)


if __name__ == "__main__":
    main()
