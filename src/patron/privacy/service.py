"""Exporting and erasing one person's data, both audited, both inside the caller's unit of work.

A person may have been merged: the customers merged into them are the same person, so both the
export and the erasure cover them too. Erasure keeps orders, points and scores (aggregates need
them) but replaces every personal value (see patron.privacy.fields); it is done once, and asking
again reports the first erasure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.backup.codec import encode_row
from patron.customers.models import Customer
from patron.db import now
from patron.errors import NotFound
from patron.models import Base
from patron.privacy.fields import DELETED, ERASED, PERSONAL_FEATURES


def find(*, session: Session, reference: str) -> Customer:
    """The customer with this external id (what users and files call the customer id)."""
    customer = session.scalar(select(Customer).where(Customer.external_id == reference))
    if customer is None:
        raise NotFound(f"no customer with id '{reference}'")
    return customer


def _person_ids(session: Session, customer: Customer) -> list[int]:
    merged = session.scalars(select(Customer.id).where(Customer.merged_into_id == customer.id))
    return [customer.id, *merged]


def linked_tables() -> list[tuple[Table, str]]:
    """Every table with a column pointing at a customer, and that column."""
    customers = Base.metadata.tables["customers"]
    found = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table is customers and table is not customers:
                found.append((table, key.parent.name))
    return found


def _child_tables(parent: Table) -> list[tuple[Table, str]]:
    return [
        (table, key.parent.name)
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table is parent and table is not parent
    ]


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    result = session.execute(query)
    names = list(result.keys())
    # Through the backup codec so dates, amounts and enums read the same in every export.
    return [dict(zip(names, json.loads(encode_row(tuple(row))), strict=True)) for row in result]


def export(*, session: Session, customer: Customer, user_id: int | None) -> dict[str, Any]:
    """Everything Patron holds about the person, as one JSON-ready document; audited."""
    ids = _person_ids(session, customer)
    customers = Base.metadata.tables["customers"]
    document: dict[str, Any] = {
        "customer_id": customer.external_id,
        "exported_at": now().isoformat(),
        "customers": _rows(session, select(customers).where(customers.c.id.in_(ids))),
        "records": {},
    }
    for table, column in linked_tables():
        rows = _rows(session, select(table).where(table.c[column].in_(ids)))
        if rows:
            document["records"][table.name] = rows
        _export_children(session, document, table, rows)
    audit_log = Base.metadata.tables["audit_log"]
    document["records"]["audit_log"] = _rows(
        session,
        select(audit_log).where(
            audit_log.c.entity == "customer",
            audit_log.c.entity_id.in_([str(person) for person in ids]),
        ),
    )
    audit.record(
        session=session,
        action="privacy.export",
        entity="customer",
        entity_id=customer.id,
        user_id=user_id,
        records=sum(len(rows) for rows in document["records"].values()),
    )
    return document


def _export_children(
    session: Session, document: dict[str, Any], parent: Table, parents: list[dict[str, Any]]
) -> None:
    # Rows that hang off the person's rows: order lines under orders, and the like.
    if not parents or len(parent.primary_key.columns) != 1:
        return
    key = next(iter(parent.primary_key.columns)).name
    parent_ids = [row[key] for row in parents]
    for table, column in _child_tables(parent):
        if table.name in document["records"] or any(
            key.column.table.name == "customers" for key in table.foreign_keys
        ):
            continue
        rows = _rows(session, select(table).where(table.c[column].in_(parent_ids)))
        if rows:
            document["records"][table.name] = rows


@dataclass(frozen=True)
class Erasure:
    """What an erasure changed, or when the person was erased before."""

    customer_id: str
    erased_at: datetime
    already: bool
    changed: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "erased_at": self.erased_at.isoformat(),
            "already_erased": self.already,
            "changed": self.changed,
        }


def erase(*, session: Session, customer: Customer, user_id: int | None) -> Erasure:
    """Replace every personal value held about the person; orders and scores stay; audited."""
    if customer.erased_at is not None:
        return Erasure(customer.external_id, customer.erased_at, already=True, changed={})
    ids = _person_ids(session, customer)
    moment = now()
    changed: dict[str, int] = {}
    customers = Base.metadata.tables["customers"]
    # Erased people leave the lists, the pool and the rules; their orders still count.
    values = {**ERASED["customers"], "erased_at": moment, "deleted_at": moment}
    changed["customers"] = _update(session, customers, customers.c.id.in_(ids), values)
    for table, column in linked_tables():
        where = table.c[column].in_(ids)
        if table.name in DELETED:
            changed[table.name] = session.connection().execute(delete(table).where(where)).rowcount
        elif table.name in ERASED:
            changed[table.name] = _update(session, table, where, ERASED[table.name])
    _stop_messages(session, ids)
    _forget_features(session, ids)
    audit.record(
        session=session,
        action="privacy.erase",
        entity="customer",
        entity_id=customer.id,
        user_id=user_id,
        customers=len(ids),
        changed={name: count for name, count in changed.items() if count},
    )
    return Erasure(customer.external_id, moment, already=False, changed=changed)


def _update(session: Session, table: Table, where: Any, values: dict[str, Any]) -> int:
    result = session.connection().execute(update(table).where(where).values(values))
    return int(result.rowcount)


def _stop_messages(session: Session, ids: list[int]) -> None:
    # A message not yet delivered must not go out with the person's address blanked.
    outbox = Base.metadata.tables["outbox_messages"]
    session.execute(
        update(outbox)
        .where(outbox.c.customer_id.in_(ids), or_(outbox.c.status.in_(("pending", "failed"))))
        .values(status="dead", last_error="customer erased")
    )


def _forget_features(session: Session, ids: list[int]) -> None:
    snapshots = Base.metadata.tables["score_snapshots"]
    rows = session.execute(
        select(snapshots.c.run_id, snapshots.c.customer_id, snapshots.c.features).where(
            snapshots.c.customer_id.in_(ids)
        )
    ).all()
    for run_id, customer_id, features in rows:
        kept = {k: v for k, v in (features or {}).items() if k not in PERSONAL_FEATURES}
        session.execute(
            update(snapshots)
            .where(snapshots.c.run_id == run_id, snapshots.c.customer_id == customer_id)
            .values(features=kept)
        )
