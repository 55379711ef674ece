"""What every import kind shares: its fields, how it finds references, how it is stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table

from patron.customers.schemas import Action
from patron.imports import values
from patron.imports.columns import Field, Plan, Record, RowError, parse_row
from patron.imports.references import CustomerIds
from patron.imports.values import Cell
from patron.imports.writer import Written
from patron.notify import webhooks

if TYPE_CHECKING:
    from patron.imports.duplicates import Duplicate


@dataclass(frozen=True)
class Options:
    """The settings parsing depends on."""

    region: str = "CN"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    dedupe: Action = Action.block


@dataclass
class Batch:
    """What one batch's steps share: the connection, the clock, and whether to write."""

    conn: Connection
    plan: Plan
    at: datetime
    write: bool
    customers: CustomerIds
    users: dict[str, int]
    # Possible duplicates among the batch's new customers, for the duplicates report.
    duplicates: list[Duplicate] = field(default_factory=list)
    # The active webhook subscriptions, looked up once when the import starts.
    subscriptions: Sequence[webhooks.Subscription] = ()
    events: list[webhooks.Event] = field(default_factory=list)

    def create_customers(self, external_ids: set[str]) -> None:
        """Create customers known only by their id, and announce them."""
        self.customers.create(self.conn, external_ids, at=self.at)
        self.announce("customer", created=sorted(external_ids))

    def announce(
        self, record: str, *, created: Sequence[str] = (), updated: Sequence[str] = ()
    ) -> None:
        """Webhook events for the rows of `record` ("customer", "order") this batch inserted
        or updated; they are enqueued together by `publish` (nothing without subscribers)."""
        if self.subscriptions:
            self.events += webhooks.stored_events(
                self.conn, self.subscriptions, record, created=created, updated=updated
            )

    def publish(self) -> None:
        """Enqueue the batch's events in its transaction, all in one bulk write: a batch
        that rolls back sends nothing."""
        if self.events:
            webhooks.publish_on(self.conn, self.events, self.subscriptions)
            self.events = []


Rejected = list[tuple[Record, RowError]]


class Kind:
    """One kind of import file: customers, orders, interactions, tickets or responses."""

    name: ClassVar[str]
    table: ClassVar[Table]
    id_field: ClassVar[str]
    creates_customers: ClassVar[bool] = False

    def __init__(self, options: Options) -> None:
        self.options = options
        self.moment = values.moment_parser(options.zone)
        self.fields = self.define()

    def define(self) -> tuple[Field, ...]:
        """The kind's fields, English name first, then its aliases."""
        raise NotImplementedError

    def finish(self, record: Record) -> None:
        """Checks and fill-ins that need more than one field (may raise RowError)."""

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """Put database ids on records (customers, users, products); refuse what is unknown."""
        return self.resolve_customers(batch, records)

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """The record as a full row of the kind's table."""
        raise NotImplementedError

    def update_columns(self, plan: Plan) -> list[str]:
        """The columns a changed row rewrites: only those the file has."""
        raise NotImplementedError

    def after_write(self, batch: Batch, written: Written) -> None:
        """Work that needs the stored rows (a customer's tags, its webhook events)."""

    # Shared helpers for the kinds.

    def resolve_customers(self, batch: Batch, records: list[Record]) -> Rejected:
        """Give each record its customer's id; unknown customers are created or refused."""
        wanted = {record.values["customer_id"] for record in records}
        found = batch.customers.find(batch.conn, wanted)
        unknown = wanted - found.keys()
        if unknown and self.creates_customers:
            if batch.write:
                batch.create_customers(unknown)
                found = batch.customers.find(batch.conn, wanted)
            for record in records:
                record.values["customer_pk"] = found.get(record.values["customer_id"])
            return []
        rejected: Rejected = []
        for record in records:
            key = record.values["customer_id"]
            if key in found:
                record.values["customer_pk"] = found[key]
            else:
                reason = f"no customer has id '{key}' (import the customers first)"
                rejected.append((record, RowError(column_of(batch.plan, "customer_id"), reason)))
        return rejected

    def resolve_user(self, batch: Batch, record: Record, name: str) -> int | None:
        """The id of the user a cell names by username, or RowError if there is none."""
        username = record.values.get(name)
        if username is None:
            return None
        user = batch.users.get(username.lower())
        if user is None:
            raise RowError(column_of(batch.plan, name), f"no user is named '{username}'")
        return user


def with_resolved_users(
    kind: Kind, batch: Batch, records: list[Record], *, field_name: str, into: str
) -> Rejected:
    """Resolve a username field on every record; rows naming unknown users are refused."""
    rejected: Rejected = []
    for record in records:
        try:
            record.values[into] = kind.resolve_user(batch, record, field_name)
        except RowError as error:
            rejected.append((record, RowError(column_of(batch.plan, field_name), error.reason)))
    return rejected


def drop(records: list[Record], rejected: Rejected) -> list[Record]:
    """The records that were not rejected."""
    gone = {id(record) for record, _ in rejected}
    return [record for record in records if id(record) not in gone]


def column_of(plan: Plan, name: str) -> str:
    """The header the file uses for a field."""
    return next((plan.headers[i] for spec, i in plan.fields if spec.name == name), name)


def parse_records(
    kind: Kind, plan: Plan, rows: list[tuple[int, list[Cell]]]
) -> tuple[list[Record], Rejected]:
    """Parse and finish rows one by one; a bad row is refused naming the file's column."""
    records: list[Record] = []
    rejected: Rejected = []
    for number, cells in rows:
        try:
            record = parse_row(plan, number, cells)
            kind.finish(record)
        except RowError as error:
            column = column_of(plan, error.column) if error.column in plan.present else error.column
            rejected.append((Record(number, cells), RowError(column, error.reason)))
            continue
        records.append(record)
    return records, rejected
