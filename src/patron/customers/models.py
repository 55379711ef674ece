"""Customers (people and companies), their contacts and tags."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, Timestamped, now


class CustomerKind(enum.StrEnum):
    person = "person"
    company = "company"


class Customer(Timestamped, Base):
    """One customer; `owner_id` None means the customer sits in the public pool (公海)."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_owner_grade", "owner_id", "grade"),
        # "Customers of this owner" as ids only (the task and ticket scopes' IN lists): an
        # index-only scan instead of reading every row of the owner's customers. It also
        # serves every look-up by owner alone (and the users' foreign key), so `owner_id` has
        # no index of its own: each index is one more entry per changed row when a run
        # rewrites the scores of every customer. CLV filters and ranks on live customers use
        # `ix_customers_live_clv_rank` below.
        Index("ix_customers_owner_id_id", "owner_id", "id"),
        Index("ix_customers_grade_stage", "grade", "stage"),
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
    # The latest scoring run's results, kept on the row so lists filter and sort on them.
    grade: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(32), index=True)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    value_class: Mapped[str | None] = mapped_column(String(32))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    churn_risk: Mapped[float | None]
    p_alive: Mapped[float | None]
    scored_at: Mapped[datetime | None]


# Lists ranked by value or risk (`sort=-clv`, `sort=-churn_risk`, the default ranking of an
# owner's or team's customers) walk these for their first page instead of sorting every
# visible customer. The API orders missing values last: PostgreSQL needs that spelled out in
# the index (given where it puts an operator class, which its grammar allows), while SQLite
# puts NULL lowest and reads a plain index backwards in the same order.
for _ranked in ("clv", "churn_risk"):
    Index(
        f"ix_customers_live_{_ranked}_rank",
        Customer.__table__.c[_ranked],
        Customer.__table__.c.id,
        postgresql_ops={_ranked: "DESC NULLS LAST", "id": "DESC"},
        postgresql_where=Customer.deleted_at.is_(None),
        sqlite_where=Customer.deleted_at.is_(None),
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
