"""Fields of an import kind, matching a file's headers to them, and parsing one row."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from patron.errors import FileUnreadable
from patron.imports.values import Cell

_HEADER_NOISE = re.compile(r"[\s_\-*:：()（）]+")


class RowError(Exception):
    """A row that cannot be imported: which column and why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason

    def __reduce__(self) -> tuple[type[RowError], tuple[str, str]]:
        # Pickled with the batch it belongs to, when a second process parses orders.
        return RowError, (self.column, self.reason)


@dataclass(frozen=True)
class Field:
    """One importable field: its English name, the other headers that mean it, its parser."""

    name: str
    parse: Callable[[Cell], Any]
    aliases: tuple[str, ...] = ()
    required: bool = False


@dataclass(slots=True)
class Record:
    """One data row on its way in: the original cells, the parsed values, its identity."""

    row_number: int
    cells: list[Cell]
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    external_id: str = ""
    import_hash: str = ""


@dataclass
class Plan:
    """Which cell of a row feeds which field; the columns nobody claims go to custom fields."""

    headers: list[str]
    fields: list[tuple[Field, int]]
    custom: list[tuple[str, int]]

    @cached_property
    def steps(self) -> list[tuple[str, int, Callable[[Cell], Any], bool]]:
        """The fields as flat tuples, for the per-row loop."""
        return [(spec.name, index, spec.parse, spec.required) for spec, index in self.fields]

    @cached_property
    def present(self) -> set[str]:
        """The names of the fields this file has a column for."""
        return {spec.name for spec, _ in self.fields}


def header_key(header: str) -> str:
    """A header reduced for matching: lower case, no spaces, underscores or marks."""
    return _HEADER_NOISE.sub("", header.lstrip("\ufeff")).lower()


def plan_columns(fields: tuple[Field, ...], headers: list[str], *, kind: str) -> Plan:
    """Match headers to fields; refuse a file that lacks a required one or names one twice."""
    lookup = {header_key(alias): spec for spec in fields for alias in (spec.name, *spec.aliases)}
    claimed: dict[str, int] = {}
    custom: list[tuple[str, int]] = []
    for index, header in enumerate(headers):
        spec = lookup.get(header_key(header))
        if spec is None:
            if header:
                custom.append((header, index))
            continue
        if spec.name in claimed:
            first = headers[claimed[spec.name]]
            raise FileUnreadable(
                f"columns '{first}' and '{header}' both mean {spec.name}: keep one of them"
            )
        claimed[spec.name] = index
    missing = [spec for spec in fields if spec.required and spec.name not in claimed]
    if missing:
        names = ", ".join(f"{spec.name} ({spec.aliases[0]})" for spec in missing)
        raise FileUnreadable(
            f"the {kind} file has no {names} column; its headers are: "
            + ", ".join(h for h in headers if h)
        )
    ordered = [(spec, claimed[spec.name]) for spec in fields if spec.name in claimed]
    return Plan(headers=headers, fields=ordered, custom=custom)


def parse_row(plan: Plan, number: int, cells: list[Cell]) -> Record:
    """Parse one row's cells into a record, or raise RowError naming the first bad column."""
    width = len(cells)
    if width > len(plan.headers) and any(_filled(cell) for cell in cells[len(plan.headers) :]):
        raise RowError("(row)", f"has {width} cells but the header has {len(plan.headers)}")
    values: dict[str, Any] = {}
    for name, index, parse, required in plan.steps:
        raw = cells[index] if index < width else None
        if type(raw) is str:
            raw = raw.strip()
        if raw is None or raw == "":
            if required:
                raise RowError(plan.headers[index], "is empty")
            values[name] = None
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise RowError(plan.headers[index], str(exc)) from None
    custom = {}
    for header, index in plan.custom:
        raw = cells[index] if index < width else None
        if _filled(raw):
            custom[header] = _custom_text(raw)
    return Record(row_number=number, cells=cells, values=values, custom=custom)


def _filled(cell: Cell) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _custom_text(cell: Cell) -> str:
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def content_hash(values: dict[str, Any], custom: dict[str, str]) -> str:
    """An md5 of a record's normalised content: equal content, equal hash, in any column order.

    Parsed values (datetimes, cent-exact Decimals, strings) print canonically; they come in
    the kind's field order whatever the file's column order. Empty cells are left out, so an
    empty optional column and a missing one give the same hash.
    """
    content = "\x1f".join(
        [f"{name}={value}" for name, value in values.items() if value is not None]
    )
    if custom:
        content += "\x1e" + "\x1f".join(f"{key}={custom[key]}" for key in sorted(custom))
    return hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()
