from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import User
from patron.auth.service import verify_password
from patron.customers.models import Customer
from patron.demo import bulk, generator, loader
from patron.demo.generator import generate
from patron.demo.loader import load
from patron.errors import Conflict
from patron.loyalty.models import LoyaltyAccount, PointsEntry
from patron.orders.models import Order
from patron.service.models import SurveyResponse, Ticket
from tests.demo.conftest import make_spec

SPEC = make_spec(customers=300)


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_load_writes_everything_generated(db: Engine, sessions: sessionmaker[Session]) -> None:
    report = load(db, SPEC)
    chunk = next(generate(SPEC))
    assert report.status == "loaded"
    assert report.tables["customers"] == 300
    assert report.tables["orders"] == chunk.orders["customer"].size
    assert report.tables["tickets"] == chunk.tickets["customer"].size
    assert report.tables["survey_responses"] == chunk.responses["customer"].size
    assert sum(report.profiles.values()) == 300 and len(report.profiles) == 6
    assert _count(sessions, Order) == report.tables["orders"]
    with sessions() as session:
        owners = session.scalars(select(Customer.owner_id).distinct()).all()
        agents = session.scalars(select(User.id).where(User.role == "agent")).all()
        assert None in owners and set(owners) - {None} <= set(agents)
        linked = session.scalar(select(func.count()).where(SurveyResponse.ticket_id.is_not(None)))
        assert linked and linked <= _count(sessions, Ticket)


def test_points_balances_match_the_ledger(db: Engine, sessions: sessionmaker[Session]) -> None:
    load(db, SPEC)
    with sessions() as session:
        assert session.scalar(select(func.min(PointsEntry.balance_after))) >= 0
        totals = dict(
            session.execute(
                select(PointsEntry.customer_id, func.sum(PointsEntry.points)).group_by(
                    PointsEntry.customer_id
                )
            ).all()
        )
        balances = dict(
            session.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)).all()
        )
        refunded_earning = session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .join(Order)
            .where(PointsEntry.kind == "earn", Order.status != "paid")
        )
    assert balances and balances == {k: int(v) for k, v in totals.items()}
    assert refunded_earning == 0


def test_logins_work_and_rerunning_keeps_the_data(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    first = load(db, SPEC)
    again = load(db, SPEC)
    assert again.status == "kept"
    assert again.tables == first.tables
    assert {login.role for login in again.logins} == {"admin", "manager", "agent", "analyst"}
    with sessions() as session:
        for login in again.logins:
            user = session.scalars(select(User).where(User.username == login.username)).one()
            assert verify_password(user, login.password)
            old = next(x for x in first.logins if x.username == login.username)
            assert not verify_password(user, old.password)


def test_replace_loads_afresh(db: Engine, sessions: sessionmaker[Session]) -> None:
    load(db, SPEC)
    other = make_spec(customers=200, seed=99)
    report = load(db, other, replace=True)
    assert report.status == "loaded"
    assert report.tables["customers"] == 200
    assert report.tables["orders"] == next(generate(other)).orders["customer"].size
    assert report.tables["users"] == 6


def test_a_database_with_real_customers_is_refused(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with db.begin() as connection:
        connection.execute(
            insert(Customer.__table__).values(
                external_id="C-1",
                name="王芳",
                name_initials="wf",
                kind="person",
                consent={},
                custom_fields={},
            )
        )
    with pytest.raises(Conflict, match="not demo data"):
        load(db, SPEC, replace=True)
    assert _count(sessions, Customer) == 1
    assert _count(sessions, User) == 0


@pytest.mark.parametrize("chunk", [1_000, 100], ids=["in-process", "producer-process"])
def test_a_failure_leaves_nothing_half_loaded(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(generator, "CHUNK_CUSTOMERS", chunk)
    monkeypatch.setattr(loader, "_tickets", broken)  # fails while encoding the rows
    with pytest.raises(RuntimeError, match="disk full"):
        load(db, SPEC)
    assert _count(sessions, Customer) == 0
    assert _count(sessions, Order) == 0
    assert _count(sessions, User) == 0


def test_a_failed_write_stops_the_producer_and_leaves_nothing(
    db: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    write = bulk.write_batch

    def failing(connection: Connection, batch: bulk.Batch) -> None:
        if batch.table == "tickets":
            raise RuntimeError("disk full")
        write(connection, batch)

    monkeypatch.setattr(generator, "CHUNK_CUSTOMERS", 100)
    monkeypatch.setattr(bulk, "write_batch", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        load(db, SPEC)
    assert _count(sessions, Customer) == 0
    assert _count(sessions, Order) == 0
