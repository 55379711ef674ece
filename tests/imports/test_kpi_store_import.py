"""An orders import into a database whose KPI store is built keeps every store table equal
to a rebuild from scratch: new orders, a re-import that changes orders (refunds, moments,
customers, amounts), batches of a few rows, and a normal order written after it."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.kpi import average_clv
from patron.analytics.kpi_breakdowns import DIMENSIONS
from patron.analytics.kpi_store import bulk_orders, ensure_store
from patron.analytics.kpi_stored import average_clv_by, counts_by_period, every_owner
from patron.config import Settings
from patron.imports.service import import_file
from patron.orders.models import OrderStatus
from patron.web.report_queries import calendar_periods
from tests import builders
from tests.imports.files import ORDER_HEADER, write_csv
from tests.imports.kpi_rebuild import assert_store_exact, trigger_names

CUSTOMERS = 24
STATUSES = ["paid"] * 6 + ["refunded", "cancelled"]


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> None:
    """Two agents and the pool owning 24 customers (C000-C023) with orders in 2023, and a
    scoring run with CLVs."""
    draw = random.Random(3)
    with sessions.begin() as session:
        agents = [builders.user(session, f"agent{i}").id for i in range(2)]
        run = builders.scoring_run(session)
        for n in range(CUSTOMERS):
            person = builders.customer(
                session, f"客户{n}", external_id=f"C{n:03d}", owner_id=[None, *agents][n % 3]
            )
            builders.snapshot(session, run, person, clv=float(draw.randrange(900)))
            for _ in range(draw.randrange(4)):
                moment = datetime(2023, 1, 1) + timedelta(hours=draw.randrange(365 * 24))
                status = OrderStatus(draw.choice(STATUSES))
                builders.order(session, person, "40.00", moment, status=status)


def _fill(engine: Engine) -> None:
    """Build the store and store what reports store: two years of months and quarters for
    every owner, and the CLV totals."""
    with engine.begin() as conn:
        ensure_store(conn)
        owners = every_owner(conn)
        for unit, count in (("month", 24), ("quarter", 8)):
            periods = calendar_periods(unit, date(2024, 12, 1), count)
            counts_by_period(conn, periods, owners=owners, customers=None)
        average_clv(conn)
        for name in ("grade", "owner"):
            average_clv_by(conn, DIMENSIONS[name], owners)


def _orders(draw: random.Random, count: int) -> list[list[str]]:
    """Orders from May 2024 on (stored 2023 and early 2024 figures stay) of known customers
    and of eight new ones (C024-C031), with every status; and the orders `_changed` changes
    on purpose: the only orders of C040 and C042, two orders of C043."""
    rows = []
    for n in range(count):
        moment = datetime(2024, 5, 2) + timedelta(minutes=draw.randrange(150 * 24 * 60))
        customer = f"C{draw.randrange(CUSTOMERS + 8):03d}"
        status = draw.choice(STATUSES)
        rows.append([f"O{n:04d}", customer, f"{moment:%Y-%m-%d %H:%M}", "25.50", status, "web"])
    return [
        *rows,
        ["X1", "C040", "2024-08-01 10:00", "30.00", "paid", "web"],
        ["X2", "C042", "2024-08-02 10:00", "30.00", "paid", "web"],
        ["X3", "C043", "2024-09-01 10:00", "30.00", "paid", "web"],
        ["X4", "C043", "2024-08-20 10:00", "30.00", "paid", "web"],
        ["X5", "C041", "2024-05-01 09:00", "30.00", "paid", "web"],
    ]


def _changed(draw: random.Random, rows: list[list[str]]) -> list[list[str]]:
    """The same orders, changed where old values matter as much as new ones, and a few new
    orders: the earliest order moved to November (the periods from its old moment on
    change), C040's only order given to C041 (C040 has no first purchase any more), C042's
    refunded, C043's first moved earlier; from July on, one order in three refunded or paid
    again, given to another customer or a new amount; and new orders in October."""
    changed = {row[0]: list(row) for row in rows}
    changed["X5"][2] = "2024-11-15 10:00"
    changed["X1"][1] = "C041"
    changed["X2"][4] = "refunded"
    changed["X3"][2] = "2024-07-15 10:00"
    later = [row for row in changed.values() if row[2] >= "2024-07" and row[0].startswith("O")]
    for row in later[::3]:
        match draw.randrange(3):
            case 0:
                row[4] = "refunded" if row[4] == "paid" else "paid"
            case 1:
                row[1] = f"C{draw.randrange(CUSTOMERS + 8):03d}"
            case _:
                row[3] = "99.00"
    fresh = [
        [f"N{n}", f"C{n:03d}", f"2024-10-{n + 1:02d}", "5.00", "paid", "app"] for n in range(10)
    ]
    return [*changed.values(), *fresh]


def _import(engine: Engine, path: Path) -> dict[str, int]:
    settings = Settings(import_batch_size=7)
    return import_file(engine=engine, kind="orders", path=path, settings=settings).counts.as_dict()


def test_import_and_changed_reimport_keep_the_store_exact(
    db: Engine, sessions: sessionmaker[Session], shop: None, tmp_path: Path
) -> None:
    _fill(db)
    triggers = trigger_names(db)
    draw = random.Random(5)
    rows = _orders(draw, 80)
    first = _import(db, write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
    assert first == {"inserted": 85, "updated": 0, "unchanged": 0, "rejected": 0}
    compared = assert_store_exact(db)
    # Figures of periods before the new orders stayed stored, and were compared.
    assert compared.first_purchases > CUSTOMERS // 2
    assert compared.period_figures > 0 and compared.run_clv == 1 and compared.run_clv_by > 0
    assert trigger_names(db) == triggers

    _fill(db)
    again = _changed(draw, rows)
    second = _import(db, write_csv(tmp_path / "changed.csv", ORDER_HEADER, again))
    assert second["updated"] > 10 and second["inserted"] == 10
    compared = assert_store_exact(db)
    assert compared.period_figures > 0
    assert trigger_names(db) == triggers

    # The triggers are back in place: an order written the normal way keeps the store exact.
    _fill(db)
    with sessions.begin() as session:
        customer = builders.customer(session, "新客", external_id="C900")
        builders.order(session, customer, "10.00", datetime(2023, 3, 5, 9, 0))
    assert assert_store_exact(db).first_purchases == compared.first_purchases + 1


def test_a_failed_batch_leaves_the_store_and_its_triggers(db: Engine, shop: None) -> None:
    _fill(db)
    triggers = trigger_names(db)
    with (
        db.connect() as conn,
        pytest.raises(RuntimeError),
        conn.begin(),
        bulk_orders(conn) as upkeep,
    ):
        assert upkeep.active == (db.dialect.name == "sqlite")
        raise RuntimeError("the batch failed")
    assert trigger_names(db) == triggers
