"""Exporting and erasing one person, on SQLite and PostgreSQL, through the service and the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.customers.models import Contact, Customer
from patron.demo.loader import load
from patron.engagement.models import Interaction
from patron.errors import NotFound
from patron.imports.service import import_file
from patron.notify.models import OutboxMessage
from patron.orders.models import Order, OrderLine
from patron.privacy import service
from patron.privacy.fields import ERASED_NAME
from tests.cli.test_admin import patron
from tests.demo.conftest import make_spec


@pytest.fixture
def person(db: Engine) -> str:
    """A demo customer with orders and interactions, a contact, a pending message and a twin
    record merged into it; returns the customer's external id."""
    load(db, make_spec(customers=80))
    with db.begin() as connection:
        customer_id, external_id = connection.execute(
            select(Customer.id, Customer.external_id)
            .join(Order, Order.customer_id == Customer.id)
            .join(Interaction, Interaction.customer_id == Customer.id)
            .order_by(Customer.id)
            .limit(1)
        ).one()
        connection.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(phone="+8613800138000", email="zhang@example.com", address="上海市长宁路1号")
        )
        twin = connection.execute(
            insert(Customer)
            .values(external_id="TWIN-1", name="张三 (旧)", phone="+8613900139000")
            .returning(Customer.id)
        ).scalar_one()
        connection.execute(
            update(Customer).where(Customer.id == twin).values(merged_into_id=customer_id)
        )
        connection.execute(
            insert(Contact).values(customer_id=customer_id, name="李四", phone="+8613700137000")
        )
        connection.execute(
            insert(OutboxMessage).values(
                channel="email",
                recipient="zhang@example.com",
                subject="生日快乐",
                body="张三您好",
                customer_id=customer_id,
                dedupe_key="birthday-1",
            )
        )
    return str(external_id)


def test_export_holds_everything_about_the_person(
    sessions: sessionmaker[Session], person: str
) -> None:
    with sessions.begin() as session:
        customer = service.find(session=session, reference=person)
        document = service.export(session=session, customer=customer, user_id=None)
        orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == customer.id)
        )
        lines = session.scalar(
            select(func.count())
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.customer_id == customer.id)
        )

    assert {row["external_id"] for row in document["customers"]} == {person, "TWIN-1"}
    records = document["records"]
    assert len(records["orders"]) == orders > 0
    assert len(records.get("order_lines", [])) == lines
    assert records["contacts"][0]["name"] == "李四"
    assert records["interactions"] and records["outbox_messages"][0]["body"] == "张三您好"
    json.dumps(document, ensure_ascii=False)
    with sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.export")
        ).one()
        assert entry.entity_id == str(customer.id)


def test_erase_anonymises_and_keeps_orders(sessions: sessionmaker[Session], person: str) -> None:
    with sessions.begin() as session:
        customer = service.find(session=session, reference=person)
        orders_before = session.scalar(
            select(func.sum(Order.amount)).where(Order.customer_id == customer.id)
        )
        erasure = service.erase(session=session, customer=customer, user_id=None)
    assert not erasure.already and erasure.changed["contacts"] == 1

    with sessions() as session:
        erased = session.scalars(
            select(Customer).where(Customer.external_id.in_([person, "TWIN-1"]))
        ).all()
        for row in erased:
            assert (row.name, row.phone, row.email, row.address, row.birthday) == (
                ERASED_NAME,
                None,
                None,
                None,
                None,
            )
            assert isinstance(row.erased_at, datetime) and row.deleted_at is not None
        ids = [row.id for row in erased]
        assert (
            session.scalar(
                select(func.count()).select_from(Contact).where(Contact.customer_id.in_(ids))
            )
            == 0
        )
        summaries = session.scalars(
            select(Interaction.summary).where(Interaction.customer_id.in_(ids))
        ).all()
        assert summaries and set(summaries) == {""}
        message = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "birthday-1")
        ).one()
        assert (message.recipient, message.body, message.status) == ("", "", "dead")
        assert (
            session.scalar(select(func.sum(Order.amount)).where(Order.customer_id == erased[0].id))
            == orders_before
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.erase")
        ).one()
        assert entry.detail["customers"] == 2


def test_erasing_again_reports_the_first_erasure(
    sessions: sessionmaker[Session], person: str
) -> None:
    with sessions.begin() as session:
        first = service.erase(
            session=session, customer=service.find(session=session, reference=person), user_id=None
        )
    with sessions.begin() as session:
        again = service.erase(
            session=session, customer=service.find(session=session, reference=person), user_id=None
        )
    assert again.already and again.erased_at == first.erased_at
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "privacy.erase")
            )
            == 1
        )


def test_unknown_customer_is_a_plain_error(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound, match="no customer with id 'nobody'"):
        service.find(session=session, reference="nobody")


def test_cli_export_and_erase(db_url: str, person: str, tmp_path: object) -> None:
    exported = patron("--db", db_url, "privacy", "export", person)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["customer_id"] == person

    refused = patron("--db", db_url, "privacy", "erase", person)
    assert refused.returncode != 0
    assert (
        refused.stderr.strip().splitlines()[-1] == "error: nothing erased (confirm, or pass --yes)"
    )

    erased = patron("--db", db_url, "privacy", "erase", person, "--yes", "--json")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["already_erased"] is False
    missing = patron("--db", db_url, "privacy", "erase", "nobody", "--yes")
    assert missing.returncode != 0
    assert missing.stderr.strip() == "error: no customer with id 'nobody'"


def test_an_erased_customer_is_not_filled_in_again_by_an_import(
    db: Engine, sessions: sessionmaker[Session], person: str, tmp_path: Path
) -> None:
    with sessions.begin() as session:
        service.erase(
            session=session, customer=service.find(session=session, reference=person), user_id=None
        )
    path = tmp_path / "customers.csv"
    path.write_text(
        f"customer_id,name,phone\n{person},张三,13800138000\nNEW-1,王五,13900139000\n",
        encoding="utf-8",
    )
    result = import_file(engine=db, kind="customers", path=path, rejects_path=tmp_path / "r.csv")
    assert (result.counts.inserted, result.counts.rejected) == (1, 1)
    assert "erased on request" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    with sessions() as session:
        erased = service.find(session=session, reference=person)
        assert (erased.name, erased.phone) == (ERASED_NAME, None)
