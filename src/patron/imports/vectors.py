"""Parsing one column of a batch at once, for the forms nearly every file uses.

Each function takes the raw text cells of one column and returns the parsed values and the
positions it leaves to the row-by-row parser (`columns.parse_row`): a cell that is not in a
form the fast path knows exactly (a `¥1,234.50`, a `2024/1/7 9:30`, a bad value) sends its
row there, so the fast path never gives anything the row parser would not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

# Values and the positions left to the row parser.
Parsed = tuple[list[Any], set[int]]
_REFUSED = object()
# An amount as most systems export it: no sign, no separators, at most two decimals, below
# the 1e12 limit, no leading zeros; its cent-exact text is then the cell itself, padded.
_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")
_DATETIME_TEXT = len("2024-01-31 23:59:59")
# Whole columns of such datetimes, one per line; the days are checked apart.
_MOMENT = r"[0-9]{4}-[01][0-9]-[0-3][0-9] (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_CANONICAL_MOMENTS = re.compile(f"{_MOMENT}(?:\n{_MOMENT})*")


def texts(cells: Sequence[str], *, limit: int, required: bool) -> Parsed:
    """Stripped text; empty cells are None (or left to the row parser when required)."""
    values: list[Any] = list(map(str.strip, cells))
    left: set[int] = set()
    if values and max(map(len, values)) > limit:
        left = {i for i, value in enumerate(values) if len(value) > limit}
    if "" in values:
        _empty(values, left, required=required)
    return values, left


def memoised(parse: Callable[[str], Any], cells: Sequence[str], *, required: bool) -> Parsed:
    """Any exact parser, run once per distinct cell: statuses, currencies, quantities."""
    table: dict[str, Any] = {}
    for raw in set(cells):
        value = raw.strip()
        if not value:
            table[raw] = _REFUSED if required else None
            continue
        try:
            table[raw] = parse(value)
        except ValueError:
            table[raw] = _REFUSED
    values = list(map(table.__getitem__, cells))
    left: set[int] = set()
    if any(value is _REFUSED for value in table.values()):
        left = {i for i, value in enumerate(values) if value is _REFUSED}
    return values, left


def moments(cells: Sequence[str], *, required: bool) -> Parsed:
    """ISO dates and datetimes (and YYYYMMDD) as `str(datetime)`: `2024-01-31 09:30:00`.

    Only naive whole-second times stay here; time zones and fractions go to the row parser,
    which converts them to local time.
    """
    if _canonical(cells):
        return list(cells), set()
    try:
        values: list[Any] = list(map(str, map(datetime.fromisoformat, cells)))
    except ValueError:
        return _moments_one_by_one(cells, required=required)
    left: set[int] = set()
    if values and max(map(len, values)) != _DATETIME_TEXT:
        left = {i for i, value in enumerate(values) if len(value) != _DATETIME_TEXT}
    return values, left


def _canonical(cells: Sequence[str]) -> bool:
    """Whether every cell is already a real `YYYY-MM-DD HH:MM:SS`, as `str(datetime)` prints
    it (what most exports hold): checked by one match over the whole column and a parse of
    each distinct day, at half the cost of parsing every cell."""
    text = "\n".join(cells)
    if text.count("\n") != len(cells) - 1 or not _CANONICAL_MOMENTS.fullmatch(text):
        return False
    try:
        for day in {cell[:10] for cell in cells}:
            date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _moments_one_by_one(cells: Sequence[str], *, required: bool) -> Parsed:
    values: list[Any] = []
    left: set[int] = set()
    for i, cell in enumerate(cells):
        try:
            value = str(datetime.fromisoformat(cell))
        except ValueError:
            value = "" if not cell.strip() else "?"
        if len(value) == _DATETIME_TEXT:
            values.append(value)
            continue
        if value or required:
            left.add(i)
        values.append(None)
    return values, left


def amounts(cells: Sequence[str]) -> Parsed:
    """Plain amounts (`30`, `30.6`, `30.67`) as their cent-exact text (`30.00`, `30.60`)."""
    matches = list(map(_PLAIN_AMOUNT.fullmatch, cells))
    left: set[int] = set()
    if None in matches:
        left = {i for i, match in enumerate(matches) if match is None}
    # Most cells already have two decimals and are their own cent-exact text.
    values: list[Any] = [cell if cell[-3:-2] == "." else _cents_text(cell) for cell in cells]
    return values, left


def _cents_text(cell: str) -> str:
    dot = cell.find(".")
    if dot < 0:
        return cell + ".00"
    return cell + "0" * (3 - (len(cell) - dot))


def _empty(values: list[Any], left: set[int], *, required: bool) -> None:
    for i, value in enumerate(values):
        if value == "":
            if required:
                left.add(i)
            else:
                values[i] = None
