"""Duplicate checks (查重) on imported customers, and the duplicates report.

Only new customers are checked (an external id already stored is an update, not a
duplicate). Each batch's new rows are checked together by `find_duplicates_batch`: against
the live customers stored, and against the earlier new rows of the same batch (earlier
batches are committed by then, so they count as stored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from patron.customers.dedupe import KEY_LABELS, Match, RowDuplicates, find_duplicates_batch
from patron.customers.models import Customer, CustomerKind
from patron.customers.schemas import Action, DedupePolicy, MatchKey
from patron.errors import InvalidInput
from patron.imports.columns import Record, RowError
from patron.imports.kinds.base import Batch, Rejected, column_of
from patron.imports.reports import CsvReport, beside
from patron.imports.writer import lookup

ACTION_SETTING = "PATRON_DEDUPE_IMPORT"
# Block by default: a refused row waits in the rejects file and loses nothing, while a
# duplicate imported by mistake splits one customer's history in two.
DEFAULT_ACTION = Action.block
REPORT_COLUMNS = [
    "row_number",
    "customer_id",
    "matched_customer_id",
    "matched_row",
    "key",
    "score",
    "holder",
    "holder_name",
]
_KEY_FIELDS = {
    MatchKey.credit_code: "credit_code",
    MatchKey.company: "company",
    MatchKey.phone: "phone",
    MatchKey.email: "email",
    MatchKey.name_city: "name",
}


def import_action(raw: str | None = None) -> Action:
    """What a decisive duplicate does on import: PATRON_DEDUPE_IMPORT, block or warn."""
    value = (raw if raw is not None else os.environ.get(ACTION_SETTING, "")).strip().lower()
    if not value:
        return DEFAULT_ACTION
    if value in (Action.block, Action.warn):
        return Action(value)
    raise InvalidInput(
        f"{ACTION_SETTING} must be 'block' or 'warn', not '{value}' (merging is done one "
        "customer at a time: `patron customer merge`)"
    )


@dataclass(frozen=True)
class Duplicate:
    """One line of the duplicates report: an imported row and what it probably repeats."""

    row_number: int
    customer_id: str
    matched_customer_id: str
    matched_row: int | None
    key: MatchKey
    score: float
    holder: str
    holder_name: str

    def cells(self) -> list[str | int | float]:
        """The report row, in REPORT_COLUMNS order."""
        row = "" if self.matched_row is None else self.matched_row
        return [
            self.row_number,
            self.customer_id,
            self.matched_customer_id,
            row,
            self.key.value,
            round(self.score, 1),
            self.holder,
            self.holder_name,
        ]


@dataclass(frozen=True)
class _Keys:
    kind: CustomerKind
    name: str
    city: str | None
    phone: str | None
    email: str | None
    company: str | None
    credit_code: str | None


def _keys(record: Record) -> _Keys:
    data = record.values
    return _Keys(
        kind=CustomerKind(data.get("kind") or "person"),
        name=data["name"],
        city=data.get("city"),
        phone=data.get("phone"),
        email=data.get("email"),
        company=data.get("company"),
        credit_code=data.get("credit_code"),
    )


def _of_match(record: Record, match: Match) -> Duplicate:
    return Duplicate(
        row_number=record.row_number,
        customer_id=record.external_id,
        matched_customer_id=match.external_id,
        matched_row=None,
        key=match.key,
        score=match.score,
        holder=match.ownership.value,
        holder_name=match.owner_name or "",
    )


def _of_row(record: Record, earlier: Record, key: MatchKey, score: float) -> Duplicate:
    owner = earlier.values.get("owner")
    return Duplicate(
        row_number=record.row_number,
        customer_id=record.external_id,
        matched_customer_id=earlier.external_id,
        matched_row=earlier.row_number,
        key=key,
        score=score,
        holder="other" if owner else "pool",
        holder_name=owner or "",
    )


def _describe(duplicate: Duplicate) -> str:
    """Why a row was refused, naming the customer, the key and who holds it."""
    holder = (
        f"owned by {duplicate.holder_name or 'someone else'}"
        if duplicate.holder == "other"
        else "in the public pool"
    )
    what = f"the same {KEY_LABELS[duplicate.key]}, {holder}"
    if duplicate.matched_row is not None:
        return (
            f"this looks like row {duplicate.matched_row} of the file "
            f"('{duplicate.matched_customer_id}'): {what}"
        )
    return f"this looks like existing customer '{duplicate.matched_customer_id}': {what}"


def _findings(records: list[Record], found: list[RowDuplicates]) -> list[list[Duplicate]]:
    return [
        [_of_match(record, match) for match in result.existing]
        + [_of_row(record, records[hit.earlier_row], hit.key, hit.score) for hit in result.within]
        for record, result in zip(records, found, strict=True)
    ]


def check(batch: Batch, records: list[Record], *, policy: DedupePolicy, action: Action) -> Rejected:
    """Check the batch's new customers; refuse decisive duplicates when `action` is block.

    Every match of a row that goes in is added to `batch.duplicates` for the report.
    """
    stored = lookup(
        batch.conn, cast(Table, Customer.__table__), [r.external_id for r in records], "id"
    )
    new = [record for record in records if record.external_id not in stored]
    if not new:
        return []
    # A session on the batch's own connection and transaction: it only reads; closing it
    # leaves the transaction to the import.
    with Session(bind=batch.conn, join_transaction_mode="rollback_only") as session:
        found = find_duplicates_batch(
            session=session, candidates=[_keys(record) for record in new], policy=policy
        )
    findings = _findings(new, found)
    codes = _credit_codes(batch, new, findings)
    rejected: Rejected = []
    for record, duplicates in zip(new, findings, strict=True):
        decisive = [
            d
            for d in duplicates
            if policy.is_decisive(d.key, d.score) and not _other_entity(record, d, codes)
        ]
        if action == Action.block and decisive:
            first = decisive[0]
            column = column_of(batch.plan, _column(batch, first.key))
            rejected.append((record, RowError(column, _describe(first))))
        else:
            batch.duplicates.extend(duplicates)
    return rejected


def _credit_codes(
    batch: Batch, records: list[Record], findings: list[list[Duplicate]]
) -> dict[str, str | None]:
    """external id -> credit code, for the batch's rows and the customers they match by name."""
    codes = {r.external_id: r.values.get("credit_code") for r in records}
    matched = sorted(
        {d.matched_customer_id for found in findings for d in found if d.key == MatchKey.company}
        - codes.keys()
    )
    if matched:
        stored = lookup(batch.conn, cast(Table, Customer.__table__), matched, "credit_code")
        codes.update({key: value[0] for key, value in stored.items()})
    return codes


def _other_entity(record: Record, duplicate: Duplicate, codes: dict[str, str | None]) -> bool:
    # Two different credit codes are two legal entities, however alike their names: such a
    # company-name match is reported, never blocked.
    if duplicate.key != MatchKey.company:
        return False
    mine, theirs = codes.get(record.external_id), codes.get(duplicate.matched_customer_id)
    return bool(mine and theirs and mine != theirs)


def _column(batch: Batch, key: MatchKey) -> str:
    name = _KEY_FIELDS[key]
    # A company known by its name (no company column) matched on the name.
    return name if name in batch.plan.present else "name"


class DuplicatesFile(CsvReport):
    """The duplicates report, made on the first match (or always, when asked for)."""

    def __init__(self, path: Path, *, always: bool) -> None:
        super().__init__(path, REPORT_COLUMNS, always=always)

    def write(self, duplicates: list[Duplicate]) -> None:
        """Append a batch's matches in file order."""
        self.append(d.cells() for d in sorted(duplicates, key=lambda d: d.row_number))


def default_path(source: Path) -> Path:
    """Where the report goes when no path is given: beside the file, as NAME.duplicates.csv."""
    return beside(source, "duplicates")
