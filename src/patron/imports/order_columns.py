"""Orders parsed a batch at a time, column by column, with the same result as row by row.

Each column goes through a fast parser for the forms files nearly always use (`vectors`);
a row with any cell outside those forms, or any cell that is not text (XLSX), is parsed by
the row parser instead (`columns.parse_row` and `Orders.finish`), and its values are put in
the same shape. Content hashes are the row path's (`columns.content_hash`) to the byte, so
derived order ids stay what earlier imports stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np

from patron.imports import vectors
from patron.imports.columns import Field, Plan, Record, RowError
from patron.imports.kinds.base import Kind, Rejected, column_of, parse_records
from patron.imports.occurrences import Identities, key_of
from patron.imports.values import Cell

_TEXT_LIMITS = {
    "order_id": 80,
    "customer_id": 64,
    "channel": 64,
    "product_id": 64,
    "product_name": 200,
}


@dataclass
class OrderColumns:
    """A batch of order rows as columns; fields the file lacks are columns of None."""

    numbers: list[int]
    cells: list[list[Cell]]
    order_id: list[str | None]
    customer_id: list[str]
    ordered_at: list[str]  # str(datetime): "2024-01-31 09:30:00"
    amount: list[str]  # cent-exact text: "1234.50"
    status: list[str | None]
    channel: list[str | None]
    quantity: list[int | None]
    product_id: list[str | None]
    product_name: list[str | None]
    currency: list[str]
    custom: list[dict[str, str]]
    external_id: list[str] = field(default_factory=list)
    import_hash: list[str] = field(default_factory=list)
    # Each order's customer by its number in the import (`references.CustomerNumbers`); once
    # numbered, `customer_id` is emptied: each id travels once, with the first batch naming it.
    customer_number: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.numbers)

    def take(self, positions: Sequence[int]) -> OrderColumns:
        """The rows at `positions`, in that order."""
        pick = itemgetter(*positions) if len(positions) > 1 else None
        taken: dict[str, Any] = {}
        for column in fields(self):
            values = getattr(self, column.name)
            if not values:
                taken[column.name] = []
            elif pick is None:
                taken[column.name] = [values[i] for i in positions]
            else:
                taken[column.name] = list(pick(values))
        return OrderColumns(**taken)

    def record(self, i: int) -> Record:
        """Row `i` as the rejects file wants it."""
        return Record(self.numbers[i], self.cells[i])


def parse_orders(
    spec: Kind, plan: Plan, numbers: list[int], rows: list[list[Cell]], *, textual: bool
) -> tuple[OrderColumns, Rejected]:
    """Parse a batch; refused rows come back with the column and reason the row path gives."""
    width = len(plan.headers)
    if textual:
        text_rows, slow = _even(rows, width)
        parsed = _parse_columns(plan, text_rows, slow)
        custom = _custom(plan, text_rows)
    else:
        slow, parsed, custom = set(range(len(rows))), {}, []
    fast = [i for i in range(len(rows)) if i not in slow] if slow else list(range(len(rows)))
    batch = _assemble(plan, numbers, rows, parsed, custom, fast)
    if not slow:
        return batch, []
    records, rejected = parse_records(spec, plan, [(numbers[i], rows[i]) for i in sorted(slow)])
    return _merged(batch, records), rejected


def _even(rows: list[list[Cell]], width: int) -> tuple[list[list[str]], set[int]]:
    """Rows cut or padded to the header's width; rows with cells past it go to the row path."""
    slow: set[int] = set()
    widths = list(map(len, rows))
    if min(widths) == max(widths) == width:
        return rows, slow  # type: ignore[return-value]
    even: list[list[str]] = []
    for i, row in enumerate(rows):
        if len(row) > width and any(str(cell).strip() for cell in row[width:]):
            slow.add(i)
        even.append([*row[:width], *[""] * (width - len(row))])  # type: ignore[list-item]
    return even, slow


def _vector(spec: Field) -> Callable[[Sequence[str]], vectors.Parsed]:
    if spec.name in _TEXT_LIMITS:
        return partial(vectors.texts, limit=_TEXT_LIMITS[spec.name], required=spec.required)
    if spec.name == "ordered_at":
        return partial(vectors.moments, required=spec.required)
    if spec.name == "amount":
        return vectors.amounts
    return partial(vectors.memoised, spec.parse, required=spec.required)


def _parse_columns(plan: Plan, rows: list[list[str]], slow: set[int]) -> dict[str, list[Any]]:
    parsed: dict[str, list[Any]] = {}
    # The rows are as wide as the header (`_even`): one transposition in C reads each row
    # once, where picking a column at a time read every row once per column.
    columns = list(zip(*rows, strict=True)) if rows else []
    for spec, index in plan.fields:
        values, left = _vector(spec)(columns[index])
        parsed[spec.name] = values
        slow |= left
    return parsed


def _custom(plan: Plan, rows: list[list[str]]) -> list[dict[str, str]]:
    if not plan.custom:
        return []
    names = [header for header, _ in plan.custom]
    pick = itemgetter(*[index for _, index in plan.custom])
    picked = list(map(pick, rows)) if len(names) > 1 else [(cell,) for cell in map(pick, rows)]
    return [
        {name: value.strip() for name, value in zip(names, cells, strict=True) if value.strip()}
        for cells in picked
    ]


def _assemble(
    plan: Plan,
    numbers: list[int],
    rows: list[list[Cell]],
    parsed: dict[str, list[Any]],
    custom: list[dict[str, str]],
    fast: list[int],
) -> OrderColumns:
    count = len(numbers)
    columns: dict[str, list[Any]] = {
        name: parsed[name] if name in parsed else [None] * count
        for name in (
            "order_id",
            "customer_id",
            "ordered_at",
            "amount",
            "status",
            "channel",
            "quantity",
            "product_id",
            "product_name",
        )
    }
    currency = parsed.get("currency")
    # No sign on the fast path's amounts, so a missing currency is the default one.
    columns["currency"] = ["CNY"] * count if currency is None else [c or "CNY" for c in currency]
    batch = OrderColumns(numbers, rows, custom=custom or [{}] * count, **columns)
    return batch if len(fast) == count else batch.take(fast)


def _merged(batch: OrderColumns, records: list[Record]) -> OrderColumns:
    """The fast rows and the row parser's, back in file order."""
    for record in records:
        data = record.values
        batch.numbers.append(record.row_number)
        batch.cells.append(record.cells)
        batch.order_id.append(data.get("order_id"))
        batch.customer_id.append(data["customer_id"])
        batch.ordered_at.append(str(data["ordered_at"]))
        batch.amount.append(str(data["amount"]))
        batch.status.append(data.get("status"))
        batch.channel.append(data.get("channel"))
        batch.quantity.append(data.get("quantity"))
        batch.product_id.append(data.get("product_id"))
        batch.product_name.append(data.get("product_name"))
        batch.currency.append(data["currency"])
        batch.custom.append(record.custom)
    order = sorted(range(len(batch)), key=batch.numbers.__getitem__)
    return batch.take(order)


def hash_orders(plan: Plan, batch: OrderColumns) -> None:
    """Each row's md5, as `columns.content_hash` makes it from the row path's values."""
    names = [spec.name for spec, _ in plan.fields]
    if "currency" not in names:
        names.append("currency")
    contents = _contents(names, [getattr(batch, name) for name in names])
    if plan.custom:
        contents = [
            text + "\x1e" + "\x1f".join(f"{key}={extra[key]}" for key in sorted(extra))
            if extra
            else text
            for text, extra in zip(contents, batch.custom, strict=True)
        ]
    digest = partial(hashlib.md5, usedforsecurity=False)
    batch.import_hash = list(map(_HEX, map(digest, map(str.encode, contents))))


_HEX = methodcaller("hexdigest")


def _contents(names: list[str], columns: list[list[Any]]) -> list[str]:
    """Each row's `name=value` pairs joined by \x1f, empty cells left out.

    One `str.format` per row does what a string per cell and a join per row did, at a third
    of the cost; only a column with empty cells is made into its pieces first.
    """
    template: list[str] = []
    arguments: list[list[Any]] = []
    for name, values in zip(names, columns, strict=True):
        if None in values:
            template.append("{}")
            arguments.append(["" if value is None else f"{name}={value}\x1f" for value in values])
        else:
            template.append(name + "={}\x1f")
            arguments.append(values)
    if template[-1] != "{}":
        # The last pair always there: no separator after it, so nothing to cut.
        template[-1] = template[-1][:-1]
        return list(map("".join(template).format, *arguments))
    return [text[:-1] for text in map("".join(template).format, *arguments)]


def identify_orders(
    plan: Plan, batch: OrderColumns, identities: Identities
) -> tuple[OrderColumns, Rejected]:
    """Explicit order ids, or ids derived from content and occurrence; repeats are refused."""
    given = batch.order_id
    derived = [i for i, order_id in enumerate(given) if not order_id]
    external = list(given)
    if derived:
        hashes = [batch.import_hash[i] for i in derived]
        numbers = identities.derived.occurrences([key_of(digest) for digest in hashes])
        for i, digest, number in zip(derived, hashes, numbers, strict=True):
            external[i] = f"{digest[:24]}-{number}"
    batch.external_id = external  # type: ignore[assignment]
    explicit = [i for i, order_id in enumerate(given) if order_id] if derived else range(len(given))
    ids = map(given.__getitem__, explicit) if derived else given
    # Python's 64-bit string hashes read as unsigned, as the row path's `hash(id) & MASK`.
    keys = np.fromiter(map(hash, ids), dtype=np.int64, count=len(explicit)).view(np.uint64)
    numbers = identities.explicit.occurrences(keys)
    repeats = {i for i, number in zip(explicit, numbers, strict=True) if number > 1}
    if not repeats:
        return batch, []
    column = column_of(plan, "order_id")
    rejected: Rejected = [
        (batch.record(i), RowError(column, f"'{given[i]}' appears in an earlier row"))
        for i in sorted(repeats)
    ]
    return batch.take([i for i in range(len(batch)) if i not in repeats]), rejected
