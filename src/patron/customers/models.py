"""Customers (people and companies), their contacts and tags."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    String,
    event,
    false,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from patron.db import Base, Id, Timestamped, hold_write_lock, now


class CustomerKind(enum.StrEnum):
    person = "person"
    company = "company"


def _score_attribute(name: str) -> hybrid_property[Any]:
    """`customer.<name>`: the customer's latest score of that name, from `customer_scores`.

    On an instance it reads (and sets) the loaded score row. In a query it is a subquery
    correlated to `customers`, so the query must have `customers` in its FROM (a customer
    column, or `select_from(Customer)`); it reads per customer, so lists that filter or sort
    on a score over many customers join `CustomerScore` instead and use its indexes."""

    def read(customer: Customer) -> Any:
        return customer._score_value(name)

    def write(customer: Customer, value: Any) -> None:
        customer.set_scores(**{name: value})

    def expression(cls: type[Customer]) -> Any:
        column = CustomerScore.__table__.c[name]
        return (
            select(column)
            .where(CustomerScore.__table__.c.customer_id == cls.id)
            # Its own scores row, even in a query that joins `customer_scores` too (an
            # export's filters): correlated to `customers` only.
            .correlate_except(CustomerScore.__table__)
            .scalar_subquery()
            .label(name)
        )

    return hybrid_property(read, write, expr=expression)


class Customer(Timestamped, Base):
    """One customer; `owner_id` None means the customer sits in the public pool (公海)."""

    __tablename__ = "customers"
    __table_args__ = (
        # "Customers of this owner" as ids only (the task and ticket scopes' IN lists): an
        # index-only scan instead of reading every row of the owner's customers. It also
        # serves every look-up by owner alone (and the users' foreign key) and an agent's
        # list, whose scores are then read by primary key from `customer_scores`.
        Index("ix_customers_owner_id_id", "owner_id", "id"),
        # Pinyin search is a prefix LIKE; under a non-C collation PostgreSQL can only serve it
        # from an index with the pattern operator class (docs/scale.md).
        Index(
            "ix_customers_name_initials_prefix",
            "name_initials",
            postgresql_ops={"name_initials": "varchar_pattern_ops"},
        ),
        # Name search is `ILIKE '%…%'`: on PostgreSQL a trigram GIN index serves it (the
        # migration creates the pg_trgm extension first). SQLite cannot use it, so there it
        # is an empty partial index (`WHERE 0`) that costs writes nothing.
        Index(
            "ix_customers_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            sqlite_where=false(),
        ),
        # Phone search is `LIKE '%digits%'` (any part of the number), served the same way.
        Index(
            "ix_customers_phone_trgm",
            "phone",
            postgresql_using="gin",
            postgresql_ops={"phone": "gin_trgm_ops"},
            sqlite_where=false(),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[CustomerKind] = mapped_column(
        Enum(CustomerKind, native_enum=False, length=16), default=CustomerKind.person
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    name_initials: Mapped[str] = mapped_column(String(64), default="", index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    gender: Mapped[str | None] = mapped_column(String(8))
    birthday: Mapped[date | None]
    lunar_birthday: Mapped[str | None] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(400))
    industry: Mapped[str | None] = mapped_column(String(64))
    company: Mapped[str | None] = mapped_column(String(200), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(32), index=True)
    source: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owned_since: Mapped[datetime | None]
    locked: Mapped[bool] = mapped_column(default=False)
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    import_hash: Mapped[str | None] = mapped_column(String(32))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    deleted_at: Mapped[datetime | None]
    # Set when the person's data was erased on request (patron privacy erase); the row stays.
    erased_at: Mapped[datetime | None]
    # The latest scoring run's results live in `customer_scores` (one row per customer, made
    # by the database when the customer is inserted). `score` loads them by primary key in a
    # second query for the customers a query loaded (a join would refuse `FOR UPDATE`, which
    # PostgreSQL cannot apply to the nullable side of an outer join); lists that join the
    # scores anyway fill it from their join (`contains_eager`).
    score: Mapped[CustomerScore | None] = relationship(lazy="selectin", viewonly=True)

    def __init__(self, **values: Any) -> None:
        scores = {name: values.pop(name) for name in SCORE_NAMES if name in values}
        super().__init__(**values)
        if scores:
            self.set_scores(**scores)

    def set_scores(self, **scores: Any) -> None:
        """Give the customer these latest scores (tests, demo data; a run writes them in bulk).

        A customer not yet inserted keeps them until its row is, then they go onto the row
        the database made for it (see `_insert_pending_scores`)."""
        unknown = set(scores) - set(SCORE_NAMES)
        if unknown:
            raise TypeError(f"not a score column: {', '.join(sorted(unknown))}")
        if not inspect(self).has_identity:
            self.__dict__.setdefault("_pending_scores", {}).update(scores)
            return
        row = self._score_row()
        if row is None:
            raise ValueError(
                f"customer {self.id} has no score row, or is not in a session to load it from"
            )
        for name, value in scores.items():
            setattr(row, name, value)

    def _score_row(self) -> CustomerScore | None:
        """The loaded score row; for a customer inserted since `score` was first read (then
        still None), the one the database made, read now."""
        row = self.score
        if row is None and inspect(self).has_identity:
            session = object_session(self)
            if session is not None:
                row = session.get(CustomerScore, self.id)
        return row

    def _score_value(self, name: str) -> Any:
        pending = self.__dict__.get("_pending_scores", {})
        if name in pending:
            return pending[name]
        row = self._score_row()
        return None if row is None else getattr(row, name)

    grade = _score_attribute("grade")
    stage = _score_attribute("stage")
    rfm_segment = _score_attribute("rfm_segment")
    value_class = _score_attribute("value_class")
    clv = _score_attribute("clv")
    churn_risk = _score_attribute("churn_risk")
    p_alive = _score_attribute("p_alive")
    scored_at = _score_attribute("scored_at")


class CustomerScore(Base):
    """A customer's latest scores, one row per customer (1:1 with `customers`).

    A live scoring run rewrites every customer's scores. On the wide customer row (about
    twenty indexes, three of them GIN) that was a new row version with an entry in every
    index, 94 s of a 446 s run at a million customers; this narrow table is instead filled
    fresh per run on PostgreSQL (COPY, then its few indexes built; `analytics.snapshots`)
    and upserted on SQLite. Lists that filter or sort on a score join it by primary key.

    Every customer has its row: the database inserts an empty one for each inserted customer
    (`SCORE_ROW_TRIGGERS`, installed with the schema), so however a customer is made (the
    ORM, an import's COPY, the demo loaders) a list joins the scores without an outer join,
    and a list ranked by a score can walk this table's rank index."""

    __tablename__ = "customer_scores"
    __table_args__ = (Index("ix_customer_scores_grade_stage", "grade", "stage"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    grade: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(32), index=True)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    value_class: Mapped[str | None] = mapped_column(String(32))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    churn_risk: Mapped[float | None]
    p_alive: Mapped[float | None]
    scored_at: Mapped[datetime | None]


SCORE_NAMES = (
    "grade",
    "stage",
    "rfm_segment",
    "value_class",
    "clv",
    "churn_risk",
    "p_alive",
    "scored_at",
)

# Lists ranked by value or risk (`sort=-clv`, `sort=-churn_risk`, the default ranking of an
# owner's or team's customers) walk these for their first page, joining each customer by its
# primary key, instead of sorting every visible customer. The API orders missing values
# last: PostgreSQL needs that spelled out in the index (given where it puts an operator
# class, which its grammar allows), while SQLite puts NULL lowest and reads a plain index
# backwards in the same order.
for _ranked in ("clv", "churn_risk"):
    Index(
        f"ix_customer_scores_{_ranked}_rank",
        CustomerScore.__table__.c[_ranked],
        CustomerScore.__table__.c.customer_id,
        postgresql_ops={_ranked: "DESC NULLS LAST", "customer_id": "DESC"},
    )

# The empty score row of every inserted customer. On PostgreSQL one statement-level trigger
# with the statement's new rows, so a COPY of a million customers adds one INSERT … SELECT,
# not a million calls; SQLite has row triggers only.
SCORE_ROW_TRIGGERS = {
    "postgresql": (
        "CREATE OR REPLACE FUNCTION patron_customer_score_rows() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO customer_scores (customer_id) SELECT id FROM added_customers; "
        "RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER customer_score_rows AFTER INSERT ON customers "
        "REFERENCING NEW TABLE AS added_customers FOR EACH STATEMENT "
        "EXECUTE FUNCTION patron_customer_score_rows()",
    ),
    "sqlite": (
        "CREATE TRIGGER IF NOT EXISTS customer_score_rows AFTER INSERT ON customers "
        "BEGIN INSERT INTO customer_scores (customer_id) VALUES (NEW.id); END",
    ),
}


def install_score_row_trigger(connection: Connection) -> None:
    """Make the database insert each new customer's empty score row (idempotent)."""
    for statement in SCORE_ROW_TRIGGERS[connection.dialect.name]:
        connection.exec_driver_sql(statement)


@contextmanager
def score_rows_per_statement(connection: Connection) -> Iterator[None]:
    """Inside the block, customers inserted get their empty score rows from one statement at
    its end instead of SQLite's row trigger, which costs a bulk insert about three times the
    insert itself (60 µs a customer, against one `INSERT … SELECT` of them all).

    SQLite only (elsewhere the block just runs): the trigger is dropped and made again in the
    caller's transaction, whose write lock keeps every other writer out meanwhile, so no
    customer is inserted without its row and a rollback brings the trigger back with the rest.
    New customers are those above the highest id before the block (SQLite numbers new rows
    past it). Rows and trigger are made even when the block fails and the caller goes on."""
    if connection.dialect.name != "sqlite":
        yield
        return
    hold_write_lock(connection)
    highest = connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM customers").scalar()
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS customer_score_rows")
    try:
        yield
    finally:
        # Also when the block failed: SQLite undoes only the failing row of an executemany,
        # so the rows before it stay in the transaction and need theirs.
        connection.exec_driver_sql(
            "INSERT INTO customer_scores (customer_id) SELECT id FROM customers WHERE id > ?",
            (highest,),
        )
        install_score_row_trigger(connection)


@event.listens_for(CustomerScore.__table__, "after_create")
def _after_create(_table: Any, connection: Connection, **_kw: Any) -> None:
    # `metadata.create_all` (scratch stores); migrations install it from migrations/env.py.
    install_score_row_trigger(connection)


@event.listens_for(Customer, "after_insert")
def _insert_pending_scores(_mapper: Any, connection: Connection, customer: Customer) -> None:
    """Put the scores given to a customer before it was inserted onto its new score row."""
    pending = customer.__dict__.pop("_pending_scores", None)
    if pending:
        connection.execute(
            update(CustomerScore).where(CustomerScore.customer_id == customer.id).values(**pending)
        )


class CustomerTag(Base):
    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(64), default="manual")
    created_at: Mapped[datetime] = mapped_column(default=now)


class Contact(Timestamped, Base):
    """A person at a company customer."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    is_primary: Mapped[bool] = mapped_column(default=False)
