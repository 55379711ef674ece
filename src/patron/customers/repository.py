"""Every query on customers: look-ups by id and key, duplicate candidates, and merge moves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from patron.analytics.models import ScoreSnapshot
from patron.auth.models import User
from patron.customers.models import Contact, Customer, CustomerKind, CustomerTag
from patron.engagement.models import Interaction, Task
from patron.loyalty.models import LoyaltyAccount, PointsEntry, TierChange
from patron.orders.models import Order
from patron.pool.models import OwnershipChange
from patron.rules.models import ActionTaken, Alert, StateChange
from patron.service.models import SurveyResponse, Ticket

# Parameters per IN (...) list: well under SQLite's and PostgreSQL's limits.
CHUNK = 500
# Up to this many name-initials prefixes are looked up as index ranges.
RANGES = 8
T = TypeVar("T")


class KeyRow(NamedTuple):
    """The columns duplicate checks compare, for one live customer."""

    id: int
    external_id: str
    name: str
    kind: CustomerKind
    city: str | None
    company: str | None
    phone: str | None
    email: str | None
    credit_code: str | None
    owner_id: int | None
    name_initials: str


_KEY_COLUMNS = (
    Customer.id,
    Customer.external_id,
    Customer.name,
    Customer.kind,
    Customer.city,
    Customer.company,
    Customer.phone,
    Customer.email,
    Customer.credit_code,
    Customer.owner_id,
    Customer.name_initials,
)


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Values in lists of at most `size`."""
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _live() -> ColumnElement[bool]:
    return and_(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))


def _key_rows(session: Session, *where: ColumnElement[bool]) -> list[KeyRow]:
    rows = session.execute(select(*_KEY_COLUMNS).where(_live(), *where))
    return [KeyRow(*row) for row in rows]


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def next_prefix(prefix: str) -> str | None:
    """The smallest initials string after every one starting with `prefix` (None: no bound).

    Initials hold only digits and lower-case letters, which sort the same way under the C
    collation and the common locale ones, so the bound is safe on any PostgreSQL.
    """
    stem = prefix.rstrip("z")
    if not stem or stem[-1] not in _ALPHABET:
        return None
    return stem[:-1] + _ALPHABET[_ALPHABET.index(stem[-1]) + 1]


def _prefix_ranges(prefixes: Sequence[str]) -> ColumnElement[bool]:
    if len(prefixes) > RANGES:
        # Many prefixes (an import batch): one IN list is cheaper than dozens of ranges.
        lengths = sorted({len(prefix) for prefix in prefixes})
        return or_(
            *(
                func.substr(Customer.name_initials, 1, n).in_([p for p in prefixes if len(p) == n])
                for n in lengths
            )
        )
    # A range lets the B-tree index on name_initials serve the look-up (LIKE alone would not
    # under SQLite's case-insensitive LIKE or a non-C PostgreSQL collation); LIKE keeps it exact.
    ranges = []
    for prefix in prefixes:
        parts = [Customer.name_initials >= prefix, Customer.name_initials.like(prefix + "%")]
        upper = next_prefix(prefix)
        if upper is not None:
            parts.append(Customer.name_initials < upper)
        ranges.append(and_(*parts))
    return or_(*ranges)


def by_key_column(session: Session, column: str, values: Iterable[str]) -> list[KeyRow]:
    """Live customers whose indexed `phone`, `email` or `credit_code` is one of the values."""
    attribute: InstrumentedAttribute[str | None] = getattr(Customer, column)
    found: list[KeyRow] = []
    for batch in chunks(sorted(set(values))):
        found.extend(_key_rows(session, attribute.in_(batch)))
    return found


def company_candidates(
    session: Session, names: Iterable[str], prefixes: Iterable[str]
) -> list[KeyRow]:
    """Live company customers named one of `names` or whose initials start with a prefix."""
    found: dict[int, KeyRow] = {}
    kind = Customer.kind == CustomerKind.company
    for batch in chunks(sorted(set(names))):
        for row in _key_rows(
            session, kind, or_(Customer.name.in_(batch), Customer.company.in_(batch))
        ):
            found[row.id] = row
    for batch in chunks(sorted(set(prefixes) - {""})):
        for row in _key_rows(session, kind, _prefix_ranges(batch)):
            found[row.id] = row
    return list(found.values())


def person_candidates(
    session: Session, cities: Iterable[str], prefixes: Iterable[str]
) -> list[KeyRow]:
    """Live people in one of `cities` whose name initials start with one of the prefixes."""
    found: list[KeyRow] = []
    kind = Customer.kind == CustomerKind.person
    prefix_list = sorted(set(prefixes) - {""})
    for city_batch in chunks(sorted(set(cities))):
        for batch in chunks(prefix_list):
            found.extend(
                _key_rows(session, kind, Customer.city.in_(city_batch), _prefix_ranges(batch))
            )
    return found


def owner_names(session: Session, owner_ids: Iterable[int]) -> dict[int, str]:
    """Display names (else user names) of the given users."""
    ids = sorted(set(owner_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(ids))
    )
    return {row.id: row.display_name or row.username for row in rows}


def get(session: Session, customer_id: int, *, for_update: bool = False) -> Customer | None:
    """The customer with this id, deleted or not; locked for the transaction if asked."""
    query = select(Customer).where(Customer.id == customer_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def by_external_id(session: Session, external_id: str) -> Customer | None:
    """The customer known outside Patron by this id, deleted or not."""
    return session.scalar(select(Customer).where(Customer.external_id == external_id))


def external_id_taken(session: Session, external_id: str) -> bool:
    """Whether any customer, even a deleted one, already uses this external id."""
    return session.scalar(select(exists().where(Customer.external_id == external_id))) or False


def tags_of(session: Session, customer_id: int) -> set[str]:
    """The customer's tags."""
    return set(
        session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id))
    )


def add_tags(
    session: Session, customer_id: int, tags: Iterable[str], source: str = "manual"
) -> None:
    """Give the customer the tags it does not have yet."""
    for tag in sorted(set(tags) - tags_of(session, customer_id)):
        session.add(CustomerTag(customer_id=customer_id, tag=tag, source=source))


def replace_tags(session: Session, customer_id: int, tags: Iterable[str]) -> None:
    """Make the customer's tags exactly `tags`, keeping the rows of the ones it keeps."""
    wanted = set(tags)
    session.execute(
        delete(CustomerTag)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.tag.not_in(wanted))
        .execution_options(synchronize_session="fetch")
    )
    add_tags(session, customer_id, wanted)


# Bulk statements below fetch the ids they touch so objects already in the session stay true.
# Tables whose rows simply follow the customer they belong to.
MOVABLE: dict[str, Any] = {
    "orders": Order,
    "interactions": Interaction,
    "tasks": Task,
    "tickets": Ticket,
    "survey_responses": SurveyResponse,
    "points_entries": PointsEntry,
    "tier_changes": TierChange,
    "contacts": Contact,
    "state_changes": StateChange,
    "alerts": Alert,
    "actions_taken": ActionTaken,
    "ownership_changes": OwnershipChange,
}


def _count(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def reassign(session: Session, model: Any, source_id: int, into_id: int) -> int:
    """Move every row of `model` from one customer to another; how many moved."""
    statement = (
        update(model)
        .where(model.customer_id == source_id)
        .values(customer_id=into_id)
        .execution_options(synchronize_session="fetch")
    )
    return _count(session.execute(statement))


def move_tags(session: Session, source_id: int, into_id: int) -> int:
    """Give the survivor the source's tags it lacks and drop the rest; how many moved."""
    kept = aliased(CustomerTag)
    survivor_has = exists().where(kept.customer_id == into_id, kept.tag == CustomerTag.tag)
    moved = _count(
        session.execute(
            update(CustomerTag)
            .where(CustomerTag.customer_id == source_id, ~survivor_has)
            .values(customer_id=into_id)
            .execution_options(synchronize_session="fetch")
        )
    )
    session.execute(
        delete(CustomerTag)
        .where(CustomerTag.customer_id == source_id)
        .execution_options(synchronize_session="fetch")
    )
    return moved


def move_score_snapshots(session: Session, source_id: int, into_id: int) -> tuple[int, int]:
    """Move the source's snapshots to runs the survivor lacks; drop the rest. (moved, dropped)."""
    kept = aliased(ScoreSnapshot)
    survivor_has = exists().where(kept.customer_id == into_id, kept.run_id == ScoreSnapshot.run_id)
    dropped = _count(
        session.execute(
            delete(ScoreSnapshot)
            .where(ScoreSnapshot.customer_id == source_id, survivor_has)
            .execution_options(synchronize_session="fetch")
        )
    )
    return reassign(session, ScoreSnapshot, source_id, into_id), dropped


def move_loyalty(session: Session, source_id: int, into_id: int) -> int:
    """Add the source's points balance to the survivor's account; the points moved."""
    source = session.get(LoyaltyAccount, source_id, with_for_update=True)
    if source is None:
        return 0
    points = source.balance
    survivor = session.get(LoyaltyAccount, into_id, with_for_update=True)
    if survivor is None:
        survivor = LoyaltyAccount(
            customer_id=into_id, balance=0, tier=source.tier, tier_since=source.tier_since
        )
        session.add(survivor)
    survivor.balance += points
    session.delete(source)
    session.flush()
    return points


def repoint_merged(session: Session, source_id: int, into_id: int) -> int:
    """Customers merged earlier into the source now point at the survivor."""
    statement = (
        update(Customer)
        .where(Customer.merged_into_id == source_id)
        .values(merged_into_id=into_id)
        .execution_options(synchronize_session="fetch")
    )
    return _count(session.execute(statement))
